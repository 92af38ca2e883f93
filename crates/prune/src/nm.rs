//! N:M semi-structured sparsity: in every group of `m` consecutive input columns of a row, at most `n`
//! weights are kept (2:4 is what sparse tensor cores accelerate). The pruning rate of a pattern is
//! `(m - n) / m`, 0.5 for 2:4.
//!
//! - [`nm_mask`] keeps the `n` highest scores of each group (ties: the lower column is pruned first, see
//!   [`crate::mask`]);
//! - [`check_nm`] verifies a mask;
//! - [`select_nm_layers`] reaches a target rate below `(m-n)/m` by sparsifying only the least sensitive
//!   linear layers.
//!
//! ```
//! use p2law_prune::nm::NmPattern;
//! let p: NmPattern = "2:4".parse().unwrap();
//! assert_eq!((p.n, p.m, p.rate()), (2, 4, 0.5));
//! assert!("4:2".parse::<NmPattern>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor};

use crate::error::{PruneError, Result};
use crate::mask::lowest_k;
use crate::matrix::matrix_dims;
use crate::rate::check_rate;

/// An N:M pattern: keep at most `n` of every `m` consecutive input columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NmPattern {
    pub n: usize,
    pub m: usize,
}

impl NmPattern {
    /// 2:4, the default.
    pub const TWO_FOUR: NmPattern = NmPattern { n: 2, m: 4 };

    /// Checks `0 < n < m`.
    pub fn new(n: usize, m: usize) -> Result<Self> {
        let bad =
            |reason: &str| PruneError::InvalidPattern { pattern: format!("{n}:{m}"), reason: reason.into() };
        if m == 0 || n == 0 {
            return Err(bad("N and M must both be positive"));
        }
        if n > m {
            return Err(bad("N must not exceed M"));
        }
        if n == m {
            return Err(bad("N = M prunes nothing; use N < M"));
        }
        Ok(Self { n, m })
    }

    /// Fraction of weights the pattern zeroes, `(m - n) / m`.
    pub fn rate(&self) -> f64 {
        (self.m - self.n) as f64 / self.m as f64
    }

    /// Checks that `m` divides the input dimension `cols` of weight `name`.
    pub fn check_cols(&self, name: &str, cols: usize) -> Result<()> {
        if !cols.is_multiple_of(self.m) {
            return Err(PruneError::PatternDoesNotDivide {
                name: name.into(),
                pattern: self.to_string(),
                m: self.m,
                cols,
            });
        }
        Ok(())
    }
}

impl Default for NmPattern {
    fn default() -> Self {
        Self::TWO_FOUR
    }
}

impl fmt::Display for NmPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

impl FromStr for NmPattern {
    type Err = PruneError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || PruneError::InvalidPattern {
            pattern: s.into(),
            reason: "expected N:M with integers, e.g. 2:4".into(),
        };
        let (n, m) = s.trim().split_once(':').ok_or_else(bad)?;
        Self::new(n.trim().parse().map_err(|_| bad())?, m.trim().parse().map_err(|_| bad())?)
    }
}

/// N:M mask from `rows × cols` scores (`cols` a multiple of `m`): in every group the `m - n` lowest are pruned.
pub(crate) fn nm_mask(scores: &[f64], cols: usize, pattern: NmPattern) -> Vec<u8> {
    let mut mask = vec![1u8; scores.len()];
    for (group_scores, group_mask) in scores.chunks(pattern.m).zip(mask.chunks_mut(pattern.m)) {
        prune_group(group_scores, group_mask, pattern);
    }
    debug_assert_eq!(scores.len() % cols, 0);
    mask
}

/// Zeroes the `m - n` lowest-scoring entries of one group's mask.
pub(crate) fn prune_group(group_scores: &[f64], group_mask: &mut [u8], pattern: NmPattern) {
    for j in lowest_k(group_scores, pattern.m - pattern.n) {
        group_mask[j] = 0;
    }
}

/// Verifies that every group of `m` consecutive columns of every row keeps at most `n` entries.
pub fn check_nm(name: &str, mask: &Tensor, n: usize, m: usize) -> Result<()> {
    let pattern = NmPattern::new(n, m)?;
    let (rows, cols) = matrix_dims(name, mask)?;
    pattern.check_cols(name, cols)?;
    let values = mask.to_dtype(DType::U8)?.flatten_all()?.to_vec1::<u8>()?;
    for row in 0..rows {
        for col in (0..cols).step_by(m) {
            let group = &values[row * cols + col..row * cols + col + m];
            if let Some(v) = group.iter().find(|&&v| v > 1) {
                return Err(PruneError::BadMask {
                    name: name.into(),
                    problem: format!("value {v} at row {row}; masks hold 0 or 1"),
                });
            }
            let kept = group.iter().filter(|&&v| v == 1).count();
            if kept > n {
                return Err(PruneError::NmViolation { name: name.into(), n, m, row, col, kept });
            }
        }
    }
    Ok(())
}

/// One linear layer offered to [`select_nm_layers`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearSensitivity {
    /// Weight name.
    pub name: String,
    /// Parameters in the weight.
    pub params: u64,
    /// How much the model suffers when this layer alone is N:M-sparsified (e.g. loss increase or relative
    /// reconstruction error); lower is less sensitive.
    pub sensitivity: f64,
}

/// Layers chosen for N:M sparsity and the rate that achieves.
#[derive(Debug, Clone, PartialEq)]
pub struct NmLayerSelection {
    /// Chosen weight names, least sensitive first.
    pub names: Vec<String>,
    /// `removed / n0` where each chosen layer loses `(m-n)/m` of its parameters.
    pub achieved_rho: f64,
}

