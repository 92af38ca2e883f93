//! `masks.safetensors`: the sparsity masks of a pruned model directory (`docs/spec/formats.md`), so
//! post-training can keep the zeros.
//!
//! One `U8` tensor per weight, named like the weight (e.g. `model.layers.0.self_attn.q_proj.weight`),
//! shaped like it, `1` keep / `0` pruned; file metadata `{"format":"pt"}` so PyTorch tools accept it.
//! Reading also accepts `BOOL` tensors (what `torch.save_file` writes for `torch.bool`). Writes are atomic
//! ([`p2law_formats::write_atomic`]): a temporary file in the same directory, fsync, rename.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use candle_core::{Device, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{PruneError, Result};
use crate::mask::MaskSet;

/// Writes `masks` to `path` atomically.
pub fn write_masks(path: &Path, masks: &MaskSet) -> Result<()> {
    let io = |source| PruneError::Io { path: path.to_path_buf(), source };
    let st = |source| PruneError::Safetensors { path: path.to_path_buf(), source };
    let mut owned = Vec::with_capacity(masks.len());
    for (name, mask) in masks.iter() {
        let bytes = mask.flatten_all()?.to_vec1::<u8>()?;
        if let Some(v) = bytes.iter().find(|&&v| v > 1) {
            return Err(PruneError::BadMask {
                name: name.clone(),
                problem: format!("holds {v}; masks hold 0 or 1"),
            });
        }
        owned.push((name.clone(), mask.dims().to_vec(), bytes));
    }
    let views = owned
        .iter()
        .map(|(name, shape, bytes)| {
            Ok((name.as_str(), TensorView::new(Dtype::U8, shape.clone(), bytes).map_err(st)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let buffer = safetensors::serialize(views, Some(metadata)).map_err(st)?;

    p2law_formats::write_atomic(path, &buffer).map_err(io)
}

/// Reads a masks file into CPU `u8` tensors, checking dtypes and values.
pub fn read_masks(path: &Path) -> Result<MaskSet> {
    let bytes = fs::read(path).map_err(|source| PruneError::Io { path: path.to_path_buf(), source })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|source| PruneError::Safetensors { path: path.to_path_buf(), source })?;
    let mut masks = MaskSet::new();
    for (name, view) in file.tensors() {
        let bad = |problem: String| PruneError::BadMask {
            name: format!("{} in {}", name, path.display()),
            problem,
        };
        if !matches!(view.dtype(), Dtype::U8 | Dtype::BOOL) {
            return Err(bad(format!("dtype {:?}, expected U8 or BOOL", view.dtype())));
        }
        if let Some(v) = view.data().iter().find(|&&v| v > 1) {
            return Err(bad(format!("holds {v}; masks hold 0 or 1")));
        }
        let tensor = Tensor::from_vec(view.data().to_vec(), view.shape(), &Device::Cpu)?;
        masks.insert(name, tensor)?;
    }
    Ok(masks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("masks.safetensors");
        let mut masks = MaskSet::new();
        masks.insert("b.weight", Tensor::new(&[[1u8, 0, 0, 1]], &Device::Cpu).unwrap()).unwrap();
        masks.insert("a.weight", Tensor::new(&[[0u8, 1], [1, 1]], &Device::Cpu).unwrap()).unwrap();
        write_masks(&path, &masks).unwrap();
        let bytes = fs::read(&path).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap().get("format").map(String::as_str), Some("pt"));
        let back = read_masks(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.get("a.weight").unwrap().to_vec2::<u8>().unwrap(), vec![vec![0, 1], vec![1, 1]]);
        assert_eq!(back.pruned().unwrap(), 3);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    }

    #[test]
    fn rejects_bad_values_and_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let mut masks = MaskSet::new();
        masks.insert("w", Tensor::new(&[2u8, 0], &Device::Cpu).unwrap()).unwrap();
        assert!(matches!(write_masks(&path, &masks), Err(PruneError::BadMask { .. })));
        let data = [0u8; 8];
        let view = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
        fs::write(&path, safetensors::serialize([("w", view)], None).unwrap()).unwrap();
        assert!(matches!(read_masks(&path), Err(PruneError::BadMask { .. })));
        assert!(matches!(read_masks(&dir.path().join("missing")), Err(PruneError::Io { .. })));
    }
}
