//! Conversions between candle tensors and the row-major `Vec`s the algorithms work on.
//!
//! A linear layer's weight is `(out_features, in_features)` = `(rows, cols)`, row-major, as in PyTorch and
//! Hugging Face checkpoints: row `r` holds the weights of output unit `r`, column `c` those reading input
//! feature `c`. Masks have the same shape and dtype `u8` (1 keep, 0 prune).

use candle_core::{DType, Device, Tensor};

use crate::error::{check_finite, PruneError, Result};

/// A weight matrix copied out of a tensor: `rows × cols` values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    /// Copies a rank-2 tensor (any float dtype) to f32, checking that every value is finite.
    pub fn from_weight(name: &str, weight: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_dims(name, weight)?;
        let data = weight.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        check_finite(&format!("weight `{name}`"), &data)?;
        Ok(Self { rows, cols, data })
    }
}

/// `(rows, cols)` of a rank-2 tensor, or a shape error naming it.
pub(crate) fn matrix_dims(name: &str, t: &Tensor) -> Result<(usize, usize)> {
    match t.dims() {
        &[rows, cols] if rows > 0 && cols > 0 => Ok((rows, cols)),
        dims => Err(PruneError::ShapeMismatch {
            what: format!("`{name}`"),
            expected: "a non-empty matrix (out_features, in_features)".into(),
            got: format!("{dims:?}"),
        }),
    }
}

/// Builds a `(rows, cols)` f32 tensor on `device`.
pub(crate) fn f32_tensor(rows: usize, cols: usize, data: Vec<f32>, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, (rows, cols), device)?)
}

/// Builds a `(rows, cols)` u8 mask tensor on `device`.
pub(crate) fn mask_tensor(rows: usize, cols: usize, data: Vec<u8>, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, (rows, cols), device)?)
}

/// Flattens an activation tensor `(..., features)` to `(tokens, features)` f64 values on the CPU.
pub(crate) fn activations_f64(what: &str, x: &Tensor, features: usize) -> Result<(usize, Vec<f64>)> {
    let dims = x.dims();
    if dims.is_empty() || dims[dims.len() - 1] != features {
        return Err(PruneError::ShapeMismatch {
            what: what.to_string(),
            expected: format!("(..., {features})"),
            got: format!("{dims:?}"),
        });
    }
    let tokens = x.elem_count() / features;
    let data = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    check_finite(what, &data)?;
    Ok((tokens, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_round_trip_and_rank_check() {
        let t = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &Device::Cpu).unwrap();
        let m = Matrix::from_weight("w", &t).unwrap();
        assert_eq!((m.rows, m.cols, m.data[5]), (2, 3, 6.0));
        let v = Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap();
        assert!(matches!(Matrix::from_weight("v", &v), Err(PruneError::ShapeMismatch { .. })));
        let nan = Tensor::new(&[[1f32, f32::NAN]], &Device::Cpu).unwrap();
        assert!(matches!(Matrix::from_weight("n", &nan), Err(PruneError::NonFinite { index: 1, .. })));
    }

    #[test]
    fn activations_flatten_leading_dims() {
        let x = Tensor::arange(0f32, 12., &Device::Cpu).unwrap().reshape((2, 2, 3)).unwrap();
        let (tokens, data) = activations_f64("x", &x, 3).unwrap();
        assert_eq!((tokens, data.len(), data[11]), (4, 12, 11.0));
        assert!(activations_f64("x", &x, 4).is_err());
    }
}
