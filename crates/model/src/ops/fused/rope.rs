//! Rotary embeddings in the "rotate half" layout: for x (B, T, H·D) (heads side by side, as the projections
//! produce them), each head's vector at position `t` with halves `a = x[..D/2]`, `b = x[D/2..]`, and tables
//! cos, sin (T, D):
//!
//! ```text
//! y[i]       = a[i] · cos[i]       − b[i] · sin[i]
//! y[i + D/2] = b[i] · cos[i + D/2] + a[i] · sin[i + D/2]
//! ```
//!
//! A linear map per position, so the backward is its transpose (the same kernel with `transpose` set).

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32s, output, rows_per_task, zeros};

/// Rotary embeddings on f32 x (B, T, H·D) with (T, D) tables on the CPU.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&cos.contiguous()?, &sin.contiguous()?, Rope { transpose: false })
}

struct Rope {
    transpose: bool,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "p2law-rope"
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
        let (x, cos, sin) =
            (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?, f32s(self.name(), s3, l3)?);
        let (t, heads, d) = match (l1.dims(), l2.dims()) {
            ([_, t, w], [t2, d])
                if t == t2 && d % 2 == 0 && *d > 0 && w % d == 0 && l3.dims() == l2.dims() =>
            {
                (*t, w / d, *d)
            }
            _ => candle_core::bail!(
                "{}: x {:?} must be (B, T, H·D) with (T, D) tables, D even, got cos {:?} and sin {:?}",
                self.name(),
                l1.dims(),
                l2.dims(),
                l3.dims()
            ),
        };
        let (h, transpose) = (d / 2, self.transpose);
        // Parallel over blocks of positions; each position is `heads` vectors of D.
        let rows = rows_per_task(heads * d);
        let mut y = zeros(x.len());
        y.par_chunks_mut(rows * heads * d).zip(x.par_chunks(rows * heads * d)).enumerate().for_each(
            |(task, (y, x))| {
                for (k, (y, x)) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
                    let pos = (task * rows + k / heads) % t;
                    let (c, s) = (&cos[pos * d..(pos + 1) * d], &sin[pos * d..(pos + 1) * d]);
                    let (ya, yb) = y.split_at_mut(h);
                    for i in 0..h {
                        let (a, b) = (x[i], x[i + h]);
                        if transpose {
                            ya[i] = a * c[i] + b * s[i + h];
                            yb[i] = b * c[i + h] - a * s[i];
                        } else {
                            ya[i] = a * c[i] - b * s[i];
                            yb[i] = b * c[i + h] + a * s[i + h];
                        }
                    }
                }
            },
        );
        output(y, l1.shape())
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, sin, &Rope { transpose: !self.transpose })?;
        // The tables are constants of the position, never trained.
        Ok((Some(dx), None, None))
    }
}
