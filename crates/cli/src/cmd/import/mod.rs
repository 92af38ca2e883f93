//! `p2law import`: turn loss logs from other tools into one curve file, adding each run's name, `n0`, `rho`
//! and `l0` that the logs cannot know.
//!
//! Inputs (one of):
//! - `FILE`: one log — HF `trainer_state.json` or output folder (`checkpoint-*/`, the last wins), TensorBoard
//!   event file or folder, W&B CSV export, JSONL, Megatron-LM or torchtune log, or any text log with
//!   `--regex` (see `p2law_law::import`); the format is sniffed unless `--format` says it.
//! - `FOLDER` of run folders: one run per subfolder, named after it, each with its log and, beside it, the
//!   `pruning.json` that `p2law prune` writes (n0, rho, l0, method, n, target_rho).
//! - `--manifest runs.toml`: `[[run]]` tables mapping logs to runs (`jobs.rs`).
//!
//! Run variables come from, in order: the manifest entry, the flags, the manifest's `[defaults]`, then
//! `pruning.json` (`--pruned DIR`, or the run folder's own). Column choice is automatic (held-out loss before
//! training loss; a token counter before steps × `--tokens-per-step`) and can be overridden with
//! `--loss-column`/`--tag`, `--tokens-column`, `--step-column`. Two points of one run at the same `d`, from
//! one log or two, are an error naming both. Output: one curve CSV (with a `step` column) for all runs; prints
//! one line per run, or one JSON object with `--json`.

mod jobs;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use p2law_law::curves::{write_curves_csv_with, ExtraColumn};
use p2law_law::import::{read_log, Batch, Imported, LogFormat};

#[derive(Parser, Debug)]
#[command(
    about = "Import loss logs (HF trainer state, TensorBoard, W&B CSV, JSONL, Megatron, torchtune, regex) as curves"
)]
pub struct Args {
    /// The log file, a run folder (HF output folder, TensorBoard log folder), or a folder of run folders.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub file: Option<PathBuf>,
    /// A TOML file mapping many logs to runs: `[[run]]` tables with `name`, `log` and optionally `pruned`,
    /// `n0`, `rho`, `l0`, `source_run`, `tokens_per_step`, … (paths relative to the manifest), and an optional
    /// `[defaults]` table for every run.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Log format: trainer-state, tfevents, csv (W&B exports), jsonl, megatron, torchtune or regex
    /// [default: sniffed from the content].
    #[arg(long, value_parser = parse_format)]
    pub format: Option<LogFormat>,
    /// Run name written to every row [default: --source-run, the run folder's name, or --pruned's folder name].
    #[arg(long)]
    pub run: Option<String>,
    /// A pruned model folder whose pruning.json gives n0, rho, l0, method and n.
    #[arg(long, value_name = "DIR")]
    pub pruned: Option<PathBuf>,
    /// Parameters of the model before pruning (non-embedding).
    #[arg(long)]
    pub n0: Option<f64>,
    /// Pruning rate, in (0, 1).
    #[arg(long)]
    pub rho: Option<f64>,
    /// Loss of the unpruned model on the same held-out data.
    #[arg(long)]
    pub l0: Option<f64>,
    /// Parameters after pruning [default: pruning.json's n, else n0 * (1 - rho)].
    #[arg(long)]
    pub n: Option<f64>,
    /// Pruning method label (e.g. depth, width).
    #[arg(long)]
    pub method: Option<String>,
    /// Model label.
    #[arg(long)]
    pub model: Option<String>,
    /// Model family label.
    #[arg(long)]
    pub family: Option<String>,
    /// Tokens per optimizer step (batch × sequence length × accumulation × ranks), to turn steps into tokens
    /// when the log has no token counter.
    #[arg(long)]
    pub tokens_per_step: Option<f64>,
    /// Loss column, or TensorBoard tag (default: first of eval_loss, eval/loss, val_loss, …, loss present).
    #[arg(long, visible_alias = "tag")]
    pub loss_column: Option<String>,
    /// Column counting tokens seen (default: num_input_tokens_seen, tokens, … when present).
    #[arg(long)]
    pub tokens_column: Option<String>,
    /// Column counting steps (default: step, global_step, train/global_step, iter, iteration, _step);
    /// used with --tokens-per-step.
    #[arg(long)]
    pub step_column: Option<String>,
    /// The run to take from a log that holds several (a W&B panel export: the `<run>` of `<run> - eval/loss`).
    #[arg(long)]
    pub source_run: Option<String>,
    /// Read a text log with this pattern: one record per matching line, one field per named group, e.g.
    /// 'step (?P<step>\d+): train loss \S+, val loss (?P<val_loss>\S+)' for nanoGPT's output.
    #[arg(long)]
    pub regex: Option<String>,
    /// Output curve file (CSV).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Print a JSON summary on stdout instead of one line per run.
    #[arg(long)]
    pub json: bool,
}

fn parse_format(s: &str) -> Result<LogFormat, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let jobs = jobs::jobs(&args)?;
    let mut batch = Batch::new();
    let mut imported: Vec<Imported> = Vec::new();
    for job in &jobs {
        let log = read_log(&job.log, job.format, job.opts.regex.as_deref())
            .with_context(|| format!("run `{}`", job.info.name))?;
        let mut info = job.info.clone();
        if info.name.is_empty() {
            match log.run_names().as_slice() {
                [one] => info.name = one.clone(),
                _ => anyhow::bail!("{}: the log does not name its run; pass --run NAME", job.log.display()),
            }
        }
        let got = log.import(&info, &job.opts).with_context(|| format!("run `{}`", info.name))?;
        batch.add(&got)?;
        imported.push(got);
    }
    let (curves, steps) = batch.finish();
    let extra: Vec<ExtraColumn<'_>> =
        steps.as_deref().map(|values| ExtraColumn { name: "step", values }).into_iter().collect();
    write_curves_csv_with(&args.out, &curves, &extra)?;

    let runs: Vec<serde_json::Value> = imported.iter().map(summary).collect();
    if args.json {
        let all = serde_json::json!({"out": args.out, "points": curves.points.len(), "runs": runs});
        println!("{all}");
        return Ok(());
    }
    for r in &runs {
        println!(
            "{}: {} points from {} ({}; loss `{}`, tokens from {}, d {:.4e}..{:.4e}; {} records skipped)",
            r["run"].as_str().unwrap_or(""),
            r["points"],
            r["source"].as_str().unwrap_or(""),
            r["format"].as_str().unwrap_or(""),
            r["loss_column"].as_str().unwrap_or(""),
            r["tokens_from"].as_str().unwrap_or(""),
            r["d_min"].as_f64().unwrap_or(f64::NAN),
            r["d_max"].as_f64().unwrap_or(f64::NAN),
            r["skipped"],
        );
    }
    println!("{}: {} runs, {} points", args.out.display(), curves.runs.len(), curves.points.len());
    Ok(())
}

fn summary(got: &Imported) -> serde_json::Value {
    let d = got.curves.points.iter().map(|p| p.d());
    let (d_min, d_max) = d.fold((f64::INFINITY, 0.0f64), |(lo, hi), d| (lo.min(d), hi.max(d)));
    let run = &got.curves.runs[0];
    serde_json::json!({
        "run": run.name,
        "source": got.source,
        "format": got.format.name(),
        "source_run": got.source_run,
        "n0": run.n0,
        "rho": run.rho,
        "l0": run.l0,
        "method": run.method,
        "points": got.curves.points.len(),
        "loss_column": got.loss_column,
        "tokens_from": got.tokens_from,
        "skipped": got.skipped,
        "d_min": d_min,
        "d_max": d_max,
    })
}