/// For a target below the pattern's own rate: sparsify the least sensitive layers (ties by input order)
/// until `target` of the `n0` non-embedding parameters are zeroed. The last layer is kept only if it brings
/// the rate closer to the target than stopping before it.
pub fn select_nm_layers(
    layers: &[LinearSensitivity],
    n0: u64,
    target: f64,
    pattern: NmPattern,
) -> Result<NmLayerSelection> {
    check_rate(target)?;
    if let Some(l) = layers.iter().find(|l| !l.sensitivity.is_finite()) {
        return Err(PruneError::NonFinite {
            what: format!("sensitivity of `{}`", l.name),
            index: 0,
            value: l.sensitivity,
        });
    }
    let total: u64 = layers.iter().map(|l| l.params).sum();
    if n0 == 0 || total > n0 {
        return Err(PruneError::InvalidArgument {
            what: "parameter counts",
            reason: format!("layers hold {total} parameters but n0 is {n0}"),
        });
    }
    let zeroed = |params: u64| params as f64 * pattern.rate();
    let max_rho = zeroed(total) / n0 as f64;
    if target > max_rho + 1e-12 {
        return Err(PruneError::RateUnreachable {
            rate: target,
            reason: format!(
                "{pattern} on all {} offered layers zeroes only {max_rho:.4} of the non-embedding parameters",
                layers.len()
            ),
        });
    }
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by(|&a, &b| layers[a].sensitivity.total_cmp(&layers[b].sensitivity).then(a.cmp(&b)));
    let (mut chosen, mut removed) = (Vec::new(), 0.0);
    for &i in &order {
        if removed / n0 as f64 >= target {
            break;
        }
        let before = removed / n0 as f64;
        removed += zeroed(layers[i].params);
        let after = removed / n0 as f64;
        // Why: overshooting by more than we would undershoot without this layer moves away from the target.
        if after - target > target - before && !chosen.is_empty() {
            removed -= zeroed(layers[i].params);
            break;
        }
        chosen.push(layers[i].name.clone());
    }
    Ok(NmLayerSelection { names: chosen, achieved_rho: removed / n0 as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn patterns_parse_and_validate() {
        assert_eq!("1:4".parse::<NmPattern>().unwrap().rate(), 0.75);
        for bad in ["4:2", "0:4", "4:4", "2-4", "a:4", ""] {
            assert!(bad.parse::<NmPattern>().is_err(), "{bad}");
        }
        assert!(NmPattern::TWO_FOUR.check_cols("w", 6).is_err());
        assert!(NmPattern::TWO_FOUR.check_cols("w", 8).is_ok());
    }

    #[test]
    fn nm_mask_keeps_top_n_per_group() {
        let s = [4.0, 1.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(nm_mask(&s, 8, NmPattern::TWO_FOUR), vec![1, 0, 1, 0, 0, 0, 1, 1]);
        let s = [3.0, 1.0, 2.0];
        assert_eq!(nm_mask(&s, 3, NmPattern::new(1, 3).unwrap()), vec![1, 0, 0]);
    }

    #[test]
    fn check_nm_finds_violations() {
        let ok = Tensor::new(&[[1u8, 0, 1, 0, 0, 0, 0, 1]], &Device::Cpu).unwrap();
        check_nm("w", &ok, 2, 4).unwrap();
        let bad = Tensor::new(&[[1u8, 0, 1, 0, 1, 1, 1, 0]], &Device::Cpu).unwrap();
        let e = check_nm("w", &bad, 2, 4).unwrap_err();
        assert!(matches!(e, PruneError::NmViolation { row: 0, col: 4, kept: 3, .. }), "{e}");
        assert!(check_nm("w", &ok, 2, 3).is_err());
        let two = Tensor::new(&[[2u8, 0, 0, 0]], &Device::Cpu).unwrap();
        assert!(matches!(check_nm("w", &two, 2, 4), Err(PruneError::BadMask { .. })));
    }

    fn layer(name: &str, params: u64, sensitivity: f64) -> LinearSensitivity {
        LinearSensitivity { name: name.into(), params, sensitivity }
    }

    #[test]
    fn nm_layer_selection_takes_least_sensitive_first() {
        let layers = [layer("a", 100, 0.9), layer("b", 100, 0.1), layer("c", 100, 0.5), layer("d", 100, 0.1)];
        // 2:4 zeroes 50 per layer of n0 = 400: 0.25 needs two layers, the two least sensitive (b, d by order).
        let s = select_nm_layers(&layers, 400, 0.25, NmPattern::TWO_FOUR).unwrap();
        assert_eq!((s.names.clone(), s.achieved_rho), (vec!["b".to_string(), "d".to_string()], 0.25));
        // 0.14: one layer gives 0.125 (miss 0.015), two 0.25 (miss 0.11): stop at one.
        assert_eq!(select_nm_layers(&layers, 400, 0.14, NmPattern::TWO_FOUR).unwrap().names, vec!["b"]);
        // 0.2: two layers miss by 0.05 < 0.075.
        assert_eq!(select_nm_layers(&layers, 400, 0.2, NmPattern::TWO_FOUR).unwrap().names.len(), 2);
        assert!(matches!(
            select_nm_layers(&layers, 400, 0.6, NmPattern::TWO_FOUR),
            Err(PruneError::RateUnreachable { .. })
        ));
        assert!(select_nm_layers(&layers, 100, 0.2, NmPattern::TWO_FOUR).is_err());
        assert!(select_nm_layers(&layers, 400, 0.0, NmPattern::TWO_FOUR).is_err());
    }
}
