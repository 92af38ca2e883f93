//! Golden test against `scripts/prune_reference.py` (numpy, float64), which implements magnitude, Wanda
//! and SparseGPT from the papers' descriptions and wrote `fixtures/prune_reference.safetensors`
//! (seed 20241115; regenerate with `python scripts/prune_reference.py` using `scripts/venv.sh prune`).
//!
//! Case `a`: W 48×256, X 512 tokens × 256 (two full SparseGPT blocks). Case `b`: W 16×136, X 96 × 136 with
//! input 5 dead (a partial last block, a rank-deficient Hessian that only dampening makes definite).
//! Masks must match exactly; SparseGPT's reconstructed weights within 1e-4 (max |Δw| is printed).

use std::path::Path;

use candle_core::{Device, Tensor};
use p2law_prune::criterion::{Magnitude, SparseGpt, SparseGptConfig, SparseGptScope, Wanda};
use p2law_prune::{Criterion, InputStats, NmPattern, Sparsity, StatsNeed};
use safetensors::SafeTensors;

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prune_reference.safetensors");
        Self { bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) }
    }

    fn tensor(&self, name: &str) -> Tensor {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let view = st.tensor(name).unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        match view.dtype() {
            safetensors::Dtype::F32 => {
                let data: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Tensor::from_vec(data, view.shape(), &Device::Cpu).unwrap()
            }
            safetensors::Dtype::U8 => {
                Tensor::from_vec(view.data().to_vec(), view.shape(), &Device::Cpu).unwrap()
            }
            other => panic!("unexpected dtype {other:?} for {name}"),
        }
    }

    fn stats(&self, case: &str, need: StatsNeed) -> InputStats {
        let x = self.tensor(&format!("{case}.x"));
        let mut stats = InputStats::new(x.dims()[1], need);
        // Two batches, to exercise accumulation.
        let half = x.dims()[0] / 2;
        stats.add(&x.narrow(0, 0, half).unwrap()).unwrap();
        stats.add(&x.narrow(0, half, x.dims()[0] - half).unwrap()).unwrap();
        stats
    }
}

fn flat_u8(t: &Tensor) -> Vec<u8> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn flat_f32(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Runs `criterion` on case `case` and compares with `{case}.{key}.mask` (and `.weight` when present).
fn check(
    fx: &Fixture,
    case: &str,
    key: &str,
    criterion: &dyn Criterion,
    sparsity: Sparsity,
    need: StatsNeed,
) {
    let w = fx.tensor(&format!("{case}.w"));
    let stats = fx.stats(case, need);
    let out = criterion.prune(key, &w, sparsity, Some(&stats)).unwrap();
    let (ours, want) = (flat_u8(&out.mask), flat_u8(&fx.tensor(&format!("{case}.{key}.mask"))));
    let differ = ours.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{case}.{key}: {differ} of {} mask entries differ", want.len());
    let w_hat = flat_f32(&out.weight);
    let expected = match criterion.name() {
        "sparsegpt" => flat_f32(&fx.tensor(&format!("{case}.{key}.weight"))),
        // One-shot criteria keep the surviving weights unchanged.
        _ => flat_f32(&w).iter().zip(&want).map(|(&v, &m)| if m == 1 { v } else { 0.0 }).collect(),
    };
    let max_dw = w_hat.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "{case}.{key}: masks equal ({} entries, {} pruned), max |Δw| = {max_dw:.3e}",
        want.len(),
        want.iter().filter(|&&m| m == 0).count()
    );
    assert!(max_dw <= 1e-4, "{case}.{key}: max |Δw| = {max_dw}");
}

#[test]
fn magnitude_matches_reference() {
    let fx = Fixture::load();
    check(&fx, "a", "magnitude_unstructured_50", &Magnitude, Sparsity::Unstructured(0.5), StatsNeed::None);
    check(&fx, "a", "magnitude_2_4", &Magnitude, Sparsity::Nm(NmPattern::TWO_FOUR), StatsNeed::None);
    check(&fx, "b", "magnitude_unstructured_60", &Magnitude, Sparsity::Unstructured(0.6), StatsNeed::None);
}

#[test]
fn wanda_matches_reference() {
    let fx = Fixture::load();
    check(&fx, "a", "wanda_unstructured_50", &Wanda, Sparsity::Unstructured(0.5), StatsNeed::InputNorms);
    check(&fx, "a", "wanda_2_4", &Wanda, Sparsity::Nm(NmPattern::TWO_FOUR), StatsNeed::InputNorms);
    check(&fx, "a", "wanda_4_8", &Wanda, Sparsity::Nm(NmPattern::new(4, 8).unwrap()), StatsNeed::InputNorms);
    check(&fx, "b", "wanda_unstructured_60", &Wanda, Sparsity::Unstructured(0.6), StatsNeed::InputNorms);
}

#[test]
fn sparsegpt_matches_reference() {
    let fx = Fixture::load();
    let block = SparseGpt::default();
    let row = SparseGpt(SparseGptConfig { scope: SparseGptScope::BlockRow, ..Default::default() });
    check(&fx, "a", "sparsegpt_unstructured_50", &block, Sparsity::Unstructured(0.5), StatsNeed::Hessian);
    check(&fx, "a", "sparsegpt_2_4", &block, Sparsity::Nm(NmPattern::TWO_FOUR), StatsNeed::Hessian);
    check(&fx, "a", "sparsegpt_row_unstructured_50", &row, Sparsity::Unstructured(0.5), StatsNeed::Hessian);
    check(&fx, "b", "sparsegpt_unstructured_60", &block, Sparsity::Unstructured(0.6), StatsNeed::Hessian);
    check(&fx, "b", "sparsegpt_2_4", &block, Sparsity::Nm(NmPattern::TWO_FOUR), StatsNeed::Hessian);
}

#[test]
fn nm_masks_from_every_criterion_pass_check_nm() {
    let fx = Fixture::load();
    for key in ["magnitude_2_4", "wanda_2_4", "sparsegpt_2_4"] {
        p2law_prune::check_nm(key, &fx.tensor(&format!("a.{key}.mask")), 2, 4).unwrap();
    }
    p2law_prune::check_nm("wanda_4_8", &fx.tensor("a.wanda_4_8.mask"), 4, 8).unwrap();
    assert!(p2law_prune::check_nm(
        "magnitude_unstructured_50",
        &fx.tensor("a.magnitude_unstructured_50.mask"),
        2,
        4
    )
    .is_err());
}
