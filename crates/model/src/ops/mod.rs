//! Differentiable building blocks of the decoder: RMSNorm, rotary embeddings, causal attention, SwiGLU.
//!
//! candle's fused `rms_norm`, `softmax_last_dim` and `rope` kernels have no backward, so training through
//! them silently drops gradients. Each function here has two implementations with the same arithmetic:
//! - [`plain`]: compositions of candle ops that have a backward pass, for any device and dtype;
//! - [`fused`]: one CPU kernel per op with a hand-written backward (candle `CustomOp`s), used for f32
//!   tensors on the CPU. A training step then makes a handful of passes over each activation instead of
//!   dozens (every candle op allocates, and its backward adds into a zero-filled gradient).
//!
//! The fused kernels are checked against [`plain`] (values and gradients, random shapes) in
//! `fused/tests.rs`; [`plain`] is checked against candle's inference kernels below and against
//! transformers through the golden tests. `P2LAW_FUSED=0` in the environment selects [`plain`] everywhere.
//!
//! Shapes: B batch, H heads, T time, D head_dim, C channels.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
//! let p = p2law_model::ops::plain::softmax_last(&x).unwrap().to_vec2::<f32>().unwrap();
//! assert!((p[0][2] - 0.665241).abs() < 1e-6);
//! ```

use candle_core::{DType, Device, Result, Tensor};

use crate::config::{Config, RopeScaling};

pub mod fused;
pub mod plain;

/// `x / sqrt(mean(x², last dim) + eps) * weight` (see [`plain::rms_norm`]).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if fused::applies(&[x, weight]) {
        fused::rms_norm(x, weight, eps)
    } else {
        plain::rms_norm(x, weight, eps)
    }
}

/// Self-attention of x (B, T, C): q/k/v projections (weights (Hq·D, C), (Hk·D, C), (Hk·D, C) and their
/// optional biases), RoPE on q and k with (T, D) tables, causal grouped-query attention → (B, T, Hq·D),
/// head `h` in columns `h·D..(h+1)·D` (see [`plain::self_attention`]). Fused on the CPU into one product
/// and one attention op when the three biases are all present or all absent.
pub fn self_attention(
    x: &Tensor,
    w: [&Tensor; 3],
    bias: [Option<&Tensor>; 3],
    cos: &Tensor,
    sin: &Tensor,
    head_dim: usize,
) -> Result<Tensor> {
    match packed_bias(bias) {
        Some(b) if fused::applies(&[x, w[0], w[1], w[2], cos, sin]) => {
            fused::self_attention(x, w, b, cos, sin, head_dim)
        }
        _ => plain::self_attention(x, w, bias, cos, sin, head_dim),
    }
}

/// The q/k/v biases as the packed product takes them: `Some(Some(..))` all three, `Some(None)` none, and
/// `None` when only some are present.
pub(crate) fn packed_bias(bias: [Option<&Tensor>; 3]) -> Option<Option<[&Tensor; 3]>> {
    match bias {
        [Some(q), Some(k), Some(v)] => Some(Some([q, k, v])),
        [None, None, None] => Some(None),
        _ => None,
    }
}

/// `x · Wᵀ + b` for x (…, K), W (N, K) and an optional bias (N) (see [`plain::linear`]).
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = if fused::applies(&[x, w]) { fused::linear(x, w)? } else { plain::linear(x, w)? };
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// `residual + x · Wᵀ + b` (see [`linear`]): a residual connection closed by a projection. Fused on the CPU
/// when there is no bias.
pub fn linear_add(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, residual: &Tensor) -> Result<Tensor> {
    if bias.is_none() && fused::applies(&[x, w, residual]) {
        fused::linear_add(x, w, residual)
    } else {
        residual + linear(x, w, bias)?
    }
}

/// SwiGLU's gated hidden layer `silu(x · W_gᵀ) ∘ (x · W_uᵀ)` for x (…, K), W_g and W_u (F, K) → (…, F)
/// (see [`plain::swiglu`]).
pub fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
    if fused::applies(&[x, w_gate, w_up]) {
        fused::swiglu(x, w_gate, w_up)
    } else {
        plain::swiglu(x, w_gate, w_up)
    }
}

/// Additive causal mask (T, T): 0 on and below the diagonal, -inf above (a query never sees later keys).
pub fn causal_mask(t: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> =
        (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (t, t), device)?.to_dtype(dtype)
}

/// Rotary inverse frequencies `theta^(-2i/D)`, i < D/2, with Llama-3 scaling applied when configured.
pub fn inv_freq(cfg: &Config) -> Vec<f64> {
    let d = cfg.head_dim;
    let base: Vec<f64> = (0..d / 2).map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f64 / d as f64)).collect();
    match &cfg.rope_scaling {
        None => base,
        Some(s) => base.into_iter().map(|f| llama3_scale(f, s)).collect(),
    }
}

