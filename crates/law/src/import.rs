//! Importing loss logs from other tools as a curve (`p2law import`).
//!
//! Input: a log file and what the log cannot know — the run's name, `n0`, `rho`, `l0` ([`RunInfo`]). Output: an
//! [`Imported`] holding a one-run [`Curves`] (write it with [`crate::curves::write_curves_csv_with`]).
//!
//! Formats ([`LogFormat`]):
//! - `trainer-state`: a Hugging Face `trainer_state.json`; each entry of `log_history` is a record.
//! - `csv`: a header row and one row per logging step (W&B / TensorBoard exports, custom loggers).
//! - `jsonl`: one JSON object per line.
//!
//! Column choice, when not given in [`ImportOptions`]:
//! - loss: the first of [`LOSS_COLUMNS`] that any record has. Held-out losses (`eval_loss`, `val_loss`, …) come
//!   before training losses (`loss`, `train_loss`): the law models held-out loss, and a training loss is a noisy
//!   running mean. Records without the chosen column (e.g. training-only rows between evaluations) are skipped.
//! - tokens `d`: a tokens column from [`TOKEN_COLUMNS`] (`num_input_tokens_seen`, which the HF Trainer logs with
//!   `include_num_input_tokens_seen`, `tokens`, …) when present; otherwise a step column from [`STEP_COLUMNS`]
//!   times `tokens_per_step` (batch size × sequence length × gradient accumulation × data-parallel ranks).
//!   A record whose tokens field is missing falls back to its step the same way.
//! - Records at `d = 0` (an evaluation before training, `eval_on_start`) are skipped: the law is undefined at
//!   zero tokens. The number skipped is reported in [`Imported::skipped`].
//!
//! ```
//! use p2law_law::import::{import_log_bytes, ImportOptions, LogFormat, RunInfo};
//! let log = b"step,loss,val_loss\n100,3.1,\n200,2.9,3.0\n";
//! let run = RunInfo::new("r", 1e9, 0.5, 2.2);
//! let opts = ImportOptions { tokens_per_step: Some(4096.0), ..Default::default() };
//! let got = import_log_bytes(log, LogFormat::Csv, "log.csv".as_ref(), &run, &opts).unwrap();
//! assert_eq!(got.loss_column, "val_loss");
//! assert_eq!((got.curves.points.len(), got.curves.points[0].d()), (1, 200.0 * 4096.0));
//! ```

mod records;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::curves::{Curves, Point, Run};
use crate::var::Var;
use records::{Field, Record};

/// Loss columns in order of preference: held-out first.
pub const LOSS_COLUMNS: [&str; 8] = [
    "eval_loss",
    "val_loss",
    "validation_loss",
    "valid_loss",
    "test_loss",
    "loss",
    "train_loss",
    "training_loss",
];
/// Columns that count tokens directly, in order of preference.
pub const TOKEN_COLUMNS: [&str; 6] =
    ["num_input_tokens_seen", "tokens", "tokens_seen", "num_tokens", "total_tokens", "d"];
/// Columns that count optimizer steps, in order of preference.
pub const STEP_COLUMNS: [&str; 5] = ["step", "global_step", "steps", "iter", "iteration"];

/// The log file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    TrainerState,
    Csv,
    Jsonl,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trainer-state" => Ok(LogFormat::TrainerState),
            "csv" => Ok(LogFormat::Csv),
            "jsonl" => Ok(LogFormat::Jsonl),
            _ => Err(format!("unknown log format {s:?} (expected trainer-state, csv or jsonl)")),
        }
    }
}

/// What the log does not say: the run's identity and the law's per-run variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInfo {
    pub name: String,
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    /// Parameters after pruning; `n0 * (1 - rho)` when `None`.
    pub n: Option<f64>,
    pub method: Option<String>,
    pub model: Option<String>,
    pub family: Option<String>,
}

impl RunInfo {
    pub fn new(name: &str, n0: f64, rho: f64, l0: f64) -> RunInfo {
        RunInfo { name: name.to_string(), n0, rho, l0, ..RunInfo::default() }
    }
}

/// Column overrides for ambiguous logs; `None` means choose automatically (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportOptions {
    /// Tokens per optimizer step, to turn a step column into tokens.
    pub tokens_per_step: Option<f64>,
    pub loss_column: Option<String>,
    pub tokens_column: Option<String>,
    pub step_column: Option<String>,
}

