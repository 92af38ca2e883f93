//! The reference versions: compositions of candle ops that all have a backward pass, on any device and
//! dtype. [`super`] uses them wherever the fused CPU kernels do not apply, and the kernels' tests compare
//! against them (values and gradients).

use candle_core::{DType, Result, Tensor, D};

/// `x / sqrt(mean(x², last dim) + eps) * weight`, the statistics in f32 whatever the input dtype (as
/// transformers does), the result cast back before the weight is applied.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let ms = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = xf.broadcast_div(&(ms + eps)?.sqrt()?)?;
    normed.to_dtype(dtype)?.broadcast_mul(weight)
}

/// Softmax over the last dimension. The max is subtracted for stability and detached: it cancels in the
/// result, so its gradient is zero and need not be traced.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// `softmax(scores · scale + causal mask)` over the last dimension of (…, T, T) scores, taken in f32 for
/// low-precision inputs (as transformers does) and cast back.
pub fn causal_softmax(scores: &Tensor, scale: f64) -> Result<Tensor> {
    let t = scores.dim(D::Minus1)?;
    let mask = super::causal_mask(t, scores.dtype(), scores.device())?;
    let masked = (scores * scale)?.broadcast_add(&mask)?;
    match masked.dtype() {
        DType::F32 => softmax_last(&masked),
        dt => softmax_last(&masked.to_dtype(DType::F32)?)?.to_dtype(dt),
    }
}

/// Applies rotary embeddings to x (B, T, H·D) with tables (T, D): `x·cos + rotate_half(x)·sin` per head,
/// where `rotate_half([a, b]) = [-b, a]` on the two halves of D.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (batch, t, w) = x.dims3()?;
    let d = cos.dim(1)?;
    let x = x.reshape((batch, t, w / d, d))?;
    let a = x.narrow(D::Minus1, 0, d / 2)?;
    let b = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&b.neg()?, &a], D::Minus1)?;
    // (T, 1, D): the same table row for every head at a position.
    let y = (x.broadcast_mul(&cos.unsqueeze(1)?)? + rotated.broadcast_mul(&sin.unsqueeze(1)?)?)?;
    y.reshape((batch, t, w))
}

/// Causal attention with q (B, T, Hq·D) and k, v (B, T, Hk·D), Hk dividing Hq (query head `h` uses
/// key/value head `h / (Hq / Hk)`): `softmax(Q Kᵀ / √D + mask) V` per head, (B, T, Hq·D).
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, head_dim: usize) -> Result<Tensor> {
    let (b, t, wq) = q.dims3()?;
    let heads = |x: &Tensor| x.reshape((b, t, (), head_dim))?.transpose(1, 2)?.contiguous(); // (B, H, T, D)
    let n = wq / k.dim(2)?;
    let (q, k, v) = (heads(q)?, super::repeat_kv(&heads(k)?, n)?, super::repeat_kv(&heads(v)?, n)?);
    let scores = q.matmul(&k.t()?.contiguous()?)?; // (B, H, T, T)
    let probs = causal_softmax(&scores, 1.0 / (head_dim as f64).sqrt())?;
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, wq))
}

/// Self-attention of x (B, T, C): `q, k, v = x · Wᵀ (+ b)` each, RoPE on q and k, then
/// [`causal_attention`] → (B, T, Hq·D).
pub fn self_attention(
    x: &Tensor,
    w: [&Tensor; 3],
    bias: [Option<&Tensor>; 3],
    cos: &Tensor,
    sin: &Tensor,
    head_dim: usize,
) -> Result<Tensor> {
    let project = |i: usize| match bias[i] {
        Some(b) => linear(x, w[i])?.broadcast_add(b),
        None => linear(x, w[i]),
    };
    let q = apply_rope(&project(0)?, cos, sin)?;
    let k = apply_rope(&project(1)?, cos, sin)?;
    causal_attention(&q, &k, &project(2)?, head_dim)
}

/// `x · Wᵀ` for x (…, K) and W (N, K), as candle-nn's `Linear` computes it.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    use candle_core::Module;
    candle_nn::Linear::new(w.clone(), None).forward(x)
}

/// SwiGLU's gated hidden layer: `silu(x · W_gᵀ) ∘ (x · W_uᵀ)`.
pub fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
    linear(x, w_gate)?.silu()? * linear(x, w_up)?
}

/// Per-row `logsumexp(logits) − logits[target]` for (N, V) logits; `keep` (N: 1 or 0 per row) zeroes
/// ignored rows, whose `picks` entry is any valid class. Returns the sum over rows (a scalar).
pub fn cross_entropy_sum(logits: &Tensor, picks: &Tensor, keep: &Tensor) -> Result<Tensor> {
    let log_probs = log_softmax_last(logits)?; // (N, V)
    let picked = log_probs.gather(picks, 1)?.squeeze(1)?; // (N)
    (picked * keep)?.sum_all()?.neg()
}

/// `x - logsumexp(x)` over the last dimension; the max shift is detached (it cancels).
pub fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let z = x.broadcast_sub(&max)?;
    let lse = z.exp()?.sum_keepdim(D::Minus1)?.log()?;
    z.broadcast_sub(&lse)
}
