//! Magnitude pruning: score `|W_ij|`, no calibration data.
//!
//! Unstructured: the whole matrix competes (layer-wise magnitude, the baseline of the Wanda paper's
//! reference code), `floor(rows·cols·rate)` lowest go. N:M: the `m - n` smallest of each group of `m`
//! consecutive input columns go. Ties: lower flat index first (see [`crate::mask`]).

use candle_core::Tensor;

use super::{checked_weight, prune_by_scores, Criterion, Pruned, Sparsity};
use crate::calib::{InputStats, StatsNeed};
use crate::error::Result;
use crate::mask::Scope;

/// `|W|` criterion.
#[derive(Debug, Clone, Copy, Default)]
pub struct Magnitude;

impl Criterion for Magnitude {
    fn name(&self) -> &'static str {
        "magnitude"
    }

    fn needs(&self) -> StatsNeed {
        StatsNeed::None
    }

    fn prune(
        &self,
        name: &str,
        weight: &Tensor,
        sparsity: Sparsity,
        _stats: Option<&InputStats>,
    ) -> Result<Pruned> {
        let w = checked_weight(name, weight, sparsity, |rows, cols| rows * cols)?;
        let scores: Vec<f64> = w.data.iter().map(|v| f64::from(v.abs())).collect();
        prune_by_scores(&w, &scores, sparsity, Scope::PerMatrix, weight.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn layer_wise_unstructured() {
        let w = Tensor::new(&[[0.1f32, 0.2, 0.3], [-5.0, 0.05, 6.0]], &Device::Cpu).unwrap();
        let out = Magnitude.prune("w", &w, Sparsity::Unstructured(0.5), None).unwrap();
        assert_eq!(out.mask.to_vec2::<u8>().unwrap(), vec![vec![0, 0, 1], vec![1, 0, 1]]);
        assert_eq!(out.weight.to_vec2::<f32>().unwrap(), vec![vec![0.0, 0.0, 0.3], vec![-5.0, 0.0, 6.0]]);
    }

    #[test]
    fn rejects_before_work() {
        let w = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
        assert!(Magnitude.prune("w", &w, Sparsity::Nm(crate::nm::NmPattern::TWO_FOUR), None).is_err());
        assert!(Magnitude.prune("w", &w, Sparsity::Unstructured(0.2), None).is_err());
        assert!(Magnitude.prune("w", &w, Sparsity::Unstructured(1.2), None).is_err());
    }
}