/// An imported curve and how it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// One run, one point per usable record, in log order.
    pub curves: Curves,
    /// The step of each point (NaN where the record had none); `None` when the log has no step column.
    pub steps: Option<Vec<f64>>,
    pub loss_column: String,
    /// How `d` was obtained: a column name, or `"<step column> × <tokens per step>"`.
    pub tokens_from: String,
    /// Records skipped for having no value in the loss column, or `d = 0`.
    pub skipped: usize,
}

/// Why a log could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {at}: {message}", path.display())]
    Parse { path: PathBuf, at: String, message: String },
    #[error("{}: no loss column; looked for {}; pass the loss column by name", path.display(), tried.join(", "))]
    NoLossColumn { path: PathBuf, tried: Vec<String> },
    #[error("{}: cannot tell tokens seen: {reason}", path.display())]
    NoTokens { path: PathBuf, reason: String },
    #[error("{}: {at}: column `{column}`: {value} is not a {expected}", path.display())]
    BadValue { path: PathBuf, at: String, column: String, value: String, expected: &'static str },
    #[error("{}: no record has both a loss (`{loss_column}`) and tokens > 0", path.display())]
    NoRows { path: PathBuf, loss_column: String },
    #[error("{field} = {value}: must be {expected}")]
    BadRunInfo { field: &'static str, value: String, expected: &'static str },
}

/// Reads `path` and imports it.
pub fn import_log(
    path: &Path,
    format: LogFormat,
    run: &RunInfo,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read { path: path.into(), source })?;
    import_log_bytes(&bytes, format, path, run, opts)
}

/// Imports a log already in memory; `path` is only used in messages.
pub fn import_log_bytes(
    bytes: &[u8],
    format: LogFormat,
    path: &Path,
    run: &RunInfo,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    check_run(run)?;
    if let Some(t) = opts.tokens_per_step.filter(|t| !(t.is_finite() && *t > 0.0)) {
        let value = t.to_string();
        return Err(ImportError::BadRunInfo { field: "tokens per step", value, expected: "finite and > 0" });
    }
    let records = match format {
        LogFormat::TrainerState => records::trainer_state(bytes, path)?,
        LogFormat::Csv => records::csv(bytes, path)?,
        LogFormat::Jsonl => records::jsonl(bytes, path)?,
    };
    let cols = Columns::choose(&records, path, opts)?;
    let (mut points, mut steps, mut skipped) = (Vec::new(), Vec::new(), 0);
    let n = run.n.unwrap_or(run.n0 * (1.0 - run.rho));
    for record in &records {
        let Some(loss) = number(record, &cols.loss, path)? else {
            skipped += 1;
            continue;
        };
        let step = cols.step.as_deref().map(|c| number(record, c, path)).transpose()?.flatten();
        let tokens = match cols.tokens.as_deref().map(|c| number(record, c, path)).transpose()?.flatten() {
            Some(t) => t,
            None => match (step, opts.tokens_per_step) {
                (Some(s), Some(tps)) => s * tps,
                _ => {
                    return Err(no_tokens(
                        path,
                        format!("{} has a loss but no tokens or step (with --tokens-per-step)", record.at),
                    ))
                }
            },
        };
        if tokens == 0.0 {
            skipped += 1;
            continue;
        }
        if tokens < 0.0 {
            return Err(bad(path, record, cols.tokens_from_column(), tokens.to_string(), "tokens count ≥ 0"));
        }
        if loss <= 0.0 {
            return Err(bad(path, record, &cols.loss, loss.to_string(), "loss > 0"));
        }
        let mut vars = [0.0; 6];
        vars[Var::N0 as usize] = run.n0;
        vars[Var::N as usize] = n;
        vars[Var::Rho as usize] = run.rho;
        vars[Var::L0 as usize] = run.l0;
        vars[Var::D as usize] = tokens;
        vars[Var::Loss as usize] = loss;
        points.push(Point { run: 0, vars });
        steps.push(step.unwrap_or(f64::NAN));
    }
    if points.is_empty() {
        return Err(ImportError::NoRows { path: path.into(), loss_column: cols.loss });
    }
    let r = Run {
        name: run.name.clone(),
        n0: run.n0,
        rho: run.rho,
        l0: run.l0,
        method: run.method.clone(),
        model: run.model.clone(),
        family: run.family.clone(),
        rho_target: None,
    };
    Ok(Imported {
        curves: Curves { runs: vec![r], points },
        steps: cols.step.is_some().then_some(steps),
        tokens_from: cols.describe_tokens(opts.tokens_per_step),
        loss_column: cols.loss,
        skipped,
    })
}

