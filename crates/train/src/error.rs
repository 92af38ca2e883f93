//! The training stage's error type: every variant names the file or field at fault and says what to fix.

use std::path::{Path, PathBuf};

/// A boxed error from a collaborator (the model or the data crate), kept as the source of a [`TrainError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The run config is unreadable TOML, has unknown keys or wrongly typed values.
    /// (Not a `#[source]`: the TOML error is already in the message, and a CLI printing the chain of
    /// causes would repeat it.)
    #[error("{path}: {error}")]
    ConfigParse { path: PathBuf, error: Box<toml::de::Error> },
    /// A config field has a value that cannot work; `field` is the dotted TOML key.
    #[error("{path}: `{field}`: {msg}")]
    Config { path: PathBuf, field: String, msg: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A mask file is malformed or does not match the model.
    #[error("{path}: {msg}")]
    Masks { path: PathBuf, msg: String },
    /// A checkpoint is missing, incomplete or does not match the run.
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    /// The curve file cannot be read back on resume.
    #[error("{path}: line {line}: {msg}")]
    Curve { path: PathBuf, line: usize, msg: String },
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
    /// The loss became NaN or infinite: the run cannot continue meaningfully.
    #[error("step {step}: training loss is {loss}; lower `train.lr` or enable `train.grad_clip`")]
    Diverged { step: u64, loss: f32 },
    #[error("model: {0}")]
    Model(#[source] BoxError),
    #[error("data: {0}")]
    Data(#[source] BoxError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl TrainError {
    /// A closure for `map_err` that attaches `path` to an I/O error.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
        move |source| TrainError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
