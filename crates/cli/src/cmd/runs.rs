//! `p2law runs STORE`: the runs of a run store, filtered; `--rebuild DIR` first rewrites the store from the
//! run folders under DIR (the folders are the truth, the store is their index).
//!
//! A run folder is one with `run.toml` and `curve.csv` (what `p2law train` writes). Rebuilding reads the
//! run's name from `run.toml` and its constants and progress from the last row of `curve.csv`; the status is
//! `finished` with `final/config.json`, `running` while a sweep's claim on it is held
//! (`<sweep>/claims/<name>.lock`), else `failed` (stopped; resumable). JSON: `{"store", "rebuilt", "runs":
//! [{"name", "status", "method", "rho", "n0", "l0", "tokens", "step", "dir"}]}`.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use p2law_train::store::{RunRecord, RunStatus, RunStore};

#[derive(Parser, Debug)]
#[command(about = "List and filter the runs of a run store; rebuild it from the run folders")]
pub struct Args {
    /// The run store (a sweep's `runs.sqlite`).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// First rewrite the store from the run folders under DIR (e.g. the sweep folder).
    #[arg(long, value_name = "DIR")]
    pub rebuild: Option<PathBuf>,
    /// Only runs with this status: running, finished or failed.
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this pruning method (`none` for unpruned runs).
    #[arg(long)]
    pub method: Option<String>,
    /// Only runs whose achieved ρ is within 0.005 of this.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Only runs with at least this many tokens trained.
    #[arg(long, value_name = "N")]
    pub min_tokens: Option<u64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let status = match args.status.as_deref() {
        None => None,
        Some(s) => Some(
            [RunStatus::Running, RunStatus::Finished, RunStatus::Failed]
                .into_iter()
                .find(|r| r.as_str() == s)
                .with_context(|| format!("--status {s}: use running, finished or failed"))?,
        ),
    };
    let mut rebuilt = None;
    if let Some(dir) = &args.rebuild {
        let records = scan(dir)?;
        rebuilt = Some(records.len());
        rebuild(&args.store, &records)?;
    } else if !args.store.is_file() {
        bail!(
            "{}: no run store here (give --rebuild DIR to make it from the run folders)",
            args.store.display()
        );
    }
    let store = RunStore::open(&args.store)?;
    let runs: Vec<RunRecord> = store
        .list()?
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .filter(|r| args.method.as_deref().is_none_or(|m| r.method.as_deref().unwrap_or("none") == m))
        .filter(|r| args.rate.is_none_or(|x| (r.rho - x).abs() <= 0.005))
        .filter(|r| args.min_tokens.is_none_or(|t| r.tokens >= t))
        .collect();
    if args.json {
        let list: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({"name": r.name, "status": r.status.as_str(), "method": r.method, "rho": r.rho,
                    "n0": r.n0, "l0": r.l0, "tokens": r.tokens, "step": r.step, "dir": r.dir})
            })
            .collect();
        println!("{}", serde_json::json!({"store": args.store, "rebuilt": rebuilt, "runs": list}));
        return Ok(());
    }
    if let Some(n) = rebuilt {
        eprintln!("rebuilt {} from {n} run folder(s)", args.store.display());
    }
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:8}  {:12}  {:>7}  {:>10}  {:>7}  {:>10}",
        "run", "status", "method", "rho", "n0", "l0", "tokens"
    );
    for r in &runs {
        println!(
            "{:width$}  {:8}  {:12}  {:>7.4}  {:>10.0}  {:>7.4}  {:>10}",
            r.name,
            r.status.as_str(),
            r.method.as_deref().unwrap_or("-"),
            r.rho,
            r.n0,
            r.l0,
            r.tokens
        );
    }
    println!("{} run(s)", runs.len());
    Ok(())
}

/// Rewrites the store at `path` with exactly `records` (into a new file, renamed over the old one).
fn rebuild(path: &Path, records: &[RunRecord]) -> anyhow::Result<()> {
    let name = path.file_name().with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.rebuild-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        let store = RunStore::open(&tmp)?;
        for r in records {
            store.upsert(r)?;
            store.set_progress(&r.name, r.status, r.tokens, r.step)?;
        }
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Every run folder under `root` (at most 4 levels down), by name.
fn scan(root: &Path) -> anyhow::Result<Vec<RunRecord>> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        if dir.join("run.toml").is_file() && dir.join("curve.csv").is_file() {
            if let Some(r) = read_run(&dir)? {
                found.push(r);
            }
            continue;
        }
        if depth >= 4 {
            continue;
        }
        let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    for w in found.windows(2) {
        if w[0].name == w[1].name {
            bail!(
                "two run folders name the run {}: {} and {}",
                w[0].name,
                w[0].dir.display(),
                w[1].dir.display()
            );
        }
    }
    Ok(found)
}

/// The record of the run folder `dir`; `None` when its curve has no row yet.
fn read_run(dir: &Path) -> anyhow::Result<Option<RunRecord>> {
    let toml_path = dir.join("run.toml");
    let text =
        std::fs::read_to_string(&toml_path).with_context(|| format!("reading {}", toml_path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML", toml_path.display()))?;
    let name = table
        .get("name")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: no `name`", toml_path.display()))?
        .to_string();
    let curve_path = dir.join("curve.csv");
    let curve =
        std::fs::read_to_string(&curve_path).with_context(|| format!("reading {}", curve_path.display()))?;
    let mut lines = curve.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let Some(last) = lines.rfind(|l| !l.trim().is_empty()) else { return Ok(None) };
    let row: Vec<&str> = last.split(',').collect();
    let field = |col: &str| -> anyhow::Result<&str> {
        let i = header
            .iter()
            .position(|h| *h == col)
            .with_context(|| format!("{}: no `{col}` column", curve_path.display()))?;
        row.get(i).copied().with_context(|| format!("{}: short last row", curve_path.display()))
    };
    let num = |col: &str| -> anyhow::Result<f64> {
        field(col)?
            .parse()
            .with_context(|| format!("{}: `{col}` of the last row is not a number", curve_path.display()))
    };
    let method = field("method").ok().filter(|m| !m.is_empty()).map(str::to_string);
    let finished = dir.join("final/config.json").is_file();
    let held = dir
        .parent()
        .and_then(Path::parent)
        .map(|sweep| sweep.join("claims").join(format!("{name}.lock")))
        .is_some_and(|lock| is_locked(&lock));
    let status = if finished {
        RunStatus::Finished
    } else if held {
        RunStatus::Running
    } else {
        RunStatus::Failed
    };
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(Some(RunRecord {
        name,
        status,
        n0: num("n0")?,
        rho: num("rho")?,
        l0: num("l0")?,
        method,
        dir,
        tokens: num("d")? as u64,
        step: num("step")? as u64,
    }))
}

/// Whether some process holds a lock on `path`.
fn is_locked(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)))
}
