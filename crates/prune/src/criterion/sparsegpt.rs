//! SparseGPT (Frantar & Alistarh, 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
//! One-Shot"): prune column by column, each time compensating the error on the not-yet-processed columns
//! with the optimal-brain-surgeon update, so that `‖W X − Ŵ X‖²` stays small.
//!
//! Shapes: `W` is `(rows, cols) = (out, in)`; `H = 2 XᵀX` is `cols × cols` from the calibration inputs.
//! Steps (all in f64):
//! 1. dead inputs (`H_jj = 0`, never active) get `H_jj = 1` and `W[:, j] = 0`;
//! 2. dampening: `H += λ I` with `λ = damp · mean(diag H)` (`damp` = 0.01);
//! 3. `U` = upper Cholesky factor of `H⁻¹` (`H⁻¹ = UᵀU`); `U_ii` plays the role of `[H⁻¹]_ii`;
//! 4. columns in blocks of `block_size` (128). Mask selection by the OBS error `w² / U_ii²`:
//!    unstructured — at the start of each block, on the block's current (already compensated) weights,
//!    the `floor(k · rate)` lowest go, `k` being all `rows × block` entries ([`SparseGptScope::Block`], as in
//!    the authors' reference code) or each row's `block` entries ([`SparseGptScope::BlockRow`]);
//!    N:M — at every group start, the `m − n` lowest of the next `m` columns of each row;
//! 5. for each column `i`: `q = w·mask`, `e = (w − q) / U_ii`, `W[:, j] −= e · U_ij` for `j > i` in the block,
//!    and after the block, the same for all later columns in one lazy batch.
//!
//! Rows are independent apart from step 4's block-wide selection, so each block runs its rows in parallel.
//! The reference selects with `score <= sorted[int(k·rate)]`, pruning one weight more than `int(k·rate)`;
//! we prune exactly `floor(k·rate)` (ties: lower flat index first), and so does `scripts/prune_reference.py`.

use candle_core::Tensor;
use rayon::prelude::*;

use super::{checked_stats, checked_weight, Criterion, Pruned, Sparsity};
use crate::calib::{InputStats, StatsNeed};
use crate::error::{PruneError, Result};
use crate::linalg::upper_cholesky_of_inverse;
use crate::mask::lowest_k;
use crate::matrix::{f32_tensor, mask_tensor};
use crate::nm::prune_group;
use crate::rate::prune_count;

/// Which entries compete in SparseGPT's unstructured mask selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SparseGptScope {
    /// All rows of a column block together (the authors' reference implementation).
    #[default]
    Block,
    /// Each row of a column block on its own (every row ends with the same sparsity).
    BlockRow,
}

/// SparseGPT settings; the defaults are the paper's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparseGptConfig {
    /// Columns per block (128).
    pub block_size: usize,
    /// Relative dampening `λ / mean(diag H)` (0.01).
    pub damp: f64,
    /// Unstructured selection scope.
    pub scope: SparseGptScope,
}

impl Default for SparseGptConfig {
    fn default() -> Self {
        Self { block_size: 128, damp: 0.01, scope: SparseGptScope::Block }
    }
}

/// The SparseGPT criterion.
#[derive(Debug, Clone, Copy, Default)]
pub struct SparseGpt(pub SparseGptConfig);

impl Criterion for SparseGpt {
    fn name(&self) -> &'static str {
        "sparsegpt"
    }

    fn needs(&self) -> StatsNeed {
        StatsNeed::Hessian
    }

    fn prune(
        &self,
        name: &str,
        weight: &Tensor,
        sparsity: Sparsity,
        stats: Option<&InputStats>,
    ) -> Result<Pruned> {
        let cfg = self.0;
        if cfg.block_size == 0 || !(cfg.damp.is_finite() && cfg.damp >= 0.0) {
            return Err(PruneError::InvalidArgument {
                what: "SparseGPT settings",
                reason: format!(
                    "block size {} must be positive and dampening {} finite and non-negative",
                    cfg.block_size, cfg.damp
                ),
            });
        }
        if let Sparsity::Nm(p) = sparsity {
            if !cfg.block_size.is_multiple_of(p.m) {
                return Err(PruneError::InvalidArgument {
                    what: "SparseGPT settings",
                    reason: format!(
                        "block size {} must be a multiple of M = {} so N:M groups do not straddle blocks",
                        cfg.block_size, p.m
                    ),
                });
            }
        }
        let (_, cols) = crate::matrix::matrix_dims(name, weight)?;
        let stats = checked_stats("sparsegpt", "the Gram matrix XᵀX", name, cols, stats)?;
        let gram = stats.gram().ok_or_else(|| PruneError::MissingStats {
            criterion: "sparsegpt",
            name: name.into(),
            needs: "the Gram matrix XᵀX",
        })?;
        // The smallest unstructured comparison group is in the last (possibly partial) block.
        let last = match cols % cfg.block_size {
            0 => cfg.block_size.min(cols),
            r => r,
        };
        let group = |rows: usize, _| if cfg.scope == SparseGptScope::Block { rows * last } else { last };
        let w = checked_weight(name, weight, sparsity, group)?;
        let mut data: Vec<f64> = w.data.iter().map(|&v| f64::from(v)).collect();
        let mask = sparsegpt_in_place(name, &mut data, w.rows, w.cols, gram, sparsity, cfg)?;
        Ok(Pruned {
            weight: f32_tensor(w.rows, w.cols, data.iter().map(|&v| v as f32).collect(), weight.device())?,
            mask: mask_tensor(w.rows, w.cols, mask, weight.device())?,
        })
    }
}

