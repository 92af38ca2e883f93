//! Save → load round trips: through our own loader (single file, shards, bf16) and through transformers
//! (`AutoModelForCausalLM.from_pretrained` on our output must give our logits).

mod common;

use std::process::Command;

use candle_core::{DType, Device};
use common::{fixture, max_abs_diff, python, reference};
use p2law_model::{load_hf_dir, save_hf_dir, tensor_shapes, SaveOptions};

#[test]
fn sharded_and_single_saves_reload_identically() {
    let (_, model) = load_hf_dir(&fixture("llama"), DType::F32, &Device::Cpu).unwrap();
    let r = reference("llama");
    let expect = model.forward(&r.ids).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sharded = SaveOptions { dtype: DType::F32, max_shard_bytes: Some(100_000) };
    save_hf_dir(&model, dir.path(), &sharded).unwrap();
    assert!(dir.path().join("model.safetensors.index.json").is_file());
    let shards = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("model-00001-of-"))
        .count();
    assert_eq!(shards, 1, "first shard present");
    let (_, back) = load_hf_dir(dir.path(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&back.forward(&r.ids).unwrap(), &expect), 0.0);
    // Saving again unsharded into the same directory removes the shards and the index.
    save_hf_dir(&model, dir.path(), &SaveOptions::default()).unwrap();
    assert!(!dir.path().join("model.safetensors.index.json").exists());
    assert_eq!(tensor_shapes(dir.path()).unwrap().len(), model.named_tensors().len());
}

#[test]
fn bf16_save_halves_the_file_and_reloads_close() {
    let (_, model) = load_hf_dir(&fixture("qwen2"), DType::F32, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_hf_dir(&model, dir.path(), &SaveOptions { dtype: DType::BF16, max_shard_bytes: None }).unwrap();
    let f32_size = std::fs::metadata(fixture("qwen2").join("model.safetensors")).unwrap().len();
    let bf16_size = std::fs::metadata(dir.path().join("model.safetensors")).unwrap().len();
    assert!(bf16_size < f32_size * 6 / 10, "{bf16_size} vs {f32_size}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16");
    let (_, back) = load_hf_dir(dir.path(), DType::F32, &Device::Cpu).unwrap();
    let r = reference("qwen2");
    let diff = max_abs_diff(&back.forward(&r.ids).unwrap(), &model.forward(&r.ids).unwrap());
    assert!(diff < 0.05, "bf16 weights moved logits by {diff}");
}

#[test]
fn transformers_loads_what_we_save() {
    let Some(py) = python() else {
        println!("SKIP transformers round trip: no venv (run scripts/venv.sh model or set P2LAW_PY)");
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/model_roundtrip.py");
    for (name, shard) in [("llama", Some(100_000)), ("qwen2", None)] {
        let (_, model) = load_hf_dir(&fixture(name), DType::F32, &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_hf_dir(&model, dir.path(), &SaveOptions { dtype: DType::F32, max_shard_bytes: shard }).unwrap();
        let out = dir.path().join("theirs.safetensors");
        let status = Command::new(&py)
            .arg(&script)
            .arg(dir.path())
            .arg(fixture(name).join("reference.safetensors"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "{name}: transformers could not load our checkpoint");
        let bytes = std::fs::read(&out).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let view = st.tensor("logits").unwrap();
        let theirs: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let theirs = candle_core::Tensor::from_vec(theirs, view.shape(), &Device::Cpu).unwrap();
        let r = reference(name);
        let diff = max_abs_diff(&model.forward(&r.ids).unwrap(), &theirs);
        println!("{name}: transformers on our checkpoint, max |logit diff| = {diff:e}");
        assert!(diff < 1e-4, "{name}: {diff}");
    }
}
