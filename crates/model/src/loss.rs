//! Token cross-entropy with an ignore index, differentiable: a fused kernel for f32 on the CPU
//! ([`crate::ops`]), log-softmax from basic ops and `gather` elsewhere.
//!
//! `loss = -mean_{i: target_i != IGNORE} log softmax(logits_i)[target_i]`, computed in f32 whatever the
//! logits dtype. Logits are (B, T, V) or (N, V); targets (B, T) or (N), dtype u32 or i64. Only i64 targets
//! can carry [`IGNORE_INDEX`] (-100, PyTorch's default). Targets are already shifted: `targets[t]` is the
//! token that should follow position `t`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let logits = Tensor::new(&[[0f32, 0.], [1., 3.]], &Device::Cpu).unwrap();
//! let targets = Tensor::new(&[0i64, -100], &Device::Cpu).unwrap();
//! let loss = p2law_model::cross_entropy(&logits, &targets).unwrap().to_scalar::<f32>().unwrap();
//! assert!((loss - 2f32.ln()).abs() < 1e-6); // only the first row counts: uniform over 2 classes
//! ```

use candle_core::{DType, Result, Tensor, D};

use crate::ops;

/// Targets with this value contribute nothing (PyTorch's `ignore_index` default).
pub const IGNORE_INDEX: i64 = -100;

/// Mean cross-entropy over the non-ignored targets (a scalar tensor). Errors if every target is ignored.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    mean(cross_entropy_sum(logits, targets)?)
}

/// [`cross_entropy`] of an LM head's logits `x · Wᵀ` (see [`linear_cross_entropy_sum`]).
pub fn linear_cross_entropy(x: &Tensor, w: &Tensor, targets: &Tensor) -> Result<Tensor> {
    mean(linear_cross_entropy_sum(x, w, targets)?)
}

/// A summed loss over `count` targets → its mean; no targets is an error.
pub(crate) fn mean((sum, count): (Tensor, usize)) -> Result<Tensor> {
    if count == 0 {
        candle_core::bail!("cross_entropy: every target is IGNORE_INDEX, the mean is undefined");
    }
    sum / count as f64
}

/// Summed cross-entropy (a scalar tensor) and the number of targets that were counted.
pub fn cross_entropy_sum(logits: &Tensor, targets: &Tensor) -> Result<(Tensor, usize)> {
    let v = logits.dim(D::Minus1)?;
    let logits = logits.to_dtype(DType::F32)?.reshape(((), v))?; // (N, V)
    let (picks, keep, count) = parse_targets(targets, logits.dim(0)?, v)?;
    if ops::fused::applies(&[&logits]) {
        return Ok((ops::fused::cross_entropy_sum(&logits, picks, keep)?, count));
    }
    Ok((plain_sum(&logits, picks, keep)?, count))
}

/// [`cross_entropy_sum`] of the logits of an LM head: `x · Wᵀ` for hidden states x (…, C) and the head's
/// weight W (V, C). On the CPU in f32 the logits are never a graph node (see `ops::fused`), which saves two
/// zero-filled (N, V) gradient buffers per step.
pub fn linear_cross_entropy_sum(x: &Tensor, w: &Tensor, targets: &Tensor) -> Result<(Tensor, usize)> {
    let c = x.dim(D::Minus1)?;
    let x = x.reshape(((), c))?; // (N, C)
    if !ops::fused::applies(&[&x, w]) {
        return cross_entropy_sum(&ops::linear(&x, w, None)?, targets);
    }
    let (picks, keep, count) = parse_targets(targets, x.dim(0)?, w.dim(0)?)?;
    Ok((ops::fused::linear_cross_entropy_sum(&x, w, picks, keep)?, count))
}

/// The class of each of `n` rows over a vocabulary of `v`, whether the row counts ([`IGNORE_INDEX`] does
/// not; its class is 0), and how many rows count.
pub(crate) fn parse_targets(targets: &Tensor, n: usize, v: usize) -> Result<(Vec<u32>, Vec<bool>, usize)> {
    let raw: Vec<i64> = targets.flatten_all()?.to_dtype(DType::I64)?.to_vec1()?;
    if raw.len() != n {
        candle_core::bail!("cross_entropy: {} targets for {n} rows of logits", raw.len());
    }
    let mut picks = Vec::with_capacity(n);
    let mut keep = Vec::with_capacity(n);
    for (i, &t) in raw.iter().enumerate() {
        if t == IGNORE_INDEX {
            picks.push(0u32);
            keep.push(false);
        } else if t < 0 || t as usize >= v {
            candle_core::bail!("cross_entropy: target {t} at position {i} is outside the vocabulary 0..{v}");
        } else {
            picks.push(t as u32);
            keep.push(true);
        }
    }
    let count = keep.iter().filter(|k| **k).count();
    Ok((picks, keep, count))
}

/// The plain-ops path: ignored rows pick class 0 and are multiplied by 0.
fn plain_sum(logits: &Tensor, picks: Vec<u32>, keep: Vec<bool>) -> Result<Tensor> {
    let (n, device) = (picks.len(), logits.device());
    let keep: Vec<f32> = keep.into_iter().map(|k| k as u8 as f32).collect();
    let picks = Tensor::from_vec(picks, (n, 1), device)?;
    let keep = Tensor::from_vec(keep, n, device)?;
    ops::plain::cross_entropy_sum(logits, &picks, &keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_hand_computed_value() {
        // log-sum-exp([1, 2, 3]) = 3.40760596; target 1 → loss 3.40760596 - 2.
        let logits = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
        let targets = Tensor::new(&[1u32], &Device::Cpu).unwrap();
        let loss = cross_entropy(&logits, &targets).unwrap().to_scalar::<f32>().unwrap();
        assert!((loss - 1.407_606).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn gradient_is_softmax_minus_onehot() {
        let x = Var::from_tensor(&Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap()).unwrap();
        let loss = cross_entropy(x.as_tensor(), &Tensor::new(&[2i64], &Device::Cpu).unwrap()).unwrap();
        let g = loss.backward().unwrap().get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        let p = [0.090_030_57f32, 0.244_728_48, 0.665_240_94];
        for (j, expect) in [p[0], p[1], p[2] - 1.0].iter().enumerate() {
            assert!((g[0][j] - expect).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn all_ignored_and_out_of_range_are_errors() {
        let logits = Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(cross_entropy(&logits, &Tensor::new(&[-100i64], &Device::Cpu).unwrap()).is_err());
        let err = cross_entropy(&logits, &Tensor::new(&[3u32], &Device::Cpu).unwrap()).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }
}