/// Runs SparseGPT on a validated row-major `rows × cols` weight (updated in place) with Gram matrix
/// `gram = XᵀX`; returns the mask.
pub(crate) fn sparsegpt_in_place(
    name: &str,
    w: &mut [f64],
    rows: usize,
    cols: usize,
    gram: &[f64],
    sparsity: Sparsity,
    cfg: SparseGptConfig,
) -> Result<Vec<u8>> {
    // Steps 1–2: Hessian, dead inputs, dampening.
    let mut h: Vec<f64> = gram.iter().map(|v| 2.0 * v).collect();
    for j in 0..cols {
        if h[j * cols + j] == 0.0 {
            h[j * cols + j] = 1.0;
            (0..rows).for_each(|r| w[r * cols + j] = 0.0);
        }
    }
    let damp = cfg.damp * (0..cols).map(|j| h[j * cols + j]).sum::<f64>() / cols as f64;
    (0..cols).for_each(|j| h[j * cols + j] += damp);
    // Step 3.
    let u = upper_cholesky_of_inverse(&h, cols).map_err(|e| PruneError::NotPositiveDefinite {
        name: name.into(),
        column: e.column,
        pivot: e.pivot,
    })?;
    let diag = |j: usize| u[j * cols + j];

    // Step 4–5, block by block.
    let mut mask = vec![1u8; rows * cols];
    for i1 in (0..cols).step_by(cfg.block_size) {
        let i2 = (i1 + cfg.block_size).min(cols);
        let bc = i2 - i1;
        if let Sparsity::Unstructured(rate) = sparsity {
            // OBS error of removing each weight of the block, row-major over (row, block column).
            let scores: Vec<f64> = (0..rows)
                .flat_map(|r| (i1..i2).map(move |c| (r, c)))
                .map(|(r, c)| (w[r * cols + c] / diag(c)).powi(2))
                .collect();
            match cfg.scope {
                SparseGptScope::Block => {
                    for f in lowest_k(&scores, prune_count(rows * bc, rate)) {
                        mask[(f / bc) * cols + i1 + f % bc] = 0;
                    }
                }
                SparseGptScope::BlockRow => {
                    for (r, row_scores) in scores.chunks(bc).enumerate() {
                        for c in lowest_k(row_scores, prune_count(bc, rate)) {
                            mask[r * cols + i1 + c] = 0;
                        }
                    }
                }
            }
        }
        w.par_chunks_mut(cols).zip(mask.par_chunks_mut(cols)).for_each(|(wr, mr)| {
            let mut err = vec![0.0; bc];
            for (i, err_i) in err.iter_mut().enumerate() {
                let col = i1 + i;
                if let Sparsity::Nm(p) = sparsity {
                    if i % p.m == 0 {
                        let s: Vec<f64> = (col..col + p.m).map(|c| (wr[c] / diag(c)).powi(2)).collect();
                        prune_group(&s, &mut mr[col..col + p.m], p);
                    }
                }
                let q = if mr[col] == 1 { wr[col] } else { 0.0 };
                let e = (wr[col] - q) / diag(col);
                *err_i = e;
                if e != 0.0 {
                    let urow = &u[col * cols + col + 1..col * cols + i2];
                    wr[col + 1..i2].iter_mut().zip(urow).for_each(|(x, uij)| *x -= e * uij);
                }
                wr[col] = q;
            }
            // Lazy batch update of the columns after the block: W[:, i2:] −= Err · U[i1:i2, i2:].
            for (i, &e) in err.iter().enumerate().filter(|(_, e)| **e != 0.0) {
                let urow = &u[(i1 + i) * cols + i2..(i1 + i + 1) * cols];
                wr[i2..].iter_mut().zip(urow).for_each(|(x, uij)| *x -= e * uij);
            }
        });
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nm::NmPattern;
    use candle_core::Device;

    /// Deterministic pseudo-random values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn layer(rows: usize, cols: usize, tokens: usize) -> (Tensor, InputStats) {
        let w = Tensor::from_vec(values(rows * cols, 1), (rows, cols), &Device::Cpu).unwrap();
        // Correlated inputs (rank 8 plus a little noise), where error compensation has something to exploit.
        let z = Tensor::from_vec(values(tokens * 8, 2), (tokens, 8), &Device::Cpu).unwrap();
        let a = Tensor::from_vec(values(8 * cols, 3), (8, cols), &Device::Cpu).unwrap();
        let noise = Tensor::from_vec(values(tokens * cols, 4), (tokens, cols), &Device::Cpu).unwrap();
        let x = (z.matmul(&a).unwrap() + (noise * 0.1).unwrap()).unwrap();
        let mut stats = InputStats::new(cols, StatsNeed::Hessian);
        stats.add(&x).unwrap();
        (w, stats)
    }

    /// `‖(W − Ŵ) Xᵀ‖²` via the Gram matrix: Σ_r Δ_r G Δ_rᵀ.
    fn output_error(w: &Tensor, w_hat: &Tensor, gram: &[f64]) -> f64 {
        let d: Vec<Vec<f32>> = (w - w_hat).unwrap().to_vec2().unwrap();
        let n = d[0].len();
        d.iter()
            .map(|r| {
                (0..n)
                    .flat_map(|i| (0..n).map(move |j| (i, j)))
                    .map(|(i, j)| r[i] as f64 * gram[i * n + j] * r[j] as f64)
                    .sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn compensation_beats_plain_masking() {
        let (w, stats) = layer(8, 64, 200);
        let cfg = SparseGptConfig { block_size: 16, ..Default::default() };
        for sparsity in [Sparsity::Unstructured(0.5), Sparsity::Nm(NmPattern::TWO_FOUR)] {
            let out = SparseGpt(cfg).prune("w", &w, sparsity, Some(&stats)).unwrap();
            let masked = crate::mask::apply_mask(&w, &out.mask).unwrap();
            let (ours, plain) = (
                output_error(&w, &out.weight, stats.gram().unwrap()),
                output_error(&w, &masked, stats.gram().unwrap()),
            );
            assert!(ours < 0.8 * plain, "{sparsity:?}: {ours} vs {plain}");
            // Pruned weights are exactly zero; the mask has the requested sparsity.
            let (wv, mv): (Vec<f32>, Vec<u8>) = (
                out.weight.flatten_all().unwrap().to_vec1().unwrap(),
                out.mask.flatten_all().unwrap().to_vec1().unwrap(),
            );
            assert!(wv.iter().zip(&mv).all(|(w, m)| *m == 1 || *w == 0.0));
            assert_eq!(mv.iter().filter(|&&m| m == 0).count(), 8 * 32);
        }
    }

    #[test]
    fn block_row_scope_prunes_each_row_equally() {
        let (w, stats) = layer(6, 40, 100);
        let cfg = SparseGptConfig { block_size: 16, scope: SparseGptScope::BlockRow, ..Default::default() };
        let out = SparseGpt(cfg).prune("w", &w, Sparsity::Unstructured(0.5), Some(&stats)).unwrap();
        // Blocks of 16, 16, 8 columns: 8 + 8 + 4 pruned per row.
        for row in out.mask.to_vec2::<u8>().unwrap() {
            assert_eq!(row.iter().filter(|&&m| m == 0).count(), 20);
        }
    }

    #[test]
    fn dead_inputs_are_zeroed_and_settings_checked() {
        let (w, _) = layer(4, 8, 1);
        let x = Tensor::new(
            &[[1f32, 0., 2., 3., 1., 1., 0.5, 2.], [2., 0., 1., 1., 3., 1., 1., 0.]],
            &Device::Cpu,
        )
        .unwrap();
        let mut stats = InputStats::new(8, StatsNeed::Hessian);
        stats.add(&x).unwrap();
        let out =
            SparseGpt::default().prune("w", &w, Sparsity::Nm(NmPattern::TWO_FOUR), Some(&stats)).unwrap();
        assert!(out.weight.to_vec2::<f32>().unwrap().iter().all(|r| r[1] == 0.0));
        let bad = SparseGpt(SparseGptConfig { block_size: 6, ..Default::default() });
        assert!(bad.prune("w", &w, Sparsity::Nm(NmPattern::TWO_FOUR), Some(&stats)).is_err());
        let norms_only = InputStats::new(8, StatsNeed::InputNorms);
        assert!(SparseGpt::default().prune("w", &w, Sparsity::Unstructured(0.5), Some(&norms_only)).is_err());
    }
}
