//! `p2law train --config RUN.toml`: pretrain from scratch or post-train a (pruned) model; resumable.
//!
//! The config format is documented field by field in `p2law_train::config`. The run directory gets
//! `run.toml`, `curve.csv` (growing, one row per held-out evaluation), `checkpoints/` and, at the end,
//! `final/` (a Hugging Face directory); the run is registered in the SQLite run store. `--resume` continues
//! from the newest checkpoint exactly. JSON: `{"run", "dir", "finished", "step", "tokens", "l0",
//! "val_loss", "curve", "final"}`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use p2law_train::curve::CurvePoint;
use p2law_train::trainer::{Control, Progress, StepReport};
use p2law_train::FileConfig;

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
    /// No progress bar and no heartbeat.
    #[arg(long)]
    pub quiet: bool,
    /// Off a terminal (output to a file), print a heartbeat line on stderr at most every this many seconds
    /// (0: none). On a terminal the progress bar shows instead.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub log_every: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = FileConfig::load(&args.config)?;
    if let Some(device) = args.device {
        p2law_train::device::parse_device_name(&device).map_err(|msg| anyhow::anyhow!("--device: {msg}"))?;
        cfg.device = device;
    }
    let tty = std::io::stderr().is_terminal();
    let show = !args.quiet && !args.json && tty;
    let beat = heartbeat_every(args.log_every, args.quiet || tty)?;
    let control = Control { resume: args.resume, stop_after_steps: args.stop_after_steps };
    let setup = p2law_train::setup::open(&cfg).context("opening the model and data")?;
    let out = setup.train(&cfg, control, &mut Bar::new(show, beat, &cfg.name))?;

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

/// `--log-every SECS` as the heartbeat period; `None` when off (0, or `off` is set: quiet or a terminal).
pub fn heartbeat_every(secs: f64, off: bool) -> anyhow::Result<Option<Duration>> {
    if !(secs.is_finite() && secs >= 0.0) {
        anyhow::bail!("--log-every {secs}: give a number of seconds, 0 or more");
    }
    Ok((!off && secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// Progress bar on stderr: step count, tokens/s, loss and ETA; or, off a terminal, a heartbeat line (also
/// the progress of a sweep's training runs).
pub struct Bar {
    bar: ProgressBar,
    val: Option<f64>,
    heartbeat: Option<Heartbeat>,
}

/// One stderr line at most every `every`, for logs in files: step, tokens, loss, held-out loss, tokens/s,
/// ETA. The first step and the last always print.
struct Heartbeat {
    name: String,
    every: Duration,
    last: Option<Instant>,
    /// Where the step clock of this process started (resumed runs start mid-way).
    started: Option<(Instant, u64)>,
}

impl Heartbeat {
    fn new(name: &str, every: Duration) -> Heartbeat {
        Heartbeat { name: name.into(), every, last: None, started: None }
    }

    fn step(&mut self, r: &StepReport, val: Option<f64>) {
        let now = Instant::now();
        let (t0, s0) = *self.started.get_or_insert((now, r.step.saturating_sub(1)));
        let due = self.last.is_none_or(|t| now.duration_since(t) >= self.every) || r.step == r.total_steps;
        if !due {
            return;
        }
        self.last = Some(now);
        let done = r.step.saturating_sub(s0) as f64;
        let elapsed = now.duration_since(t0).as_secs_f64();
        let eta = (done > 0.0 && elapsed > 0.0)
            .then(|| (r.total_steps - r.step) as f64 * elapsed / done)
            .map_or("?".into(), |s| format!("{s:.0}s"));
        let val = val.map_or("-".into(), |v| format!("{v:.4}"));
        eprintln!(
            "[train {}] step {}/{} tokens {} loss {:.4} heldout {val} {:.0} tok/s ETA {eta}",
            self.name, r.step, r.total_steps, r.tokens, r.train_loss, r.tokens_per_s
        );
    }
}

impl Bar {
    /// A bar when `show`, a heartbeat line every `beat` when given, for the run `name`.
    pub fn new(show: bool, beat: Option<Duration>, name: &str) -> Bar {
        let bar = if show { ProgressBar::new(0) } else { ProgressBar::hidden() };
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar, val: None, heartbeat: beat.map(|every| Heartbeat::new(name, every)) }
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
        if let Some(h) = &mut self.heartbeat {
            h.step(r, self.val);
        }
    }

    fn eval(&mut self, p: &CurvePoint) {
        self.val = Some(p.val_loss);
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
