//! Summed token cross-entropy `Σ_kept (lse_r − z[r, t_r])`, `lse_r = log Σ_j exp z[r, j]`, over (N, V) logits
//! `z`, given directly or as the LM head's product `z = x · Wᵀ` (x (N, C), W (V, C)).
//!
//! Backward: `dz[r, j] = g · (exp(z[r, j] − lse_r) − [j = t_r])` for kept rows, 0 for ignored ones (the
//! forward keeps `lse`, so this is one pass, with no one-hot and no gather/scatter over a zero-filled (N, V)
//! buffer). With the head fused in, `dx = dz · W` and `dW = dzᵀ · x`; the logits never become a graph node
//! (candle's backward would zero-fill and add two (N, V) gradient buffers for them), and the backward turns
//! the forward's logits buffer into `dz` in place.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::gemm::{product_new, View};
use super::simd::{self, multiversion};
use super::{cpu_f32, f32s, output, rows_per_task};

/// Summed cross-entropy (a scalar) of f32 (N, V) `logits` on the CPU against `targets[r]`, rows with
/// `keep[r] == false` left out.
pub fn cross_entropy_sum(logits: &Tensor, targets: Vec<u32>, keep: Vec<bool>) -> Result<Tensor> {
    let op = CrossEntropy { targets: Arc::new(Targets { class: targets, keep }), lse: Mutex::new(None) };
    logits.contiguous()?.apply_op1(op)
}

/// [`cross_entropy_sum`] of the logits `x · Wᵀ` for f32 x (N, C) and W (V, C) on the CPU.
pub fn linear_cross_entropy_sum(
    x: &Tensor,
    w: &Tensor,
    targets: Vec<u32>,
    keep: Vec<bool>,
) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, LinearCrossEntropy::new(targets, keep))
}

struct Targets {
    class: Vec<u32>,
    keep: Vec<bool>,
}

impl Targets {
    fn check(&self, op: &str, n: usize, v: usize) -> Result<()> {
        if n != self.class.len() || n != self.keep.len() || v == 0 {
            candle_core::bail!("{op}: {n} rows of {v} logits for {} targets", self.class.len());
        }
        if let Some((r, t)) = self.class.iter().enumerate().find(|(r, t)| self.keep[*r] && **t as usize >= v)
        {
            candle_core::bail!("{op}: target {t} of row {r} is outside the vocabulary 0..{v}");
        }
        Ok(())
    }

    /// Per-row log-sum-exp of (N, V) logits (0 for ignored rows) and the summed loss, in row order (the same
    /// total for any thread count).
    fn forward(&self, z: &[f32], v: usize) -> (Vec<f32>, f32) {
        let lse: Vec<f32> = z
            .par_chunks(v)
            .enumerate()
            .map(|(r, row)| if self.keep[r] { log_sum_exp(row) } else { 0.0 })
            .collect();
        let mut total = 0f64;
        for (r, (&l, &t)) in lse.iter().zip(&self.class).enumerate() {
            if self.keep[r] {
                total += (l - z[r * v + t as usize]) as f64;
            }
        }
        (lse, total as f32)
    }

    /// Turns (N, V) logits into their gradient in place, for an upstream gradient `scale`.
    fn gradient_in_place(&self, z: &mut [f32], v: usize, lse: &[f32], scale: f32) {
        let rows = rows_per_task(v);
        z.par_chunks_mut(rows * v).enumerate().for_each(|(task, z)| {
            for (k, row) in z.chunks_exact_mut(v).enumerate() {
                let r = task * rows + k;
                if self.keep[r] {
                    softmax_grad_row(row, lse[r], scale);
                    row[self.class[r] as usize] -= scale;
                } else {
                    row.fill(0.0);
                }
            }
        });
    }
}

multiversion! {
    fn log_sum_exp(x: &[f32]) -> f32 {
        let max = simd::max(x);
        max + simd::sum_exp(x, max).ln()
    }
}

multiversion! {
    /// `z ← scale · exp(z − lse)`.
    fn softmax_grad_row(z: &mut [f32], lse: f32, scale: f32) {
        z.iter_mut().for_each(|z| *z = scale * simd::exp(*z - lse));
    }
}

