//! Width pruning by activation importance (Minitron, Muralidharan et al., 2024).
//!
//! For every channel `i` and calibration sequence `b`, take the mean over the sequence's tokens of the
//! activation's magnitude, then aggregate over sequences by the L2 norm (the paper's best "batch = L2,
//! sequence = mean" choice): `F_i = sqrt(Σ_b (mean_t |A[b, t, i]|)²)`.
//!
//! - FFN channels: `A` is the input of `down_proj` (`act(gate) · up`), shape `(batch, seq, intermediate)`;
//! - attention heads: `A` is each head's output before `o_proj`, shape `(batch, seq, heads · head_dim)`, and
//!   `|A|` is the head's L2 norm per token; under GQA a KV group is scored by the sum of its query heads
//!   and kept or dropped whole ([`keep_kv_groups`]);
//! - hidden (embedding) channels: `A` is the output of a norm layer; sum the importances of all norm sites
//!   ([`sum_importance`]).
//!
//! Selection keeps the top-`keep` channels (ties: lower index kept), returned sorted ascending, and the
//! same count in every layer ("uniform across layers").
//!
//! ```
//! use p2law_prune::width::keep_top;
//! assert_eq!(keep_top(&[0.5, 2.0, 0.1, 1.0], 2).unwrap(), vec![1, 3]);
//! ```

use candle_core::Tensor;

use crate::error::{check_finite, PruneError, Result};
use crate::matrix::activations_f64;
use crate::rate::check_rate;

/// Accumulates Minitron importance of `channels` units, each `unit_width` activation values wide
/// (1 for channels, `head_dim` for heads, scored by their L2 norm per token).
#[derive(Debug, Clone)]
pub struct ActivationImportance {
    units: usize,
    unit_width: usize,
    sum_sq: Vec<f64>,
    sequences: usize,
}

impl ActivationImportance {
    /// For single channels (FFN intermediate or hidden channels).
    pub fn channels(channels: usize) -> Self {
        Self::heads(channels, 1)
    }

    /// For attention heads of `head_dim` values each.
    pub fn heads(heads: usize, head_dim: usize) -> Self {
        Self { units: heads, unit_width: head_dim, sum_sq: vec![0.0; heads], sequences: 0 }
    }

    /// Adds activations shaped `(batch, seq, units · unit_width)` or `(seq, units · unit_width)` (one sequence).
    pub fn add(&mut self, act: &Tensor) -> Result<()> {
        let width = self.units * self.unit_width;
        let (batch, seq) = match act.dims() {
            &[b, s, _] => (b, s),
            &[s, _] => (1, s),
            dims => {
                return Err(PruneError::ShapeMismatch {
                    what: "importance activations".into(),
                    expected: format!("(batch, seq, {width})"),
                    got: format!("{dims:?}"),
                })
            }
        };
        let (_, data) = activations_f64("importance activations", act, width)?;
        if seq == 0 {
            return Err(PruneError::EmptyCalibration { name: "importance activations".into() });
        }
        for sequence in data.chunks(seq * width).take(batch) {
            let mut mean = vec![0.0; self.units];
            for token in sequence.chunks(width) {
                for (m, unit) in mean.iter_mut().zip(token.chunks(self.unit_width)) {
                    *m += unit.iter().map(|v| v * v).sum::<f64>().sqrt();
                }
            }
            for (acc, m) in self.sum_sq.iter_mut().zip(&mean) {
                *acc += (m / seq as f64).powi(2);
            }
        }
        self.sequences += batch;
        Ok(())
    }

    /// Sequences seen.
    pub fn sequences(&self) -> usize {
        self.sequences
    }

    /// `F_i` for every unit.
    pub fn importance(&self) -> Vec<f64> {
        self.sum_sq.iter().map(|v| v.sqrt()).collect()
    }
}

/// Element-wise sum of several importance vectors of one length (hidden channels over norm sites).
pub fn sum_importance(parts: &[Vec<f64>]) -> Result<Vec<f64>> {
    let first = parts.first().ok_or(PruneError::InvalidArgument {
        what: "importance list",
        reason: "no importance vectors to sum".into(),
    })?;
    let mut out = vec![0.0; first.len()];
    for p in parts {
        if p.len() != out.len() {
            return Err(PruneError::ShapeMismatch {
                what: "importance vectors".into(),
                expected: out.len().to_string(),
                got: p.len().to_string(),
            });
        }
        out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
    }
    Ok(out)
}

/// Indices of the `keep` most important units, ascending (ties: lower index kept).
pub fn keep_top(importance: &[f64], keep: usize) -> Result<Vec<usize>> {
    check_finite("importance", importance)?;
    if keep == 0 || keep > importance.len() {
        return Err(PruneError::InvalidArgument {
            what: "keep count",
            reason: format!("cannot keep {keep} of {} units", importance.len()),
        });
    }
    let mut order: Vec<usize> = (0..importance.len()).collect();
    order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
    order.truncate(keep);
    order.sort_unstable();
    Ok(order)
}

/// [`keep_top`] for every layer with the same `keep`.
pub fn keep_top_uniform(per_layer: &[Vec<f64>], keep: usize) -> Result<Vec<Vec<usize>>> {
    per_layer.iter().map(|imp| keep_top(imp, keep)).collect()
}

