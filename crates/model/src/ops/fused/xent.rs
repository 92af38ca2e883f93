//! Summed token cross-entropy over (N, V) logits: `Σ_kept (lse_r − x[r, t_r])`, `lse_r = log Σ_j exp x[r, j]`.
//!
//! Backward: `dx[r, j] = g · (exp(x[r, j] − lse_r) − [j = t_r])` for kept rows, 0 for ignored ones. The
//! forward keeps `lse` for it, so the backward is one pass that writes the gradient directly (no one-hot,
//! no gather/scatter over a zero-filled (N, V) buffer).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32s, output, rows_per_task, simd};

/// Summed cross-entropy (a scalar) of f32 (N, V) `logits` on the CPU against `targets[r]`, rows with
/// `keep[r] == false` left out. Targets must be valid classes (the caller checks).
pub fn cross_entropy_sum(logits: &Tensor, targets: Vec<u32>, keep: Vec<bool>) -> Result<Tensor> {
    let op = CrossEntropy { targets: Arc::new(Targets { class: targets, keep }), lse: Mutex::new(None) };
    logits.contiguous()?.apply_op1(op)
}

struct Targets {
    class: Vec<u32>,
    keep: Vec<bool>,
}

struct CrossEntropy {
    targets: Arc<Targets>,
    /// Per-row log-sum-exp from the forward pass, for the backward.
    lse: Mutex<Option<Arc<Vec<f32>>>>,
}

/// (N, V) with N the number of targets.
fn rows_and_vocab(op: &str, layout: &Layout, targets: &Targets) -> Result<(usize, usize)> {
    match layout.dims() {
        [n, v] if *n == targets.class.len() && *n == targets.keep.len() && *v > 0 => Ok((*n, *v)),
        dims => candle_core::bail!("{op}: logits {dims:?} for {} targets", targets.class.len()),
    }
}

fn log_sum_exp(x: &[f32]) -> f32 {
    simd::vectorized(|| {
        let max = simd::max(x);
        max + simd::sum_exp(x, max).ln()
    })
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "p2law-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(self.name(), storage, layout)?;
        let (_, v) = rows_and_vocab(self.name(), layout, &self.targets)?;
        let keep = &self.targets.keep;
        let lse: Vec<f32> = x
            .par_chunks(v)
            .enumerate()
            .map(|(r, row)| if keep[r] { log_sum_exp(row) } else { 0.0 })
            .collect();
        // Summed in row order, in f64: the same total for any thread count.
        let mut total = 0f64;
        for (r, (&l, &t)) in lse.iter().zip(&self.targets.class).enumerate() {
            if keep[r] {
                if t as usize >= v {
                    candle_core::bail!(
                        "{}: target {t} of row {r} is outside the vocabulary 0..{v}",
                        self.name()
                    );
                }
                total += (l - x[r * v + t as usize]) as f64;
            }
        }
        *self.lse.lock().expect("lse lock poisoned") = Some(Arc::new(lse));
        output(vec![total as f32], &Shape::from_dims(&[]))
    }

    fn bwd(&self, logits: &Tensor, _loss: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let lse = self.lse.lock().expect("lse lock poisoned").clone();
        let Some(lse) = lse else { candle_core::bail!("{}: backward before forward", self.name()) };
        let op = CrossEntropyGrad { targets: self.targets.clone(), lse, scale };
        Ok(Some(logits.apply_op1_no_bwd(&op)?))
    }
}

/// logits → dlogits.
struct CrossEntropyGrad {
    targets: Arc<Targets>,
    lse: Arc<Vec<f32>>,
    scale: f32,
}

impl CustomOp1 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "p2law-cross-entropy-grad"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(self.name(), storage, layout)?;
        let (_, v) = rows_and_vocab(self.name(), layout, &self.targets)?;
        let (targets, lse, scale) = (&self.targets, &self.lse, self.scale);
        let rows = rows_per_task(v);
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(rows * v).zip(x.par_chunks(rows * v)).enumerate().for_each(|(task, (dx, x))| {
            for (k, (dx, x)) in dx.chunks_exact_mut(v).zip(x.chunks_exact(v)).enumerate() {
                let r = task * rows + k;
                if !targets.keep[r] {
                    continue;
                }
                let lse = lse[r];
                simd::vectorized(|| dx.iter_mut().zip(x).for_each(|(d, &x)| *d = scale * simd::exp(x - lse)));
                dx[targets.class[r] as usize] -= scale;
            }
        });
        output(dx, layout.shape())
    }
}
