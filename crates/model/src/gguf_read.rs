//! A checked reader for the GGUF header (metadata and tensor table), producing candle's [`Content`].
//!
//! candle's own `Content::read` trusts several header fields: `general.alignment = 0` divides by zero, and
//! tensor dimensions are multiplied without overflow checks. This reader parses the same format itself and
//! rejects, with a message naming the field, everything that would make a later step panic, overflow or
//! allocate without bound:
//!
//! - magic `GGUF`, versions 1–3; counts and lengths that cannot fit in the rest of the file;
//! - metadata: strings up to 1 GiB, at most [`MAX_METADATA_VALUES`] values in all (arrays included), arrays
//!   nested at most [`MAX_NESTING`] deep; `general.alignment` a non-zero power of two;
//! - tensors: unique names, 1 to 4 dimensions, each non-zero, at most [`MAX_TENSOR_ELEMENTS`] elements
//!   (checked multiplication), a tensor type candle can dequantize, the innermost dimension a multiple of
//!   the type's block, and the data inside the file.
//!
//! Once a header has passed, candle's `Content::tensor` reads each tensor without any of these hazards.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value, VersionedMagic};
use candle_core::quantized::GgmlDType;

/// Most elements one tensor may have (2^40, the model size limit of [`crate::config::MAX_PARAMS`]).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 40;
/// Most metadata values (array elements included) in one file: 16 M, far above a 150k-token vocabulary
/// with its merges, and a bound on the memory a header can make us allocate.
pub const MAX_METADATA_VALUES: u64 = 1 << 24;
/// Deepest nesting of metadata arrays.
pub const MAX_NESTING: usize = 8;
/// Longest string (key, value or tensor name).
const MAX_STRING: u64 = 1 << 30;
/// Alignment of the tensor data when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Reads and checks the header of a GGUF stream (positioned at its start).
pub(crate) fn read_content<R: Read + Seek>(reader: &mut R) -> Result<Content, String> {
    let file_size = reader.seek(SeekFrom::End(0)).map_err(|e| format!("reading: {e}"))?;
    reader.seek(SeekFrom::Start(0)).map_err(|e| format!("reading: {e}"))?;
    let mut r = Reader { inner: reader, pos: 0, file_size, values: 0, magic: VersionedMagic::GgufV3 };
    let magic = r.bytes::<4>("magic")?;
    if &magic != b"GGUF" {
        return Err(format!("not a GGUF file (starts with {magic:02x?}, expected \"GGUF\")"));
    }
    r.magic = match r.u32("version")? {
        1 => VersionedMagic::GgufV1,
        2 => VersionedMagic::GgufV2,
        3 => VersionedMagic::GgufV3,
        v => return Err(format!("GGUF version {v} unsupported (1 to 3 are)")),
    };
    let tensor_count = r.length("tensor count")?;
    let kv_count = r.length("metadata count")?;
    // Each metadata entry takes at least 13 bytes (key length, type, one byte) and each tensor entry 24
    // (name length, dimension count, type, offset): counts that cannot fit are rejected before any loop.
    let needed = kv_count.saturating_mul(13).saturating_add(tensor_count.saturating_mul(24));
    if needed > r.remaining() {
        return Err(format!(
            "header declares {tensor_count} tensors and {kv_count} metadata entries, more than the {} bytes \
             left in the file can hold",
            r.remaining()
        ));
    }

    let mut metadata = HashMap::new();
    for _ in 0..kv_count {
        let key = r.string("metadata key")?;
        let value_type = r.u32(&key)?;
        let value = r.value(&key, value_type, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(format!("metadata {key}: appears twice"));
        }
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match integer(v) {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            Some(a) => {
                return Err(format!("metadata general.alignment = {a}: must be a non-zero power of two"))
            }
            None => return Err(format!("metadata general.alignment: expected an integer, found {v:?}")),
        },
    };

    let mut infos: Vec<(String, Vec<usize>, GgmlDType, u64, u64)> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for _ in 0..tensor_count {
        let name = r.string("tensor name")?;
        if !names.insert(name.clone()) {
            return Err(format!("tensor {name}: appears twice"));
        }
        let n_dims = r.u32(&name)?;
        if !(1..=4).contains(&n_dims) {
            return Err(format!("tensor {name}: {n_dims} dimensions (1 to 4 are allowed)"));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(match r.magic {
                VersionedMagic::GgufV1 => u64::from(r.u32(&name)?),
                _ => r.u64(&name)?,
            });
        }
        let elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        match elements {
            _ if dims.contains(&0) => return Err(format!("tensor {name}: a dimension is 0 ({dims:?})")),
            Some(n) if n <= MAX_TENSOR_ELEMENTS => {}
            _ => {
                return Err(format!(
                    "tensor {name}: dimensions {dims:?} hold more than 2^40 ({MAX_TENSOR_ELEMENTS}) elements"
                ))
            }
        }
        let code = r.u32(&name)?;
        let dtype = ggml_dtype(code).ok_or_else(|| {
            format!("tensor {name}: tensor type {code} is not supported (F32, F16, BF16, Q4_0 … Q8_0, Q2_K … Q6_K)")
        })?;
        let block = dtype.block_size() as u64;
        // GGUF lists the innermost dimension first; it holds whole blocks.
        if !dims[0].is_multiple_of(block) {
            return Err(format!(
                "tensor {name}: innermost dimension {} is not a multiple of {dtype:?}'s block of {block}",
                dims[0]
            ));
        }
        let elements = elements.expect("checked above");
        let bytes = elements / block * dtype.type_size() as u64;
        let offset = r.u64(&name)?;
        if !offset.is_multiple_of(alignment) {
            return Err(format!(
                "tensor {name}: data offset {offset} is not a multiple of the alignment {alignment}"
            ));
        }
        dims.reverse();
        let dims = dims.into_iter().map(|d| d as usize).collect();
        infos.push((name, dims, dtype, offset, bytes));
    }
    let data_start = r.pos.div_ceil(alignment).checked_mul(alignment).filter(|&s| s <= file_size);
    let Some(data_start) = data_start else {
        return Err("the tensor data section starts past the end of the file (truncated?)".into());
    };
    let data_size = file_size - data_start;
    let mut tensor_infos = HashMap::new();
    for (name, dims, dtype, offset, bytes) in infos {
        if offset.checked_add(bytes).is_none_or(|end| end > data_size) {
            return Err(format!(
                "tensor {name}: {bytes} bytes at data offset {offset}, but the data section holds {data_size} \
                 (truncated?)"
            ));
        }
        tensor_infos.insert(name, TensorInfo { ggml_dtype: dtype, shape: dims.into(), offset });
    }
    Ok(Content { magic: r.magic, metadata, tensor_infos, tensor_data_offset: data_start })
}