/// The upstream gradient of a scalar loss.
fn upstream(grad: &Tensor) -> Result<f32> {
    grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()
}

struct CrossEntropy {
    targets: Arc<Targets>,
    /// Per-row log-sum-exp from the forward pass, for the backward.
    lse: Mutex<Option<Arc<Vec<f32>>>>,
}

/// (N, V) of a logits layout.
fn rows_and_vocab(op: &str, layout: &Layout) -> Result<(usize, usize)> {
    match layout.dims() {
        [n, v] => Ok((*n, *v)),
        dims => candle_core::bail!("{op}: logits must be (N, V), got {dims:?}"),
    }
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "p2law-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let z = f32s(self.name(), storage, layout)?;
        let (n, v) = rows_and_vocab(self.name(), layout)?;
        self.targets.check(self.name(), n, v)?;
        let (lse, total) = self.targets.forward(z, v);
        *self.lse.lock().expect("lse lock poisoned") = Some(Arc::new(lse));
        output(vec![total], &Shape::from_dims(&[]))
    }

    fn bwd(&self, logits: &Tensor, _loss: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let lse = self.lse.lock().expect("lse lock poisoned").clone();
        let Some(lse) = lse else { candle_core::bail!("{}: backward before forward", self.name()) };
        let op = CrossEntropyGrad { targets: self.targets.clone(), lse, scale: upstream(grad)? };
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
        let (_, v) = rows_and_vocab(self.name(), layout)?;
        let mut dz = f32s(self.name(), storage, layout)?.to_vec();
        self.targets.gradient_in_place(&mut dz, v, &self.lse, self.scale);
        output(dz, layout.shape())
    }
}

pub(super) struct LinearCrossEntropy {
    targets: Targets,
    /// The forward's logits (N, V) and per-row log-sum-exp; the backward consumes them.
    saved: Mutex<Option<(Vec<f32>, Vec<f32>)>>,
}

impl LinearCrossEntropy {
    pub(super) fn new(targets: Vec<u32>, keep: Vec<bool>) -> LinearCrossEntropy {
        LinearCrossEntropy { targets: Targets { class: targets, keep }, saved: Mutex::new(None) }
    }
}

/// (N, C, V) for x (N, C) and W (V, C).
fn head_sizes(op: &str, x: &[usize], w: &[usize]) -> Result<(usize, usize, usize)> {
    match (x, w) {
        ([n, c], [v, c2]) if c == c2 && *c > 0 => Ok((*n, *c, *v)),
        _ => candle_core::bail!("{op}: hidden states {x:?} must be (N, C) and the head {w:?} (V, C)"),
    }
}

impl CustomOp2 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "p2law-linear-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, v) = head_sizes(self.name(), l1.dims(), l2.dims())?;
        self.targets.check(self.name(), n, v)?;
        let (x, w) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        let z = product_new(x, View::rows(0, n, c, c), w, View::rows(0, v, c, c).t());
        let (lse, total) = self.targets.forward(&z, v);
        *self.saved.lock().expect("saved lock poisoned") = Some((z, lse));
        output(vec![total], &Shape::from_dims(&[]))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        let Some((mut dz, lse)) = self.saved.lock().expect("saved lock poisoned").take() else {
            candle_core::bail!(
                "{name}: backward without a forward (or a second backward through the same graph)"
            )
        };
        let (n, c, v) = head_sizes(name, x.dims(), w.dims())?;
        self.targets.gradient_in_place(&mut dz, v, &lse, upstream(grad)?);
        let (gx, gw) = (x.storage_and_layout(), w.storage_and_layout());
        let (xs, ws) = (cpu_f32(name, &gx.0, gx.1)?, cpu_f32(name, &gw.0, gw.1)?);
        let (zv, xv, wv) = (View::rows(0, n, v, v), View::rows(0, n, c, c), View::rows(0, v, c, c));
        let (dx, dw) = (product_new(&dz, zv, ws, wv), product_new(&dz, zv.t(), xs, xv));
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dw, w.shape(), w.device())?),
        ))
    }
}
