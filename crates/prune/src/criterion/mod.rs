//! Pruning criteria for one linear layer: [`Magnitude`], [`Wanda`], [`SparseGpt`] — one file each, behind
//! the small [`Criterion`] trait so the model-level driver treats them alike.
//!
//! Input: a weight `(out_features, in_features)` (any float dtype), a [`Sparsity`] (unstructured at a rate,
//! or N:M along the input dimension), and the layer's calibration [`InputStats`] when
//! [`Criterion::needs`] asks for them. Output: [`Pruned`], the new weight (f32, zeros where pruned; SparseGPT
//! also updates the kept weights) and its `u8` mask. Arguments are validated before any work.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use p2law_prune::criterion::{by_name, Sparsity};
//! let w = Tensor::new(&[[0.1f32, -3.0, 0.2, 4.0]], &Device::Cpu).unwrap();
//! let magnitude = by_name("magnitude").unwrap();
//! let out = magnitude.prune("w", &w, Sparsity::parse("2:4", None).unwrap(), None).unwrap();
//! assert_eq!(out.mask.to_vec2::<u8>().unwrap(), vec![vec![0, 1, 0, 1]]);
//! ```

mod magnitude;
mod sparsegpt;
pub(crate) mod wanda;

use candle_core::Tensor;

pub use magnitude::Magnitude;
pub use sparsegpt::{SparseGpt, SparseGptConfig, SparseGptScope};
pub use wanda::Wanda;

use crate::calib::{InputStats, StatsNeed};
use crate::error::{PruneError, Result};
use crate::mask::{check_unstructured_reachable, unstructured_mask, Scope};
use crate::matrix::Matrix;
use crate::nm::{nm_mask, NmPattern};
use crate::rate::check_rate;

/// Which weights go: a fraction anywhere (per the criterion's comparison group) or an N:M pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsity {
    /// Prune `floor(group · rate)` weights of each comparison group.
    Unstructured(f64),
    /// Keep `n` of every `m` consecutive input columns.
    Nm(NmPattern),
}

impl Sparsity {
    /// `"unstructured"` (needs `rate`) or an N:M pattern such as `"2:4"` (`rate` must be absent or equal
    /// the pattern's `(m-n)/m`).
    pub fn parse(kind: &str, rate: Option<f64>) -> Result<Self> {
        if kind == "unstructured" {
            let rate = rate.ok_or(PruneError::InvalidArgument {
                what: "sparsity",
                reason: "unstructured sparsity needs a rate".into(),
            })?;
            return Ok(Self::Unstructured(check_rate(rate)?));
        }
        if !kind.contains(':') {
            return Err(PruneError::UnknownSparsity(kind.into()));
        }
        let pattern: NmPattern = kind.parse()?;
        if let Some(rate) = rate {
            if (rate - pattern.rate()).abs() > 1e-9 {
                return Err(PruneError::InvalidArgument {
                    what: "sparsity",
                    reason: format!("{pattern} zeroes {} of each layer, not {rate}; pick the layers with nm::select_nm_layers for lower rates", pattern.rate()),
                });
            }
        }
        Ok(Self::Nm(pattern))
    }

    /// Fraction of each pruned layer's weights that are zeroed.
    pub fn rate(&self) -> f64 {
        match self {
            Self::Unstructured(rate) => *rate,
            Self::Nm(p) => p.rate(),
        }
    }
}

/// A pruned weight and its mask, both `(out_features, in_features)`: weight f32, mask u8 (1 keep, 0 prune).
#[derive(Debug, Clone)]
pub struct Pruned {
    pub weight: Tensor,
    pub mask: Tensor,
}

/// A method that sparsifies one linear layer.
pub trait Criterion: Send + Sync {
    /// Name as given on the command line.
    fn name(&self) -> &'static str;
    /// Calibration statistics [`Criterion::prune`] needs.
    fn needs(&self) -> StatsNeed;
    /// Prunes weight `name` (`(out, in)`); `stats` must be `Some` unless `needs()` is [`StatsNeed::None`].
    fn prune(
        &self,
        name: &str,
        weight: &Tensor,
        sparsity: Sparsity,
        stats: Option<&InputStats>,
    ) -> Result<Pruned>;
}

