//! One `.safetensors` file ↔ named candle tensors, with the `{"format":"pt"}` metadata transformers expects.
//!
//! Reading memory-maps the file and copies each tensor out (bf16, f16 and f32 only); a truncated or corrupt
//! file is an error naming it. Writing is atomic ([`p2law_formats::atomic`]): a temporary file in the same
//! directory, fsynced and then renamed, so a crash never leaves half a checkpoint under the real name.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use half::{bf16, f16};
use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::error::{ModelError, Result};

/// Tensor names and shapes from the header, without reading the data.
pub(crate) fn read_shapes(path: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    shapes_of(&map(path)?, path)
}

/// [`read_shapes`] of a file's bytes; `path` names it in errors.
pub(crate) fn shapes_of(bytes: &[u8], path: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad_file(path, e))?;
    Ok(st.tensors().into_iter().map(|(name, view)| (name, view.shape().to_vec())).collect())
}

/// All tensors of `path`, on `device`, in their stored dtype, or converted to `dtype` one by one as they
/// are read. Each tensor's pages of the mapped file are released once it is copied out, so the peak is the
/// tensors plus one tensor's bytes, not twice the file (measured on Qwen2.5-0.5B in f32:
/// bench/eval_vs_transformers/README.md); an f32 file read as bf16 peaks at half its size, not 1.5 times.
pub(crate) fn read(path: &Path, dtype: Option<DType>, device: &Device) -> Result<HashMap<String, Tensor>> {
    let map = map(path)?;
    tensors_from(&map, path, dtype, device, |data| release(&map, data))
}

/// [`read`] of a file's bytes; `path` names it in errors.
#[cfg(test)]
pub(crate) fn tensors_of(bytes: &[u8], path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    tensors_from(bytes, path, None, device, |_| ())
}

/// The tensors of a file's bytes (converted to `dtype` if given); `copied(data)` sees each tensor's bytes
/// once they are copied out.
fn tensors_from(
    bytes: &[u8],
    path: &Path,
    dtype: Option<DType>,
    device: &Device,
    mut copied: impl FnMut(&[u8]),
) -> Result<HashMap<String, Tensor>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad_file(path, e))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let bytes = view.data();
        let shape = view.shape().to_vec();
        let t = match view.dtype() {
            Dtype::F32 => Tensor::from_vec(le::<4, f32>(bytes, f32::from_le_bytes), shape, device)?,
            Dtype::BF16 => Tensor::from_vec(le::<2, bf16>(bytes, bf16::from_le_bytes), shape, device)?,
            Dtype::F16 => Tensor::from_vec(le::<2, f16>(bytes, f16::from_le_bytes), shape, device)?,
            other => return Err(ModelError::UnsupportedDtype { name, dtype: format!("{other:?}") }),
        };
        let t = match dtype {
            Some(dtype) if dtype != t.dtype() => t.to_dtype(dtype)?,
            _ => t,
        };
        copied(bytes);
        out.insert(name, t);
    }
    Ok(out)
}

/// Drops the pages of `data`, a slice of `map`, from this process's memory (not from the page cache).
#[cfg(unix)]
fn release(map: &memmap2::Mmap, data: &[u8]) {
    let offset = data.as_ptr() as usize - map.as_ptr() as usize;
    // SAFETY: the map is private and read-only and nothing writes the file under it (see `map`), so a
    // released page that is touched again is read back from the file with the same bytes. Failure only
    // means the pages stay resident until the map is dropped.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, data.len()) };
}

#[cfg(not(unix))]
fn release(_: &memmap2::Mmap, _: &[u8]) {}

fn le<const N: usize, T>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|c| from(c.try_into().expect("chunks_exact gives N bytes"))).collect()
}

fn map(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    // SAFETY: the map is read-only and dropped before this crate writes any file; a concurrent writer would
    // rename a new file into place rather than modify this one (our writes are atomic).
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))
}

