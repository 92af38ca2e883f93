//! SwiGLU's gate `h = silu(g) · u`, with `silu(g) = g · σ(g)`.
//!
//! Backward: `dg = dh · u · σ(g) · (1 + g · (1 − σ(g)))`, `du = dh · silu(g)`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, sigmoid};
use super::{f32s, output};

/// Elements per parallel task.
const CHUNK: usize = 16_384;

/// `silu(gate) · up` for f32 tensors of one shape on the CPU.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, Swiglu)
}

fn same_shape(op: &str, a: &Layout, b: &Layout) -> Result<()> {
    if a.shape() != b.shape() {
        candle_core::bail!("{op}: shapes {:?} and {:?} differ", a.dims(), b.dims());
    }
    Ok(())
}

struct Swiglu;

impl CustomOp2 for Swiglu {
    fn name(&self) -> &'static str {
        "p2law-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_shape(self.name(), l1, l2)?;
        let (g, u) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        let mut h = vec![0f32; g.len()];
        h.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK))).for_each(|(h, (g, u))| {
            simd::vectorized(|| {
                for ((h, &g), &u) in h.iter_mut().zip(g).zip(u) {
                    *h = g * sigmoid(g) * u;
                }
            })
        });
        output(h, l1.shape())
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _h: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dg = gate.apply_op3_no_bwd(up, &grad, &SwigluGrad { wrt_gate: true })?;
        let du = gate.apply_op3_no_bwd(up, &grad, &SwigluGrad { wrt_gate: false })?;
        Ok((Some(dg), Some(du)))
    }
}

/// (g, u, dh) → dg or du.
struct SwigluGrad {
    wrt_gate: bool,
}

impl CustomOp3 for SwigluGrad {
    fn name(&self) -> &'static str {
        "p2law-swiglu-grad"
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
        same_shape(self.name(), l1, l2)?;
        same_shape(self.name(), l1, l3)?;
        let (g, u, dh) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?, f32s(self.name(), s3, l3)?);
        let wrt_gate = self.wrt_gate;
        let mut out = vec![0f32; g.len()];
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
            let at = c * CHUNK;
            let (g, u, dh) = (&g[at..at + out.len()], &u[at..at + out.len()], &dh[at..at + out.len()]);
            simd::vectorized(|| {
                if wrt_gate {
                    for (((o, &g), &u), &dh) in out.iter_mut().zip(g).zip(u).zip(dh) {
                        let sig = sigmoid(g);
                        *o = dh * u * sig * (1.0 + g * (1.0 - sig));
                    }
                } else {
                    for ((o, &g), &dh) in out.iter_mut().zip(g).zip(dh) {
                        *o = dh * g * sigmoid(g);
                    }
                }
            })
        });
        output(out, l1.shape())
    }
}
