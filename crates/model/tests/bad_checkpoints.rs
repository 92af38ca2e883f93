//! Broken checkpoints give errors that name the tensor or key at fault.

mod common;

use std::path::Path;

use candle_core::{DType, Device};
use common::fixture;
use p2law_model::{load_hf_dir, save_hf_dir, ModelError, SaveOptions};

/// A writable copy of the llama fixture, saved by us (so tests may edit its files).
fn copy_of_llama() -> tempfile::TempDir {
    let (_, model) = load_hf_dir(&fixture("llama"), DType::F32, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_hf_dir(&model, dir.path(), &SaveOptions::default()).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    match load_hf_dir(dir, DType::F32, &Device::Cpu) {
        Ok(_) => panic!("loading {dir:?} should fail"),
        Err(e) => e.to_string(),
    }
}

/// Rewrites `model.safetensors` after editing its tensors.
fn edit_tensors(dir: &Path, edit: impl FnOnce(&mut std::collections::HashMap<String, candle_core::Tensor>)) {
    let mut tensors = p2law_model::load_tensors(dir, &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_of_llama();
    edit_tensors(dir.path(), |t| {
        t.remove("model.layers.1.mlp.up_proj.weight");
    });
    let err = load_err(dir.path());
    assert!(err.contains("model.layers.1.mlp.up_proj.weight") && err.contains("missing"), "{err}");
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let dir = copy_of_llama();
    edit_tensors(dir.path(), |t| {
        let w = t["model.layers.0.self_attn.k_proj.weight"].narrow(0, 0, 16).unwrap();
        t.insert("model.layers.0.self_attn.k_proj.weight".into(), w);
    });
    let err = load_err(dir.path());
    assert!(err.contains("model.layers.0.self_attn.k_proj.weight") && err.contains("[16, 64]"), "{err}");
    assert!(err.contains("[32, 64]"), "{err}");
}

#[test]
fn truncated_safetensors_names_the_file() {
    let dir = copy_of_llama();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("model.safetensors") && err.contains("truncated or corrupt"), "{err}");
}

#[test]
fn config_with_fewer_layers_than_tensors_names_the_extra_tensor() {
    let dir = copy_of_llama();
    edit_config(dir.path(), |v| v["num_hidden_layers"] = 1.into());
    let err = load_err(dir.path());
    assert!(err.contains("model.layers.1.") && err.contains("config/tensor mismatch"), "{err}");
}

#[test]
fn config_hidden_size_mismatch_names_a_tensor() {
    let dir = copy_of_llama();
    edit_config(dir.path(), |v| v["intermediate_size"] = 128.into());
    let err = load_err(dir.path());
    assert!(err.contains("mlp.down_proj.weight") || err.contains("mlp.gate_proj.weight"), "{err}");
}

#[test]
fn unsupported_architecture_is_named() {
    let dir = copy_of_llama();
    edit_config(dir.path(), |v| v["architectures"] = serde_json::json!(["GPTNeoXForCausalLM"]));
    let err = load_err(dir.path());
    assert!(err.contains("GPTNeoXForCausalLM"), "{err}");
}

#[test]
fn untied_model_without_lm_head_is_a_missing_tensor() {
    let dir = copy_of_llama();
    edit_tensors(dir.path(), |t| {
        t.remove("lm_head.weight");
    });
    match load_hf_dir(dir.path(), DType::F32, &Device::Cpu) {
        Err(ModelError::MissingTensor { name }) => assert_eq!(name, "lm_head.weight"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("should fail"),
    }
}

#[test]
fn sharded_index_pointing_at_the_wrong_shard_is_named() {
    let (_, model) = load_hf_dir(&fixture("qwen2"), DType::F32, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_hf_dir(&model, dir.path(), &SaveOptions { dtype: DType::F32, max_shard_bytes: Some(100_000) })
        .unwrap();
    let path = dir.path().join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let map = index["weight_map"].as_object_mut().unwrap();
    let last = map.values().map(|v| v.as_str().unwrap().to_string()).max().unwrap();
    map.insert("model.embed_tokens.weight".into(), last.into());
    std::fs::write(&path, index.to_string()).unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("model.embed_tokens.weight") && err.contains("does not contain"), "{err}");
}
