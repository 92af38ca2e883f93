//! `p2law sweep RECIPE.toml`: pretrain the base family, prune it every way at every rate, post-train each
//! pruned model, then write the report — resumable, idempotent, shareable, and submittable to Slurm.
//!
//! Layout of the sweep directory (`out` in the recipe):
//! ```text
//! configs/<run>.toml     every generated RUN.toml (rerunnable with `p2law train --config`)
//! base/<model>/          pretraining runs (curve.csv, checkpoints/, final/)
//! pruned/<model>-<method>-<rate>/   `p2law prune` outputs (HF dir + pruning.json [+ masks])
//! pruned/<model>-<method>-<rate>.unreachable   a rate the model's granularity cannot reach (the reason)
//! pruned/<model>-control/           with `[prune] control = true`: the base as is, pruning.json with rho 0
//! runs/<model>-<method>-<rate>/     post-training runs: the curves the law is fitted to
//! runs/<model>-control/             the unpruned control, post-trained exactly like the pruned models
//! runs/twins.json        rates that reached the same model as a lower rate (not post-trained)
//! runs.sqlite            the run store of every training run
//! claims/                lock files of work in progress
//! journal/               one JSON record per unit a process ran (unit, host, Slurm job, seconds, resumed)
//! slurm/<stamp>/         with `--slurm`: the sbatch scripts, their logs and the submitted job ids
//! report/                `p2law report runs/` at the end
//! ```
//! The sweep is a graph of units ([`plan`]): pretrain → prune (measuring L0) → post-train → report. A unit
//! is done when its output exists (`final/` of a run, `pruning.json` of a pruned model), so rerunning skips
//! it. A killed sweep loses only the work in progress: a run resumes from its last checkpoint, a pruning
//! (written under a temporary name, renamed at the end) starts over. Several sweeps can share a directory:
//! each unit is claimed by a lock file ([`claim`]); a worker runs whatever unit is ready and unclaimed and,
//! when none is but others are running elsewhere, waits for them (`--wait`) instead of giving up their
//! dependants. `--unit ID` runs one unit (what a Slurm task does); `--slurm` submits the plan ([`slurm`]).
//! L0 of a pretrained base is its final held-out loss on the same slice its post-training runs evaluate.

mod claim;
pub mod plan;
pub mod recipe;
mod slurm;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use p2law_report::report::regime::{self, Twin};
use p2law_train::trainer::Control;
use p2law_train::FileConfig;
use plan::{Done, Kind, Plan, Status, Unit};
use recipe::Recipe;

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

/// What happened to the units of this process's pass.
#[derive(Default)]
struct Tally {
    /// Units this process ran.
    done: usize,
    /// Units found done by others (or by an earlier pass).
    skipped: usize,
    /// Units not done when this pass stopped (held or waited on elsewhere).
    busy: Vec<String>,
    unreachable: Vec<String>,
    /// Runs whose rate gave the same pruned model as an earlier rate: not post-trained.
    twins: Vec<Twin>,
}

/// How running one unit ended.
enum Ran {
    /// It did its work (`resumed`: a run continued from a checkpoint).
    Work { resumed: bool },
    /// Its pruning rate is unreachable (marker written).
    Unreachable,
}

struct Sweep<'a> {
    recipe: &'a Recipe,
    plan: Plan,
    quiet: bool,
    beat: Option<Duration>,
}

