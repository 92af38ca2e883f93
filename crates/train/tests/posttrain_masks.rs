//! Post-training a pruned tiny Llama through the real setup path (issue 6): the model directory's
//! `masks.safetensors` (about half of every linear weight zeroed) is found by `setup::open`, its zeros stay
//! exactly zero through training and in the saved `final/` model, and the held-out loss falls on average.
//!
//! The "pruned model" is a random tiny Llama (hidden 32, 2 layers, vocabulary 300) with a fixed pseudo-random
//! keep pattern; the shards are built here from generated text, so nothing comes from the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use p2law_data::pipeline::{build, BuildParams, SourceSpec, TokenizerSpec};
use p2law_data::tokenizer::TrainParams;
use p2law_model::{Config, Model, SaveOptions};
use p2law_train::curve::read_points;
use p2law_train::trainer::{train, Control, Quiet};
use p2law_train::FileConfig;
use p2law_train::{Data, LanguageModel};

/// Token shards (vocabulary 300) from 80 generated documents of numbered sentences.
fn build_shards(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "north", "table", "garden"];
    for d in 0..80 {
        let mut text = String::new();
        for p in 0..(4 + d % 5) {
            for s in 0..5 {
                let w = |k: usize| words[(d * 7 + p * 3 + s + k) % words.len()];
                text.push_str(&format!("Line {d}.{p}.{s}: the {} {} of the {}. ", w(0), w(1), w(2)));
            }
            text.push_str("\n\n");
        }
        std::fs::write(src.join(format!("doc{d:02}.txt")), text).unwrap();
    }
    let out = dir.join("tok");
    let params = BuildParams {
        source: SourceSpec::Inputs(vec![src]),
        out: out.clone(),
        seed: 0,
        piece_bytes: 2000,
        tokenizer: TokenizerSpec::Train(TrainParams { vocab_size: 300, min_frequency: 2 }),
        ..BuildParams::default()
    };
    build(&params).unwrap();
    out
}

/// Keep (1) or prune (0) element `i` of weight `name`: a hash of both, about half zeros.
fn keep(name: &str, i: usize) -> u8 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes().chain(i.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    (h >> 33) as u8 & 1
}

/// A random tiny Llama saved as an HF directory with `masks.safetensors` and `pruning.json`; returns the
/// masks as 0/1 bytes by name.
fn pruned_model_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let config = Config::from_hf_json(&serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "vocab_size": 300, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": false,
    }))
    .unwrap();
    let model = Model::new_random(&config, 4, DType::F32, &Device::Cpu).unwrap();
    p2law_model::save_hf_dir(&model, dir, &SaveOptions { dtype: DType::F32, max_shard_bytes: None }).unwrap();

    let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut masks = BTreeMap::new();
    let mut tensors = std::collections::HashMap::new();
    for (name, w) in &weights {
        if name.starts_with("model.layers.") && name.ends_with("_proj.weight") {
            let m: Vec<u8> = (0..w.elem_count()).map(|i| keep(name, i)).collect();
            tensors.insert(name.clone(), Tensor::from_vec(m.clone(), w.dims(), &Device::Cpu).unwrap());
            masks.insert(name.clone(), m);
        }
    }
    candle_core::safetensors::save(&tensors, dir.join("masks.safetensors")).unwrap();
    let pruning = serde_json::json!({"method": "unstructured", "rho": 0.5, "n0": 20480, "n": 10240});
    std::fs::write(dir.join("pruning.json"), pruning.to_string()).unwrap();
    masks
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn post_training_from_a_pruned_directory_keeps_its_zeros_and_lowers_the_loss() {
    let root = tempfile::tempdir().unwrap();
    let data = build_shards(root.path());
    let model_dir = root.path().join("pruned");
    let masks = pruned_model_dir(&model_dir);
    assert_eq!(masks.len(), 14, "7 projections in each of 2 layers");
    let zeros: usize = masks.values().map(|m| m.iter().filter(|&&k| k == 0).count()).sum();
    let total: usize = masks.values().map(Vec::len).sum();
    assert!((0.45..0.55).contains(&(zeros as f64 / total as f64)), "{zeros} of {total} pruned");

    let config = root.path().join("RUN.toml");
    std::fs::write(
        &config,
        format!(
            r#"name = "posttrain-masks"
out = "run"
[model]
hf_dir = "pruned"
[data]
dir = "{}"
[train]
tokens = 7680
batch_tokens = 128
seq_len = 16
micro_batch = 4
lr = 3e-3
warmup_tokens = 512
[eval]
every_tokens = 640
tokens = 256
"#,
            data.display()
        ),
    )
    .unwrap();
    let cfg = FileConfig::load(&config).unwrap();
    let setup = p2law_train::setup::open(&cfg).unwrap();
    assert_eq!(setup.masks.as_ref().map(|m| m.len()), Some(14), "masks.safetensors is picked up");
    assert_eq!((setup.meta.rho, setup.meta.method.as_deref()), (0.5, Some("unstructured")));
    let data_src = Data { train: &setup.train, heldout: &setup.heldout };
    let out = train(
        &cfg,
        &setup.model,
        setup.meta.clone(),
        setup.masks.clone(),
        data_src,
        &setup.device,
        Control::default(),
        &mut Quiet,
    )
    .unwrap();
    assert!(out.finished);

    // Zeros exact, kept weights alive: in memory and in the saved final model.
    let final_weights =
        candle_core::safetensors::load(root.path().join("run/final/model.safetensors"), &Device::Cpu)
            .unwrap();
    let live: BTreeMap<String, Tensor> =
        setup.model.params().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    for (name, mask) in &masks {
        for (what, w) in [("trained", flat(&live[name])), ("final/", flat(&final_weights[name]))] {
            let bad_zero = w.iter().zip(mask).filter(|(x, &k)| k == 0 && **x != 0.0).count();
            let dead_kept = w.iter().zip(mask).filter(|(x, &k)| k == 1 && **x == 0.0).count();
            assert_eq!(
                (bad_zero, dead_kept),
                (0, 0),
                "{what} {name}: pruned entries non-zero / kept entries zero"
            );
        }
    }
    assert!(root.path().join("run/final/masks.safetensors").is_file(), "the final model keeps its masks");

    // Held-out loss: below l0 at every evaluation, and falling on average (thirds of the curve).
    let curve = read_points(&root.path().join("run/curve.csv")).unwrap();
    assert_eq!(curve.len(), 12);
    let losses: Vec<f64> = curve.iter().map(|p| p.val_loss).collect();
    println!("l0 {:.3}, held-out losses {losses:.3?}", out.l0);
    assert!(losses.iter().all(|&l| l < out.l0), "l0 {} vs {losses:?}", out.l0);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let thirds: Vec<f64> = losses.chunks(4).map(mean).collect();
    assert!(thirds[0] > thirds[1] && thirds[1] > thirds[2], "means by third {thirds:?}");
    assert!(losses[11] < out.l0 - 1.0, "l0 {} → {}", out.l0, losses[11]);
}
