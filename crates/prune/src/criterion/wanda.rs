//! Wanda (Sun et al., 2023, "A Simple and Effective Pruning Approach for LLMs"): score
//! `S_ij = |W_ij| · ‖X_j‖₂`, where `‖X_j‖₂` is the L2 norm of input feature `j` over all calibration tokens.
//! No weight update.
//!
//! Unstructured: each output row competes on its own (the paper's per-output comparison), losing
//! `floor(cols · rate)` weights. N:M: the `m - n` lowest of each group of `m` consecutive input columns.
//! Scores are computed in f64 (`|w|` widened from f32 times the f64 norm), as in the reference script.

use candle_core::Tensor;

use super::{checked_stats, checked_weight, prune_by_scores, Criterion, Pruned, Sparsity};
use crate::calib::{InputStats, StatsNeed};
use crate::error::Result;
use crate::mask::Scope;

/// Weights-and-activations criterion.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanda;

/// Wanda scores `|W_ij| · norms[j]` for a row-major `rows × norms.len()` weight.
pub fn wanda_scores(weight: &[f32], norms: &[f64]) -> Vec<f64> {
    weight
        .chunks(norms.len())
        .flat_map(|row| row.iter().zip(norms).map(|(w, n)| f64::from(w.abs()) * n))
        .collect()
}

impl Criterion for Wanda {
    fn name(&self) -> &'static str {
        "wanda"
    }

    fn needs(&self) -> StatsNeed {
        StatsNeed::InputNorms
    }

    fn prune(
        &self,
        name: &str,
        weight: &Tensor,
        sparsity: Sparsity,
        stats: Option<&InputStats>,
    ) -> Result<Pruned> {
        let (_, cols) = crate::matrix::matrix_dims(name, weight)?;
        let stats = checked_stats("wanda", "input norms", name, cols, stats)?;
        let w = checked_weight(name, weight, sparsity, |_, cols| cols)?;
        let scores = wanda_scores(&w.data, &stats.feature_norms());
        prune_by_scores(&w, &scores, sparsity, Scope::PerRow, weight.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn activations_change_the_choice() {
        // Column 0 has small weights but a huge input: Wanda keeps it where magnitude would not.
        let w = Tensor::new(&[[0.1f32, 1.0, 2.0, 0.5], [0.2, 3.0, 1.0, 0.4]], &Device::Cpu).unwrap();
        let x = Tensor::new(&[[100f32, 1., 1., 1.], [0., 1., 1., 1.]], &Device::Cpu).unwrap();
        let mut stats = InputStats::new(4, StatsNeed::InputNorms);
        stats.add(&x).unwrap();
        let out = Wanda.prune("w", &w, Sparsity::Unstructured(0.5), Some(&stats)).unwrap();
        assert_eq!(out.mask.to_vec2::<u8>().unwrap(), vec![vec![1, 0, 1, 0], vec![1, 1, 0, 0]]);
    }

    #[test]
    fn needs_matching_stats() {
        let w = Tensor::new(&[[1f32, 2., 3., 4.]], &Device::Cpu).unwrap();
        assert!(Wanda.prune("w", &w, Sparsity::Unstructured(0.5), None).is_err());
        let stats = InputStats::new(3, StatsNeed::InputNorms);
        assert!(Wanda.prune("w", &w, Sparsity::Unstructured(0.5), Some(&stats)).is_err());
        let empty = InputStats::new(4, StatsNeed::InputNorms);
        assert!(Wanda.prune("w", &w, Sparsity::Unstructured(0.5), Some(&empty)).is_err());
    }
}
