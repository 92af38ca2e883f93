//! Causal grouped-query attention in one op: `O = softmax(Q Kᵀ / √D + mask) V` per head, with q
//! (B, T, Hq·D) and k, v (B, T, Hk·D) in the layout the projections produce (no reshapes or transposes, no
//! repeated key/value heads: query head `h` reads key/value head `h / (Hq / Hk)`). Output (B, T, Hq·D).
//!
//! Like flash attention, the (T, T) scores never leave a per-head scratch buffer: the forward keeps only
//! each row's log-sum-exp, and the backward recomputes `P = exp(S · scale − lse)` from Q and K. Per head:
//!
//! ```text
//! dV += Pᵀ dO      dP = dO Vᵀ      dS = scale · P ∘ (dP − rowsum(P ∘ dP))
//! dQ  = dS K       dK += dSᵀ Q
//! ```
//!
//! The forward runs one task per (batch, query head), the backward one per (batch, key/value head), which
//! sums its group's query heads in order: the result does not depend on the thread count.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::gemm::{product, Out, View};
use super::simd::{self, multiversion};
use super::{cpu_f32, f32s, output, zeros};

/// Causal attention of f32 q (B, T, Hq·D), k and v (B, T, Hk·D) on the CPU → (B, T, Hq·D).
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, head_dim: usize) -> Result<Tensor> {
    if head_dim == 0 {
        candle_core::bail!("causal attention: head_dim must be positive");
    }
    let op = Attention { d: head_dim, scale: (1.0 / (head_dim as f64).sqrt()) as f32, lse: Mutex::new(None) };
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct Attention {
    d: usize,
    scale: f32,
    /// Per (batch, query head, position) log-sum-exp of the scaled scores, from the forward pass.
    lse: Mutex<Option<Arc<Vec<f32>>>>,
}

/// The problem's sizes.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    hq: usize,
    hk: usize,
    d: usize,
}

impl Dims {
    fn of(op: &str, d: usize, q: &[usize], k: &[usize], v: &[usize]) -> Result<Dims> {
        match (q, k) {
            ([b, t, wq], [b2, t2, wk])
                if b == b2 && t == t2 && k == v && *t > 0 && *wk > 0 && wq % d == 0 && wk % d == 0 && wq % wk == 0 =>
            {
                Ok(Dims { b: *b, t: *t, hq: wq / d, hk: wk / d, d })
            }
            _ => candle_core::bail!(
                "{op}: q {q:?}, k {k:?}, v {v:?}: expected (B, T, Hq·{d}) and two (B, T, Hk·{d}) with Hk dividing Hq"
            ),
        }
    }

    /// Query head `h` of batch `b`: a (T, D) block of q, dq or the output.
    fn q_head(&self, b: usize, h: usize) -> View {
        View::rows((b * self.t * self.hq + h) * self.d, self.t, self.d, self.hq * self.d)
    }

    /// Key/value head `g` of batch `b`: a (T, D) block of k, v, dk or dv.
    fn kv_head(&self, b: usize, g: usize) -> View {
        View::rows((b * self.t * self.hk + g) * self.d, self.t, self.d, self.hk * self.d)
    }

    fn group(&self) -> usize {
        self.hq / self.hk
    }
}

/// Rows per block of the (T, T) matrices. Causality makes them block lower-triangular: the products below
/// skip the blocks above the diagonal (about 40 % of the attention's multiply-adds at T = 256).
const BLOCK: usize = 64;

/// `(start, end)` of each row block of a (T, T) matrix.
fn blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t).step_by(BLOCK).map(move |r0| (r0, (r0 + BLOCK).min(t)))
}

/// Rows `r0..r1`, columns `0..r1` of a (T, T) buffer: a row block up to and including its diagonal block.
fn lower_block(t: usize, r0: usize, r1: usize) -> View {
    View { at: r0 * t, rows: r1 - r0, cols: r1, rs: t, cs: 1 }
}

