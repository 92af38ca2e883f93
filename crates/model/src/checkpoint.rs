//! Hugging Face model directories in and out.
//!
//! A directory holds `config.json`, the weights as `model.safetensors` or as shards listed in
//! `model.safetensors.index.json` (`{"metadata": {"total_size": bytes}, "weight_map": {tensor: file}}`),
//! and tokenizer files. Weights may be bf16, f16 or f32 on disk and are converted to the dtype asked for.
//! Saving writes the config from the model's own [`Config`] (so it always agrees with the tensor shapes),
//! every file atomically, shards when a size limit is given, and removes weight files of an earlier save
//! that the new one does not use.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::llama::Model;
use crate::safetensors_io;

const SINGLE: &str = "model.safetensors";
const INDEX: &str = "model.safetensors.index.json";

/// Tokenizer and generation files copied from a source model directory, when present.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    "generation_config.json",
];

/// How [`save_hf_dir`] writes weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveOptions {
    /// Stored dtype: `F32`, `BF16` or `F16`.
    pub dtype: DType,
    /// Split into `model-0000i-of-0000n.safetensors` shards of at most this many bytes (a single tensor
    /// larger than the limit gets a shard of its own). `None`: one `model.safetensors`.
    pub max_shard_bytes: Option<usize>,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions { dtype: DType::F32, max_shard_bytes: None }
    }
}

/// The `torch_dtype` string transformers uses for a stored dtype.
pub fn torch_dtype_name(dtype: DType) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok("float32"),
        DType::BF16 => Ok("bfloat16"),
        DType::F16 => Ok("float16"),
        other => Err(ModelError::UnsupportedDtype { name: "(save)".into(), dtype: format!("{other:?}") }),
    }
}

/// A stored/compute dtype from its short or torch name (`f32`/`float32`, `bf16`/`bfloat16`, `f16`/`float16`).
pub fn dtype_from_name(name: &str) -> Option<DType> {
    match name {
        "f32" | "float32" => Some(DType::F32),
        "bf16" | "bfloat16" => Some(DType::BF16),
        "f16" | "float16" => Some(DType::F16),
        _ => None,
    }
}

/// Loads `dir` into a model with parameters in `dtype` on `device`.
pub fn load_hf_dir(dir: &Path, dtype: DType, device: &Device) -> Result<(Config, Model)> {
    let config = Config::from_file(&dir.join("config.json"))?;
    let tensors = read_tensors(dir, Some(dtype), device)?;
    let model = Model::from_tensors(&config, tensors, dtype, device)?;
    Ok((config, model))
}

/// The weight files of `dir`: `model.safetensors`, or the shards its index lists, in order.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(SINGLE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(INDEX);
    if !index.is_file() {
        return Err(ModelError::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {SINGLE} or {INDEX} in this directory"),
            ),
        ));
    }
    let mut files: Vec<PathBuf> = read_index(&index)?.into_values().map(|f| dir.join(f)).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// All tensors of `dir` by name, in their stored dtype. For a sharded directory, every tensor the index
/// lists must be in the shard it names.
pub fn load_tensors(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    read_tensors(dir, None, device)
}

/// [`load_tensors`], each tensor converted to `dtype` (if given) as it is read, so a model loaded in a
/// narrower dtype than its files never holds the whole file's tensors at once.
fn read_tensors(dir: &Path, dtype: Option<DType>, device: &Device) -> Result<HashMap<String, Tensor>> {
    let index = dir.join(INDEX);
    if dir.join(SINGLE).is_file() || !index.is_file() {
        let files = weight_files(dir)?;
        return safetensors_io::read(&files[0], dtype, device);
    }
    let weight_map = read_index(&index)?;
    let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, file) in &weight_map {
        by_file.entry(file.as_str()).or_default().push(name.as_str());
    }
    let mut out = HashMap::new();
    for (file, names) in by_file {
        let mut shard = safetensors_io::read(&dir.join(file), dtype, device)?;
        for name in names {
            let t = shard.remove(name).ok_or_else(|| ModelError::Index {
                path: index.clone(),
                problem: format!("tensor {name} is mapped to {file} but that shard does not contain it"),
            })?;
            out.insert(name.to_string(), t);
        }
    }
    Ok(out)
}

