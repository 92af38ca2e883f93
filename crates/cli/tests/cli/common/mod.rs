//! Fixtures shared by the `p2law train` tests: token shards built from generated text (no network).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use p2law_data::pipeline::{build, BuildParams, SourceSpec, TokenizerSpec};
use p2law_data::tokenizer::TrainParams;

/// Token shards (vocabulary 300) from 80 generated documents of numbered sentences.
pub fn build_shards(dir: &Path) -> PathBuf {
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
