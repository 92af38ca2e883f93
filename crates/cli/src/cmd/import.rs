//! `p2law import`: turn a loss log from another tool (HF `trainer_state.json`, a CSV or JSONL log) into a curve
//! file, adding the run's name, `n0`, `rho` and `l0` that the log cannot know.
//!
//! Column choice is automatic (held-out loss before training loss; a token counter before steps × tokens per
//! step; see `p2law_law::import`) and can be overridden with `--loss-column`, `--tokens-column`,
//! `--step-column`. Prints what it chose; `--json` prints it as one object.

use std::path::PathBuf;

use clap::Parser;
use p2law_law::curves::{write_curves_csv_with, ExtraColumn};
use p2law_law::import::{import_log, ImportOptions, LogFormat, RunInfo};

#[derive(Parser, Debug)]
#[command(about = "Import a loss log (trainer_state.json, CSV, JSONL) as a curve file")]
pub struct Args {
    /// Log format: trainer-state (HF trainer_state.json), csv or jsonl.
    #[arg(long, value_parser = parse_format)]
    pub format: LogFormat,
    /// The log file.
    pub file: PathBuf,
    /// Run name written to every row.
    #[arg(long)]
    pub run: String,
    /// Parameters of the model before pruning.
    #[arg(long)]
    pub n0: f64,
    /// Pruning rate, in (0, 1).
    #[arg(long)]
    pub rho: f64,
    /// Loss of the unpruned model on the same held-out data.
    #[arg(long)]
    pub l0: f64,
    /// Parameters after pruning (default n0 * (1 - rho)).
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
    /// Tokens per optimizer step (batch × sequence length × accumulation × ranks), to turn steps into tokens.
    #[arg(long)]
    pub tokens_per_step: Option<f64>,
    /// Loss column to use (default: first of eval_loss, val_loss, …, loss, train_loss present).
    #[arg(long)]
    pub loss_column: Option<String>,
    /// Column counting tokens seen (default: num_input_tokens_seen, tokens, … when present).
    #[arg(long)]
    pub tokens_column: Option<String>,
    /// Column counting steps (default: step, global_step, steps, iter, iteration); used with --tokens-per-step.
    #[arg(long)]
    pub step_column: Option<String>,
    /// Output curve file (CSV).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Print a JSON summary on stdout instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

fn parse_format(s: &str) -> Result<LogFormat, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let info = RunInfo {
        name: args.run,
        n0: args.n0,
        rho: args.rho,
        l0: args.l0,
        n: args.n,
        method: args.method,
        model: args.model,
        family: args.family,
    };
    let opts = ImportOptions {
        tokens_per_step: args.tokens_per_step,
        loss_column: args.loss_column,
        tokens_column: args.tokens_column,
        step_column: args.step_column,
    };
    let got = import_log(&args.file, args.format, &info, &opts)?;
    let extra: Vec<ExtraColumn<'_>> =
        got.steps.as_deref().map(|values| ExtraColumn { name: "step", values }).into_iter().collect();
    write_curves_csv_with(&args.out, &got.curves, &extra)?;

    let points = got.curves.points.len();
    let (d_min, d_max) =
        got.curves.points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.d()), hi.max(p.d())));
    if args.json {
        let summary = serde_json::json!({
            "out": args.out,
            "run": info.name,
            "points": points,
            "loss_column": got.loss_column,
            "tokens_from": got.tokens_from,
            "skipped": got.skipped,
            "d_min": d_min,
            "d_max": d_max,
        });
        println!("{summary}");
    } else {
        println!(
            "{}: {points} points of run {:?} (loss from `{}`, tokens from {}, d {d_min:.4e}..{d_max:.4e}; {} records skipped)",
            args.out.display(),
            info.name,
            got.loss_column,
            got.tokens_from,
            got.skipped
        );
    }
    Ok(())
}