/// Tensor names and shapes of `dir`'s weight files, from the headers only (no data read).
pub fn tensor_shapes(dir: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    let mut out = Vec::new();
    for file in weight_files(dir)? {
        out.extend(safetensors_io::read_shapes(&file)?);
    }
    out.sort();
    Ok(out)
}

fn read_index(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|source| ModelError::Json { path: path.to_path_buf(), source })?;
    let map = value.get("weight_map").and_then(Value::as_object).ok_or_else(|| ModelError::Index {
        path: path.to_path_buf(),
        problem: "no \"weight_map\" object".into(),
    })?;
    map.iter()
        .map(|(name, file)| match file.as_str() {
            Some(f) if !f.contains('/') && !f.contains("..") => Ok((name.clone(), f.to_string())),
            _ => Err(ModelError::Index {
                path: path.to_path_buf(),
                problem: format!("tensor {name}: shard name {file} is not a plain file name"),
            }),
        })
        .collect()
}

/// Saves `model` to `dir` (created if needed): config, weights (single file or shards). Tokenizer files
/// are not touched; see [`copy_tokenizer_files`].
pub fn save_hf_dir(model: &Model, dir: &Path, options: &SaveOptions) -> Result<()> {
    let torch_dtype = torch_dtype_name(options.dtype)?;
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tensors = model.named_tensors();
    let shards = plan_shards(&tensors, options);
    let mut written: Vec<String> = Vec::new();
    if shards.len() == 1 {
        safetensors_io::write(&dir.join(SINGLE), &tensors, options.dtype)?;
        written.push(SINGLE.into());
    } else {
        let n = shards.len();
        let mut weight_map = BTreeMap::new();
        let mut start = 0;
        for (i, len) in shards.iter().enumerate() {
            let file = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
            let part = &tensors[start..start + len];
            safetensors_io::write(&dir.join(&file), part, options.dtype)?;
            weight_map.extend(part.iter().map(|(name, _)| (name.clone(), file.clone())));
            written.push(file);
            start += len;
        }
        let total: usize = tensors.iter().map(|(_, t)| safetensors_io::stored_size(t, options.dtype)).sum();
        let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        write_json(&dir.join(INDEX), &index)?;
        written.push(INDEX.into());
    }
    write_json(&dir.join("config.json"), &model.config().to_hf_json(torch_dtype))?;
    remove_stale_weights(dir, &written)
}

/// Shard sizes (numbers of consecutive tensors), greedily filling each shard up to the byte limit.
fn plan_shards(tensors: &[(String, Tensor)], options: &SaveOptions) -> Vec<usize> {
    let Some(limit) = options.max_shard_bytes else { return vec![tensors.len()] };
    let mut shards = vec![0usize];
    let mut bytes = 0usize;
    for (_, t) in tensors {
        let size = safetensors_io::stored_size(t, options.dtype);
        let last = shards.last_mut().expect("starts non-empty");
        if *last > 0 && bytes + size > limit {
            shards.push(1);
            bytes = size;
        } else {
            *last += 1;
            bytes += size;
        }
    }
    shards
}

/// Weight files from an earlier save that this one replaced (a loader would otherwise prefer a stale
/// `model.safetensors` over a new index).
fn remove_stale_weights(dir: &Path, written: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ModelError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_weights = name.starts_with("model") && (name.ends_with(".safetensors") || name == INDEX);
        if is_weights && !written.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| ModelError::io(entry.path(), e))?;
        }
    }
    Ok(())
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    safetensors_io::write_atomic(path, text.as_bytes())
}

/// Copies the [`TOKENIZER_FILES`] present in `src` to `dst`; returns the names copied.
pub fn copy_tokenizer_files(src: &Path, dst: &Path) -> Result<Vec<String>> {
    let mut copied = Vec::new();
    for name in TOKENIZER_FILES {
        let from = src.join(name);
        if from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| ModelError::io(&from, e))?;
            safetensors_io::write_atomic(&dst.join(name), &bytes)?;
            copied.push(name.to_string());
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_respect_the_limit_and_keep_order() {
        let t = |n: usize| ("x".to_string(), Tensor::zeros(n, DType::F32, &Device::Cpu).unwrap());
        let tensors = vec![t(10), t(10), t(30), t(5)];
        let opts = SaveOptions { dtype: DType::F32, max_shard_bytes: Some(80) };
        assert_eq!(plan_shards(&tensors, &opts), vec![2, 1, 1]);
        assert_eq!(plan_shards(&tensors, &SaveOptions::default()), vec![4]);
    }
}
