//! Causal softmax of attention scores: `P = softmax(S · scale + mask)` per row of each (T, T) matrix,
//! where row `i` sees columns `0..=i` (the rest of the row is 0).
//!
//! Backward: `dS_ij = scale · P_ij · (dP_ij − Σ_k P_ik dP_ik)` on and below the diagonal, 0 above.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32s, output};

/// `softmax(scores · scale + causal mask)` over the last dimension of (…, T, T) f32 scores on the CPU.
pub fn causal_softmax(scores: &Tensor, scale: f64) -> Result<Tensor> {
    scores.contiguous()?.apply_op1(CausalSoftmax { scale: scale as f32 })
}

struct CausalSoftmax {
    scale: f32,
}

/// The side T of the trailing (T, T) matrices.
fn side(op: &str, shape: &Shape) -> Result<usize> {
    match shape.dims() {
        [.., a, b] if a == b && *a > 0 => Ok(*a),
        dims => candle_core::bail!("{op}: scores must end in a non-empty (T, T) matrix, got {dims:?}"),
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "p2law-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = f32s(self.name(), storage, layout)?;
        let t = side(self.name(), layout.shape())?;
        let scale = self.scale;
        let mut p = vec![0f32; s.len()];
        p.par_chunks_mut(t * t).zip(s.par_chunks(t * t)).for_each(|(p, s)| {
            for i in 0..t {
                let row = i * t..i * t + i + 1;
                softmax_row(&s[row.clone()], &mut p[row], scale);
            }
        });
        output(p, layout.shape())
    }

    fn bwd(&self, _scores: &Tensor, probs: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(probs.apply_op2_no_bwd(&grad, &CausalSoftmaxGrad { scale: self.scale })?))
    }
}

/// `p = softmax(s · scale)` over one visible row.
fn softmax_row(s: &[f32], p: &mut [f32], scale: f32) {
    let max = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
    let mut sum = 0f32;
    for (p, &s) in p.iter_mut().zip(s) {
        let e = (s * scale - max).exp();
        *p = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    p.iter_mut().for_each(|p| *p *= inv);
}

/// (P, dP) → dS.
struct CausalSoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for CausalSoftmaxGrad {
    fn name(&self) -> &'static str {
        "p2law-causal-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = f32s(self.name(), s1, l1)?;
        let dp = f32s(self.name(), s2, l2)?;
        let t = side(self.name(), l1.shape())?;
        if l1.shape() != l2.shape() {
            candle_core::bail!("{}: probabilities {:?} but gradient {:?}", self.name(), l1.dims(), l2.dims());
        }
        let scale = self.scale;
        let mut ds = vec![0f32; p.len()];
        ds.par_chunks_mut(t * t).zip(p.par_chunks(t * t).zip(dp.par_chunks(t * t))).for_each(
            |(ds, (p, dp))| {
                for i in 0..t {
                    let row = i * t..i * t + i + 1;
                    let (p, dp) = (&p[row.clone()], &dp[row.clone()]);
                    let dot: f32 = p.iter().zip(dp).map(|(p, d)| p * d).sum();
                    for ((ds, &p), &dp) in ds[row].iter_mut().zip(p).zip(dp) {
                        *ds = scale * p * (dp - dot);
                    }
                }
            },
        );
        output(ds, l1.shape())
    }
}
