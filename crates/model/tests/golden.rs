//! Our forward pass and loss against transformers on the tiny fixtures.
//!
//! Numbers come from `scripts/model_fixtures.py` (transformers 5.24, torch 2.15, f32, CPU):
//! `model(ids).logits` and `cross_entropy(logits, targets, ignore_index=-100)`.

mod common;

use candle_core::{DType, Device};
use common::{fixture, max_abs_diff, reference};
use p2law_model::load_hf_dir;

fn check(name: &str) {
    let (_, model) = load_hf_dir(&fixture(name), DType::F32, &Device::Cpu).unwrap();
    let r = reference(name);
    let logits = model.forward(&r.ids).unwrap();
    let diff = max_abs_diff(&logits, &r.logits);
    println!("{name}: max |logit - transformers| = {diff:e}");
    assert!(diff < 1e-4, "{name}: logits differ by {diff}");
    let loss = model.loss(&r.ids, &r.targets).unwrap().to_scalar::<f32>().unwrap();
    let rel = ((loss - r.loss) / r.loss).abs();
    println!("{name}: loss {loss} vs {} (rel {rel:e})", r.loss);
    assert!(rel < 1e-5, "{name}: loss {loss} vs transformers {}", r.loss);
}

#[test]
fn llama_gqa_llama3_rope_matches_transformers() {
    check("llama");
}

#[test]
fn qwen2_biases_tied_matches_transformers() {
    check("qwen2");
}

#[test]
fn bf16_model_stays_close() {
    // A loose check that the low-precision path (f32 softmax and norm statistics) is wired up.
    let (_, model) = load_hf_dir(&fixture("llama"), DType::BF16, &Device::Cpu).unwrap();
    let r = reference("llama");
    let diff = max_abs_diff(&model.forward(&r.ids).unwrap(), &r.logits);
    assert!(diff < 0.1, "bf16 logits differ by {diff}");
}
