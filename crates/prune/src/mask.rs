//! Masks and the selection rule every criterion shares.
//!
//! A mask is a `u8` tensor shaped like its weight, `1` = keep, `0` = prune; a [`MaskSet`] maps weight names
//! (checkpoint names such as `model.layers.0.mlp.up_proj.weight`) to masks.
//!
//! **Selection and ties.** Every criterion turns a weight into non-negative scores and prunes the *lowest*
//! ones inside a comparison group (a row, the whole matrix, a SparseGPT block, or an N:M group). Scores are
//! ordered by value and, on equal values, by flat index, lower first — exactly what a stable ascending sort
//! (`numpy.argsort(kind="stable")`) gives, which is how `scripts/prune_reference.py` breaks ties too. So of
//! two equal scores the earlier column is pruned first.
//!
//! ```
//! use p2law_prune::mask::lowest_k;
//! assert_eq!(lowest_k(&[0.3, 0.1, 0.2, 0.1], 2), vec![1, 3]);
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::error::{PruneError, Result};
use crate::rate::prune_count;

/// Indices of the `k` lowest scores in ascending (score, index) order.
pub fn lowest_k(scores: &[f64], k: usize) -> Vec<usize> {
    let k = k.min(scores.len());
    let order = |&a: &usize, &b: &usize| -> Ordering { scores[a].total_cmp(&scores[b]).then(a.cmp(&b)) };
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    // A total order makes the selected set unique, so the faster partial selection is still deterministic.
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
    }
    idx.truncate(k);
    idx.sort_unstable_by(order);
    idx
}

/// Where unstructured scores compete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Each output row loses the same number of weights (Wanda's per-output comparison).
    PerRow,
    /// The whole matrix competes at once (classic layer-wise magnitude pruning).
    PerMatrix,
}

/// Unstructured mask from `rows × cols` scores: prunes `floor(group * rate)` lowest per group.
pub(crate) fn unstructured_mask(
    scores: &[f64],
    rows: usize,
    cols: usize,
    rate: f64,
    scope: Scope,
) -> Vec<u8> {
    let mut mask = vec![1u8; rows * cols];
    match scope {
        Scope::PerRow => {
            let k = prune_count(cols, rate);
            for (row_scores, row_mask) in scores.chunks(cols).zip(mask.chunks_mut(cols)) {
                for j in lowest_k(row_scores, k) {
                    row_mask[j] = 0;
                }
            }
        }
        Scope::PerMatrix => {
            for j in lowest_k(scores, prune_count(rows * cols, rate)) {
                mask[j] = 0;
            }
        }
    }
    mask
}

/// Checks that an unstructured rate prunes at least one weight per group and keeps at least one.
pub(crate) fn check_unstructured_reachable(name: &str, group: usize, rate: f64) -> Result<()> {
    let k = prune_count(group, rate);
    if k == 0 || k == group {
        return Err(PruneError::RateUnreachable {
            rate,
            reason: format!("`{name}` would prune {k} of every {group} weights; choose a rate that prunes some but not all"),
        });
    }
    Ok(())
}

/// `weight * mask`, in the weight's dtype (zeros where the mask is 0).
pub fn apply_mask(weight: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if weight.dims() != mask.dims() {
        return Err(PruneError::ShapeMismatch {
            what: "mask vs weight".into(),
            expected: format!("{:?}", weight.dims()),
            got: format!("{:?}", mask.dims()),
        });
    }
    Ok(weight.mul(&mask.to_dtype(weight.dtype())?)?)
}

/// Masks by weight name, in name order.
#[derive(Debug, Clone, Default)]
pub struct MaskSet {
    masks: BTreeMap<String, Tensor>,
}

impl MaskSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the mask of `name`; it must be a `u8` tensor.
    pub fn insert(&mut self, name: impl Into<String>, mask: Tensor) -> Result<()> {
        let name = name.into();
        if mask.dtype() != candle_core::DType::U8 {
            return Err(PruneError::BadMask {
                name,
                problem: format!("dtype {:?}, expected u8", mask.dtype()),
            });
        }
        self.masks.insert(name, mask);
        Ok(())
    }

    /// The mask of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.masks.get(name)
    }

    /// `(name, mask)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Tensor)> {
        self.masks.iter()
    }

    /// Number of masks.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Total number of pruned entries over all masks.
    pub fn pruned(&self) -> Result<u64> {
        self.masks.values().map(crate::rate::count_pruned).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn lowest_k_breaks_ties_by_index() {
        let s = [2.0, 1.0, 1.0, 0.5, 1.0];
        assert_eq!(lowest_k(&s, 3), vec![3, 1, 2]);
        assert_eq!(lowest_k(&s, 0), Vec::<usize>::new());
        assert_eq!(lowest_k(&s, 9), vec![3, 1, 2, 4, 0]);
    }

    #[test]
    fn row_scope_prunes_evenly_matrix_scope_globally() {
        // Row 0 holds all the small scores.
        let s = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(unstructured_mask(&s, 2, 4, 0.5, Scope::PerRow), vec![0, 0, 1, 1, 0, 0, 1, 1]);
        assert_eq!(unstructured_mask(&s, 2, 4, 0.5, Scope::PerMatrix), vec![0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn unreachable_rates_are_reported() {
        assert!(check_unstructured_reachable("w", 4, 0.2).is_err());
        assert!(check_unstructured_reachable("w", 4, 0.99).is_ok());
        assert!(check_unstructured_reachable("w", 4, 0.5).is_ok());
    }

    #[test]
    fn apply_mask_zeroes_and_mask_set_counts() {
        let w = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
        let m = Tensor::new(&[[1u8, 0], [0, 1]], &Device::Cpu).unwrap();
        let out = apply_mask(&w, &m).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(out, vec![vec![1., 0.], vec![0., 4.]]);
        let mut set = MaskSet::new();
        set.insert("w", m).unwrap();
        assert_eq!((set.len(), set.pruned().unwrap()), (1, 2));
        assert!(set.insert("bad", w).is_err());
    }
}
