//! Why a log could not be imported: one line each, naming the file, the place in it (line, record, byte
//! offset) and the problem.

use std::path::PathBuf;

/// Why a log could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {at}: {message}", path.display())]
    Parse { path: PathBuf, at: String, message: String },
    #[error("{}: cannot tell the log format; tried {}; pass --format, or --regex for another trainer's text log", path.display(), tried.join("; "))]
    UnknownFormat { path: PathBuf, tried: Vec<String> },
    #[error("{}: not a run folder: {reason}", path.display())]
    NotARun { path: PathBuf, reason: String },
    #[error("{}: holds {} runs ({}); pick one with --source-run, or map each to its n0, rho and l0 in a --manifest", path.display(), runs.len(), runs.join(", "))]
    SeveralRuns { path: PathBuf, runs: Vec<String> },
    #[error("{}: no run named {run:?}; it holds {}", path.display(), runs.join(", "))]
    NoSuchRun { path: PathBuf, run: String, runs: Vec<String> },
    #[error("{}: no loss column; looked for {}; pass the loss column (--loss-column, or --tag for TensorBoard)", path.display(), tried.join(", "))]
    NoLossColumn { path: PathBuf, tried: Vec<String> },
    #[error("{}: cannot tell tokens seen: {reason}", path.display())]
    NoTokens { path: PathBuf, reason: String },
    #[error("{}: {at}: column `{column}`: {value} is not a {expected}", path.display())]
    BadValue { path: PathBuf, at: String, column: String, value: String, expected: &'static str },
    #[error("{}: no record has both a loss (`{loss_column}`) and tokens > 0", path.display())]
    NoRows { path: PathBuf, loss_column: String },
    #[error("run `{run}`: two points at d = {d}: {first} and {second} (a log read twice, or two logs given the same run name?)")]
    Duplicate { run: String, d: f64, first: String, second: String },
    /// `first` and `second` are "<value> from <source>".
    #[error("run `{run}`: {field} is {first} but {second}")]
    Inconsistent { run: String, field: &'static str, first: String, second: String },
    #[error("--regex {pattern:?}: {message}")]
    BadRegex { pattern: String, message: String },
    #[error("{field} = {value}: must be {expected}")]
    BadRunInfo { field: &'static str, value: String, expected: &'static str },
}