/// Kept heads under grouped-query attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptHeads {
    /// Kept KV heads (groups), ascending.
    pub kv_heads: Vec<usize>,
    /// Their query heads, ascending (query head `h` reads KV head `h / (heads / kv_heads)`).
    pub q_heads: Vec<usize>,
}

/// Scores KV groups by the sum of their query heads' importance and keeps the best `keep_groups`.
pub fn keep_kv_groups(head_importance: &[f64], kv_heads: usize, keep_groups: usize) -> Result<KeptHeads> {
    let heads = head_importance.len();
    if kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(PruneError::InvalidArgument {
            what: "attention heads",
            reason: format!("{heads} query heads cannot be split into {kv_heads} KV groups"),
        });
    }
    let per_group = heads / kv_heads;
    let group_importance: Vec<f64> = head_importance.chunks(per_group).map(|g| g.iter().sum()).collect();
    let kv = keep_top(&group_importance, keep_groups)?;
    let q_heads = kv.iter().flat_map(|&g| g * per_group..(g + 1) * per_group).collect();
    Ok(KeptHeads { kv_heads: kv, q_heads })
}

/// How many of `units` units (each costing `params_per_unit` parameters in every one of the model's
/// layers combined) to keep so that removing the others comes closest to `target · n0`; must keep at
/// least one and remove at least one.
pub fn keep_count(units: usize, params_per_unit: u64, n0: u64, target: f64) -> Result<usize> {
    check_rate(target)?;
    if units < 2 || params_per_unit == 0 || params_per_unit.saturating_mul(units as u64) > n0 {
        return Err(PruneError::InvalidArgument {
            what: "width counts",
            reason: format!("{units} units of {params_per_unit} parameters with n0 = {n0}"),
        });
    }
    let removed = (target * n0 as f64 / params_per_unit as f64).round() as usize;
    if removed == 0 || removed >= units {
        return Err(PruneError::RateUnreachable {
            rate: target,
            reason: format!(
                "it would remove {removed} of {units} units of {params_per_unit} parameters (n0 = {n0})"
            ),
        });
    }
    Ok(units - removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_over_sequence_then_l2_over_batch() {
        // Two sequences of two tokens, two channels.
        let a = Tensor::new(&[[[1f32, -2.], [3., 0.]], [[-3f32, 0.], [-1., 4.]]], &Device::Cpu).unwrap();
        let mut imp = ActivationImportance::channels(2);
        imp.add(&a).unwrap();
        // Channel 0: means 2 and 2 → sqrt(8); channel 1: means 1 and 2 → sqrt(5).
        let f = imp.importance();
        assert!((f[0] - 8f64.sqrt()).abs() < 1e-12 && (f[1] - 5f64.sqrt()).abs() < 1e-12, "{f:?}");
        // Feeding the sequences one at a time gives the same result.
        let mut one = ActivationImportance::channels(2);
        one.add(&a.get(0).unwrap()).unwrap();
        one.add(&a.get(1).unwrap()).unwrap();
        assert_eq!((one.importance(), one.sequences()), (f, 2));
    }

    #[test]
    fn heads_use_per_token_l2_norm() {
        let a = Tensor::new(&[[[3f32, 4., 0., 1.]]], &Device::Cpu).unwrap();
        let mut imp = ActivationImportance::heads(2, 2);
        imp.add(&a).unwrap();
        assert_eq!(imp.importance(), vec![5.0, 1.0]);
        assert!(imp.add(&Tensor::zeros((1, 1, 3), candle_core::DType::F32, &Device::Cpu).unwrap()).is_err());
    }

    #[test]
    fn selection_and_groups() {
        assert_eq!(keep_top(&[1.0, 1.0, 1.0], 2).unwrap(), vec![0, 1]);
        assert!(keep_top(&[1.0], 2).is_err());
        // 8 query heads, 4 KV groups of 2: group sums 3, 1, 7, 2 → keep groups 0 and 2.
        let kept = keep_kv_groups(&[1.0, 2.0, 0.5, 0.5, 3.0, 4.0, 1.0, 1.0], 4, 2).unwrap();
        assert_eq!(kept, KeptHeads { kv_heads: vec![0, 2], q_heads: vec![0, 1, 4, 5] });
        assert!(keep_kv_groups(&[1.0; 6], 4, 2).is_err());
        assert_eq!(
            keep_top_uniform(&[vec![3.0, 1.0, 2.0], vec![0.0, 1.0, 2.0]], 2).unwrap(),
            vec![vec![0, 2], vec![1, 2]]
        );
        assert_eq!(sum_importance(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap(), vec![4.0, 6.0]);
        assert!(sum_importance(&[vec![1.0], vec![1.0, 2.0]]).is_err());
    }

    #[test]
    fn keep_count_rounds_to_closest() {
        // 100 channels of 30 params each in n0 = 4000: 0.25 → remove 33.3 → 33, keep 67.
        assert_eq!(keep_count(100, 30, 4000, 0.25).unwrap(), 67);
        assert!(matches!(keep_count(100, 30, 4000, 0.001), Err(PruneError::RateUnreachable { .. })));
        assert!(keep_count(100, 30, 4000, 0.99).is_err());
        assert!(keep_count(100, 30, 1000, 0.5).is_err());
    }
}
