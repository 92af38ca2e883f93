//! Calibration statistics of one linear layer's inputs, accumulated batch by batch.
//!
//! Feed [`InputStats::add`] the activations `X` entering the layer, shape `(..., in_features)` (typically
//! `(batch, seq, in)`); all leading dimensions are tokens. Two statistics are kept, as the criterion needs:
//!
//! - `sq_norms[j] = Σ_t X[t, j]²`, so `‖X_j‖₂ = sqrt(sq_norms[j])` (Wanda);
//! - the Gram matrix `G = Xᵀ X` (`in × in`, f64), from which SparseGPT's Hessian is `H = 2 G` (the reference
//!   scales by `2 / samples`; SparseGPT's masks and updates do not change under a positive scale of `H`).
//!
//! Sums are kept in f64 so long calibration runs do not lose precision.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use p2law_prune::calib::{InputStats, StatsNeed};
//! let mut s = InputStats::new(2, StatsNeed::Hessian);
//! s.add(&Tensor::new(&[[3f32, 0.], [4., 1.]], &Device::Cpu).unwrap()).unwrap();
//! assert_eq!(s.feature_norms(), vec![5.0, 1.0]);
//! assert_eq!(s.gram().unwrap()[1], 4.0); // Σ_t x0·x1 = 3·0 + 4·1
//! ```

use candle_core::{DType, Tensor};

use crate::error::{PruneError, Result};
use crate::matrix::activations_f64;

/// What a criterion needs from calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsNeed {
    /// Nothing (magnitude).
    None,
    /// Per-feature input norms (Wanda).
    InputNorms,
    /// The full Gram matrix `XᵀX` (SparseGPT; norms come with it, from its diagonal).
    Hessian,
}

/// Accumulated statistics of a layer's inputs.
#[derive(Debug, Clone)]
pub struct InputStats {
    features: usize,
    tokens: usize,
    sq_norms: Vec<f64>,
    gram: Option<Vec<f64>>,
}

impl InputStats {
    /// Empty statistics for a layer with `features` inputs.
    pub fn new(features: usize, need: StatsNeed) -> Self {
        let gram = (need == StatsNeed::Hessian).then(|| vec![0.0; features * features]);
        Self { features, tokens: 0, sq_norms: vec![0.0; features], gram }
    }

    /// Adds a batch of inputs `x`, shape `(..., features)`, any float dtype and device.
    pub fn add(&mut self, x: &Tensor) -> Result<()> {
        let (tokens, data) = activations_f64("calibration inputs", x, self.features)?;
        for row in data.chunks(self.features) {
            for (acc, v) in self.sq_norms.iter_mut().zip(row) {
                *acc += v * v;
            }
        }
        if let Some(gram) = self.gram.as_mut() {
            // One GEMM per batch: (in, tokens) × (tokens, in), in f64 on the CPU.
            let x = Tensor::from_vec(data, (tokens, self.features), &candle_core::Device::Cpu)?;
            let g = x.t()?.contiguous()?.matmul(&x)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            for (acc, v) in gram.iter_mut().zip(g) {
                *acc += v;
            }
        }
        self.tokens += tokens;
        Ok(())
    }

    /// Number of input features.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Tokens seen so far.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// `‖X_j‖₂` for every input feature `j`.
    pub fn feature_norms(&self) -> Vec<f64> {
        self.sq_norms.iter().map(|v| v.sqrt()).collect()
    }

    /// `XᵀX`, row-major `features × features`, if it was collected.
    pub fn gram(&self) -> Option<&[f64]> {
        self.gram.as_deref()
    }

    /// Errors unless at least one token was seen (`name` is the layer, for the message).
    pub(crate) fn check_nonempty(&self, name: &str) -> Result<()> {
        if self.tokens == 0 {
            return Err(PruneError::EmptyCalibration { name: name.into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn batches_accumulate_like_one_big_batch() {
        let x = Tensor::arange(0f32, 24., &Device::Cpu).unwrap().reshape((2, 4, 3)).unwrap();
        let mut whole = InputStats::new(3, StatsNeed::Hessian);
        whole.add(&x).unwrap();
        let mut parts = InputStats::new(3, StatsNeed::Hessian);
        parts.add(&x.get(0).unwrap()).unwrap();
        parts.add(&x.get(1).unwrap()).unwrap();
        assert_eq!(whole.tokens(), 8);
        assert_eq!(whole.gram(), parts.gram());
        assert_eq!(whole.feature_norms(), parts.feature_norms());
        // Gram diagonal equals the squared norms.
        let g = whole.gram().unwrap();
        let n = whole.feature_norms();
        assert!((0..3).all(|j| (g[j * 4] - n[j] * n[j]).abs() < 1e-9));
    }

    #[test]
    fn wrong_width_and_norms_only() {
        let mut s = InputStats::new(3, StatsNeed::InputNorms);
        assert!(s.gram().is_none());
        assert!(s.check_nonempty("l").is_err());
        let x = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(s.add(&x), Err(PruneError::ShapeMismatch { .. })));
    }
}