/// `M = A Bᵀ` for (T, D) heads A and B, into a (T, T) scratch buffer of this task's own, on and below the
/// diagonal blocks only (the causal part; the rest of `m` is left as it was).
fn lower_a_bt(m: &mut [f32], a: &[f32], av: View, b: &[f32], bv: View) {
    let t = av.rows;
    for (r0, r1) in blocks(t) {
        // SAFETY: `m` is this task's own buffer.
        unsafe {
            product(
                Out::new(m),
                lower_block(t, r0, r1),
                a,
                av.sub_rows(r0, r1),
                b,
                bv.sub_rows(0, r1).t(),
                false,
            )
        }
    }
}

/// `dst (+)= M X` for a causal (T, T) `m` (zero above the diagonal within the diagonal blocks) and a (T, D)
/// head X.
///
/// # Safety
/// As [`product`]: no other thread touches `dst`'s elements.
unsafe fn lower_m_x(dst: Out, dv: View, m: &[f32], x: &[f32], xv: View, accumulate: bool) {
    let t = xv.rows;
    for (r0, r1) in blocks(t) {
        unsafe {
            product(dst, dv.sub_rows(r0, r1), m, lower_block(t, r0, r1), x, xv.sub_rows(0, r1), accumulate)
        }
    }
}

/// `dst (+)= Mᵀ X` for a causal (T, T) `m` and a (T, D) head X: row block `c` of Mᵀ is column block `c` of
/// M, whose rows before `c`'s start are above the diagonal.
///
/// # Safety
/// As [`product`]: no other thread touches `dst`'s elements.
unsafe fn lower_mt_x(dst: Out, dv: View, m: &[f32], x: &[f32], xv: View, accumulate: bool) {
    let t = xv.rows;
    for (c0, c1) in blocks(t) {
        let column_block = View { at: c0 * t + c0, rows: t - c0, cols: c1 - c0, rs: t, cs: 1 };
        unsafe { product(dst, dv.sub_rows(c0, c1), m, column_block.t(), x, xv.sub_rows(c0, t), accumulate) }
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "p2law-causal-attention"
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
        let n = self.name();
        let dm = Dims::of(n, self.d, l1.dims(), l2.dims(), l3.dims())?;
        let (q, k, v) = (f32s(n, s1, l1)?, f32s(n, s2, l2)?, f32s(n, s3, l3)?);
        let (t, scale) = (dm.t, self.scale);
        let mut out = zeros(q.len());
        let mut lse = vec![0f32; dm.b * dm.hq * t];
        let dst = Out::new(&mut out);
        lse.par_chunks_mut(t).enumerate().for_each(|(task, lse)| {
            let (b, h) = (task / dm.hq, task % dm.hq);
            let (qv, kv) = (dm.q_head(b, h), dm.kv_head(b, h / dm.group()));
            let mut p = vec![0f32; t * t];
            lower_a_bt(&mut p, q, qv, k, kv);
            softmax_rows(&mut p, lse, scale);
            // SAFETY: task (b, h) alone writes query head h of batch b.
            unsafe { lower_m_x(dst, qv, &p, v, kv, false) }
        });
        *self.lse.lock().expect("lse lock poisoned") = Some(Arc::new(lse));
        output(out, l1.shape())
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let lse = self.lse.lock().expect("lse lock poisoned").clone();
        let Some(lse) = lse else { candle_core::bail!("{}: backward before forward", self.name()) };
        let grad = grad.contiguous()?;
        let dm = Dims::of(self.name(), self.d, q.dims(), k.dims(), v.dims())?;
        let guards = [q, k, v, &grad].map(|t| t.storage_and_layout());
        let [q, k, v, dout] = [0, 1, 2, 3].map(|i| cpu_f32(self.name(), &guards[i].0, guards[i].1));
        let (dq, dk, dv) = backward(dm, self.scale, q?, k?, v?, dout?, &lse);
        let dev = grad.device();
        Ok((
            Some(Tensor::from_vec(dq, guards[0].1.shape(), dev)?),
            Some(Tensor::from_vec(dk, guards[1].1.shape(), dev)?),
            Some(Tensor::from_vec(dv, guards[2].1.shape(), dev)?),
        ))
    }
}

