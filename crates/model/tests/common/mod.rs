//! Shared helpers for the golden tests: fixture paths and the reference tensors transformers wrote.
#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors};

/// `crates/model/tests/fixtures/NAME` (written by `scripts/model_fixtures.py`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The reference outputs of one fixture.
pub struct Reference {
    /// (2, 16) u32 token ids.
    pub ids: Tensor,
    /// (2, 16) i64 next-token targets, -100 where ignored.
    pub targets: Tensor,
    /// (2, 16, V) f32 logits from transformers.
    pub logits: Tensor,
    pub loss: f32,
}

pub fn reference(name: &str) -> Reference {
    let bytes = std::fs::read(fixture(name).join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let get = |n: &str| st.tensor(n).unwrap();
    let i64s = |n: &str| -> (Vec<i64>, Vec<usize>) {
        let v = get(n);
        assert_eq!(v.dtype(), Dtype::I64);
        (
            v.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            v.shape().to_vec(),
        )
    };
    let f32s = |n: &str| -> (Vec<f32>, Vec<usize>) {
        let v = get(n);
        assert_eq!(v.dtype(), Dtype::F32);
        (
            v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            v.shape().to_vec(),
        )
    };
    let (ids, shape) = i64s("ids");
    let ids =
        Tensor::from_vec(ids.into_iter().map(|x| x as u32).collect::<Vec<_>>(), shape, &Device::Cpu).unwrap();
    let (targets, shape) = i64s("targets");
    let targets = Tensor::from_vec(targets, shape, &Device::Cpu).unwrap();
    let (logits, shape) = f32s("logits");
    let logits = Tensor::from_vec(logits, shape, &Device::Cpu).unwrap();
    let loss = f32s("loss").0[0];
    Reference { ids, targets, logits, loss }
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_dtype(candle_core::DType::F32).unwrap();
    let b = b.to_dtype(candle_core::DType::F32).unwrap();
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// The project's Python (env `P2LAW_PY`, else the venv `scripts/venv.sh` makes), if it exists with the
/// `model` group (transformers) installed: the venv may hold only other groups, e.g. the bench's scipy.
pub fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("P2LAW_PY") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var("P2LAW_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/p2law")))
        .ok()?;
    let venv = cache.join("venv");
    let has_model = std::fs::read_dir(&venv)
        .ok()?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".installed-model-"));
    let py = venv.join("bin/python");
    (py.is_file() && has_model).then_some(py)
}