fn bad_file(path: &Path, e: safetensors::SafeTensorError) -> ModelError {
    ModelError::Safetensors { path: path.to_path_buf(), problem: e.to_string() }
}

/// A tensor's bytes ready for `safetensors` (already on the CPU and in the stored dtype).
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data).into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_bytes(t: &Tensor, dtype: DType) -> Result<Bytes> {
    let flat = t.to_device(&Device::Cpu)?.to_dtype(dtype)?.flatten_all()?;
    let (st_dtype, data) = match dtype {
        DType::F32 => (Dtype::F32, flat.to_vec1::<f32>()?.iter().flat_map(|x| x.to_le_bytes()).collect()),
        DType::BF16 => (Dtype::BF16, flat.to_vec1::<bf16>()?.iter().flat_map(|x| x.to_le_bytes()).collect()),
        DType::F16 => (Dtype::F16, flat.to_vec1::<f16>()?.iter().flat_map(|x| x.to_le_bytes()).collect()),
        other => {
            return Err(ModelError::UnsupportedDtype { name: "(save)".into(), dtype: format!("{other:?}") });
        }
    };
    Ok(Bytes { dtype: st_dtype, shape: t.dims().to_vec(), data })
}

/// Bytes a tensor takes on disk in `dtype`.
pub(crate) fn stored_size(t: &Tensor, dtype: DType) -> usize {
    t.elem_count() * dtype.size_in_bytes()
}

/// Writes `tensors` to `path` atomically in `dtype`, with `{"format": "pt"}` metadata.
pub(crate) fn write(path: &Path, tensors: &[(String, Tensor)], dtype: DType) -> Result<()> {
    let bytes: Vec<(String, Bytes)> =
        tensors.iter().map(|(n, t)| Ok((n.clone(), to_bytes(t, dtype)?))).collect::<Result<_>>()?;
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    p2law_formats::write_atomic_with(
        path,
        |tmp| {
            safetensors::serialize_to_file(bytes.iter().map(|(n, b)| (n.as_str(), b)), metadata, tmp).map_err(
                |e| match e {
                    // A write failure (a full disk) names the file being written, not a corrupt one.
                    safetensors::SafeTensorError::IoError(io) => ModelError::io(path, io),
                    other => ModelError::Safetensors { path: path.to_path_buf(), problem: other.to_string() },
                },
            )
        },
        |e| ModelError::io(path, e),
    )
}

/// Writes `bytes` to `path` atomically; an error names `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    p2law_formats::write_atomic(path, bytes).map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_dtype_with_pt_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::new(&[[1.5f32, -2.25], [0.125, 3.0]], &Device::Cpu).unwrap();
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let path = dir.path().join("m.safetensors");
            write(&path, &[("w".into(), t.clone())], dtype).unwrap();
            let back = read(&path, None, &Device::Cpu).unwrap().remove("w").unwrap();
            assert_eq!(back.dtype(), dtype);
            // Read as another dtype: converted on the way in, the same values as converting afterwards.
            for target in [DType::F32, DType::BF16] {
                let as_target = read(&path, Some(target), &Device::Cpu).unwrap().remove("w").unwrap();
                assert_eq!(as_target.dtype(), target);
                let expected = back.to_dtype(target).unwrap().to_dtype(DType::F32).unwrap();
                assert_eq!(
                    as_target.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap(),
                    expected.to_vec2::<f32>().unwrap()
                );
            }
            assert_eq!(
                back.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap(),
                t.to_vec2::<f32>().unwrap()
            );
            let bytes = std::fs::read(&path).unwrap();
            let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
            assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn truncated_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let t = Tensor::zeros((4, 4), DType::F32, &Device::Cpu).unwrap();
        write(&path, &[("w".into(), t)], DType::F32).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
        let err = read(&path, None, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("m.safetensors") && err.contains("truncated"), "{err}");
    }
}
