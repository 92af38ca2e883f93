//! Pruning rates and their accounting.
//!
//! The P² Law's `rho` is the fraction of **non-embedding** parameters a pruning removes (`docs/spec/law.md`):
//! `rho = 1 - n / n0`, where removed layers and channels leave the count and sparse zeros (mask entries 0)
//! count as removed too. [`RateAccount`] tallies both kinds against `n0`.
//!
//! ```
//! use p2law_prune::rate::{prune_count, RateAccount};
//! assert_eq!(prune_count(256, 0.5), 128);
//! let mut acc = RateAccount::new(1_000);
//! acc.add_removed(250);
//! assert_eq!(acc.rho(), 0.25);
//! ```

use candle_core::{DType, Tensor};

use crate::error::{PruneError, Result};

/// Checks that `rate` lies strictly between 0 and 1.
pub fn check_rate(rate: f64) -> Result<f64> {
    if rate.is_finite() && rate > 0.0 && rate < 1.0 {
        Ok(rate)
    } else {
        Err(PruneError::RateOutOfRange { rate })
    }
}

/// How many of `total` items a rate prunes: `floor(total * rate)` (the convention of the Wanda and
/// SparseGPT reference implementations, which use Python's `int()`).
pub fn prune_count(total: usize, rate: f64) -> usize {
    // The small epsilon keeps e.g. 0.3 * 10 (= 2.9999999999999996) from rounding down to 2.
    ((total as f64) * rate + 1e-9).floor() as usize
}

/// `rho = 1 - n / n0`.
pub fn achieved_rho(n0: u64, n: u64) -> f64 {
    1.0 - n as f64 / n0 as f64
}

/// Number of zeros (pruned entries) in a mask tensor of any shape.
pub fn count_pruned(mask: &Tensor) -> Result<u64> {
    let kept = mask.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as u64;
    Ok(mask.elem_count() as u64 - kept)
}

/// Running tally of parameters removed or zeroed out of `n0` non-embedding parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateAccount {
    n0: u64,
    removed: u64,
}

impl RateAccount {
    /// Starts an account for a model with `n0` non-embedding parameters.
    pub fn new(n0: u64) -> Self {
        Self { n0, removed: 0 }
    }

    /// Records `count` parameters removed outright (a layer, channels, heads).
    pub fn add_removed(&mut self, count: u64) {
        self.removed += count;
    }

    /// Records the zeros of a sparsity mask; returns how many it added.
    pub fn add_mask(&mut self, mask: &Tensor) -> Result<u64> {
        let zeros = count_pruned(mask)?;
        self.removed += zeros;
        Ok(zeros)
    }

    /// Non-embedding parameters before pruning.
    pub fn n0(&self) -> u64 {
        self.n0
    }

    /// Non-embedding parameters left (sparse zeros not counted).
    pub fn n(&self) -> u64 {
        self.n0.saturating_sub(self.removed)
    }

    /// Achieved pruning rate `1 - n / n0`.
    pub fn rho(&self) -> f64 {
        achieved_rho(self.n0, self.n())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn rate_bounds_are_open() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert!(matches!(check_rate(bad), Err(PruneError::RateOutOfRange { .. })), "{bad}");
        }
        assert_eq!(check_rate(0.5).unwrap(), 0.5);
    }

    #[test]
    fn prune_count_floors_without_float_surprises() {
        assert_eq!(prune_count(10, 0.3), 3);
        assert_eq!(prune_count(10, 0.35), 3);
        assert_eq!(prune_count(48 * 128, 0.5), 3072);
        assert_eq!(prune_count(3, 0.2), 0);
    }

    #[test]
    fn account_counts_mask_zeros_and_removals() {
        let mask = Tensor::new(&[[1u8, 0, 0, 1], [0, 1, 1, 0]], &Device::Cpu).unwrap();
        assert_eq!(count_pruned(&mask).unwrap(), 4);
        let mut acc = RateAccount::new(20);
        assert_eq!(acc.add_mask(&mask).unwrap(), 4);
        acc.add_removed(6);
        assert_eq!((acc.n(), acc.rho()), (10, 0.5));
    }
}
