//! Differentiable building blocks, made only of candle ops that have a backward pass.
//!
//! candle's fused `rms_norm`, `softmax_last_dim` and `rope` kernels have no backward, so training through
//! them silently drops gradients; these versions compose basic ops instead. Each is checked against the
//! fused kernel in the tests below (forward values) and against transformers via the golden tests.
//!
//! Shapes: B batch, H heads, T time, D head_dim, C channels.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
//! let p = p2law_model::ops::softmax_last(&x).unwrap().to_vec2::<f32>().unwrap();
//! assert!((p[0][2] - 0.665241).abs() < 1e-6);
//! ```

use candle_core::{DType, Device, Result, Tensor, D};

use crate::config::{Config, RopeScaling};

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

/// Applies rotary embeddings to x (B, H, T, D) with tables (T, D): `x·cos + rotate_half(x)·sin`, where
/// `rotate_half([a, b]) = [-b, a]` on the two halves of D.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let a = x.narrow(D::Minus1, 0, d / 2)?;
    let b = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&b.neg()?, &a], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
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
        let ours = rms_norm(&x, &w, 1e-5).unwrap();
        let fused = candle_nn::ops::rms_norm(&x, &w, 1e-5).unwrap();
        assert!(max_abs_diff(&ours, &fused) < 1e-5);
    }

    #[test]
    fn softmax_matches_fused_kernel_and_masks() {
        let x = randn(&[2, 5, 5]).broadcast_add(&causal_mask(5, DType::F32, &Device::Cpu).unwrap()).unwrap();
        let ours = softmax_last(&x).unwrap();
        let fused = candle_nn::ops::softmax_last_dim(&x).unwrap();
        assert!(max_abs_diff(&ours, &fused) < 1e-6);
        let p = ours.to_vec3::<f32>().unwrap();
        assert_eq!(p[0][0][1], 0.0);
        assert!((p[1][0][0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rope_matches_fused_kernel() {
        let (b, h, t, d) = (1, 2, 6, 8);
        let x = randn(&[b, h, t, d]);
        let freqs = [1.0, 0.1, 0.01, 0.001];
        let (cos, sin) = rope_tables(&freqs, t, DType::F32, &Device::Cpu).unwrap();
        let ours = apply_rope(&x, &cos, &sin).unwrap();
        // The fused kernel takes (T, D/2) tables.
        let half = |t: &Tensor| t.narrow(1, 0, d / 2).unwrap().contiguous().unwrap();
        let fused = candle_nn::rotary_emb::rope(&x, &half(&cos), &half(&sin)).unwrap();
        assert!(max_abs_diff(&ours, &fused) < 1e-5);
    }

    #[test]
    fn ops_have_gradients() {
        let x = candle_core::Var::from_tensor(&randn(&[2, 4, 8])).unwrap();
        let w = candle_core::Var::from_tensor(&randn(&[8])).unwrap();
        let y = softmax_last(&rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap()).unwrap();
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