/// (dq, dk, dv) from the inputs, the output's gradient and the forward's log-sum-exp.
fn backward(
    dm: Dims,
    scale: f32,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    dout: &[f32],
    lse: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let t = dm.t;
    let (mut dq, mut dk, mut dv) = (zeros(q.len()), zeros(k.len()), zeros(v.len()));
    let (dq_out, dk_out, dv_out) = (Out::new(&mut dq), Out::new(&mut dk), Out::new(&mut dv));
    (0..dm.b * dm.hk).into_par_iter().for_each(|task| {
        let (b, g) = (task / dm.hk, task % dm.hk);
        let kv = dm.kv_head(b, g);
        let (mut p, mut ds) = (vec![0f32; t * t], vec![0f32; t * t]);
        for (n, h) in (g * dm.group()..(g + 1) * dm.group()).enumerate() {
            let qv = dm.q_head(b, h);
            let lse = &lse[(b * dm.hq + h) * t..][..t];
            lower_a_bt(&mut p, q, qv, k, kv);
            probability_rows(&mut p, lse, scale);
            // SAFETY (all products): task (b, g) alone writes key/value head g of batch b and the query heads
            // of its group; `p` and `ds` are its own.
            unsafe { lower_mt_x(dv_out, kv, &p, dout, qv, n > 0) };
            lower_a_bt(&mut ds, dout, qv, v, kv);
            score_gradient_rows(&mut ds, &p, t, scale);
            // SAFETY: as above.
            unsafe {
                lower_m_x(dq_out, qv, &ds, k, kv, false);
                lower_mt_x(dk_out, kv, &ds, q, qv, n > 0);
            }
        }
    });
    (dq, dk, dv)
}

multiversion! {
    /// Scores (T, T) → causal softmax probabilities in place, and each row's log-sum-exp of the scaled scores.
    fn softmax_rows(p: &mut [f32], lse: &mut [f32], scale: f32) {
        let t = lse.len();
        for (i, (row, lse)) in p.chunks_exact_mut(t).zip(lse.iter_mut()).enumerate() {
            let (seen, unseen) = row.split_at_mut(i + 1);
            let max = simd::max(seen) * scale;
            seen.iter_mut().for_each(|s| *s = simd::exp(*s * scale - max));
            let sum = simd::sum(seen);
            let inv = 1.0 / sum;
            seen.iter_mut().for_each(|p| *p *= inv);
            unseen.fill(0.0);
            *lse = max + sum.ln();
        }
    }
}

multiversion! {
    /// Scores (T, T) → the forward's probabilities in place, from its per-row log-sum-exp.
    fn probability_rows(p: &mut [f32], lse: &[f32], scale: f32) {
        let t = lse.len();
        for (i, row) in p.chunks_exact_mut(t).enumerate() {
            let (seen, unseen) = row.split_at_mut(i + 1);
            seen.iter_mut().for_each(|s| *s = simd::exp(*s * scale - lse[i]));
            unseen.fill(0.0);
        }
    }
}

multiversion! {
    /// dP (T, T) → dS in place: `scale · P ∘ (dP − rowsum(P ∘ dP))` on and below the diagonal, 0 above.
    fn score_gradient_rows(ds: &mut [f32], p: &[f32], t: usize, scale: f32) {
        for (i, (ds, p)) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
            let dot = simd::dot(&ds[..=i], &p[..=i]);
            for (d, &p) in ds[..=i].iter_mut().zip(&p[..=i]) {
                *d = scale * p * (*d - dot);
            }
            ds[i + 1..].fill(0.0);
        }
    }
}
