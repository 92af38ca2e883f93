//! Errors from reading and writing curve files. Each renders as one line that names the file, the line (1-based,
//! the header is line 1 in CSV) and the column, then the problem — enough to find and fix the cell by hand.

use std::path::PathBuf;

/// Why a curve file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CurveError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },

    #[error("{}:{line}: not valid UTF-8 (byte {byte} of the line); save the file as UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize, byte: usize },

    #[error("{}: unknown curve format {given:?}; use a .csv or .jsonl extension or pass the format (csv, jsonl)", path.display())]
    UnknownFormat { path: PathBuf, given: String },

    #[error("{}: no data rows (a curve file needs a header and at least one row)", path.display())]
    Empty { path: PathBuf },

    #[error("{}:{line}: missing required column `{column}` (required: run, n0, rho, l0, d, loss)", path.display())]
    MissingColumn { path: PathBuf, line: usize, column: &'static str },

    #[error("{}:{line}: column `{column}`: {value:?} is not a number", path.display())]
    NotANumber { path: PathBuf, line: usize, column: String, value: String },

    #[error("{}:{line}: column `{column}`: {value} is not finite", path.display())]
    NotFinite { path: PathBuf, line: usize, column: String, value: f64 },

    #[error("{}:{line}: column `{column}`: {value} is out of range, must be {expected}", path.display())]
    OutOfRange { path: PathBuf, line: usize, column: &'static str, value: f64, expected: &'static str },

    #[error("{}:{line}: column `run` is empty; every row needs a run name", path.display())]
    EmptyRun { path: PathBuf, line: usize },

    /// Boxed: it is the largest variant and would make every `Result` carry its size.
    #[error("{0}")]
    Inconsistent(Box<Inconsistent>),

    /// Boxed for the same reason.
    #[error("{0}")]
    Duplicate(Box<Duplicate>),

    #[error("{}:{line}: malformed CSV: {message}", path.display())]
    Csv { path: PathBuf, line: usize, message: String },

    #[error("{}:{line}: malformed JSON line: {message}", path.display())]
    Json { path: PathBuf, line: usize, message: String },

    #[error("{}:{line}: column `{column}` must be {expected}", path.display())]
    WrongType { path: PathBuf, line: usize, column: String, expected: &'static str },

    #[error("no curve files given")]
    NoFiles,
}

/// Two rows of one run disagree on a per-run column (`n0`, `rho`, `l0`, or a label).
#[derive(Debug, thiserror::Error)]
#[error(
    "{}:{line}: run {run:?}: column `{column}` is {value} here but {first_value} at {}:{first_line}; \
     rows of one run must agree",
    path.display(),
    first_path.display()
)]
pub struct Inconsistent {
    pub path: PathBuf,
    pub line: usize,
    pub run: String,
    pub column: &'static str,
    pub value: String,
    pub first_path: PathBuf,
    pub first_line: usize,
    pub first_value: String,
}

/// Two rows of one run at the same `d`: one point measured twice, or two runs sharing a name.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}:{line}: run {run:?} has d = {d} twice (first at {}:{first_line}); a run has one row per d: drop \
     the repeated row, or give different runs different names",
    path.display(),
    first_path.display()
)]
pub struct Duplicate {
    pub path: PathBuf,
    pub line: usize,
    pub run: String,
    pub d: f64,
    pub first_path: PathBuf,
    pub first_line: usize,
}
