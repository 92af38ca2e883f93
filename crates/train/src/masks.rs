//! Sparsity masks: keep a pruned model's zeros exactly zero while it trains.
//!
//! Input: `masks.safetensors` from the pruning stage — per pruned weight, under its Hugging Face name
//! (`model.layers.0.mlp.up_proj.weight`), a `u8` or `bool` tensor of the weight's shape, 1 = keep, 0 = zero.
//! Weights without an entry are dense. The trainer multiplies each masked gradient by its mask before the
//! optimizer sees it, and multiplies the weight by its mask after every step: with decoupled weight decay
//! and Adam's ε a zero gradient alone already leaves a zero weight at zero, but re-applying makes the
//! guarantee independent of optimizer details and of float rounding.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, TrainError};

/// Masks by parameter name, as 0/1 tensors in the parameters' dtype and device.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    by_name: BTreeMap<String, Tensor>,
}

impl Masks {
    /// Reads `path` and checks every mask against the parameter of the same name in `params`: the name must
    /// exist, the shape must match and every value must be 0 or 1.
    pub fn load(path: &Path, params: &[(String, Var)]) -> Result<Masks> {
        let bad = |msg: String| TrainError::Masks { path: path.to_path_buf(), msg };
        let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let mut by_name = BTreeMap::new();
        for (name, view) in st.tensors() {
            let var = params.iter().find(|(n, _)| *n == name).map(|(_, v)| v).ok_or_else(|| {
                bad(format!("mask `{name}` names no parameter of the model (pruned from a different model?)"))
            })?;
            if !matches!(view.dtype(), Dtype::U8 | Dtype::BOOL) {
                return Err(bad(format!("mask `{name}` has dtype {:?}; expected u8 or bool", view.dtype())));
            }
            if view.shape() != var.as_tensor().dims() {
                return Err(bad(format!(
                    "mask `{name}` has shape {:?}, the weight {:?}",
                    view.shape(),
                    var.as_tensor().dims()
                )));
            }
            if let Some(pos) = view.data().iter().position(|&b| b > 1) {
                return Err(bad(format!(
                    "mask `{name}` has value {} at element {pos}; expected 0 or 1",
                    view.data()[pos]
                )));
            }
            let ones: Vec<f32> = view.data().iter().map(|&b| b as f32).collect();
            let t = Tensor::from_vec(ones, view.shape(), &Device::Cpu)?
                .to_dtype(var.dtype())?
                .to_device(var.device())?;
            by_name.insert(name, t);
        }
        Ok(Masks { by_name })
    }

    /// Masks built in memory (tests, or a pruning step in the same process).
    pub fn from_tensors(by_name: BTreeMap<String, Tensor>) -> Masks {
        Masks { by_name }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Number of masked tensors.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Zeroes the masked entries of `grads` (aligned with `params`).
    pub fn apply_to_grads(&self, params: &[(String, Var)], grads: &mut [Tensor]) -> Result<()> {
        for ((name, _), g) in params.iter().zip(grads.iter_mut()) {
            if let Some(m) = self.by_name.get(name) {
                *g = g.mul(m)?;
            }
        }
        Ok(())
    }

    /// Zeroes the masked entries of the weights themselves.
    pub fn apply_to_weights(&self, params: &[(String, Var)]) -> Result<()> {
        for (name, var) in params {
            if let Some(m) = self.by_name.get(name) {
                var.set(&var.as_tensor().mul(m)?)?;
            }
        }
        Ok(())
    }

    /// Number of masked-out (zero) entries over all masks.
    pub fn zeros(&self) -> Result<u64> {
        let mut n = 0u64;
        for m in self.by_name.values() {
            let kept = m.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()? as u64;
            n += m.elem_count() as u64 - kept;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, Var)> {
        let w = Tensor::new(&[[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
        vec![("a.weight".into(), Var::from_tensor(&w).unwrap())]
    }

    fn write(dir: &Path, name: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> std::path::PathBuf {
        let view = safetensors::tensor::TensorView::new(dtype, shape, &data).unwrap();
        let path = dir.join("masks.safetensors");
        safetensors::serialize_to_file([(name, view)], None, &path).unwrap();
        path
    }

    #[test]
    fn u8_and_bool_masks_zero_grads_and_weights() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [Dtype::U8, Dtype::BOOL] {
            let p = params();
            let path = write(dir.path(), "a.weight", dtype, vec![2, 3], vec![1, 0, 1, 0, 0, 1]);
            let masks = Masks::load(&path, &p).unwrap();
            assert_eq!(masks.zeros().unwrap(), 3);
            let mut grads = vec![Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap()];
            masks.apply_to_grads(&p, &mut grads).unwrap();
            assert_eq!(grads[0].to_vec2::<f32>().unwrap(), vec![vec![1.0, 0.0, 1.0], vec![0.0, 0.0, 1.0]]);
            masks.apply_to_weights(&p).unwrap();
            assert_eq!(
                p[0].1.as_tensor().to_vec2::<f32>().unwrap(),
                vec![vec![1.0, 0.0, 3.0], vec![0.0, 0.0, 6.0]]
            );
        }
    }

    #[test]
    fn mismatches_are_reported_with_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        let cases = [
            ("b.weight", Dtype::U8, vec![2, 3], vec![1; 6], "names no parameter"),
            ("a.weight", Dtype::U8, vec![3, 2], vec![1; 6], "shape [3, 2]"),
            ("a.weight", Dtype::F32, vec![2, 3], vec![0; 24], "dtype"),
            ("a.weight", Dtype::U8, vec![2, 3], vec![1, 1, 2, 1, 1, 1], "value 2 at element 2"),
        ];
        for (name, dtype, shape, data, want) in cases {
            let path = write(dir.path(), name, dtype, shape, data);
            let err = Masks::load(&path, &p).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
