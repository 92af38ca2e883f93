//! Causal grouped-query self-attention with rotary embeddings, in one op over the packed projection
//! `qkv` (B, T, (Hq + 2·Hk)·D): each position's row holds the Hq query heads, then the Hk key heads, then
//! the Hk value heads, as one product `x · [W_q; W_k; W_v]ᵀ` makes them. Output (B, T, Hq·D). Query head
//! `h` reads key/value head `h / (Hq / Hk)` (no repeated heads), and RoPE turns each query and key head
//! into a (T, D) scratch buffer as it is read (no rotated copies of q and k in the graph).
//!
//! Like flash attention, the (T, T) scores never leave a per-head scratch buffer: the forward keeps only
//! each row's log-sum-exp, and the backward recomputes `P = exp(S · scale − lse)` from Q and K. Per head,
//! with Q and K rotated:
//!
//! ```text
//! dV += Pᵀ dO      dP = dO Vᵀ      dS = scale · P ∘ (dP − rowsum(P ∘ dP))
//! dQ  = dS K       dK += dSᵀ Q      (then dQ and dK rotated back: the rotation's transpose)
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

/// Causal self-attention of f32 `qkv` (B, T, (Hq + 2·Hk)·D) on the CPU, RoPE with (T, D) tables `cos`,
/// `sin` applied to the query and key heads → (B, T, Hq·D).
pub fn rope_attention(
    qkv: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
) -> Result<Tensor> {
    let op = Attention::new(heads, kv_heads, head_dim)?;
    qkv.contiguous()?.apply_op3(&cos.contiguous()?, &sin.contiguous()?, op)
}

/// Self-attention of f32 x (B, T, C) on the CPU: the q/k/v projections (weights (Hq·D, C), (Hk·D, C),
/// (Hk·D, C), optional biases) as one product with the weights stacked, then [`rope_attention`]. Candle's
/// graph sees one product and one attention node where separate projections made three of each, plus two
/// RoPE nodes and the sum of three gradients for x.
pub fn self_attention(
    x: &Tensor,
    w: [&Tensor; 3],
    bias: Option<[&Tensor; 3]>,
    cos: &Tensor,
    sin: &Tensor,
    head_dim: usize,
) -> Result<Tensor> {
    let (hq, hk) = head_counts(w, head_dim)?;
    let mut qkv = super::linear(x, &Tensor::cat(&w, 0)?)?;
    if let Some(b) = bias {
        qkv = qkv.broadcast_add(&Tensor::cat(&b, 0)?)?;
    }
    rope_attention(&qkv, cos, sin, hq, hk, head_dim)
}

/// The query and key/value head counts of q/k/v weights (Hq·D, C), (Hk·D, C), (Hk·D, C).
pub(super) fn head_counts(w: [&Tensor; 3], head_dim: usize) -> Result<(usize, usize)> {
    let rows = |w: &Tensor| w.dims().first().copied().unwrap_or(0);
    if head_dim == 0 || rows(w[0]) % head_dim != 0 || rows(w[1]) % head_dim != 0 || w[1].dims() != w[2].dims()
    {
        candle_core::bail!(
            "attention: q/k/v weights {:?}, {:?}, {:?} must be (Hq·{head_dim}, C) and twice (Hk·{head_dim}, C)",
            w[0].dims(),
            w[1].dims(),
            w[2].dims()
        );
    }
    Ok((rows(w[0]) / head_dim, rows(w[1]) / head_dim))
}

pub(super) struct Attention {
    /// (Hq, Hk, D).
    heads: (usize, usize, usize),
    scale: f32,
    /// Per (batch, query head, position) log-sum-exp of the scaled scores, from the forward pass.
    lse: Mutex<Option<Arc<Vec<f32>>>>,
}

