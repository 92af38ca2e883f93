//! `p2law watch LOG`: follow a running post-training curve and forecast where it ends
//! (`p2law_law::watch`).
//!
//! LOG is a curve file (`curve.csv` as `p2law train` writes it, or any CSV/JSONL curve file); it is re-read
//! whenever it changes. The run's planned tokens come from `--planned`, else from `run.toml` beside the log
//! (`train.tokens`). `--fit PRIOR.json` (a fit of other runs) pins the law's shape, so a few points suffice;
//! without it the run is fitted alone. Each update prints one line (or one JSON object with `--json`);
//! `--once` prints one and exits. Watching ends when the run reaches its planned tokens.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use p2law_law::curves::read_curves;
use p2law_law::watch::{forecast, Forecast, Prior, WatchQuery};
use p2law_law::FitFile;

use super::table::num;

#[derive(Parser, Debug)]
#[command(about = "Follow a running post-training curve and forecast its final and plateau loss")]
pub struct Args {
    /// The curve file the run writes (curve.csv), re-read as it grows.
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
    /// The run to follow when the file holds several.
    #[arg(long)]
    pub run: Option<String>,
    /// A fit of other runs (FIT.json): its shape is kept and only the run's own terms are refitted.
    #[arg(long, value_name = "PRIOR.json")]
    pub fit: Option<PathBuf>,
    /// The run's planned post-training tokens (default: train.tokens of run.toml beside the log).
    #[arg(long, value_name = "TOKENS")]
    pub planned: Option<f64>,
    /// More tokens stop paying when the next --per tokens gain less than this.
    #[arg(long, default_value_t = 1e-3)]
    pub min_gain: f64,
    /// Token step for --min-gain.
    #[arg(long, default_value_t = 1e9)]
    pub per: f64,
    /// Seconds between checks of the log.
    #[arg(long, default_value_t = 60.0)]
    pub every: f64,
    /// Print one forecast and exit.
    #[arg(long)]
    pub once: bool,
    /// One JSON object per forecast on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.every.is_finite() && args.every > 0.0,
        "--every {} must be positive seconds",
        args.every
    );
    for (flag, v) in [("--min-gain", args.min_gain), ("--per", args.per)] {
        anyhow::ensure!(v.is_finite() && v > 0.0, "{flag} {v} must be positive");
    }
    let prior = args.fit.as_deref().map(read_prior).transpose()?;
    let planned = match args.planned {
        Some(d) => {
            anyhow::ensure!(d.is_finite() && d > 0.0, "--planned {d} must be a positive token count");
            Some(d)
        }
        None => planned_from_run_toml(&args.log)?,
    };
    let q = WatchQuery { planned, min_gain: args.min_gain, per: args.per, ..Default::default() };
    let mut seen: Option<(SystemTime, u64)> = None;
    loop {
        let meta =
            std::fs::metadata(&args.log).with_context(|| format!("{}: cannot read", args.log.display()))?;
        let stamp = (meta.modified()?, meta.len());
        if seen != Some(stamp) {
            seen = Some(stamp);
            let f = forecast_once(&args, prior.as_ref(), &q)?;
            if args.json {
                println!("{}", serde_json::to_string(&f)?);
            } else {
                print_line(&f);
            }
            let done = planned.is_some_and(|d| f.last_d >= d * (1.0 - 1e-9));
            if args.once || done {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_secs_f64(args.every));
    }
}

fn forecast_once(args: &Args, prior: Option<&Prior>, q: &WatchQuery) -> anyhow::Result<Forecast> {
    let curves = read_curves(std::slice::from_ref(&args.log), None)?;
    let index = match &args.run {
        Some(name) => curves
            .runs
            .iter()
            .position(|r| &r.name == name)
            .with_context(|| format!("{}: no run named '{name}'", args.log.display()))?,
        None if curves.runs.len() == 1 => 0,
        None => anyhow::bail!(
            "{}: {} runs; choose one with --run ({})",
            args.log.display(),
            curves.runs.len(),
            curves.runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    let points: Vec<_> = curves.points.iter().filter(|p| p.run == index).copied().collect();
    Ok(forecast(&points, prior, q)?)
}

fn read_prior(path: &Path) -> anyhow::Result<Prior> {
    let file = FitFile::read(path)?;
    Ok(Prior {
        law: file.law()?,
        params: file.values(),
        draws: file.bootstrap.map(|b| b.draws).unwrap_or_default(),
    })
}

/// `train.tokens` of `run.toml` in the log's folder, if there is one.
fn planned_from_run_toml(log: &Path) -> anyhow::Result<Option<f64>> {
    let path = log.parent().unwrap_or(Path::new(".")).join("run.toml");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML", path.display()))?;
    Ok(table.get("train").and_then(|t| t.get("tokens")).and_then(|v| v.as_integer()).map(|t| t as f64))
}

fn print_line(f: &Forecast) {
    let range = |i: Option<[f64; 2]>| {
        i.map_or(String::new(), |[lo, hi]| format!(" [{} – {}]", num(Some(lo), 4), num(Some(hi), 4)))
    };
    let fin = match (f.planned_d, f.final_loss) {
        (Some(d), Some(l)) => {
            format!("; at {} tokens {}{}", num(Some(d), 3), num(Some(l), 4), range(f.final_interval))
        }
        _ => String::new(),
    };
    let gain =
        f.d_min_gain.map_or(String::new(), |d| format!("; gains fade after {} tokens", num(Some(d), 3)));
    println!(
        "{} points, d {}: loss {}{fin}; plateau {}{}{gain} ({})",
        f.points,
        num(Some(f.last_d), 3),
        num(Some(f.last_loss), 4),
        num(Some(f.plateau), 4),
        range(f.plateau_interval),
        f.basis
    );
    for n in &f.notes {
        eprintln!("note: {n}");
    }
}
