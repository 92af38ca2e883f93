//! The crate's error type: every variant names the file, key or tensor at fault and says what was expected.
//!
//! Numeric code (forward, loss) returns `candle_core::Result` so training loops compose with candle's own
//! errors; everything that reads or writes files, or checks a configuration, returns [`ModelError`].

use std::path::PathBuf;

/// Errors from configuration checks, checkpoint I/O and GGUF conversion.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A `config.json` key is missing, has an unsupported value, or is unknown to this crate.
    #[error("config {key}: {problem}")]
    Config { key: String, problem: String },
    /// A problem with the contents of a file (a `config.json` key, …): the inner error, with the path.
    #[error("{path}: {inner}")]
    InFile { path: PathBuf, inner: Box<ModelError> },
    #[error("unsupported architecture {found:?}: supported are LlamaForCausalLM and Qwen2ForCausalLM")]
    UnsupportedArchitecture { found: String },
    #[error("tensor {name}: missing from the checkpoint (config.json expects it)")]
    MissingTensor { name: String },
    #[error("tensor {name}: shape {found:?} in the checkpoint, but config.json implies {expected:?}")]
    WrongShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor {name}: in the checkpoint but not used by a model with this config.json (config/tensor mismatch?)")]
    UnexpectedTensor { name: String },
    #[error("tensor {name}: dtype {dtype} is not supported (use bf16, f16 or f32)")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("{path}: not a valid safetensors file (truncated or corrupt?): {problem}")]
    Safetensors { path: PathBuf, problem: String },
    #[error("{path}: sharded index: {problem}")]
    Index { path: PathBuf, problem: String },
    #[error("{path}: GGUF: {problem}")]
    Gguf { path: PathBuf, problem: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    /// A config key (quoted when it holds control characters, so the message stays on one line) and what is
    /// wrong with it.
    pub(crate) fn config(key: &str, problem: impl Into<String>) -> Self {
        let key = if key.chars().any(char::is_control) { format!("{key:?}") } else { key.to_string() };
        ModelError::Config { key, problem: problem.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io { path: path.into(), source }
    }
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;
