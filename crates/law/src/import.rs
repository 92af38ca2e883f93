//! Importing loss logs from other tools as curves (`p2law import`).
//!
//! Input: a log file or run folder, and what the log cannot know — the run's name, `n0`, `rho`, `l0`
//! ([`RunInfo`]). Output: an [`Imported`] holding a one-run [`Curves`] (write it with
//! [`crate::curves::write_curves_csv_with`]); several imports merge into one [`Curves`] with [`Batch`].
//!
//! Formats ([`LogFormat`]; sniffed from the content when not given, see `sniff.rs`):
//! - `trainer-state`: a Hugging Face `trainer_state.json`, or an output folder of `checkpoint-N/`s (the last
//!   wins); each entry of `log_history` is a record.
//! - `tfevents`: TensorBoard event files (`tfevents.rs`); one record per step, one field per scalar tag.
//! - `csv`: a header row and one row per step — W&B history and panel exports (a panel of several runs holds
//!   several runs; pick one with [`ImportOptions::source_run`]) and custom loggers (`wandb.rs`).
//! - `jsonl`: one JSON object per line (torchtune's jsonl `DiskLogger`, nanoGPT-style loggers).
//! - `megatron`, `torchtune`: the text logs of Megatron-LM and torchtune; `regex`: any other text log
//!   through [`ImportOptions::regex`] with named groups (`text.rs`).
//!
//! Column choice, when not given in [`ImportOptions`] (`columns.rs`; names match case-insensitively, `/` as `_`):
//! - loss: the first of [`LOSS_COLUMNS`] that any record has. Held-out losses (`eval_loss`, `eval/loss`,
//!   `val_loss`, `lm loss validation`, …) come before training losses: the law models held-out loss, and a
//!   training loss is a noisy running mean. Records without the chosen column are skipped.
//! - tokens `d`: a tokens column from [`TOKEN_COLUMNS`] (`num_input_tokens_seen`, which the HF Trainer logs
//!   with `include_num_input_tokens_seen`; Megatron's consumed samples × `seq_length`; …) when present;
//!   otherwise a step column from [`STEP_COLUMNS`] times `tokens_per_step` (batch size × sequence length ×
//!   gradient accumulation × data-parallel ranks), which the error asks for when it is needed.
//! - Records at `d = 0` (an evaluation before training) are skipped: the law is undefined at zero tokens.
//!   Two records at the same `d` are an error naming both.
//!
//! ```
//! use p2law_law::import::{import_log_bytes, ImportOptions, LogFormat, RunInfo};
//! let log = b"step,loss,val_loss\n100,3.1,\n200,2.9,3.0\n";
//! let run = RunInfo::new("r", 1e9, 0.5, 2.2);
//! let opts = ImportOptions { tokens_per_step: Some(4096.0), ..Default::default() };
//! let got = import_log_bytes(log, LogFormat::Csv, "log.csv".as_ref(), &run, &opts).unwrap();
//! assert_eq!(got.loss_column, "val_loss");
//! assert_eq!((got.curves.points.len(), got.curves.points[0].d()), (1, 200.0 * 4096.0));
//!
//! // A W&B panel export of two runs (format sniffed), each mapped to its own variables, merged into one set.
//! use p2law_law::import::{read_log_bytes, sniff_format, Batch};
//! let panel = b"Step,a - eval/loss,a - eval/loss__MIN,b - eval/loss\n50,2.5,2.5,2.7\n100,2.4,2.4,2.6\n";
//! let format = sniff_format(panel, "panel.csv".as_ref()).unwrap();
//! let log = read_log_bytes(panel, format, "panel.csv".as_ref(), None).unwrap();
//! assert_eq!(log.run_names(), ["a", "b"]);
//! let mut batch = Batch::new();
//! for (name, rho) in [("a", 0.25), ("b", 0.5)] {
//!     let opts = ImportOptions { source_run: Some(name.into()), ..opts.clone() };
//!     batch.add(&log.import(&RunInfo::new(name, 1e9, rho, 2.2), &opts).unwrap()).unwrap();
//! }
//! let (curves, steps) = batch.finish();
//! assert_eq!((curves.runs.len(), curves.points.len()), (2, 4));
//! assert_eq!(steps, Some(vec![50.0, 100.0, 50.0, 100.0]));
//! ```