/// The chosen loss, tokens and step columns.
#[derive(Debug)]
struct Columns {
    loss: String,
    tokens: Option<String>,
    step: Option<String>,
}

impl Columns {
    fn choose(records: &[Record], path: &Path, opts: &ImportOptions) -> Result<Columns, ImportError> {
        let has = |c: &str| records.iter().any(|r| r.fields.contains_key(c));
        let pick = |given: &Option<String>, candidates: &[&str]| -> Option<String> {
            match given {
                Some(c) => Some(c.clone()),
                None => candidates.iter().find(|c| has(c)).map(|c| c.to_string()),
            }
        };
        let loss = pick(&opts.loss_column, &LOSS_COLUMNS).filter(|c| has(c)).ok_or_else(|| {
            let tried = opts.loss_column.iter().cloned().collect::<Vec<_>>();
            let tried = if tried.is_empty() { LOSS_COLUMNS.map(String::from).to_vec() } else { tried };
            ImportError::NoLossColumn { path: path.into(), tried }
        })?;
        for given in [&opts.tokens_column, &opts.step_column].into_iter().flatten() {
            if !has(given) {
                return Err(no_tokens(path, format!("no record has the column `{given}`")));
            }
        }
        // A tokens column given or found wins; the step column is still read to fill gaps and to keep steps.
        let tokens = if opts.step_column.is_some() && opts.tokens_column.is_none() {
            None
        } else {
            pick(&opts.tokens_column, &TOKEN_COLUMNS)
        };
        let step = pick(&opts.step_column, &STEP_COLUMNS);
        if tokens.is_none() && (step.is_none() || opts.tokens_per_step.is_none()) {
            let reason = match step {
                Some(s) => format!(
                    "no tokens column ({}); pass tokens per step to use column `{s}`",
                    TOKEN_COLUMNS.join(", ")
                ),
                None => format!(
                    "no tokens column ({}) and no step column ({})",
                    TOKEN_COLUMNS.join(", "),
                    STEP_COLUMNS.join(", ")
                ),
            };
            return Err(no_tokens(path, reason));
        }
        Ok(Columns { loss, tokens, step })
    }

    fn tokens_from_column(&self) -> &str {
        self.tokens.as_deref().or(self.step.as_deref()).unwrap_or("d")
    }

    fn describe_tokens(&self, tokens_per_step: Option<f64>) -> String {
        match (&self.tokens, &self.step, tokens_per_step) {
            (Some(t), _, _) => t.clone(),
            (None, Some(s), Some(tps)) => format!("{s} × {tps}"),
            _ => String::new(),
        }
    }
}

/// A finite number from a record's column; `None` when the record lacks it.
fn number(record: &Record, column: &str, path: &Path) -> Result<Option<f64>, ImportError> {
    let value = match record.fields.get(column) {
        None => return Ok(None),
        Some(Field::Number(v)) => *v,
        Some(Field::Text(s)) => {
            s.trim().parse::<f64>().map_err(|_| bad(path, record, column, format!("{s:?}"), "number"))?
        }
        Some(Field::Other) => return Err(bad(path, record, column, "a non-number".into(), "number")),
    };
    if !value.is_finite() {
        return Err(bad(path, record, column, value.to_string(), "finite number"));
    }
    Ok(Some(value))
}

fn bad(path: &Path, record: &Record, column: &str, value: String, expected: &'static str) -> ImportError {
    ImportError::BadValue { path: path.into(), at: record.at.clone(), column: column.into(), value, expected }
}

fn no_tokens(path: &Path, reason: String) -> ImportError {
    ImportError::NoTokens { path: path.into(), reason }
}

fn check_run(run: &RunInfo) -> Result<(), ImportError> {
    let bad = |field, value: f64, expected| {
        Err(ImportError::BadRunInfo { field, value: value.to_string(), expected })
    };
    if run.name.trim().is_empty() {
        return Err(ImportError::BadRunInfo {
            field: "name",
            value: "empty".into(),
            expected: "a non-empty name",
        });
    }
    if !(run.n0.is_finite() && run.n0 > 0.0) {
        return bad("n0", run.n0, "finite and > 0");
    }
    if !(run.rho > 0.0 && run.rho < 1.0) {
        return bad("rho", run.rho, "in (0, 1)");
    }
    if !(run.l0.is_finite() && run.l0 > 0.0) {
        return bad("l0", run.l0, "finite and > 0");
    }
    if let Some(n) = run.n.filter(|n| !(n.is_finite() && *n > 0.0)) {
        return bad("n", n, "finite and > 0");
    }
    Ok(())
}
