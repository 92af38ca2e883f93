//! The training stage's error type: every variant names the file or field at fault and says what to fix.

use std::path::{Path, PathBuf};

/// A boxed error from the data side (a [`crate::TokenSource`] or the data crate), kept as the source of a
/// [`TrainError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The run config is unreadable TOML, has unknown keys or wrongly typed values.
    #[error(transparent)]
    ConfigParse(#[from] TomlError),
    /// A config field has a value that cannot work; `field` is the dotted TOML key.
    #[error("{path}: `{field}`: {msg}")]
    Config { path: PathBuf, field: String, msg: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation failed; the message names the path.
    #[error("{0}")]
    Fs(std::io::Error),
    /// A mask file is malformed or does not match the model.
    #[error("{path}: {msg}")]
    Masks { path: PathBuf, msg: String },
    /// A checkpoint is missing, incomplete or does not match the run.
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    /// The curve file cannot be read back on resume.
    #[error("{path}: line {line}: {msg}")]
    Curve { path: PathBuf, line: usize, msg: String },
    /// A file another stage wrote (`pruning.json`) or the run store is unreadable, or of a format this p2law
    /// does not read; the message names the file and the field.
    #[error(transparent)]
    Format(#[from] p2law_formats::FormatError),
    #[error("run store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A `--device` string that names no usable device.
    #[error("device `{device}`: {msg}")]
    Device { device: String, msg: String },
    /// The run directory exists with checkpoints and `--resume` was not given, or the reverse.
    #[error("{path}: {msg}")]
    RunDir { path: PathBuf, msg: String },
    /// The starting model's loss is NaN or infinite: its weights hold NaN or infinite values.
    #[error("{what} is {value}: the model's weights hold NaN or infinite values (a diverged or corrupt checkpoint?)")]
    NonFinite { what: String, value: f64 },
    /// The loss became NaN or infinite: the run cannot continue meaningfully.
    #[error("step {step}: training loss is {loss}; lower `train.lr` or enable `train.grad_clip`")]
    Diverged { step: u64, loss: f32 },
    #[error("model: {0}")]
    Model(#[from] p2law_model::ModelError),
    #[error("data: {0}")]
    Data(#[source] BoxError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A TOML file that does not parse or does not match its schema, as one line: `file:line:col: message`
/// (`file: message` when the parser gives no position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), position.map_or(String::new(), |(l, c)| format!(":{l}:{c}")))]
pub struct TomlError {
    pub path: PathBuf,
    /// 1-based line and column (in characters) of the start of the offending span.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl TomlError {
    /// Locates `error` (from parsing `text`, read from `path`) in the text.
    pub fn new(path: &Path, text: &str, error: &toml::de::Error) -> TomlError {
        let position = error.span().map(|span| {
            let start = floor_char_boundary(text, span.start);
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        });
        // The message proper, on one line (toml's own Display adds a multi-line excerpt of the file).
        let message = error.message().trim().split('\n').map(str::trim).collect::<Vec<_>>().join("; ");
        TomlError { path: path.to_path_buf(), position, message }
    }
}

/// Parses `text` (the contents of `path`) as TOML into `T`; errors are [`TomlError`]s.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| TomlError::new(path, text, &e))
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl TrainError {
    /// A closure for `map_err` that attaches `path` to an I/O error.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
        move |source| TrainError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn toml_errors_are_one_line_with_line_and_column() {
        let path = Path::new("cfg/RUN.toml");
        let e = parse_toml::<T>(path, "a = 1\n\nb = 2\n").unwrap_err().to_string();
        assert!(e.starts_with("cfg/RUN.toml:3:1: ") && e.contains("unknown field `b`"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let e = parse_toml::<T>(path, "a = 1\nx = [1,\n").unwrap_err().to_string();
        assert!(e.starts_with("cfg/RUN.toml:") && e.lines().count() == 1, "{e}");
        let e = parse_toml::<T>(path, "é = \"\"\"\n").unwrap_err().to_string();
        assert!(e.starts_with("cfg/RUN.toml:1:") && e.lines().count() == 1, "{e}");
        let e = parse_toml::<T>(path, "a = \"x\"").unwrap_err().to_string();
        assert!(e.starts_with("cfg/RUN.toml:1:5: "), "{e}");
    }
}