mod batch;
mod columns;
mod error;
mod points;
mod proto;
mod records;
mod sniff;
#[cfg(test)]
mod tests;
mod text;
mod tfevents;
mod wandb;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use batch::Batch;
pub use columns::{LOSS_COLUMNS, STEP_COLUMNS, TOKEN_COLUMNS};
pub use error::ImportError;
pub use sniff::run_folders;

use crate::curves::Curves;
use records::Series;

/// The log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    TrainerState,
    TfEvents,
    Csv,
    Jsonl,
    Megatron,
    Torchtune,
    Regex,
}

impl LogFormat {
    pub const ALL: [LogFormat; 7] = [
        LogFormat::TrainerState,
        LogFormat::TfEvents,
        LogFormat::Csv,
        LogFormat::Jsonl,
        LogFormat::Megatron,
        LogFormat::Torchtune,
        LogFormat::Regex,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::TrainerState => "trainer-state",
            LogFormat::TfEvents => "tfevents",
            LogFormat::Csv => "csv",
            LogFormat::Jsonl => "jsonl",
            LogFormat::Megatron => "megatron",
            LogFormat::Torchtune => "torchtune",
            LogFormat::Regex => "regex",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tensorboard" => return Ok(LogFormat::TfEvents),
            "wandb" => return Ok(LogFormat::Csv),
            _ => {}
        }
        LogFormat::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = LogFormat::ALL.iter().map(|f| f.name()).collect();
            format!("unknown log format {s:?} (expected {})", names.join(", "))
        })
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
    /// The rate the pruning aimed at (`pruning.json`'s `target_rho`), when it differs from `rho`.
    pub rho_target: Option<f64>,
}

impl RunInfo {
    pub fn new(name: &str, n0: f64, rho: f64, l0: f64) -> RunInfo {
        RunInfo { name: name.to_string(), n0, rho, l0, ..RunInfo::default() }
    }
}

/// Choices for ambiguous logs; `None` means choose automatically (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportOptions {
    /// Tokens per optimizer step, to turn a step column into tokens.
    pub tokens_per_step: Option<f64>,
    /// The loss column (for TensorBoard files, the tag, e.g. `eval/loss`).
    pub loss_column: Option<String>,
    pub tokens_column: Option<String>,
    pub step_column: Option<String>,
    /// Which run of a log that holds several (a W&B panel export).
    pub source_run: Option<String>,
    /// Pattern with named groups for [`LogFormat::Regex`].
    pub regex: Option<String>,
}

/// A log read into records, before column choice: one or more runs.
#[derive(Debug, Clone)]
pub struct Log {
    /// The file read (for a run folder: the chosen `trainer_state.json`, or the folder of event files).
    pub source: PathBuf,
    pub format: LogFormat,
    series: Vec<Series>,
}

/// An imported curve and how it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// One run, one point per usable record, in log order.
    pub curves: Curves,
    /// The step of each point (NaN where the record had none); `None` when the log has no step column.
    pub steps: Option<Vec<f64>>,
    /// Where each point came from in the log ("log_history[3]", "line 7", "step 50 (record at byte offset 96)").
    pub at: Vec<String>,
    /// The file read, and its format.
    pub source: PathBuf,
    pub format: LogFormat,
    /// The run's name in the log, when the log names its runs.
    pub source_run: Option<String>,
    pub loss_column: String,
    /// How `d` was obtained: a column name, or `"<step column> × <tokens per step>"`.
    pub tokens_from: String,
    /// Records skipped for having no value in the loss column, or `d = 0`.
    pub skipped: usize,
}

fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Read { path: path.into(), source })
}

