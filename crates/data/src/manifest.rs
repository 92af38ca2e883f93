//! `manifest.json`: what a data folder holds and how it was made.
//!
//! Written last (atomically) by a build, so a folder with a manifest is complete. It records the settings
//! (seed, fractions, piece size, text column), every source file with its sha256, the tokenizer (file,
//! sha256, vocabulary, end-of-text id, how it was obtained), and per split its shard file, sha256, counts
//! and the ids of its documents in shard order (with token counts, so document offsets in the shard are
//! their running sum, each document followed by one end-of-text token).
//!
//! `fingerprint` digests the inputs and settings; a build whose fingerprint matches an intact folder's
//! manifest does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::source::SourceFile;
use crate::split::{Fractions, Split};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Bumped when the build's output for the same inputs changes.
pub const FORMAT: u32 = 1;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub fingerprint: String,
    pub seed: u64,
    pub fractions: Fractions,
    pub piece_bytes: usize,
    pub text_column: String,
    pub sources: Vec<SourceFile>,
    pub tokenizer: TokenizerRecord,
    /// Keyed by split name, in [`Split::ALL`] order.
    pub splits: BTreeMap<Split, SplitRecord>,
}

/// The tokenizer a folder's shards were encoded with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerRecord {
    /// Relative to the data folder (`tokenizer.json`).
    pub file: PathBuf,
    pub sha256: String,
    pub vocab_size: usize,
    pub eos_id: u32,
    /// `"trained byte-level BPE on pretrain"` or the path it was loaded from.
    pub origin: String,
    /// "u16" or "u32".
    pub dtype: String,
}

/// One split's shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// Relative to the data folder (`pretrain.bin`).
    pub file: PathBuf,
    pub sha256: String,
    pub documents: usize,
    /// UTF-8 bytes of text.
    pub bytes: u64,
    /// End-of-text separators included.
    pub tokens: u64,
    pub docs: Vec<DocRecord>,
}

/// One document of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRecord {
    pub id: String,
    pub bytes: u64,
    /// Without its end-of-text separator.
    pub tokens: u64,
}

impl Manifest {
    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(DataError::io(&path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| DataError::Manifest {
            path: path.clone(),
            problem: format!("line {}: {e}", e.line()),
        })?;
        if m.format != FORMAT {
            return Err(DataError::Manifest {
                path,
                problem: format!(
                    "format {} but this build writes {FORMAT}; rebuild with `p2law data build`",
                    m.format
                ),
            });
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically (pretty, for people and diffs).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| DataError::Manifest { path: path.clone(), problem: e.to_string() })?;
        crate::fsio::write_atomic(&path, (text + "\n").as_bytes())
    }

    /// The shard path of a split inside `dir`.
    pub fn shard_path(&self, dir: &Path, split: Split) -> Option<PathBuf> {
        self.splits.get(&split).map(|r| dir.join(&r.file))
    }

    /// True when every file the manifest names exists with the recorded header counts (cheap: no hashing).
    pub fn intact(&self, dir: &Path) -> bool {
        let tokenizer_ok = crate::fsio::sha256_file(dir.join(&self.tokenizer.file))
            .is_ok_and(|h| h == self.tokenizer.sha256);
        tokenizer_ok
            && self.splits.values().all(|r| {
                crate::shard::ShardReader::open(dir.join(&r.file)).is_ok_and(|s| {
                    s.header().tokens == r.tokens && s.header().documents == r.documents as u64
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut splits = BTreeMap::new();
        splits.insert(
            Split::Heldout,
            SplitRecord {
                file: "heldout.bin".into(),
                sha256: "ab".into(),
                documents: 1,
                bytes: 5,
                tokens: 3,
                docs: vec![DocRecord { id: "a.txt".into(), bytes: 5, tokens: 2 }],
            },
        );
        Manifest {
            format: FORMAT,
            fingerprint: "f".into(),
            seed: 1,
            fractions: Fractions::default(),
            piece_bytes: 50_000,
            text_column: "text".into(),
            sources: vec![],
            tokenizer: TokenizerRecord {
                file: TOKENIZER_FILE.into(),
                sha256: "cd".into(),
                vocab_size: 4096,
                eos_id: 0,
                origin: "trained".into(),
                dtype: "u16".into(),
            },
            splits,
        }
    }

    #[test]
    fn round_trips_through_json_with_split_names_as_keys() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        m.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.contains("\"heldout\": {"), "{text}");
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        assert!(!m.intact(dir.path()));
    }

    #[test]
    fn bad_manifest_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), "{\n\"format\": 1,\n oops }").unwrap();
        let msg = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("manifest.json: line 3:"), "{msg}");
    }
}
