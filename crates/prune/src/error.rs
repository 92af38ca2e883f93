//! The crate's error type: one variant per way the input can be wrong, each a one-line message that names
//! the weight, file or argument at fault and, where it helps, how to fix it.
//!
//! Every public function validates its arguments (rates, patterns, shapes, finiteness) before doing any
//! work, so a bad request fails fast and never leaves a half-pruned result behind.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = PruneError> = std::result::Result<T, E>;

/// Everything that can go wrong while pruning.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A pruning rate outside the open interval (0, 1).
    #[error("pruning rate {rate} is out of range: it must lie strictly between 0 and 1 (e.g. 0.5)")]
    RateOutOfRange { rate: f64 },

    /// A valid rate that the requested granularity cannot realise (too small, too large, nothing to prune).
    #[error("pruning rate {rate} is unreachable: {reason}")]
    RateUnreachable { rate: f64, reason: String },

    /// An N:M pattern that is malformed (N > M, zero, unparsable).
    #[error("invalid N:M pattern `{pattern}`: {reason}")]
    InvalidPattern { pattern: String, reason: String },

    /// An N:M pattern whose M does not divide a weight's input dimension.
    #[error("{pattern} sparsity needs the input dimension of `{name}` to be a multiple of {m}, but it has {cols} columns")]
    PatternDoesNotDivide { name: String, pattern: String, m: usize, cols: usize },

    /// Two things that must agree in shape do not.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch { what: String, expected: String, got: String },

    /// A weight, activation or score that is NaN or infinite.
    #[error("{what} has a non-finite value ({value}) at flat index {index}")]
    NonFinite { what: String, index: usize, value: f64 },

    /// A criterion name that is not one of the built-ins.
    #[error("unknown pruning criterion `{0}`: expected one of magnitude, wanda, sparsegpt")]
    UnknownCriterion(String),

    /// A sparsity kind that is not one of the built-ins.
    #[error("unknown sparsity `{0}`: expected `unstructured` or an N:M pattern such as `2:4`")]
    UnknownSparsity(String),

    /// A criterion that needs calibration statistics was called without them.
    #[error("criterion `{criterion}` needs calibration statistics ({needs}) for `{name}`, but none were collected")]
    MissingStats { criterion: &'static str, name: String, needs: &'static str },

    /// Calibration statistics with no tokens in them.
    #[error("calibration statistics for `{name}` contain no tokens; feed at least one batch of inputs")]
    EmptyCalibration { name: String },

    /// SparseGPT's dampened Hessian (or its inverse) failed a Cholesky factorisation.
    #[error("SparseGPT: the dampened Hessian of `{name}` is not positive definite (pivot {pivot:e} at column {column}); use more calibration tokens or a larger dampening")]
    NotPositiveDefinite { name: String, column: usize, pivot: f64 },

    /// A parameter (block size, count, layer list, …) that is invalid on its own.
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },

    /// A mask that breaks its N:M promise.
    #[error("mask `{name}` is not {n}:{m}: row {row}, columns {col}..{end} keep {kept} weights (at most {n} allowed)", end = col + m)]
    NmViolation { name: String, n: usize, m: usize, row: usize, col: usize, kept: usize },

    /// A mask with a value other than 0 or 1, a wrong dtype or rank.
    #[error("mask `{name}` is invalid: {problem}")]
    BadMask { name: String, problem: String },

    /// File-system failure, with the path.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A safetensors file that cannot be parsed or written.
    #[error("{}: safetensors error: {source}", path.display())]
    Safetensors { path: PathBuf, source: safetensors::SafeTensorError },

    /// Building or changing the model failed (a config/tensor mismatch).
    #[error("model: {0}")]
    Model(#[from] p2law_model::ModelError),

    /// A tensor operation failed (wrong dtype or device, usually).
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Checks that every value is finite; `what` names the tensor in the error.
pub(crate) fn check_finite<T: Copy + Into<f64>>(what: &str, values: &[T]) -> Result<()> {
    match values.iter().map(|&v| v.into()).enumerate().find(|(_, v): &(usize, f64)| !v.is_finite()) {
        Some((index, value)) => Err(PruneError::NonFinite { what: what.to_string(), index, value }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_culprit() {
        let e = PruneError::PatternDoesNotDivide {
            name: "layers.0.mlp.down_proj.weight".into(),
            pattern: "2:4".into(),
            m: 4,
            cols: 30,
        };
        let msg = e.to_string();
        assert!(msg.contains("down_proj") && msg.contains("30") && !msg.contains('\n'), "{msg}");
        let e = PruneError::NmViolation { name: "w".into(), n: 2, m: 4, row: 3, col: 8, kept: 3 };
        assert_eq!(
            e.to_string(),
            "mask `w` is not 2:4: row 3, columns 8..12 keep 3 weights (at most 2 allowed)"
        );
    }

    #[test]
    fn check_finite_reports_the_first_bad_index() {
        assert!(check_finite("w", &[1.0f32, 2.0]).is_ok());
        let e = check_finite("w", &[1.0f32, f32::NAN, f32::INFINITY]).unwrap_err();
        assert!(matches!(e, PruneError::NonFinite { index: 1, .. }), "{e}");
    }
}