/// Llama-3 frequency scaling: wavelengths longer than `original / low_freq_factor` are slowed by `factor`,
/// shorter than `original / high_freq_factor` are kept, and the band between is interpolated linearly in
/// `original / wavelength`.
fn llama3_scale(freq: f64, s: &RopeScaling) -> f64 {
    let orig = s.original_max_position_embeddings as f64;
    let wavelen = 2.0 * std::f64::consts::PI / freq;
    if wavelen < orig / s.high_freq_factor {
        freq
    } else if wavelen > orig / s.low_freq_factor {
        freq / s.factor
    } else {
        let smooth = (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * freq / s.factor + smooth * freq
    }
}

/// Cos/sin tables for positions `0..t`, each (T, D) with the D/2 frequencies repeated twice (the
/// "rotate half" layout transformers uses).
pub fn rope_tables(inv_freq: &[f64], t: usize, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(t * 2 * half);
    let mut sin = Vec::with_capacity(t * 2 * half);
    for pos in 0..t {
        for _ in 0..2 {
            for f in inv_freq {
                // transformers forms the angle in f32; do the same so long positions agree bit for bit-ish.
                let angle = (pos as f32) * (*f as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let cos = Tensor::from_vec(cos, (t, 2 * half), device)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, (t, 2 * half), device)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Repeats each key/value head `n` times: (B, Hkv, T, D) -> (B, Hkv·n, T, D), head h serving queries
/// `h·n .. h·n+n` (transformers' `repeat_kv` order).
pub fn repeat_kv(x: &Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, h, t, d) = x.dims4()?;
    x.unsqueeze(2)?.broadcast_as((b, h, n, t, d))?.contiguous()?.reshape((b, h * n, t, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    fn randn(shape: &[usize]) -> Tensor {
        Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn rms_norm_matches_fused_kernel() {
        let x = randn(&[2, 3, 8]);
        let w = randn(&[8]);
        let fused = candle_nn::ops::rms_norm(&x, &w, 1e-5).unwrap();
        for ours in [rms_norm(&x, &w, 1e-5).unwrap(), plain::rms_norm(&x, &w, 1e-5).unwrap()] {
            assert!(max_abs_diff(&ours, &fused) < 1e-5);
        }
    }

    #[test]
    fn softmax_matches_fused_kernel_and_masks() {
        let s = randn(&[2, 5, 5]);
        let x =
            (&s * 0.5).unwrap().broadcast_add(&causal_mask(5, DType::F32, &Device::Cpu).unwrap()).unwrap();
        let fused = candle_nn::ops::softmax_last_dim(&x).unwrap();
        assert!(max_abs_diff(&plain::softmax_last(&x).unwrap(), &fused) < 1e-6);
        let ours = plain::causal_softmax(&s, 0.5).unwrap();
        assert!(max_abs_diff(&ours, &fused) < 1e-6);
        let p = ours.to_vec3::<f32>().unwrap();
        assert_eq!(p[0][0][1], 0.0);
        assert!((p[1][0][0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rope_matches_fused_kernel() {
        let (b, t, h, d) = (1, 6, 2, 8);
        let x = randn(&[b, t, h, d]);
        let flat = x.reshape((b, t, h * d)).unwrap();
        let freqs = [1.0, 0.1, 0.01, 0.001];
        let (cos, sin) = rope_tables(&freqs, t, DType::F32, &Device::Cpu).unwrap();
        // candle's kernel takes (T, D/2) tables.
        let half = |t: &Tensor| t.narrow(1, 0, d / 2).unwrap().contiguous().unwrap();
        let fused = candle_nn::rotary_emb::rope_thd(&x, &half(&cos), &half(&sin)).unwrap();
        let ours = plain::apply_rope(&flat, &cos, &sin).unwrap();
        assert!(max_abs_diff(&ours.reshape((b, t, h, d)).unwrap(), &fused) < 1e-5);
    }

    #[test]
    fn ops_have_gradients() {
        let x = candle_core::Var::from_tensor(&randn(&[2, 4, 8])).unwrap();
        let w = candle_core::Var::from_tensor(&randn(&[8])).unwrap();
        let y = plain::softmax_last(&plain::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap()).unwrap();
        let loss = y.sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        for v in [&x, &w] {
            let g = grads.get(v.as_tensor()).expect("gradient present");
            assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
        }
    }

    #[test]
    fn repeat_kv_orders_heads_like_transformers() {
        let x = Tensor::arange(0f32, 4., &Device::Cpu).unwrap().reshape((1, 2, 1, 2)).unwrap();
        let r = repeat_kv(&x, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(r, vec![0., 1., 0., 1., 2., 3., 2., 3.]);
    }

    #[test]
    fn llama3_scaling_keeps_short_and_slows_long_wavelengths() {
        let s = RopeScaling {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 32,
        };
        assert_eq!(llama3_scale(1.0, &s), 1.0);
        assert!((llama3_scale(0.001, &s) - 0.001 / 8.0).abs() < 1e-15);
        let mid = llama3_scale(2.0 * std::f64::consts::PI / 16.0, &s);
        assert!(mid < 2.0 * std::f64::consts::PI / 16.0 && mid > 2.0 * std::f64::consts::PI / 16.0 / 8.0);
    }
}