/// An integer metadata value (any width, non-negative).
fn integer(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// The tensor types candle can read and dequantize, by their GGML code.
fn ggml_dtype(code: u32) -> Option<GgmlDType> {
    Some(match code {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// A little-endian reader that knows how many bytes are left and how many values it has produced.
struct Reader<'a, R> {
    inner: &'a mut R,
    pos: u64,
    file_size: u64,
    values: u64,
    magic: VersionedMagic,
}

impl<R: Read> Reader<'_, R> {
    fn remaining(&self) -> u64 {
        self.file_size.saturating_sub(self.pos)
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => format!("{what}: the file ends early (truncated?)"),
            _ => format!("{what}: {e}"),
        })?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    /// A count or string length: u32 in version 1, u64 after.
    fn length(&mut self, what: &str) -> Result<u64, String> {
        match self.magic {
            VersionedMagic::GgufV1 => self.u32(what).map(u64::from),
            _ => self.u64(what),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let len = self.length(what)?;
        if len > MAX_STRING || len > self.remaining() {
            return Err(format!("{what}: string of {len} bytes, more than the file holds (truncated?)"));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| format!("{what}: {e}"))?;
        self.pos += len;
        // Strings should not be NUL-terminated, but some writers do it; GGUF strings are UTF-8, with
        // rare exceptions in token lists, which are kept lossily as candle does.
        while buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn count_value(&mut self, key: &str, n: u64) -> Result<(), String> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_METADATA_VALUES {
            return Err(format!("metadata {key}: more than {MAX_METADATA_VALUES} values in all"));
        }
        Ok(())
    }

    fn value(&mut self, key: &str, value_type: u32, depth: usize) -> Result<Value, String> {
        self.count_value(key, 1)?;
        Ok(match value_type {
            0 => Value::U8(self.bytes::<1>(key)?[0]),
            1 => Value::I8(self.bytes::<1>(key)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.bytes(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.bytes(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(self.u32(key)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(key)?)),
            7 => match self.bytes::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("metadata {key}: boolean byte {b} (0 or 1 expected)")),
            },
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(format!("metadata {key}: arrays nested more than {MAX_NESTING} deep"));
                }
                let item_type = self.u32(key)?;
                let len = self.length(key)?;
                // Every element takes at least one byte.
                if len > self.remaining() {
                    return Err(format!("metadata {key}: array of {len} elements, more than the file holds"));
                }
                self.count_value(key, len)?;
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(key, item_type, depth + 1)?);
                }
                // Each element was counted twice (by the array and by itself).
                self.values -= len;
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(self.u64(key)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(key)?)),
            t => return Err(format!("metadata {key}: unknown value type {t}")),
        })
    }
}

