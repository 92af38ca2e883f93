//! Reading curve files: CSV with a header, or JSON Lines with the same keys (`docs/spec/formats.md`).
//!
//! Input: one or more paths, each read whole (curve files are small: one row per evaluation). Output: one
//! [`Curves`]; a run named in several files is one run, its rows must agree on `n0`, `rho`, `l0`, and no two of
//! them may share a `d` (an error naming both rows, not a silent merge).
//! The format comes from the extension (`.csv`; `.jsonl`, `.ndjson`, `.json` as JSON Lines) unless given.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("c.csv");
//! std::fs::write(&path, "run,n0,rho,l0,d,loss\na,1e9,0.5,2.1,1e8,2.6\na,1e9,0.5,2.1,2e8,2.5\n").unwrap();
//! let curves = p2law_law::curves::read_curves(&[&path], None).unwrap();
//! assert_eq!(curves.runs.len(), 1);
//! assert_eq!(curves.points[1].d(), 2e8);
//! assert_eq!(curves.points[1].get(p2law_law::Var::N), 5e8); // n defaults to n0 * (1 - rho)
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use super::build::{Builder, Cell, RowAt};
use super::{CurveError, Curves};

/// The columns every curve file must have.
pub const REQUIRED_COLUMNS: [&str; 6] = p2law_formats::curve::REQUIRED;

/// A curve file's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveFormat {
    Csv,
    /// One JSON object per line, keys as the CSV header.
    Jsonl,
}

impl CurveFormat {
    /// The format implied by a file's extension, if any.
    pub fn from_extension(path: &Path) -> Option<CurveFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        ext.parse().ok()
    }
}

impl FromStr for CurveFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(CurveFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(CurveFormat::Jsonl),
            other => Err(format!("unknown curve format {other:?} (expected csv or jsonl)")),
        }
    }
}

/// Reads and merges curve files. `format` overrides the extension for every file.
pub fn read_curves<P: AsRef<Path>>(paths: &[P], format: Option<CurveFormat>) -> Result<Curves, CurveError> {
    if paths.is_empty() {
        return Err(CurveError::NoFiles);
    }
    let mut builder = Builder::default();
    for path in paths {
        read_into(&mut builder, path.as_ref(), format)?;
    }
    Ok(builder.finish())
}

/// Post-training curves: what [`read_post_training_curves`] returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostTraining {
    /// The pruned runs (`rho` > 0).
    pub curves: Curves,
    /// Names of the unpruned runs (`rho` = 0) that were set aside, in the order first seen.
    pub unpruned: Vec<String>,
    /// The unpruned runs' rows that pass the usual checks (with `rho` = 0 allowed), as curves: an unpruned
    /// control post-trained beside the pruned models (`p2law report`'s regime checks read it). Rows that do
    /// not pass are left out here, never an error.
    pub unpruned_curves: Curves,
}

/// Reads and merges curve files like [`read_curves`], but sets aside unpruned runs (`rho` = 0: the
/// pretraining curves `p2law train` also writes) instead of rejecting them, and names them. Their other
/// columns are not checked. Every other row is validated as usual.
pub fn read_post_training_curves<P: AsRef<Path>>(
    paths: &[P],
    format: Option<CurveFormat>,
) -> Result<PostTraining, CurveError> {
    if paths.is_empty() {
        return Err(CurveError::NoFiles);
    }
    let mut builder = Builder::skipping_unpruned();
    for path in paths {
        read_into(&mut builder, path.as_ref(), format)?;
    }
    let (curves, unpruned, unpruned_curves) = builder.finish_with_unpruned();
    Ok(PostTraining { curves, unpruned, unpruned_curves })
}

/// Parses curve text already in memory; `path` is only used in error messages.
pub fn parse_curves(text: &str, format: CurveFormat, path: &Path) -> Result<Curves, CurveError> {
    let mut builder = Builder::default();
    parse_into(&mut builder, text, format, path)?;
    Ok(builder.finish())
}

fn read_into(builder: &mut Builder, path: &Path, format: Option<CurveFormat>) -> Result<(), CurveError> {
    let format = match format.or_else(|| CurveFormat::from_extension(path)) {
        Some(f) => f,
        None => {
            let given = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            return Err(CurveError::UnknownFormat { path: path.to_path_buf(), given });
        }
    };
    let bytes =
        std::fs::read(path).map_err(|source| CurveError::Read { path: path.to_path_buf(), source })?;
    let text = decode_utf8(&bytes, path)?;
    parse_into(builder, text, format, path)
}

fn parse_into(builder: &mut Builder, text: &str, format: CurveFormat, path: &Path) -> Result<(), CurveError> {
    // A byte-order mark is legal UTF-8 but would become part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match format {
        CurveFormat::Csv => parse_csv(builder, text, path)?,
        CurveFormat::Jsonl => parse_jsonl(builder, text, path)?,
    };
    if rows == 0 {
        return Err(CurveError::Empty { path: path.to_path_buf() });
    }
    Ok(())
}

/// Checks UTF-8 and, when it fails, says on which line and at which byte of that line.
pub(crate) fn decode_utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, CurveError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        CurveError::NotUtf8 { path: path.to_path_buf(), line, byte: e.valid_up_to() - line_start + 1 }
    })
}

/// Returns the number of data rows read.
fn parse_csv(builder: &mut Builder, text: &str, path: &Path) -> Result<usize, CurveError> {
    let csv_error = |e: csv::Error| CurveError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line() as usize),
        message: match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("{len} fields where the header has {expected_len}")
            }
            _ => e.to_string(),
        },
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(csv_error)?.clone();
    if header.is_empty() || header.iter().all(str::is_empty) {
        return Err(CurveError::Empty { path: path.to_path_buf() });
    }
    // The first occurrence of a repeated column name wins.
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        index.entry(name.to_string()).or_insert(i);
    }
    if let Some(column) = REQUIRED_COLUMNS.into_iter().find(|c| !index.contains_key(*c)) {
        return Err(CurveError::MissingColumn { path: path.to_path_buf(), line: 1, column });
    }
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(1, |p| p.line() as usize);
        let get = |name: &str| match index.get(name).and_then(|&i| record.get(i)) {
            Some(s) => Cell::Text(Cow::Borrowed(s)),
            None => Cell::Absent,
        };
        builder.push(RowAt { path, line }, get)?;
        rows += 1;
    }
    Ok(rows)
}

fn parse_jsonl(builder: &mut Builder, text: &str, path: &Path) -> Result<usize, CurveError> {
    let mut rows = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
            .map_err(|e| CurveError::Json { path: path.to_path_buf(), line, message: e.to_string() })?;
        let get = |name: &str| match object.get(name) {
            None | Some(serde_json::Value::Null) => Cell::Absent,
            Some(serde_json::Value::String(s)) => Cell::Text(Cow::Borrowed(s.as_str())),
            // Integers too large for f64 still come back as the nearest f64.
            Some(serde_json::Value::Number(n)) => n.as_f64().map_or(Cell::Other, Cell::Number),
            Some(_) => Cell::Other,
        };
        builder.push(RowAt { path, line }, get)?;
        rows += 1;
    }
    Ok(rows)
}
