//! `p2law sweep RECIPE.toml`: pretrain the base family, prune it every way at every rate, post-train each
//! pruned model, then write the report — resumable, idempotent, shareable, and submittable to Slurm.
//!
//! The work is the `p2law-sweep` library's (the recipe, the plan of units, claims, the runner, Slurm): this
//! command parses the flags, reads and checks the recipe, prints the plan or the outcome, and supplies the
//! [`Reporter`] — `[sweep NAME] …` messages on stderr, and per training run a progress bar on a terminal or
//! a heartbeat line off one (see `p2law_sweep` for the layout of the sweep folder).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use p2law_sweep::run::Claimed;
use p2law_sweep::slurm::{self, Submission};
use p2law_sweep::{Ran, Recipe, Reporter, Sweep};
use p2law_train::trainer::Progress;
use p2law_train::RunConfig;

#[derive(Parser, Debug)]
#[command(about = "Run a recipe: pretrain, prune every way, post-train, report (resumable; local or Slurm)")]
pub struct Args {
    /// The sweep recipe (TOML; see `recipes/` for presets).
    #[arg(value_name = "RECIPE")]
    pub recipe: PathBuf,
    /// Output folder instead of the recipe's `out` (the same grid into another folder, e.g. a fresh one).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the final report.
    #[arg(long)]
    pub no_report: bool,
    /// No progress messages.
    #[arg(long)]
    pub quiet: bool,
    /// Print the plan (every unit, its dependencies and status) and run nothing.
    #[arg(long, conflicts_with_all = ["unit", "slurm", "slurm_dry_run"])]
    pub plan: bool,
    /// With --plan: one JSON object instead of a table.
    #[arg(long, requires = "plan")]
    pub json: bool,
    /// Run this one unit (an id from --plan) and nothing else; its dependencies must be done.
    #[arg(long, value_name = "ID", conflicts_with_all = ["slurm", "slurm_dry_run"])]
    pub unit: Option<String>,
    /// Longest wait, in seconds, for units running in other processes (a busy dependency, or the unit of
    /// --unit held by another process) with no unit finishing meanwhile.
    #[arg(long, value_name = "SECS", default_value_t = 86_400.0)]
    pub wait: f64,
    /// Off a terminal, a heartbeat line from training and pruning at most every this many seconds (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub log_every: f64,
    /// Submit the units not done yet to Slurm with sbatch: one job array per dependency level, each level
    /// `afterok` on the one before, each task `p2law sweep RECIPE --unit ID` in this sweep folder.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: an sbatch option for every job (repeatable), e.g. --slurm-opt=--gres=gpu:1.
    #[arg(long, value_name = "OPT", allow_hyphen_values = true)]
    pub slurm_opt: Vec<String>,
    /// With --slurm: at most this many tasks of one job array at a time.
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
    /// Write the sbatch scripts (and print the commands) without submitting.
    #[arg(long)]
    pub slurm_dry_run: bool,
}

/// Messages on stderr (none when quiet); training progress as `p2law train` shows it.
struct Stderr {
    name: String,
    quiet: bool,
    /// Show a training run's progress bar (a terminal, not quiet).
    bar: bool,
    beat: Option<Duration>,
}

impl Reporter for Stderr {
    fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("[sweep {}] {msg}", self.name);
        }
    }

    fn training(&self, cfg: &RunConfig) -> Box<dyn Progress> {
        Box::new(super::train::Bar::new(self.bar, self.beat, &cfg.name))
    }
}

fn seconds(flag: &str, secs: f64) -> anyhow::Result<Duration> {
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("{flag} {secs}: give a number of seconds, 0 or more");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut recipe = Recipe::load(&args.recipe)?;
    if let Some(out) = &args.out {
        recipe.out = std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?;
    }
    if args.plan {
        let plan = p2law_sweep::Plan::build(&recipe);
        let statuses = plan.statuses(true)?;
        if args.json {
            println!("{}", plan.to_json(&recipe.name, &statuses));
        } else {
            print!("{}", plan.to_table(&statuses));
        }
        return Ok(());
    }
    if (!args.slurm_opt.is_empty() || args.max_parallel.is_some()) && !(args.slurm || args.slurm_dry_run) {
        bail!("--slurm-opt and --max-parallel go with --slurm or --slurm-dry-run");
    }
    recipe.check_shards()?;
    let wait = seconds("--wait", args.wait)?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let beat = super::train::heartbeat_every(args.log_every, args.quiet || tty)?;
    let reporter = Stderr { name: recipe.name.clone(), quiet: args.quiet, bar: !args.quiet && tty, beat };
    let sweep = Sweep::new(&recipe, &reporter, beat);
    if args.slurm || args.slurm_dry_run {
        let opts = slurm::Options {
            exe: std::env::current_exe().context("finding the p2law executable the tasks run")?,
            recipe: std::path::absolute(&args.recipe)
                .with_context(|| format!("resolving {}", args.recipe.display()))?,
            extra: args.slurm_opt.clone(),
            max_parallel: args.max_parallel,
            dry_run: args.slurm_dry_run,
            log_every: args.log_every,
            wait: args.wait,
        };
        // Submission always says what it did, quiet or not.
        let say = |msg: &str| eprintln!("[sweep {}] {msg}", recipe.name);
        match slurm::submit(&recipe, sweep.plan(), &opts, &say)? {
            Submission::Nothing => {}
            Submission::DryRun { dir } => println!("{}", dir.display()),
            Submission::Submitted { jobs, .. } => println!("{}", jobs.join(" ")),
        }
        return Ok(());
    }
    if let Some(id) = &args.unit {
        match sweep.run_unit(id, wait)? {
            None => reporter.say(&format!("{id}: already done")),
            Some(Ran::Unreachable) => reporter.say(&format!("{id}: unreachable rate, marked done")),
            Some(Ran::Work { resumed }) => reporter
                .say(&format!("{id}: done{}", if resumed { " (resumed from its checkpoint)" } else { "" })),
        }
        return Ok(());
    }
    let t = sweep.run_all(wait)?;
    for twin in &t.twins {
        reporter.say(&format!(
            "{} reaches the same model as {} (rho {:.4}): not post-trained",
            twin.run, twin.same_as, twin.rho
        ));
    }
    reporter.say(&format!(
        "{} done, {} already done, {} held by other sweeps, {} unreachable, {} same as another rate",
        t.done,
        t.skipped,
        t.busy.len(),
        t.unreachable.len(),
        t.twins.len()
    ));
    if !t.busy.is_empty() {
        reporter.say(&format!("still running elsewhere: {}", t.busy.join(", ")));
        return Ok(());
    }
    if args.no_report {
        // Only a pass that saw every unit done knows every twin; the report's regime checks read this file.
        sweep.write_twins(&t.twins)?;
        return Ok(());
    }
    // The report is written once per change of the runs: a worker that finds another writing it leaves it.
    match sweep.write_report()? {
        Claimed::HeldElsewhere => reporter.say("another process is writing the report"),
        Claimed::AlreadyDone => {
            reporter.say(&format!("report up to date: {}", recipe.out.join("report/report.md").display()))
        }
        Claimed::Ran(_) => {}
    }
    Ok(())
}