/// GGUF files for tests: a header writer with full control over every field (including invalid ones).
#[cfg(test)]
pub(crate) mod build {
    /// One metadata value as written: type code and payload bytes.
    pub(crate) struct Meta(pub u32, pub Vec<u8>);

    pub(crate) fn string_bytes(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(s.as_bytes());
        out
    }

    pub(crate) fn u32v(x: u32) -> Meta {
        Meta(4, x.to_le_bytes().to_vec())
    }

    pub(crate) fn f32v(x: f32) -> Meta {
        Meta(6, x.to_le_bytes().to_vec())
    }

    pub(crate) fn strv(s: &str) -> Meta {
        Meta(8, string_bytes(s))
    }

    pub(crate) fn str_array(items: &[&str]) -> Meta {
        let mut b = 8u32.to_le_bytes().to_vec();
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            b.extend(string_bytes(s));
        }
        Meta(9, b)
    }

    /// A tensor entry: name, GGUF-order dims (innermost first), type code, and its f32 data (type 0) or raw
    /// bytes.
    pub(crate) struct T {
        pub name: String,
        pub dims: Vec<u64>,
        pub dtype: u32,
        pub data: Vec<u8>,
    }

    pub(crate) fn f32_tensor(name: &str, dims: &[u64], seed: u32) -> T {
        let n: u64 = dims.iter().product();
        let data = (0..n)
            .flat_map(|i| {
                (((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32 - 0.5).to_le_bytes()
            })
            .collect();
        T { name: name.into(), dims: dims.to_vec(), dtype: 0, data }
    }

    /// A Q8_0 tensor (blocks of 32: an f16 scale of 1/64, then 32 signed bytes).
    pub(crate) fn q8_tensor(name: &str, dims: &[u64], seed: u8) -> T {
        let n: u64 = dims.iter().product();
        let mut data = Vec::new();
        for b in 0..n / 32 {
            data.extend_from_slice(&0x2400u16.to_le_bytes());
            data.extend((0..32u64).map(|i| ((b * 32 + i) as u8).wrapping_mul(37).wrapping_add(seed) >> 2));
        }
        T { name: name.into(), dims: dims.to_vec(), dtype: 8, data }
    }

    /// A version-3 GGUF with alignment 32.
    pub(crate) fn gguf(meta: &[(&str, Meta)], tensors: &[T]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        for (k, Meta(t, v)) in meta {
            b.extend(string_bytes(k));
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(v);
        }
        let mut offset = 0u64;
        for t in tensors {
            b.extend(string_bytes(&t.name));
            b.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.dtype.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            offset += (t.data.len() as u64).div_ceil(32) * 32;
        }
        b.resize(b.len().div_ceil(32) * 32, 0);
        for t in tensors {
            b.extend_from_slice(&t.data);
            b.resize(b.len().div_ceil(32) * 32, 0);
        }
        b
    }

    /// A complete tiny Llama GGUF (hidden 8, 2 heads, 1 KV head, ffn 16, 1 layer, vocab of 8 byte tokens
    /// with one merge) that converts.
    pub(crate) fn tiny_llama() -> Vec<u8> {
        let tokens = ["a", "b", "c", "ab", "Ġ", "d", "e", "f"];
        let meta = [
            ("general.architecture", strv("llama")),
            ("llama.embedding_length", u32v(8)),
            ("llama.attention.head_count", u32v(2)),
            ("llama.attention.head_count_kv", u32v(1)),
            ("llama.feed_forward_length", u32v(16)),
            ("llama.block_count", u32v(1)),
            ("llama.context_length", u32v(32)),
            ("llama.attention.layer_norm_rms_epsilon", f32v(1e-5)),
            ("tokenizer.ggml.model", strv("gpt2")),
            ("tokenizer.ggml.tokens", str_array(&tokens)),
            ("tokenizer.ggml.merges", str_array(&["a b"])),
            ("tokenizer.ggml.eos_token_id", u32v(7)),
        ];
        let tensors = vec![
            f32_tensor("token_embd.weight", &[8, 8], 1),
            f32_tensor("output_norm.weight", &[8], 2),
            f32_tensor("blk.0.attn_norm.weight", &[8], 3),
            f32_tensor("blk.0.attn_q.weight", &[8, 8], 4),
            f32_tensor("blk.0.attn_k.weight", &[8, 4], 5),
            f32_tensor("blk.0.attn_v.weight", &[8, 4], 6),
            f32_tensor("blk.0.attn_output.weight", &[8, 8], 7),
            f32_tensor("blk.0.ffn_norm.weight", &[8], 8),
            f32_tensor("blk.0.ffn_gate.weight", &[8, 16], 9),
            f32_tensor("blk.0.ffn_up.weight", &[8, 16], 10),
            f32_tensor("blk.0.ffn_down.weight", &[16, 8], 11),
        ];
        gguf(&meta, &tensors)
    }

    /// A tiny Qwen2 GGUF (hidden 32, 2 heads of 16, 1 KV head, q/k/v biases) with Q8_0 matrices.
    pub(crate) fn tiny_qwen2_q8() -> Vec<u8> {
        let tokens = ["a", "b", "c", "ab", "Ġ", "1", "2", "<|end|>"];
        let meta = [
            ("general.architecture", strv("qwen2")),
            ("general.alignment", u32v(32)),
            ("qwen2.embedding_length", u32v(32)),
            ("qwen2.attention.head_count", u32v(2)),
            ("qwen2.attention.head_count_kv", u32v(1)),
            ("qwen2.feed_forward_length", u32v(32)),
            ("qwen2.block_count", u32v(1)),
            ("qwen2.context_length", u32v(64)),
            ("qwen2.rope.freq_base", f32v(1e6)),
            ("qwen2.attention.layer_norm_rms_epsilon", f32v(1e-6)),
            ("tokenizer.ggml.model", strv("gpt2")),
            ("tokenizer.ggml.pre", strv("qwen2")),
            ("tokenizer.ggml.tokens", str_array(&tokens)),
            ("tokenizer.ggml.merges", str_array(&["a b"])),
            (
                "tokenizer.ggml.token_type",
                Meta(9, {
                    let mut b = 5u32.to_le_bytes().to_vec();
                    b.extend_from_slice(&8u64.to_le_bytes());
                    for t in [1i32, 1, 1, 1, 1, 1, 1, 3] {
                        b.extend_from_slice(&t.to_le_bytes());
                    }
                    b
                }),
            ),
            ("tokenizer.ggml.eos_token_id", u32v(7)),
        ];
        let tensors = vec![
            q8_tensor("token_embd.weight", &[32, 8], 1),
            f32_tensor("output_norm.weight", &[32], 2),
            f32_tensor("blk.0.attn_norm.weight", &[32], 3),
            q8_tensor("blk.0.attn_q.weight", &[32, 32], 4),
            f32_tensor("blk.0.attn_q.bias", &[32], 5),
            q8_tensor("blk.0.attn_k.weight", &[32, 16], 6),
            f32_tensor("blk.0.attn_k.bias", &[16], 7),
            q8_tensor("blk.0.attn_v.weight", &[32, 16], 8),
            f32_tensor("blk.0.attn_v.bias", &[16], 9),
            q8_tensor("blk.0.attn_output.weight", &[32, 32], 10),
            f32_tensor("blk.0.ffn_norm.weight", &[32], 11),
            q8_tensor("blk.0.ffn_gate.weight", &[32, 32], 12),
            q8_tensor("blk.0.ffn_up.weight", &[32, 32], 13),
            q8_tensor("blk.0.ffn_down.weight", &[32, 32], 14),
        ];
        gguf(&meta, &tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn read(bytes: &[u8]) -> Result<Content, String> {
        read_content(&mut std::io::Cursor::new(bytes))
    }

    #[test]
    fn reads_what_candle_reads() {
        let bytes = tiny_llama();
        let ours = read(&bytes).unwrap();
        let theirs = Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(ours.tensor_data_offset, theirs.tensor_data_offset);
        assert_eq!(ours.metadata.len(), theirs.metadata.len());
        for (name, info) in &theirs.tensor_infos {
            let mine = &ours.tensor_infos[name];
            assert_eq!(
                (mine.shape.dims(), mine.offset, mine.ggml_dtype),
                (info.shape.dims(), info.offset, info.ggml_dtype)
            );
        }
    }

    #[test]
    fn zero_alignment_is_an_error_not_a_division_by_zero() {
        let bytes = gguf(&[("general.alignment", u32v(0))], &[f32_tensor("x", &[4], 0)]);
        let err = read(&bytes).unwrap_err();
        assert!(err.contains("general.alignment = 0") && err.contains("power of two"), "{err}");
        let bytes = gguf(&[("general.alignment", u32v(24))], &[]);
        assert!(read(&bytes).unwrap_err().contains("power of two"));
    }

    #[test]
    fn huge_or_empty_dimensions_are_errors() {
        let mut t = f32_tensor("token_embd.weight", &[4], 0);
        t.dims = vec![1 << 40, 1 << 40];
        let err = read(&gguf(&[], &[t])).unwrap_err();
        assert!(err.contains("token_embd.weight") && err.contains("2^40"), "{err}");
        let mut t = f32_tensor("token_embd.weight", &[4], 0);
        t.dims = vec![];
        let err = read(&gguf(&[], &[t])).unwrap_err();
        assert!(err.contains("token_embd.weight") && err.contains("0 dimensions"), "{err}");
        let mut t = f32_tensor("w", &[4], 0);
        t.dims = vec![4, 0];
        assert!(read(&gguf(&[], &[t])).unwrap_err().contains("is 0"));
    }

    #[test]
    fn data_past_the_end_and_truncation_are_errors() {
        let bytes = tiny_llama();
        let err = read(&bytes[..bytes.len() - 40]).unwrap_err();
        assert!(err.contains("blk.") && err.contains("truncated"), "{err}");
        for cut in [3, 20, 100, 400] {
            assert!(read(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn absurd_counts_and_unknown_types_are_errors() {
        let mut bytes = tiny_llama();
        bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read(&bytes).unwrap_err().contains("more than the"));
        let mut t = f32_tensor("w", &[4], 0);
        t.dtype = 9; // Q8_1: candle cannot dequantize it
        assert!(read(&gguf(&[], &[t])).unwrap_err().contains("not supported"));
    }
}