/// The criterion called `name` (`magnitude`, `wanda` or `sparsegpt`), with default settings.
pub fn by_name(name: &str) -> Result<Box<dyn Criterion>> {
    match name {
        "magnitude" => Ok(Box::new(Magnitude)),
        "wanda" => Ok(Box::new(Wanda)),
        "sparsegpt" => Ok(Box::new(SparseGpt::default())),
        other => Err(PruneError::UnknownCriterion(other.into())),
    }
}

/// Validates everything about a request that does not need the data, then copies the weight out.
/// `group` is the unstructured comparison group size for a `rows × cols` matrix.
pub(crate) fn checked_weight(
    name: &str,
    weight: &Tensor,
    sparsity: Sparsity,
    group: impl Fn(usize, usize) -> usize,
) -> Result<Matrix> {
    let (rows, cols) = crate::matrix::matrix_dims(name, weight)?;
    match sparsity {
        Sparsity::Unstructured(rate) => {
            check_rate(rate)?;
            check_unstructured_reachable(name, group(rows, cols), rate)?;
        }
        Sparsity::Nm(p) => {
            NmPattern::new(p.n, p.m)?;
            p.check_cols(name, cols)?;
        }
    }
    Matrix::from_weight(name, weight)
}

/// The statistics a criterion needs, checked to be present, non-empty and the right width.
pub(crate) fn checked_stats<'a>(
    criterion: &'static str,
    needs: &'static str,
    name: &str,
    cols: usize,
    stats: Option<&'a InputStats>,
) -> Result<&'a InputStats> {
    let stats = stats.ok_or_else(|| PruneError::MissingStats { criterion, name: name.into(), needs })?;
    if stats.features() != cols {
        return Err(PruneError::ShapeMismatch {
            what: format!("calibration statistics of `{name}`"),
            expected: format!("{cols} input features"),
            got: format!("{}", stats.features()),
        });
    }
    stats.check_nonempty(name)?;
    Ok(stats)
}

/// Mask from scores for a one-shot criterion (no weight update), then `weight · mask`.
pub(crate) fn prune_by_scores(
    w: &Matrix,
    scores: &[f64],
    sparsity: Sparsity,
    scope: Scope,
    device: &candle_core::Device,
) -> Result<Pruned> {
    let mask = match sparsity {
        Sparsity::Unstructured(rate) => unstructured_mask(scores, w.rows, w.cols, rate, scope),
        Sparsity::Nm(p) => nm_mask(scores, w.cols, p),
    };
    let data = w.data.iter().zip(&mask).map(|(&v, &k)| if k == 1 { v } else { 0.0 }).collect();
    Ok(Pruned {
        weight: crate::matrix::f32_tensor(w.rows, w.cols, data, device)?,
        mask: crate::matrix::mask_tensor(w.rows, w.cols, mask, device)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_parsing() {
        assert_eq!(Sparsity::parse("unstructured", Some(0.5)).unwrap(), Sparsity::Unstructured(0.5));
        assert_eq!(Sparsity::parse("2:4", None).unwrap(), Sparsity::Nm(NmPattern::TWO_FOUR));
        assert_eq!(Sparsity::parse("2:4", Some(0.5)).unwrap().rate(), 0.5);
        assert!(Sparsity::parse("2:4", Some(0.3)).is_err());
        assert!(Sparsity::parse("unstructured", None).is_err());
        assert!(Sparsity::parse("unstructured", Some(1.0)).is_err());
        assert!(matches!(Sparsity::parse("blocky", None), Err(PruneError::UnknownSparsity(_))));
    }

    #[test]
    fn unknown_criterion() {
        assert!(matches!(by_name("obs"), Err(PruneError::UnknownCriterion(_))));
        for name in ["magnitude", "wanda", "sparsegpt"] {
            assert_eq!(by_name(name).unwrap().name(), name);
        }
    }
}
