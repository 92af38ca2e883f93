//! Shared fixtures for the trainer tests: a tiny bigram language model and synthetic Markov-chain data.
//!
//! The model is `logits = E[ids] · Wᵀ + b` (embedding (V, C), output (V, C), bias (V)): it can learn the
//! chain's next-token distribution but no longer context, which is all these tests need. The data follow a
//! fixed random transition table where each token has 3 likely successors, so a trained bigram model's loss
//! (≈ ln 3 plus noise) is far below the unigram entropy (≈ ln V).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use p2law_train::LanguageModel;

pub const VOCAB: usize = 32;

pub struct Bigram {
    /// (name, var), sorted by name: `embed.weight` (V, C), `head.bias` (V), `head.weight` (V, C).
    vars: Vec<(String, Var)>,
}

impl Bigram {
    /// A seeded init: uniform(-0.1, 0.1) from a xorshift stream (candle's CPU RNG cannot be seeded).
    pub fn new(seed: u64, dim: usize) -> Bigram {
        let mut rng = Rng::new(seed);
        let mut init = |shape: &[usize], scale: f64| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * scale) as f32).collect();
            Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
        };
        let vars = vec![
            ("embed.weight".to_string(), init(&[VOCAB, dim], 0.1)),
            ("head.bias".to_string(), init(&[VOCAB], 0.0)),
            ("head.weight".to_string(), init(&[VOCAB, dim], 0.1)),
        ];
        Bigram { vars }
    }

    pub fn tensor(&self, name: &str) -> Tensor {
        self.vars.iter().find(|(n, _)| n == name).unwrap().1.as_tensor().clone()
    }
}

impl LanguageModel for Bigram {
    fn params(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let (emb, bias, out) =
            (self.vars[0].1.as_tensor(), self.vars[1].1.as_tensor(), self.vars[2].1.as_tensor());
        let x = emb.embedding(&ids.flatten_all()?)?; // (B·T, C)
        let logits = x.matmul(&out.t()?)?.broadcast_add(bias)?; // (B·T, V)
        candle_nn::loss::cross_entropy(&logits, &targets.flatten_all()?)
    }

    fn save(&self, dir: &Path) -> p2law_train::Result<()> {
        let map: std::collections::HashMap<String, Tensor> =
            self.vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
        candle_core::safetensors::save(&map, dir.join("model.safetensors"))?;
        Ok(())
    }
}

/// xorshift64*: a deterministic stream for fixtures.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` tokens of the Markov chain: token `x` is followed by one of `succ(x)` (weights 0.6, 0.3, 0.1).
pub fn markov_tokens(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    let succ = |x: u32, k: u32| (x * 7 + 3 + k * 11) % VOCAB as u32;
    let mut out = Vec::with_capacity(n);
    let mut x = 0u32;
    for _ in 0..n {
        out.push(x);
        let u = rng.uniform();
        x = succ(
            x,
            if u < 0.6 {
                0
            } else if u < 0.9 {
                1
            } else {
                2
            },
        );
    }
    out
}

/// A `RUN.toml` for the bigram model (model section ignored by these tests' callers except for validation:
/// the config points at a dummy `config.json`, since the model here is built in code).
pub fn write_config(dir: &Path, extra_train: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    let text = format!(
        r#"name = "bigram"
out = "run"
seed = 3
{extra}
[model]
config = "config.json"
[data]
dir = "tok"
[train]
tokens = 24576
batch_tokens = 1024
seq_len = 32
micro_batch = 8
lr = 0.05
warmup_tokens = 2048
weight_decay = 0.01
{extra_train}
[eval]
every_tokens = 4096
tokens = 2048
[checkpoint]
every_tokens = 4096
keep = 0
"#
    );
    let path = dir.join("RUN.toml");
    std::fs::write(&path, text).unwrap();
    path
}