impl Attention {
    pub(super) fn new(heads: usize, kv_heads: usize, head_dim: usize) -> Result<Attention> {
        if head_dim == 0 || head_dim % 2 == 1 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            candle_core::bail!(
                "attention: {heads} query heads, {kv_heads} key/value heads of {head_dim}: the key/value \
                 heads must divide the query heads, and the head size must be even and positive"
            );
        }
        Ok(Attention {
            heads: (heads, kv_heads, head_dim),
            scale: (1.0 / (head_dim as f64).sqrt()) as f32,
            lse: Mutex::new(None),
        })
    }
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
    fn of(
        op: &str,
        (hq, hk, d): (usize, usize, usize),
        qkv: &[usize],
        cos: &[usize],
        sin: &[usize],
    ) -> Result<Dims> {
        match qkv {
            [b, t, w] if *t > 0 && *w == (hq + 2 * hk) * d && cos == [*t, d] && sin == cos => {
                Ok(Dims { b: *b, t: *t, hq, hk, d })
            }
            _ => candle_core::bail!(
                "{op}: qkv {qkv:?}, cos {cos:?}, sin {sin:?}: expected (B, T, {}) for {hq} query and {hk} \
                 key/value heads of {d}, and two ({}, {d}) tables",
                (hq + 2 * hk) * d,
                qkv.get(1).copied().unwrap_or(0)
            ),
        }
    }

    /// A (T, D) head of `qkv` for batch `b`, `column` heads into the row.
    fn packed(&self, b: usize, column: usize) -> View {
        let w = (self.hq + 2 * self.hk) * self.d;
        View::rows(b * self.t * w + column * self.d, self.t, self.d, w)
    }

    fn q(&self, b: usize, h: usize) -> View {
        self.packed(b, h)
    }

    fn k(&self, b: usize, g: usize) -> View {
        self.packed(b, self.hq + g)
    }

    fn v(&self, b: usize, g: usize) -> View {
        self.packed(b, self.hq + self.hk + g)
    }

    /// Query head `h` of batch `b` in the output (B, T, Hq·D) or its gradient.
    fn out(&self, b: usize, h: usize) -> View {
        View::rows((b * self.t * self.hq + h) * self.d, self.t, self.d, self.hq * self.d)
    }

    /// A (T, D) scratch buffer of a task's own.
    fn own(&self) -> View {
        View::rows(0, self.t, self.d, self.d)
    }

    fn group(&self) -> usize {
        self.hq / self.hk
    }
}

/// The rotary tables (T, D), one row per position, and the head size D.
#[derive(Clone, Copy)]
struct Rope<'a> {
    cos: &'a [f32],
    sin: &'a [f32],
    d: usize,
}

impl Rope<'_> {
    /// Head `view` (T, D) of `src`, rotated, as a buffer of its own.
    fn rotated(&self, src: &[f32], view: View) -> Vec<f32> {
        let mut y = vec![0f32; view.rows * self.d];
        rotate_rows(&mut y, &src[view.at..], view.rs, self.cos, self.sin, self.d, false);
        y
    }

    /// Writes `x` (T, D), a gradient with respect to rotated vectors, rotated back (the transposed
    /// rotation) into head `view` of `dst`, through `scratch` (T·D, the task's own): one rotation of the
    /// whole head, then a copy per row (with a rotation call per row of D = 32, `perf` of bench config A
    /// put 3.5 % of a training run's cycles in the rotation; this way 1.5 %, plus 0.4 % in the copies).
    ///
    /// # Safety
    /// No other thread touches the head's elements of `dst`.
    unsafe fn store_back(&self, dst: Out, view: View, x: &[f32], scratch: &mut [f32]) {
        let d = self.d;
        rotate_rows(scratch, x, d, self.cos, self.sin, d, true);
        for (i, row) in scratch.chunks_exact(d).enumerate() {
            // SAFETY: the caller's contract (one row of the head at a time: the rows between belong to
            // other heads, other threads' to write).
            unsafe { dst.slice_mut(view.at + i * view.rs, d) }.copy_from_slice(row);
        }
    }
}

