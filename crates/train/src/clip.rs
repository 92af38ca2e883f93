//! Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`.
//!
//! Input: every parameter's gradient. The global norm is `√(Σ_tensors Σ_elements g²)`; when it exceeds
//! `max_norm`, every gradient is scaled by `max_norm / (norm + 1e-6)` (PyTorch's epsilon, which keeps the
//! scaled norm just under the limit). Output: the norm *before* clipping, worth logging because a rising
//! norm is the first sign of instability.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let mut g = vec![Tensor::new(&[3f32], &Device::Cpu)?, Tensor::new(&[4f32], &Device::Cpu)?];
//! let norm = p2law_train::clip::clip_global_norm(&mut g, 1.0)?;
//! assert_eq!(norm, 5.0);
//! assert!((g[0].to_vec1::<f32>()?[0] - 0.6).abs() < 1e-6);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{DType, Tensor};

/// `√(Σ g²)` over all gradients, accumulated in f64 across tensors.
pub fn global_norm(grads: &[Tensor]) -> candle_core::Result<f64> {
    let mut sum = 0f64;
    for g in grads {
        sum += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    }
    Ok(sum.sqrt())
}

/// Scales `grads` in place so their global norm is at most `max_norm`; returns the norm before scaling.
/// `max_norm <= 0` disables clipping (the norm is still returned).
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> candle_core::Result<f64> {
    let norm = global_norm(grads)?;
    if max_norm > 0.0 {
        let scale = max_norm / (norm + 1e-6);
        if scale < 1.0 {
            for g in grads.iter_mut() {
                *g = g.affine(scale, 0.0)?;
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn grads() -> Vec<Tensor> {
        let d = Device::Cpu;
        // Norm √(1 + 4 + 4 + 16 + 0 + 64 + 0) = √89 ≈ 9.434.
        vec![
            Tensor::new(&[[1f32, 2.0], [2.0, 4.0]], &d).unwrap(),
            Tensor::new(&[0f32, 8.0, 0.0], &d).unwrap(),
        ]
    }

    #[test]
    fn clipped_norm_is_max_norm() {
        let mut g = grads();
        let before = clip_global_norm(&mut g, 2.0).unwrap();
        assert!((before - 89f64.sqrt()).abs() < 1e-9);
        let after = global_norm(&g).unwrap();
        assert!((after - 2.0).abs() < 1e-5, "{after}");
        // Direction is kept: every element is scaled by the same factor.
        let v = g[1].to_vec1::<f32>().unwrap();
        assert!((v[1] as f64 - 8.0 * 2.0 / 89f64.sqrt()).abs() < 1e-5);
    }

    #[test]
    fn small_gradients_and_disabled_clip_are_untouched() {
        for max in [100.0, 0.0] {
            let mut g = grads();
            clip_global_norm(&mut g, max).unwrap();
            assert_eq!(g[1].to_vec1::<f32>().unwrap(), vec![0.0, 8.0, 0.0]);
        }
    }
}
