//! RMSNorm over the last dimension: `y = x / s · w` with `s = sqrt(mean(x²) + eps)` per row.
//!
//! Backward, with `x̂ = x / s` and `g = dy · w`: `dx = (g − x̂ · mean(g · x̂)) / s`, `dw = Σ_rows dy · x̂`.
//! `dw` sums fixed blocks of rows in parallel, then the blocks in order (reproducible).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, multiversion};
use super::{f32s, filled, output, rows_per_task};

/// RMSNorm of f32 `x` (…, C) with weight (C) on the CPU.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&weight.contiguous()?, RmsNorm::new(eps))
}

pub(super) struct RmsNorm {
    eps: f32,
}

impl RmsNorm {
    pub(super) fn new(eps: f64) -> RmsNorm {
        RmsNorm { eps: eps as f32 }
    }
}

/// Checks that `x` ends in the weight's length C; returns C.
fn width(op: &str, x: &Layout, w: &Layout) -> Result<usize> {
    match (x.dims().last(), w.dims()) {
        (Some(c), [cw]) if c == cw && *c > 0 => Ok(*c),
        _ => candle_core::bail!(
            "{op}: input {:?} does not end in the weight's length {:?}",
            x.dims(),
            w.dims()
        ),
    }
}

/// `1 / sqrt(mean(x²) + eps)` of one row.
#[inline(always)]
fn inv_rms(x: &[f32], eps: f32) -> f32 {
    1.0 / rms(x, eps)
}

/// `sqrt(mean(x²) + eps)` of one row.
#[inline(always)]
fn rms(x: &[f32], eps: f32) -> f32 {
    (simd::dot(x, x) / x.len() as f32 + eps).sqrt()
}

multiversion! {
    /// `y = x / rms(x) · w` for rows of `w.len()`.
    fn norm_rows(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
        let c = w.len();
        for (y, x) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            let s = rms(x, eps);
            for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
                *y = x / s * w;
            }
        }
    }
}

multiversion! {
    /// `dx = (dy·w − x̂ · mean(dy·w·x̂)) · r` for rows of `w.len()`, with `r = 1 / rms(x)`, `x̂ = x · r`.
    fn input_gradient_rows(dx: &mut [f32], x: &[f32], dy: &[f32], w: &[f32], eps: f32) {
        let c = w.len();
        for ((dx, x), dy) in dx.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(dy.chunks_exact(c)) {
            let r = inv_rms(x, eps);
            // dx holds dy · w for the moment.
            dx.iter_mut().zip(dy).zip(w).for_each(|((d, &dy), &w)| *d = dy * w);
            let mean = simd::dot(dx, x) * r / c as f32;
            for (dx, &x) in dx.iter_mut().zip(x) {
                *dx = (*dx - x * r * mean) * r;
            }
        }
    }
}

multiversion! {
    /// `acc += Σ_rows dy · x / rms(x)` for rows of `acc.len()`.
    fn weight_gradient_rows(acc: &mut [f32], x: &[f32], dy: &[f32], eps: f32) {
        let c = acc.len();
        for (x, dy) in x.chunks_exact(c).zip(dy.chunks_exact(c)) {
            let r = inv_rms(x, eps);
            for ((a, &x), &dy) in acc.iter_mut().zip(x).zip(dy) {
                *a += dy * x * r;
            }
        }
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "p2law-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let c = width(self.name(), l1, l2)?;
        let (x, w) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        let eps = self.eps;
        let rows = rows_per_task(c);
        let [y] = filled(x.len(), rows * c, |i, [y]| norm_rows(y, &x[i * rows * c..][..y.len()], w, eps));
        output(y, l1.shape())
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = x.apply_op3_no_bwd(w, &grad, &RmsNormGradX { eps: self.eps })?;
        let dw = x.apply_op2_no_bwd(&grad, &RmsNormGradW { eps: self.eps, width: w.elem_count() })?;
        Ok((Some(dx), Some(dw)))
    }
}

/// (x, w, dy) → dx.
struct RmsNormGradX {
    eps: f32,
}

impl CustomOp3 for RmsNormGradX {
    fn name(&self) -> &'static str {
        "p2law-rms-norm-grad-x"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let c = width(self.name(), l1, l2)?;
        let (x, w, dy) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?, f32s(self.name(), s3, l3)?);
        if dy.len() != x.len() {
            candle_core::bail!("{}: input {:?} but gradient {:?}", self.name(), l1.dims(), l3.dims());
        }
        let eps = self.eps;
        let rows = rows_per_task(c);
        let [dx] = filled(x.len(), rows * c, |i, [dx]| {
            let at = i * rows * c;
            input_gradient_rows(dx, &x[at..at + dx.len()], &dy[at..at + dx.len()], w, eps)
        });
        output(dx, l1.shape())
    }
}

/// (x, dy) → dw.
struct RmsNormGradW {
    eps: f32,
    width: usize,
}

/// Rows summed per block of `dw`; fixed, so the sum's order does not depend on the thread count.
const DW_BLOCK_ROWS: usize = 64;

impl CustomOp2 for RmsNormGradW {
    fn name(&self) -> &'static str {
        "p2law-rms-norm-grad-w"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let c = self.width;
        let (x, dy) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        if dy.len() != x.len() || x.len() % c != 0 {
            candle_core::bail!("{}: input {:?}, gradient {:?}, width {c}", self.name(), l1.dims(), l2.dims());
        }
        let eps = self.eps;
        let block = DW_BLOCK_ROWS * c;
        let partials: Vec<Vec<f32>> = x
            .par_chunks(block)
            .zip(dy.par_chunks(block))
            .map(|(x, dy)| {
                let mut acc = vec![0f32; c];
                weight_gradient_rows(&mut acc, x, dy, eps);
                acc
            })
            .collect();
        let mut dw = vec![0f32; c];
        for p in partials {
            dw.iter_mut().zip(p).for_each(|(d, p)| *d += p);
        }
        output(dw, &Shape::from_dims(&[c]))
    }
}
