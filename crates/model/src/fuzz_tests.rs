//! Fuzz targets of the model crate (see `p2law-fuzz`): `config.json`, the safetensors header and GGUF.
//! Each must return an error of one line, never panic. `P2LAW_FUZZ_CASES` sets the executions.

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use p2law_fuzz::{assert_one_line, fuzz, inputs, json_values, text_dict};
use serde_json::Value;

use crate::config::Config;
use crate::gguf_read::build::{tiny_llama, tiny_qwen2_q8};
use crate::params::ParamCounts;
use crate::{gguf, safetensors_io};

#[test]
fn fuzz_config_json() {
    let seeds = vec![
        include_bytes!("../tests/fixtures/llama/config.json").to_vec(),
        include_bytes!("../tests/fixtures/qwen2/config.json").to_vec(),
        br#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
            "vocab_size": 256, "rms_norm_eps": 1e-5, "max_position_embeddings": 128, "rope_theta": 5e5,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 32}, "attention_bias": true}"#
            .to_vec(),
    ];
    let dict = text_dict(&[
        "\"num_attention_heads\": 0",
        "\"head_dim\"",
        "\"vocab_size\"",
        "\"hidden_size\"",
        "\"rope_scaling\"",
        "\"rope_parameters\"",
        "\"rope_type\"",
        "\"llama3\"",
        "\"factor\"",
        "\"num_key_value_heads\"",
        "\"intermediate_size\"",
        "\"num_hidden_layers\"",
        "\"tie_word_embeddings\"",
        "\"layer_types\"",
        "\"LlamaForCausalLM\"",
        "\"Qwen2ForCausalLM\"",
        "\"head_dim\": null",
        "4611686018427387904",
    ]);
    let values =
        json_values(&["\"llama3\"", "\"default\"", "\"yarn\"", "\"silu\"", "[\"LlamaForCausalLM\"]"]);
    fuzz("config.json", 20_000, inputs(seeds, dict, values, true), |bytes| {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return false };
        match Config::from_hf_json(&value) {
            Ok(cfg) => {
                let counts = ParamCounts::checked(&cfg).expect("a checked config's counts fit");
                assert!(counts.total as u64 <= crate::config::MAX_PARAMS);
                let again = Config::from_hf_json(&cfg.to_hf_json("float32")).expect("a config round-trips");
                assert_eq!(again, cfg);
                true
            }
            Err(e) => {
                assert_one_line(&e, bytes);
                false
            }
        }
    });
}

fn safetensors_seed() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let cpu = &Device::Cpu;
    let tensors = vec![
        ("a.weight".to_string(), Tensor::arange(0f32, 12.0, cpu).unwrap().reshape((3, 4)).unwrap()),
        ("b".to_string(), Tensor::ones(5, DType::F32, cpu).unwrap()),
        ("c.bias".to_string(), Tensor::zeros((2, 1, 2), DType::F32, cpu).unwrap()),
    ];
    safetensors_io::write(&path, &tensors, DType::F32).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn fuzz_safetensors_header() {
    let f32_file = safetensors_seed();
    // An f32 file and a bf16 one.
    let seeds = vec![f32_file.clone(), {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.safetensors");
        let t = Tensor::arange(0f32, 8.0, &Device::Cpu).unwrap();
        safetensors_io::write(&path, &[("h".into(), t)], DType::BF16).unwrap();
        std::fs::read(path).unwrap()
    }];
    let dict = text_dict(&[
        "\"dtype\"",
        "\"F32\"",
        "\"BF16\"",
        "\"F16\"",
        "\"I64\"",
        "\"F8_E4M3\"",
        "\"shape\"",
        "\"data_offsets\"",
        "\"__metadata__\"",
        "[0,0]",
        "[18446744073709551615,0]",
        "[4294967296,4294967296]",
    ]);
    let path = Path::new("fuzz.safetensors");
    let values = json_values(&["\"F32\"", "\"BF16\"", "\"F16\"", "\"I8\"", "\"BOOL\"", "[0,0]"]);
    fuzz("safetensors header", 20_000, inputs(seeds, dict, values, false), |bytes| {
        match safetensors_io::shapes_of(bytes, path) {
            Ok(shapes) => {
                // A header that parses describes data that is in the buffer.
                for (_, s) in &shapes {
                    assert!(s.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_some());
                }
            }
            Err(e) => assert_one_line(&e, bytes),
        }
        match safetensors_io::tensors_of(bytes, path, &Device::Cpu) {
            Ok(_) => true,
            Err(e) => {
                assert_one_line(&e, bytes);
                false
            }
        }
    });
}

#[test]
fn fuzz_gguf() {
    let seeds = vec![tiny_llama(), tiny_qwen2_q8()];
    // Binary fields are reached by the byte mutations; metadata names and string values by the dictionary.
    let mut dict = text_dict(&[
        "general.alignment",
        "llama.attention.head_count",
        "qwen2.attention.head_count_kv",
        "token_embd.weight",
        "llama",
        "qwen2",
        "gpt2",
        "llama-bpe",
        "smollm",
        "rope.scaling.type",
        "rope_freqs.weight",
    ]);
    dict.extend([
        0u32.to_le_bytes().to_vec(),
        u64::MAX.to_le_bytes().to_vec(),
        (1u64 << 40).to_le_bytes().to_vec(),
        9u32.to_le_bytes().to_vec(),
    ]);
    let path = Path::new("fuzz.gguf");
    fuzz("GGUF", 3_000, inputs(seeds, dict, vec![], false), |bytes| {
        match gguf::load(&mut Cursor::new(bytes), path) {
            Ok(_) => true,
            Err(e) => {
                assert_one_line(&e, bytes);
                false
            }
        }
    });
}

#[test]
fn the_gguf_seeds_convert() {
    for seed in [tiny_llama(), tiny_qwen2_q8()] {
        let loaded = gguf::load(&mut Cursor::new(&seed), Path::new("seed.gguf")).unwrap();
        assert_eq!(loaded.config.num_layers, 1);
    }
}