/// Reads `path` (a file or run folder) into records; `format` is sniffed when `None`.
pub fn read_log(path: &Path, format: Option<LogFormat>, regex: Option<&str>) -> Result<Log, ImportError> {
    let format = format.or(regex.map(|_| LogFormat::Regex));
    let located = sniff::locate(path, format)?;
    let format = located.format.or(format);
    if let ([file], Some(format)) = (located.files.as_slice(), format) {
        return read_log_bytes(&read_file(file)?, format, file, regex);
    }
    if let [file] = located.files.as_slice() {
        let bytes = read_file(file)?;
        return read_log_bytes(&bytes, sniff::sniff(&bytes, file)?, file, regex);
    }
    // Several event files of one run.
    let mut events = tfevents::Events::default();
    for file in &located.files {
        let label = file.strip_prefix(path).unwrap_or(file).display().to_string();
        events.read(&read_file(file)?, file, Some(&label))?;
    }
    Ok(Log { source: path.into(), format: LogFormat::TfEvents, series: Series::one(events.records) })
}

/// The format of a log file's content, as `read_log` sniffs it; the error names each format tried.
pub fn sniff_format(bytes: &[u8], path: &Path) -> Result<LogFormat, ImportError> {
    sniff::sniff(bytes, path)
}

/// Reads a log already in memory; `path` is only used in messages.
pub fn read_log_bytes(
    bytes: &[u8],
    format: LogFormat,
    path: &Path,
    regex: Option<&str>,
) -> Result<Log, ImportError> {
    let series = match format {
        LogFormat::TrainerState => Series::one(records::trainer_state(bytes, path)?),
        LogFormat::Csv => wandb::csv(bytes, path)?,
        LogFormat::Jsonl => Series::one(records::jsonl(bytes, path)?),
        LogFormat::TfEvents => {
            let mut events = tfevents::Events::default();
            events.read(bytes, path, None)?;
            Series::one(events.records)
        }
        LogFormat::Megatron => Series::one(text::megatron(bytes, path)?),
        LogFormat::Torchtune => Series::one(text::torchtune(bytes, path)?),
        LogFormat::Regex => {
            let pattern = regex.ok_or_else(|| ImportError::BadRegex {
                pattern: String::new(),
                message: "the regex format needs a pattern (--regex)".into(),
            })?;
            Series::one(text::regex_lines(bytes, path, pattern)?)
        }
    };
    Ok(Log { source: path.into(), format, series })
}

impl Log {
    /// The names of the runs in the log, when it names them (a W&B panel export).
    pub fn run_names(&self) -> Vec<String> {
        self.series.iter().filter_map(|s| s.name.clone()).collect()
    }

    /// The run `opts.source_run` (or the only run) as a curve.
    pub fn import(&self, run: &RunInfo, opts: &ImportOptions) -> Result<Imported, ImportError> {
        let series = match (&opts.source_run, self.series.as_slice()) {
            (None, [one]) => one,
            (None, _) => {
                return Err(ImportError::SeveralRuns { path: self.source.clone(), runs: self.run_names() })
            }
            (Some(want), all) => all.iter().find(|s| s.name.as_deref() == Some(want)).ok_or_else(|| {
                let runs = self.run_names();
                let runs = if runs.is_empty() { vec!["one unnamed run".into()] } else { runs };
                ImportError::NoSuchRun { path: self.source.clone(), run: want.clone(), runs }
            })?,
        };
        points::import_series(series, &self.source, self.format, run, opts)
    }
}

/// Reads `path` (a file or run folder) and imports it; `format` is sniffed when `None`.
pub fn import_log(
    path: &Path,
    format: Option<LogFormat>,
    run: &RunInfo,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    read_log(path, format, opts.regex.as_deref())?.import(run, opts)
}

/// Imports a log already in memory; `path` is only used in messages.
pub fn import_log_bytes(
    bytes: &[u8],
    format: LogFormat,
    path: &Path,
    run: &RunInfo,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    read_log_bytes(bytes, format, path, opts.regex.as_deref())?.import(run, opts)
}

/// "path (at)", for messages that name a point's origin.
pub(crate) fn describe(path: &Path, at: &str) -> String {
    format!("{} ({at})", path.display())
}

pub(crate) fn no_tokens(path: &Path, reason: String) -> ImportError {
    ImportError::NoTokens { path: path.into(), reason }
}
