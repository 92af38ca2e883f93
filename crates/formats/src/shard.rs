//! Token shards: one flat file of token ids per split, memory-mapped for reading.
//!
//! Layout (all integers little-endian):
//!
//! | bytes    | field                                                      |
//! |----------|------------------------------------------------------------|
//! | 0..8     | magic `P2LWTOKS`                                           |
//! | 8..12    | format version, u32 = 1                                    |
//! | 12..16   | bytes per token, u32: 2 (u16 ids) or 4 (u32 ids)           |
//! | 16..24   | tokens, u64                                                |
//! | 24..32   | documents, u64                                             |
//! | 32..36   | vocabulary size, u32                                       |
//! | 36..40   | end-of-text id, u32 (follows every document)               |
//! | 40..72   | sha256 of the tokenizer JSON, 32 raw bytes                 |
//! | 72..128  | zero                                                       |
//! | 128..    | `tokens` ids, `bytes per token` each                       |
//!
//! u16 is used when every id fits (vocabulary ≤ 65 536), halving the file and the page cache it takes.
//! Written by the data pipeline (`p2law-data`, which re-exports this module as `p2law_data::shard`), read
//! by training and by pruning's calibration and held-out slices. Errors name the file ([`ShardError`]).
//!
//! ```
//! use p2law_formats::shard::{write_shard, ShardMeta, ShardReader};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("s.bin");
//! let meta = ShardMeta { vocab_size: 50, eos_id: 0, tokenizer_sha256: [0; 32] };
//! write_shard(&path, &meta, &[vec![5, 6, 7], vec![8]]).unwrap();
//! let r = ShardReader::open(&path).unwrap();
//! assert_eq!((r.len(), r.header().documents), (6, 2)); // 4 tokens + 2 end-of-text
//! assert_eq!(r.window(1, 3).unwrap(), vec![6, 7, 0]);
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::AtomicFile;

pub const MAGIC: &[u8; 8] = b"P2LWTOKS";
pub const VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 128;

/// Why a shard could not be written or read; both variants name the file.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    // The cause is part of the message (not a `#[source]`), so `{:#}` chains do not print it twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// Not a shard, a version or layout this build does not read, a truncated file, an id or window out of
    /// range.
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

/// Shorthand for the module's results.
pub type Result<T, E = ShardError> = std::result::Result<T, E>;

impl ShardError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShardError + '_ {
        move |error| ShardError::Io { path: path.to_path_buf(), error }
    }
}

/// What a shard records about its tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMeta {
    pub vocab_size: u32,
    pub eos_id: u32,
    pub tokenizer_sha256: [u8; 32],
}

/// A shard's parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardHeader {
    /// 2 or 4.
    pub bytes_per_token: u32,
    pub tokens: u64,
    pub documents: u64,
    pub meta: ShardMeta,
}

impl ShardHeader {
    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.bytes_per_token.to_le_bytes());
        h[16..24].copy_from_slice(&self.tokens.to_le_bytes());
        h[24..32].copy_from_slice(&self.documents.to_le_bytes());
        h[32..36].copy_from_slice(&self.meta.vocab_size.to_le_bytes());
        h[36..40].copy_from_slice(&self.meta.eos_id.to_le_bytes());
        h[40..72].copy_from_slice(&self.meta.tokenizer_sha256);
        h
    }

    fn decode(path: &Path, h: &[u8]) -> Result<ShardHeader> {
        let bad = |problem: String| ShardError::Invalid { path: path.to_path_buf(), problem };
        if h.len() < HEADER_BYTES || &h[0..8] != MAGIC {
            return Err(
                bad("not a p2law token shard (bad magic); rebuild it with `p2law data build`".into()),
            );
        }
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!("shard format version {version}; this build reads version {VERSION}")));
        }
        let bytes_per_token = u32_at(12);
        if bytes_per_token != 2 && bytes_per_token != 4 {
            return Err(bad(format!("bytes per token is {bytes_per_token}; expected 2 or 4")));
        }
        Ok(ShardHeader {
            bytes_per_token,
            tokens: u64_at(16),
            documents: u64_at(24),
            meta: ShardMeta {
                vocab_size: u32_at(32),
                eos_id: u32_at(36),
                tokenizer_sha256: h[40..72].try_into().expect("32 bytes"),
            },
        })
    }
}

