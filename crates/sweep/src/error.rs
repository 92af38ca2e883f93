//! The crate's error type (the recipe's own is [`crate::RecipeError`]): every variant names the unit, run or
//! file at fault; a cause is part of the message, not a separate source, so a chain prints it once.

use std::path::PathBuf;

use p2law_prune::job::JobError;
use p2law_train::TrainError;

/// Everything that can stop a sweep after its recipe was read.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file or folder of the sweep that cannot be created, written, opened or locked; `what` is the
    /// action (`creating`, `writing`, …).
    #[error("{what} {}: {error}", path.display())]
    Io { what: &'static str, path: PathBuf, error: std::io::Error },
    /// A token shard the recipe's data folder lacks.
    #[error("{}: missing; build the token shards first with `p2law data build`", .0.display())]
    MissingShard(PathBuf),
    /// A pruned model's `pruning.json` that cannot be read (the error names the file).
    #[error(transparent)]
    Format(#[from] p2law_formats::FormatError),
    #[error("generated config {}: {error}", path.display())]
    Config { path: PathBuf, error: TrainError },
    #[error("run {name}: opening the model and data: {error}")]
    Open { name: String, error: TrainError },
    #[error("run {name}: {error}")]
    Train { name: String, error: TrainError },
    #[error("run {0} stopped before its last step")]
    Unfinished(String),
    #[error("pruning {run}: {error}")]
    Prune { run: String, error: Box<JobError> },
    #[error("control {run}: {error}")]
    Control { run: String, error: Box<JobError> },
    #[error(transparent)]
    Report(#[from] p2law_report::report::BuildError),
    #[error("unit {0}: a dependency is not done (see `--plan`)")]
    DependencyNotDone(String),
    #[error("units {0} wait on nothing that is running; run `p2law sweep --plan` to see why")]
    Stuck(String),
    #[error("--unit {0}: no such unit in this sweep (list them with `p2law sweep RECIPE --plan`)")]
    NoSuchUnit(String),
    #[error("--unit {id}: waits on {missing}")]
    WaitsOn { id: String, missing: String },
    #[error("--unit {id}: still held by another process after {seconds:.0} s")]
    StillHeld { id: String, seconds: f64 },
    #[error("--slurm-opt {0:?}: give one sbatch option, e.g. --slurm-opt=--gres=gpu:1")]
    SlurmOption(String),
    #[error("--max-parallel 0: give at least 1")]
    MaxParallelZero,
    #[error("running sbatch: {error} (is Slurm's client installed and on PATH?); the scripts are in {}", dir.display())]
    SbatchMissing { error: std::io::Error, dir: PathBuf },
    #[error("sbatch {} failed ({status}): {stderr}{}", path.display(), submitted_note(submitted))]
    SbatchFailed { path: PathBuf, status: String, stderr: String, submitted: Vec<String> },
    #[error("sbatch {}: unexpected answer {answer:?} (wanted a job id)", path.display())]
    SbatchAnswer { path: PathBuf, answer: String },
}

/// `; levels already submitted: jobs …` when some were.
fn submitted_note(jobs: &[String]) -> String {
    if jobs.is_empty() {
        String::new()
    } else {
        format!("; levels already submitted: jobs {}", jobs.join(", "))
    }
}

impl SweepError {
    /// An I/O error of `what`ing `path`, for `map_err`.
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SweepError {
        let path = path.into();
        move |error| SweepError::Io { what, path, error }
    }
}
