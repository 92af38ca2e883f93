//! Telling a log's format from its bytes, and finding the log inside a run folder.
//!
//! A file's format, when not given, is the first of these that fits: `tfevents` (an `events.out.tfevents.*`
//! name or a TFRecord header with a valid checksum), `trainer-state` (a JSON object with `log_history`),
//! `jsonl` (the first line is a JSON object), `megatron`, `torchtune`, `csv` (a header with a comma, and the
//! next rows as wide).
//!
//! A run folder holds, in order of preference:
//! 1. a Hugging Face output folder: `checkpoint-N/trainer_state.json` (the largest `N` wins: its history
//!    contains the earlier ones) or `trainer_state.json` (used instead when its `global_step` ≥ that `N`);
//! 2. TensorBoard event files, in the folder or in `runs/*/` (the Trainer's default `logging_dir`), read in
//!    path order;
//! 3. exactly one `.csv`, `.jsonl`, `.log` or `.txt` file.
//!
//! A folder that holds none of 1–2 but has subfolders is a folder of runs ([`run_folders`]).

use std::path::{Path, PathBuf};

use super::records::text;
use super::{text as text_logs, tfevents, ImportError, LogFormat};

/// The files to read for one run, and their format when the folder's layout implies it.
#[derive(Debug)]
pub(crate) struct Located {
    pub files: Vec<PathBuf>,
    pub format: Option<LogFormat>,
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let io = |source| ImportError::Read { path: dir.into(), source };
    let mut out = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    out.retain(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')));
    out.sort();
    Ok(out)
}

fn name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The trainer state of a Hugging Face output folder (rule 1), if it has one.
fn trainer_state_in(dir: &Path) -> Result<Option<PathBuf>, ImportError> {
    let last = read_dir(dir)?
        .into_iter()
        .filter_map(|p| Some((name(&p).strip_prefix("checkpoint-")?.parse::<u64>().ok()?, p)))
        .filter(|(_, p)| p.join("trainer_state.json").is_file())
        .max_by_key(|(n, _)| *n);
    let top = dir.join("trainer_state.json");
    match last {
        None => Ok(top.is_file().then_some(top)),
        Some((n, ckpt)) if top.is_file() => {
            let bytes =
                std::fs::read(&top).map_err(|source| ImportError::Read { path: top.clone(), source })?;
            let step = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("global_step")?.as_u64());
            Ok(Some(if step.is_some_and(|s| s >= n) { top } else { ckpt.join("trainer_state.json") }))
        }
        Some((_, ckpt)) => Ok(Some(ckpt.join("trainer_state.json"))),
    }
}

/// TensorBoard event files of a run folder (rule 2).
fn event_files_in(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let is_events = |p: &PathBuf| p.is_file() && name(p).starts_with("events.out.tfevents");
    let mut files: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(is_events).collect();
    let hf = dir.join("runs");
    if files.is_empty() && hf.is_dir() {
        for sub in read_dir(&hf)?.into_iter().filter(|p| p.is_dir()) {
            files.extend(read_dir(&sub)?.into_iter().filter(is_events));
        }
    }
    Ok(files)
}

/// What to read for `path` (a file, or a run folder); see the module docs.
pub(crate) fn locate(path: &Path, format: Option<LogFormat>) -> Result<Located, ImportError> {
    if !path.is_dir() {
        return Ok(Located { files: vec![path.to_path_buf()], format });
    }
    if matches!(format, None | Some(LogFormat::TrainerState)) {
        if let Some(file) = trainer_state_in(path)? {
            return Ok(Located { files: vec![file], format: Some(LogFormat::TrainerState) });
        }
    }
    if matches!(format, None | Some(LogFormat::TfEvents)) {
        let files = event_files_in(path)?;
        if !files.is_empty() {
            return Ok(Located { files, format: Some(LogFormat::TfEvents) });
        }
    }
    let logs: Vec<PathBuf> = read_dir(path)?
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("csv" | "jsonl" | "log" | "txt")))
        .collect();
    match logs.as_slice() {
        [one] => Ok(Located { files: vec![one.clone()], format }),
        [] => Err(ImportError::NotARun {
            path: path.into(),
            reason: "no checkpoint-*/trainer_state.json, trainer_state.json, events.out.tfevents.* (also under runs/*/) \
                     or .csv/.jsonl/.log/.txt log in it"
                .into(),
        }),
        several => Err(ImportError::NotARun {
            path: path.into(),
            reason: format!(
                "several candidate logs ({}); name the log itself, or each in a --manifest",
                several.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// The run folders inside `dir`, sorted by name, when `dir` is a folder of runs: it holds no trainer state
/// or event files of its own and has subfolders. `None` when `dir` is itself a run (or not a folder).
pub fn run_folders(dir: &Path) -> Result<Option<Vec<(String, PathBuf)>>, ImportError> {
    if !dir.is_dir() || trainer_state_in(dir)?.is_some() || !event_files_in(dir)?.is_empty() {
        return Ok(None);
    }
    let subdirs: Vec<(String, PathBuf)> =
        read_dir(dir)?.into_iter().filter(|p| p.is_dir()).map(|p| (name(&p).to_string(), p)).collect();
    Ok((!subdirs.is_empty()).then_some(subdirs))
}

/// The format of a file's content; the error lists each format tried and why it did not fit.
pub(crate) fn sniff(bytes: &[u8], path: &Path) -> Result<LogFormat, ImportError> {
    if name(path).starts_with("events.out.tfevents") || tfevents::looks_like_tfrecord(bytes) {
        return Ok(LogFormat::TfEvents);
    }
    let mut tried = vec!["tfevents (no TFRecord header)".to_string()];
    let unknown = |mut tried: Vec<String>, rest: &str| {
        tried.push(rest.into());
        ImportError::UnknownFormat { path: path.into(), tried }
    };
    let Ok(text) = text(bytes, path) else {
        return Err(unknown(tried, "the text formats (not UTF-8)"));
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if first.starts_with('{') {
        let whole = serde_json::from_str::<serde_json::Value>(text);
        if whole.as_ref().is_ok_and(|v| v.get("log_history").is_some()) {
            return Ok(LogFormat::TrainerState);
        }
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(first).is_ok() {
            return Ok(LogFormat::Jsonl);
        }
    }
    tried.push("trainer-state (not a JSON object with `log_history`)".into());
    tried.push("jsonl (the first line is not a JSON object)".into());
    if text_logs::looks_like_megatron(text) {
        return Ok(LogFormat::Megatron);
    }
    tried.push(
        "megatron (no `iteration N/ M | consumed samples:` or `validation loss at iteration N` line)".into(),
    );
    if text_logs::looks_like_torchtune(text) {
        return Ok(LogFormat::Torchtune);
    }
    tried.push("torchtune (the first line is not `Step N | name:value`)".into());
    if looks_like_csv(text) {
        return Ok(LogFormat::Csv);
    }
    Err(unknown(tried, "csv (no header with a comma and rows of as many fields)"))
}

/// A header of two or more fields, and the next rows (up to 4) with as many.
fn looks_like_csv(text: &str) -> bool {
    let mut reader =
        ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let widths: Vec<usize> = reader.records().take(5).map_while(Result::ok).map(|r| r.len()).collect();
    widths.first().is_some_and(|&w| w >= 2 && widths.iter().all(|&x| x == w))
}