/// 2 when every id below `vocab_size` fits in a u16, else 4.
pub fn bytes_per_token(vocab_size: u32) -> u32 {
    if vocab_size <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Writes documents (each followed by `meta.eos_id`) as one shard, atomically (its folder is created if
/// needed). Returns its header.
pub fn write_shard(path: &Path, meta: &ShardMeta, docs: &[Vec<u32>]) -> Result<ShardHeader> {
    let bpt = bytes_per_token(meta.vocab_size);
    let tokens = docs.iter().map(|d| d.len() as u64 + 1).sum();
    let header = ShardHeader { bytes_per_token: bpt, tokens, documents: docs.len() as u64, meta: *meta };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(ShardError::io(dir))?;
    }
    let mut out = AtomicFile::create(path).map_err(ShardError::io(path))?;
    let io = ShardError::io(path);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut result = out.write_all(&header.encode());
    for doc in docs {
        if result.is_err() {
            break;
        }
        buf.clear();
        for &id in doc.iter().chain(std::iter::once(&meta.eos_id)) {
            if id >= meta.vocab_size {
                return Err(ShardError::Invalid {
                    path: path.to_path_buf(),
                    problem: format!("token id {id} is outside the vocabulary of {}", meta.vocab_size),
                });
            }
            match bpt {
                2 => buf.extend_from_slice(&(id as u16).to_le_bytes()),
                _ => buf.extend_from_slice(&id.to_le_bytes()),
            }
        }
        result = out.write_all(&buf);
    }
    result.map_err(io)?;
    out.commit().map_err(ShardError::io(path))?;
    Ok(header)
}

/// A shard opened read-only and memory-mapped; cheap to open, shareable across threads.
#[derive(Debug)]
pub struct ShardReader {
    path: PathBuf,
    header: ShardHeader,
    map: Mmap,
}

impl ShardReader {
    /// Opens and validates a shard (magic, version, dtype, and that the size matches the token count).
    pub fn open(path: impl AsRef<Path>) -> Result<ShardReader> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(ShardError::io(&path))?;
        // SAFETY: the map is read-only and shards are only ever replaced by rename, never modified in place,
        // so the mapped bytes cannot change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(ShardError::io(&path))?;
        let header = ShardHeader::decode(&path, &map)?;
        let expected = HEADER_BYTES as u64 + header.tokens * header.bytes_per_token as u64;
        if map.len() as u64 != expected {
            return Err(ShardError::Invalid {
                path,
                problem: format!("file is {} bytes; its header promises {expected} (truncated?)", map.len()),
            });
        }
        Ok(ShardReader { path, header, map })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &ShardHeader {
        &self.header
    }

    /// Number of tokens (end-of-text separators included).
    pub fn len(&self) -> usize {
        self.header.tokens as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token at `i`; panics when `i >= len()` (like slice indexing).
    pub fn get(&self, i: usize) -> u32 {
        assert!(i < self.len(), "token {i} out of range for a shard of {}", self.len());
        let bpt = self.header.bytes_per_token as usize;
        let at = HEADER_BYTES + i * bpt;
        let b = &self.map[at..at + bpt];
        match bpt {
            2 => u16::from_le_bytes([b[0], b[1]]) as u32,
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }

    /// Copies tokens `start..start + out.len()` into `out`.
    pub fn read_into(&self, start: usize, out: &mut [u32]) -> Result<()> {
        let end =
            start.checked_add(out.len()).filter(|&e| e <= self.len()).ok_or_else(|| ShardError::Invalid {
                path: self.path.clone(),
                problem: format!(
                    "window {start}..{} is outside the {} tokens",
                    start.saturating_add(out.len()),
                    self.len()
                ),
            })?;
        let bpt = self.header.bytes_per_token as usize;
        let bytes = &self.map[HEADER_BYTES + start * bpt..HEADER_BYTES + end * bpt];
        match bpt {
            2 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(o, b)| *o = u16::from_le_bytes([b[0], b[1]]) as u32),
            _ => out
                .iter_mut()
                .zip(bytes.chunks_exact(4))
                .for_each(|(o, b)| *o = u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
        Ok(())
    }

    /// Tokens `start..start + len` as a new vector.
    pub fn window(&self, start: usize, len: usize) -> Result<Vec<u32>> {
        let mut out = vec![0u32; len];
        self.read_into(start, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(vocab_size: u32) -> ShardMeta {
        ShardMeta { vocab_size, eos_id: 1, tokenizer_sha256: [7; 32] }
    }

    #[test]
    fn u16_and_u32_shards_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for (vocab, bpt) in [(4096u32, 2u32), (65_536, 2), (151_936, 4)] {
            let path = dir.path().join(format!("{vocab}.bin"));
            let docs = vec![vec![vocab - 1, 2, 3], vec![], vec![4]];
            let h = write_shard(&path, &meta(vocab), &docs).unwrap();
            assert_eq!((h.bytes_per_token, h.tokens, h.documents), (bpt, 7, 3));
            let r = ShardReader::open(&path).unwrap();
            assert_eq!(r.header(), &h);
            assert_eq!(r.window(0, 7).unwrap(), [vocab - 1, 2, 3, 1, 1, 4, 1]);
            assert_eq!((r.get(0), r.get(6)), (vocab - 1, 1));
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 128 + 7 * bpt as u64);
        }
    }

    #[test]
    fn out_of_range_ids_and_windows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.bin");
        let err = write_shard(&path, &meta(10), &[vec![10]]).unwrap_err().to_string();
        assert!(err.contains("token id 10 is outside the vocabulary of 10"), "{err}");
        assert!(!path.exists());
        write_shard(&path, &meta(10), &[vec![2, 3]]).unwrap();
        let r = ShardReader::open(&path).unwrap();
        assert!(r.window(1, 3).unwrap_err().to_string().contains("window 1..4 is outside the 3 tokens"));
        assert_eq!(r.window(3, 0).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn corrupt_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.bin");
        std::fs::write(&path, b"hello").unwrap();
        assert!(ShardReader::open(&path).unwrap_err().to_string().contains("bad magic"));
        write_shard(&path, &meta(10), &[vec![2, 3]]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(ShardReader::open(&path).unwrap_err().to_string().contains("truncated"));
        bytes[8] = 9;
        std::fs::write(&path, &bytes).unwrap();
        assert!(ShardReader::open(&path).unwrap_err().to_string().contains("format version 9"));
    }
}