impl Sweep<'_> {
    fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("[sweep {}] {msg}", self.recipe.name);
        }
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.recipe.out.join(sub)
    }

    /// Writes the RUN.toml of one training run and runs it (resuming an interrupted one); the caller holds
    /// the unit's claim. Returns whether it resumed.
    fn train(
        &self,
        name: &str,
        out: &Path,
        model: toml::Table,
        split: &str,
        sections: &toml::Table,
    ) -> anyhow::Result<bool> {
        let mut t = sections.clone();
        t.insert("name".into(), name.into());
        t.insert("out".into(), out.display().to_string().into());
        t.insert("store".into(), self.dir("runs.sqlite").display().to_string().into());
        t.insert("seed".into(), (self.recipe.seed as i64).into());
        t.insert("model".into(), model.into());
        let mut data = toml::Table::new();
        data.insert("dir".into(), self.recipe.data.display().to_string().into());
        data.insert("train_split".into(), split.into());
        t.insert("data".into(), data.into());
        let path = self.dir("configs").join(format!("{name}.toml"));
        std::fs::create_dir_all(self.dir("configs"))?;
        p2law_formats::write_atomic(&path, toml::to_string(&t)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        let cfg = FileConfig::load(&path).with_context(|| format!("generated config {}", path.display()))?;
        let resume = out.join("run.toml").is_file();
        self.say(&format!("{} {name}", if resume { "resuming" } else { "training" }));
        let show = !self.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let outcome =
            super::train::execute(&cfg, Control { resume, stop_after_steps: None }, show, self.beat)
                .with_context(|| format!("run {name}"))?;
        if !outcome.finished {
            bail!("run {name} stopped before its last step");
        }
        Ok(resume)
    }

    /// The held-out tokens the post-training runs evaluate on, which L0 is measured on too.
    fn eval_tokens(&self) -> usize {
        let tokens =
            self.recipe.posttrain.get("eval").and_then(|e| e.get("tokens")).and_then(|v| v.as_integer());
        tokens.map_or(65_536, |t| t as usize)
    }

    /// The context L0 and the pruned loss are measured with (the calibration sequence length).
    fn l0_context(&self) -> usize {
        self.recipe.prune.calib_seq_len.unwrap_or(recipe::DEFAULT_CALIB_SEQ_LEN)
    }

    /// Runs `unit` (its claim held, its dependencies done, its output missing).
    fn run_unit(&self, unit: &Unit) -> anyhow::Result<Ran> {
        match unit.kind {
            Kind::Pretrain => {
                let m = self.recipe.models.iter().find(|m| m.name == unit.model).expect("plan from recipe");
                let mut model = toml::Table::new();
                model.insert("arch".into(), m.arch.clone().expect("checked: arch or hf_dir").into());
                let sections = self.recipe.pretrain.clone().expect("checked: arch needs [pretrain]");
                let resumed = self.train(&unit.run, &unit.outputs[0], model, "pretrain", &sections)?;
                Ok(Ran::Work { resumed })
            }
            Kind::Prune => self.prune(unit),
            Kind::Control => {
                let args = super::prune::ControlArgs {
                    model: unit.inputs[0].clone(),
                    heldout: self.recipe.data.join("heldout.bin"),
                    eval_tokens: self.eval_tokens(),
                    seq_len: self.l0_context(),
                    batch: 8,
                    out: unit.outputs[0].clone(),
                    compute: Default::default(),
                };
                self.say(&format!("writing the unpruned control {}", unit.run));
                let record = super::prune::control(&args).with_context(|| format!("control {}", unit.run))?;
                self.say(&format!("control {}: l0 {:.4}", unit.run, record.l0.unwrap_or(f64::NAN)));
                Ok(Ran::Work { resumed: false })
            }
            Kind::Posttrain => {
                let mut model = toml::Table::new();
                model.insert("hf_dir".into(), unit.inputs[0].display().to_string().into());
                let resumed =
                    self.train(&unit.run, &unit.outputs[0], model, "posttrain", &self.recipe.posttrain)?;
                Ok(Ran::Work { resumed })
            }
            Kind::Report => {
                self.report()?;
                Ok(Ran::Work { resumed: false })
            }
        }
    }

    fn prune(&self, unit: &Unit) -> anyhow::Result<Ran> {
        let (run, out) = (&unit.run, &unit.outputs[0]);
        let method = unit.method.as_deref().expect("prune units have a method");
        let grid = &self.recipe.prune;
        let args = super::prune::Args {
            model: unit.inputs[0].clone(),
            method: method.into(),
            criterion: ["nm", "unstructured"]
                .contains(&method)
                .then(|| grid.criterion.clone().unwrap_or("wanda".into())),
            rate: unit.rate,
            pattern: grid.pattern.clone().unwrap_or("2:4".into()),
            contiguous: false,
            width_axes: grid.width_axes.clone().unwrap_or("hidden".into()),
            calib: self.recipe.data.join("calib.bin"),
            samples: grid.calib_samples.unwrap_or(32),
            seq_len: self.l0_context(),
            seed: self.recipe.seed,
            batch: 8,
            heldout: Some(self.recipe.data.join("heldout.bin")),
            // L0 is measured on the held-out tokens the post-training curves are evaluated on, as the
            // pruned model's loss is: the base's own last evaluation may use other tokens (pretraining's
            // `eval.tokens`), and an L0 from a different sample shifts every `L − L0` of the fit.
            l0: None,
            eval_tokens: self.eval_tokens(),
            out: out.clone(),
            overwrite: false,
            compute: Default::default(),
            json: false,
            quiet: true,
            log_every: self.beat.map_or(0.0, |d| d.as_secs_f64()),
        };
        self.say(&format!("pruning {run}"));
        match super::prune::execute(&args) {
            Ok(record) => {
                self.say(&format!(
                    "pruned {run}: rho {:.4}, loss {:.4} → {:.4}",
                    record.rho,
                    record.l0.unwrap_or(f64::NAN),
                    record.loss_pruned.unwrap_or(f64::NAN)
                ));
                Ok(Ran::Work { resumed: false })
            }
            // A rate the model's granularity cannot reach (e.g. depth 0.15 of a 2-layer model) is a
            // hole in the grid, not a failure of the sweep: the marker makes it a done unit.
            Err(e) if is_unreachable(&e) => {
                self.say(&format!("skipping {run}: {e:#}"));
                let marker = self.plan.unreachable_marker(run);
                std::fs::create_dir_all(self.dir("pruned"))?;
                p2law_formats::write_atomic(&marker, format!("{e:#}\n").as_bytes())
                    .with_context(|| format!("writing {}", marker.display()))?;
                Ok(Ran::Unreachable)
            }
            Err(e) => Err(e.context(format!("pruning {run}"))),
        }
    }

    /// `runs/twins.json` from the plan (every pruning done), then the report of `runs/`.
    fn report(&self) -> anyhow::Result<()> {
        let runs = self.dir("runs");
        let twins = self.twins(&self.plan.statuses(false)?);
        regime::write_twins(&runs, &twins).with_context(|| format!("writing {}", runs.display()))?;
        let out = self.dir("report");
        let report = p2law_report::generate(&runs, &out, &p2law_report::ReportOptions::default())?;
        self.say(&format!("report: {}", out.join("report.md").display()));
        self.say(&format!("regime: {}", report.regime.verdict));
        Ok(())
    }

    fn twins(&self, statuses: &[Status]) -> Vec<Twin> {
        let mut twins = Vec::new();
        for (u, s) in self.plan.units.iter().zip(statuses) {
            if let Status::Done(Done::Twin { same_as, rho }) = s {
                let method = u.method.clone().unwrap_or_default();
                twins.push(Twin { run: u.run.clone(), same_as: same_as.clone(), method, rho: *rho });
            }
        }
        twins
    }

    /// Claims `unit` (waiting up to `wait` when another process holds it), checks again under the claim
    /// that it is still to do, and runs it. `None` when it stayed held elsewhere; `Some(None)` when it was
    /// found done under the claim.
    fn claim_and_run(&self, unit: &Unit, wait: Duration) -> anyhow::Result<Option<Option<Ran>>> {
        let poll = Duration::from_millis(500);
        let Some(_claim) = claim::claim_waiting(&self.dir("claims"), &unit.claim, wait, poll)? else {
            return Ok(None);
        };
        // Checked again under the claim: another process may have finished this unit and released its
        // claim between our look and our claim. Resuming a finished run would rewrite its curve while
        // others read it.
        let i = self.plan.units.iter().position(|u| u.id == unit.id).expect("unit of this plan");
        match &self.plan.statuses(false)?[i] {
            Status::Done(_) => return Ok(Some(None)),
            Status::Waiting => bail!("unit {}: a dependency is not done (see `--plan`)", unit.id),
            Status::Ready | Status::Running => {}
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let journal = Journal::start(&self.dir("journal"), unit, started)?;
        tracing::info!(unit = %unit.id, kind = unit.kind.name(), "unit started");
        let ran = self.run_unit(unit)?;
        let outcome = match ran {
            Ran::Work { .. } => "ran",
            Ran::Unreachable => "unreachable",
        };
        let resumed = matches!(ran, Ran::Work { resumed: true });
        let seconds = clock.elapsed().as_secs_f64();
        tracing::info!(unit = %unit.id, outcome, resumed, seconds, "unit finished");
        journal.finish(outcome, resumed, seconds)?;
        Ok(Some(Some(ran)))
    }

    /// Runs every unit this process can (all but the report), waiting while the rest is held elsewhere.
    fn run_all(&self, wait: Duration) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let mut mine: Vec<String> = Vec::new();
        let mut last_change = Instant::now();
        let mut seen_done = usize::MAX;
        let mut told_waiting = false;
        let mut idle_rounds = 0;
        loop {
            let statuses = self.plan.statuses(false)?;
            let done = statuses.iter().filter(|s| s.is_done()).count();
            if done != seen_done {
                (seen_done, last_change) = (done, Instant::now());
            }
            let mut held_elsewhere = Vec::new();
            let mut ran_one = false;
            for (u, s) in self.plan.units.iter().zip(&statuses) {
                if u.kind == Kind::Report || *s != Status::Ready {
                    continue;
                }
                match self.claim_and_run(u, Duration::ZERO)? {
                    None => held_elsewhere.push(u.id.clone()),
                    Some(None) => {}
                    Some(Some(ran)) => {
                        if let Ran::Unreachable = ran {
                            tally.unreachable.push(u.run.clone());
                        } else {
                            tally.done += 1;
                        }
                        mine.push(u.id.clone());
                        ran_one = true;
                        told_waiting = false;
                        break;
                    }
                }
            }
            if ran_one {
                continue;
            }
            let pending: Vec<&Unit> = self
                .plan
                .units
                .iter()
                .zip(&statuses)
                .filter(|(u, s)| u.kind != Kind::Report && !s.is_done())
                .map(|(u, _)| u)
                .collect();
            if pending.is_empty() {
                break;
            }
            let claims = self.dir("claims");
            let running = !held_elsewhere.is_empty()
                || pending.iter().any(|u| claim::is_held(&claims, &u.claim).unwrap_or(true));
            // Nothing ready and nothing running: twice in a row (a unit may have ended between the looks),
            // and the plan is stuck.
            idle_rounds = if running { 0 } else { idle_rounds + 1 };
            if idle_rounds >= 2 {
                bail!(
                    "units {} wait on nothing that is running; run `p2law sweep --plan` to see why",
                    pending.iter().map(|u| u.id.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            if last_change.elapsed() >= wait {
                tally.busy = pending.iter().map(|u| u.id.clone()).collect();
                break;
            }
            if !told_waiting {
                let running: Vec<&str> = held_elsewhere.iter().map(String::as_str).collect();
                self.say(&format!(
                    "waiting for units running elsewhere{}",
                    if running.is_empty() { String::new() } else { format!(": {}", running.join(", ")) }
                ));
                told_waiting = true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let statuses = self.plan.statuses(false)?;
        for (u, s) in self.plan.units.iter().zip(&statuses) {
            if u.kind == Kind::Report || mine.contains(&u.id) {
                continue;
            }
            match s {
                Status::Done(Done::Output) => tally.skipped += 1,
                Status::Done(Done::Unreachable) if u.kind == Kind::Prune => {
                    tally.unreachable.push(u.run.clone())
                }
                _ => {}
            }
        }
        tally.twins = self.twins(&statuses);
        Ok(tally)
    }
}

/// One process's record of one unit under `journal/`: written when it starts, rewritten when it ends, so
/// a unit killed mid-way (preempted, cancelled) leaves a record without an end.
struct Journal {
    path: PathBuf,
    record: serde_json::Value,
}

impl Journal {
    fn start(dir: &Path, unit: &Unit, started: SystemTime) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let host = hostname();
        let ms = started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let slurm = std::env::var("SLURM_ARRAY_JOB_ID")
            .ok()
            .map(|j| format!("{j}_{}", std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_default()))
            .or_else(|| std::env::var("SLURM_JOB_ID").ok());
        let file = format!("{}.{host}.{}.{ms}.json", unit.id.replace(':', "_"), std::process::id());
        let record = serde_json::json!({
            "unit": unit.id, "kind": unit.kind.name(), "host": host, "pid": std::process::id(),
            "slurm_job": slurm, "started_unix_ms": ms as u64, "outcome": null, "resumed": null, "seconds": null,
        });
        let journal = Journal { path: dir.join(file), record };
        journal.write()?;
        Ok(journal)
    }

    fn finish(mut self, outcome: &str, resumed: bool, seconds: f64) -> anyhow::Result<()> {
        self.record["outcome"] = outcome.into();
        self.record["resumed"] = resumed.into();
        self.record["seconds"] = ((seconds * 1000.0).round() / 1000.0).into();
        self.write()
    }

    fn write(&self) -> anyhow::Result<()> {
        p2law_formats::write_atomic(&self.path, format!("{}\n", self.record).as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// This machine's name (where a unit ran).
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String =
        name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
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
    let plan = Plan::build(&recipe);
    if args.plan {
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
    for split in ["pretrain", "posttrain", "heldout", "calib"] {
        let path = recipe.data.join(format!("{split}.bin"));
        if !path.is_file() {
            bail!("{}: missing; build the token shards first with `p2law data build`", path.display());
        }
    }
    let wait = seconds("--wait", args.wait)?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let beat = super::train::heartbeat_every(args.log_every, args.quiet || tty)?;
    if args.slurm || args.slurm_dry_run {
        let opts = slurm::Options {
            recipe: std::path::absolute(&args.recipe)
                .with_context(|| format!("resolving {}", args.recipe.display()))?,
            extra: args.slurm_opt.clone(),
            max_parallel: args.max_parallel,
            dry_run: args.slurm_dry_run,
            log_every: args.log_every,
            wait: args.wait,
        };
        return slurm::submit(&recipe, &plan, &opts);
    }
    let sweep = Sweep { recipe: &recipe, plan, quiet: args.quiet, beat };
    if let Some(id) = &args.unit {
        return run_one(&sweep, id, wait);
    }
    let t = sweep.run_all(wait)?;
    for twin in &t.twins {
        sweep.say(&format!(
            "{} reaches the same model as {} (rho {:.4}): not post-trained",
            twin.run, twin.same_as, twin.rho
        ));
    }
    sweep.say(&format!(
        "{} done, {} already done, {} held by other sweeps, {} unreachable, {} same as another rate",
        t.done,
        t.skipped,
        t.busy.len(),
        t.unreachable.len(),
        t.twins.len()
    ));
    if !t.busy.is_empty() {
        sweep.say(&format!("still running elsewhere: {}", t.busy.join(", ")));
        return Ok(());
    }
    if args.no_report {
        // Only a pass that saw every unit done knows every twin; the report's regime checks read this file.
        let runs = recipe.out.join("runs");
        regime::write_twins(&runs, &t.twins).with_context(|| format!("writing {}", runs.display()))?;
        return Ok(());
    }
    // The report is written once per change of the runs: a worker that finds another writing it leaves it.
    let report = sweep.plan.get("report").expect("every plan ends in its report").clone();
    match sweep.claim_and_run(&report, Duration::ZERO)? {
        None => sweep.say("another process is writing the report"),
        Some(None) => {
            sweep.say(&format!("report up to date: {}", recipe.out.join("report/report.md").display()))
        }
        Some(Some(_)) => {}
    }
    Ok(())
}

/// `--unit ID`: runs that unit if it is still to do (its dependencies must be done).
fn run_one(sweep: &Sweep, id: &str, wait: Duration) -> anyhow::Result<()> {
    let Some(unit) = sweep.plan.get(id).cloned() else {
        bail!("--unit {id}: no such unit in this sweep (list them with `p2law sweep RECIPE --plan`)");
    };
    let statuses = sweep.plan.statuses(false)?;
    let i = sweep.plan.units.iter().position(|u| u.id == unit.id).expect("found above");
    if statuses[i].is_done() {
        sweep.say(&format!("{id}: already done"));
        return Ok(());
    }
    if statuses[i] == Status::Waiting {
        let missing: Vec<String> = unit
            .deps
            .iter()
            .filter_map(|d| {
                let j = sweep.plan.units.iter().position(|u| &u.id == d)?;
                (!statuses[j].is_done()).then(|| format!("{d} ({})", statuses[j].word()))
            })
            .collect();
        bail!("--unit {id}: waits on {}", missing.join(", "));
    }
    match sweep.claim_and_run(&unit, wait)? {
        None => bail!("--unit {id}: still held by another process after {:.0} s", wait.as_secs_f64()),
        Some(None) => sweep.say(&format!("{id}: already done")),
        Some(Some(Ran::Unreachable)) => sweep.say(&format!("{id}: unreachable rate, marked done")),
        Some(Some(Ran::Work { resumed })) => {
            sweep.say(&format!("{id}: done{}", if resumed { " (resumed from its checkpoint)" } else { "" }))
        }
    }
    Ok(())
}

/// Whether `e` says the pruning rate is one the model's granularity cannot reach.
fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| matches!(c.downcast_ref(), Some(p2law_prune::PruneError::RateUnreachable { .. })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_tags_keep_the_rate_readable() {
        assert_eq!(plan::rate_tag(0.25), "r0.25");
    }

    /// The typed error, wrapped in context as `prune::execute` returns it, not a message that mentions it.
    #[test]
    fn only_the_unreachable_rate_error_is_unreachable() {
        let typed = p2law_prune::PruneError::RateUnreachable { rate: 0.15, reason: "2 layers".into() };
        assert!(is_unreachable(&anyhow::Error::new(typed).context("pruning m-depth-r0.15")));
        assert!(!is_unreachable(&anyhow::anyhow!("the host is unreachable")));
        let other =
            p2law_prune::PruneError::InvalidPattern { pattern: "unreachable".into(), reason: "x".into() };
        assert!(!is_unreachable(&anyhow::Error::new(other)));
    }
}