multiversion! {
    /// RoPE in the "rotate half" layout on head vectors of D: row `i` of `x` (at `i · x_rs`) with table row
    /// `i` → row `i` of `y` (rows of D, back to back); with `transpose`, the transposed rotation (the
    /// backward). With `a = x[..D/2]`, `b = x[D/2..]`:
    ///
    /// ```text
    /// y[i]       = a[i] · c[i]       − b[i] · s[i]
    /// y[i + D/2] = b[i] · c[i + D/2] + a[i] · s[i + D/2]
    /// ```
    fn rotate_rows(y: &mut [f32], x: &[f32], x_rs: usize, cos: &[f32], sin: &[f32], d: usize, transpose: bool) {
        let h = d / 2;
        for (i, y) in y.chunks_exact_mut(d).enumerate() {
            let (xa, xb) = x[i * x_rs..][..d].split_at(h);
            let (ca, cb) = cos[i * d..][..d].split_at(h);
            let (sa, sb) = sin[i * d..][..d].split_at(h);
            let (ya, yb) = y.split_at_mut(h);
            let rows = ya.iter_mut().zip(yb.iter_mut()).zip(xa.iter().zip(xb));
            let tables = ca.iter().zip(cb).zip(sa.iter().zip(sb));
            for (((ya, yb), (&a, &b)), ((&ca, &cb), (&sa, &sb))) in rows.zip(tables) {
                if transpose {
                    *ya = a * ca + b * sb;
                    *yb = b * cb - a * sa;
                } else {
                    *ya = a * ca - b * sa;
                    *yb = b * cb + a * sb;
                }
            }
        }
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
        "p2law-rope-attention"
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
        let dm = Dims::of(n, self.heads, l1.dims(), l2.dims(), l3.dims())?;
        let (qkv, cos, sin) = (f32s(n, s1, l1)?, f32s(n, s2, l2)?, f32s(n, s3, l3)?);
        let (t, scale, own) = (dm.t, self.scale, dm.own());
        let rope = Rope { cos, sin, d: dm.d };
        let mut out = zeros(dm.b * t * dm.hq * dm.d);
        let mut lse = vec![0f32; dm.b * dm.hq * t];
        let dst = Out::new(&mut out);
        lse.par_chunks_mut(t).enumerate().for_each(|(task, lse)| {
            let (b, h) = (task / dm.hq, task % dm.hq);
            let g = h / dm.group();
            let (q, k) = (rope.rotated(qkv, dm.q(b, h)), rope.rotated(qkv, dm.k(b, g)));
            let mut p = vec![0f32; t * t];
            lower_a_bt(&mut p, &q, own, &k, own);
            softmax_rows(&mut p, lse, scale);
            // SAFETY: task (b, h) alone writes query head h of batch b.
            unsafe { lower_m_x(dst, dm.out(b, h), &p, qkv, dm.v(b, g), false) }
        });
        *self.lse.lock().expect("lse lock poisoned") = Some(Arc::new(lse));
        let (b, t, _) = l1.shape().dims3()?;
        output(out, &Shape::from_dims(&[b, t, dm.hq * dm.d]))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let lse = self.lse.lock().expect("lse lock poisoned").clone();
        let Some(lse) = lse else { candle_core::bail!("{}: backward before forward", self.name()) };
        let grad = grad.contiguous()?;
        let dm = Dims::of(self.name(), self.heads, qkv.dims(), cos.dims(), sin.dims())?;
        let guards = [qkv, cos, sin, &grad].map(|t| t.storage_and_layout());
        let [qkv, cos, sin, dout] = [0, 1, 2, 3].map(|i| cpu_f32(self.name(), &guards[i].0, guards[i].1));
        let rope = Rope { cos: cos?, sin: sin?, d: dm.d };
        let dqkv = backward(dm, self.scale, qkv?, rope, dout?, &lse);
        // The tables are constants of the position, never trained.
        Ok((Some(Tensor::from_vec(dqkv, guards[0].1.shape(), grad.device())?), None, None))
    }
}

/// d(qkv) from the input, the output's gradient and the forward's log-sum-exp.
fn backward(dm: Dims, scale: f32, qkv: &[f32], rope: Rope, dout: &[f32], lse: &[f32]) -> Vec<f32> {
    let (t, own) = (dm.t, dm.own());
    let mut dqkv = zeros(qkv.len());
    let dst = Out::new(&mut dqkv);
    (0..dm.b * dm.hk).into_par_iter().for_each(|task| {
        let (b, g) = (task / dm.hk, task % dm.hk);
        let k = rope.rotated(qkv, dm.k(b, g));
        let (mut dq, mut dk) = (vec![0f32; t * dm.d], vec![0f32; t * dm.d]);
        let mut rotated_back = vec![0f32; t * dm.d];
        let (mut p, mut ds) = (vec![0f32; t * t], vec![0f32; t * t]);
        for (n, h) in (g * dm.group()..(g + 1) * dm.group()).enumerate() {
            let q = rope.rotated(qkv, dm.q(b, h));
            let lse = &lse[(b * dm.hq + h) * t..][..t];
            lower_a_bt(&mut p, &q, own, &k, own);
            probability_rows(&mut p, lse, scale);
            // SAFETY (all writes to `dst`): task (b, g) alone writes key/value head g of batch b and the
            // query heads of its group; `dq`, `dk`, `p` and `ds` are its own.
            unsafe { lower_mt_x(dst, dm.v(b, g), &p, dout, dm.out(b, h), n > 0) };
            lower_a_bt(&mut ds, dout, dm.out(b, h), qkv, dm.v(b, g));
            score_gradient_rows(&mut ds, &p, t, scale);
            unsafe {
                lower_m_x(Out::new(&mut dq), own, &ds, &k, own, false);
                lower_mt_x(Out::new(&mut dk), own, &ds, &q, own, n > 0);
                rope.store_back(dst, dm.q(b, h), &dq, &mut rotated_back);
            }
        }
        // SAFETY: as above.
        unsafe { rope.store_back(dst, dm.k(b, g), &dk, &mut rotated_back) };
    });
    dqkv
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
