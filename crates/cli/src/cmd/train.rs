//! `p2law train --config RUN.toml`: pretrain from scratch or post-train a (pruned) model; resumable.
//!
//! The config format is documented field by field in `p2law_train::config`. The run directory gets
//! `run.toml`, `curve.csv` (growing, one row per held-out evaluation), `checkpoints/` and, at the end,
//! `final/` (a Hugging Face directory); the run is registered in the SQLite run store. `--resume` continues
//! from the newest checkpoint exactly. JSON: `{"run", "dir", "finished", "step", "tokens", "l0",
//! "val_loss", "curve", "final"}`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use p2law_train::curve::CurvePoint;
use p2law_train::trainer::{self, Control, Progress, StepReport};
use p2law_train::{Data, FileConfig, RunConfig};

#[derive(Parser, Debug)]
#[command(about = "Pretrain or post-train a model as RUN.toml says; writes the loss curve and checkpoints")]
pub struct Args {
    /// The run config (TOML; see `p2law_train::config` for every key).
    #[arg(long)]
    pub config: PathBuf,
    /// Continue the run in the config's `out` directory from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// cpu or cuda:N (overrides the config's `device`; cuda needs a build with `--features cuda`).
    #[arg(long)]
    pub device: Option<String>,
    /// Stop after this many optimizer steps (as if interrupted); continue later with --resume.
    #[arg(long)]
    pub stop_after_steps: Option<u64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = FileConfig::load(&args.config)?;
    if let Some(device) = args.device {
        p2law_train::device::parse_device_name(&device).map_err(|msg| anyhow::anyhow!("--device: {msg}"))?;
        cfg.device = device;
    }
    let show = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let control = Control { resume: args.resume, stop_after_steps: args.stop_after_steps };
    let out = execute(&cfg, control, show)?;

    let curve = cfg.out_dir.join("curve.csv");
    let final_dir = out.finished.then(|| cfg.out_dir.join("final"));
    if args.json {
        let v = serde_json::json!({
            "run": cfg.name, "dir": cfg.out_dir, "finished": out.finished, "step": out.step,
            "tokens": out.tokens, "l0": out.l0, "val_loss": out.last_val_loss, "curve": curve, "final": final_dir,
        });
        println!("{v}");
    } else {
        println!("run       {}", cfg.name);
        println!("status    {}", if out.finished { "finished" } else { "stopped (resume with --resume)" });
        println!("steps     {} / {}", out.step, cfg.total_steps);
        println!("tokens    {}", out.tokens);
        println!("l0        {:.4}", out.l0);
        if let Some(v) = out.last_val_loss {
            println!("val loss  {v:.4}");
        }
        println!("curve     {}", curve.display());
        if let Some(dir) = final_dir {
            println!("model     {}", dir.display());
        }
    }
    Ok(())
}

/// Opens the model and data of a resolved run config and trains it (also used by `p2law sweep`).
pub fn execute(cfg: &RunConfig, control: Control, show: bool) -> anyhow::Result<trainer::Outcome> {
    let setup = p2law_train::setup::open(cfg).context("opening the model and data")?;
    let _keep = p2law_train::alloc::KeepFreedMemory::new();
    let mut bar = Bar::new(show);
    let data = Data { train: &setup.train, heldout: &setup.heldout };
    Ok(trainer::train(cfg, &setup.model, setup.meta, setup.masks, data, &setup.device, control, &mut bar)?)
}

/// Progress bar on stderr: step count, tokens/s, loss and ETA.
struct Bar {
    bar: ProgressBar,
    val: Option<f64>,
}

impl Bar {
    fn new(show: bool) -> Bar {
        let bar = if show { ProgressBar::new(0) } else { ProgressBar::hidden() };
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar, val: None }
    }
}

impl Progress for Bar {
    fn start(&mut self, first_step: u64, total_steps: u64) {
        self.bar.set_length(total_steps);
        self.bar.set_position(first_step);
        self.bar.reset_eta();
    }

    fn step(&mut self, r: &StepReport) {
        let val = self.val.map(|v| format!("  val {v:.4}")).unwrap_or_default();
        self.bar.set_message(format!(
            "{:.0} tok/s  loss {:.4}{val}  lr {:.2e}  |g| {:.3}",
            r.tokens_per_s, r.train_loss, r.lr, r.grad_norm
        ));
        self.bar.set_position(r.step);
    }

    fn eval(&mut self, p: &CurvePoint) {
        self.val = Some(p.val_loss);
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
