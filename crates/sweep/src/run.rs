//! The runner: units of the [`Plan`] claimed ([`crate::claim`]), checked again under the claim, run
//! ([`crate::units`]: training, pruning, the control, the report) and recorded in the [`crate::journal`].
//!
//! [`Sweep::run_all`] runs every unit this process can (all but the report), waiting while the rest is held
//! elsewhere; [`Sweep::run_unit`] runs one unit (what a Slurm task does); [`Sweep::write_report`] writes
//! the report unless another process is writing it. What the user sees goes through a [`Reporter`]: the
//! messages, and the progress of each training run.

use std::time::{Duration, Instant, SystemTime};

use p2law_report::report::regime::{self, Twin};
use p2law_train::trainer::Progress;
use p2law_train::RunConfig;

use crate::claim;
use crate::journal::Journal;
use crate::plan::{Done, Kind, Plan, Status, Unit};
use crate::recipe::Recipe;
use crate::SweepError;

/// What a sweep tells its user: the CLI prints, a test stays silent.
pub trait Reporter {
    /// A progress message (`pruning m-depth-r0.25`, `waiting for units running elsewhere`).
    fn say(&self, msg: &str);
    /// The progress sink of one training run (a bar, a heartbeat, nothing).
    fn training(&self, cfg: &RunConfig) -> Box<dyn Progress>;
}

/// What happened to the units of one pass of [`Sweep::run_all`].
#[derive(Debug, Default)]
pub struct Tally {
    /// Units this process ran.
    pub done: usize,
    /// Units found done by others (or by an earlier pass).
    pub skipped: usize,
    /// Units not done when this pass stopped (held or waited on elsewhere).
    pub busy: Vec<String>,
    /// Prunings whose rate the model's granularity cannot reach.
    pub unreachable: Vec<String>,
    /// Runs whose rate gave the same pruned model as an earlier rate: not post-trained.
    pub twins: Vec<Twin>,
}

/// How running one unit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// It did its work (`resumed`: a run continued from a checkpoint).
    Work { resumed: bool },
    /// Its pruning rate is unreachable (marker written).
    Unreachable,
}

/// What became of a unit this process tried to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Another process held it (longer than the wait).
    HeldElsewhere,
    /// Found done under the claim.
    AlreadyDone,
    Ran(Ran),
}

/// A recipe's sweep, run by this process.
pub struct Sweep<'a> {
    pub(crate) recipe: &'a Recipe,
    pub(crate) plan: Plan,
    pub(crate) reporter: &'a dyn Reporter,
    /// The heartbeat period of the prunings (training's comes with its progress sink).
    pub(crate) heartbeat: Option<Duration>,
}

impl<'a> Sweep<'a> {
    pub fn new(recipe: &'a Recipe, reporter: &'a dyn Reporter, heartbeat: Option<Duration>) -> Sweep<'a> {
        Sweep { recipe, plan: Plan::build(recipe), reporter, heartbeat }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub(crate) fn say(&self, msg: &str) {
        self.reporter.say(msg);
    }

    /// Claims `unit` (waiting up to `wait` when another process holds it), checks again under the claim
    /// that it is still to do, and runs it.
    fn claim_and_run(&self, unit: &Unit, wait: Duration) -> Result<Claimed, SweepError> {
        let poll = Duration::from_millis(500);
        let claims = self.recipe.out.join("claims");
        let Some(_claim) = claim::claim_waiting(&claims, &unit.claim, wait, poll)? else {
            return Ok(Claimed::HeldElsewhere);
        };
        // Checked again under the claim: another process may have finished this unit and released its
        // claim between our look and our claim. Resuming a finished run would rewrite its curve while
        // others read it.
        let i = self.plan.units.iter().position(|u| u.id == unit.id).expect("unit of this plan");
        match &self.plan.statuses(false)?[i] {
            Status::Done(_) => return Ok(Claimed::AlreadyDone),
            Status::Waiting => return Err(SweepError::DependencyNotDone(unit.id.clone())),
            Status::Ready | Status::Running => {}
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let journal = Journal::start(&self.recipe.out.join("journal"), unit, started)?;
        tracing::info!(unit = %unit.id, kind = unit.kind.name(), "unit started");
        let ran = self.run(unit)?;
        let outcome = match ran {
            Ran::Work { .. } => "ran",
            Ran::Unreachable => "unreachable",
        };
        let resumed = matches!(ran, Ran::Work { resumed: true });
        let seconds = clock.elapsed().as_secs_f64();
        tracing::info!(unit = %unit.id, outcome, resumed, seconds, "unit finished");
        journal.finish(outcome, resumed, seconds)?;
        Ok(Claimed::Ran(ran))
    }

    /// Runs every unit this process can (all but the report), waiting while the rest is held elsewhere:
    /// until none is left, or none finished for `wait` (those still held are the tally's `busy`).
    pub fn run_all(&self, wait: Duration) -> Result<Tally, SweepError> {
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
                    Claimed::HeldElsewhere => held_elsewhere.push(u.id.clone()),
                    Claimed::AlreadyDone => {}
                    Claimed::Ran(ran) => {
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
            let claims = self.recipe.out.join("claims");
            let running = !held_elsewhere.is_empty()
                || pending.iter().any(|u| claim::is_held(&claims, &u.claim).unwrap_or(true));
            // Nothing ready and nothing running: twice in a row (a unit may have ended between the looks),
            // and the plan is stuck.
            idle_rounds = if running { 0 } else { idle_rounds + 1 };
            if idle_rounds >= 2 {
                let ids: Vec<&str> = pending.iter().map(|u| u.id.as_str()).collect();
                return Err(SweepError::Stuck(ids.join(", ")));
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

    /// Runs the unit `id` if it is still to do (its dependencies must be done), waiting up to `wait` while
    /// another process holds it. `None` when it was done already.
    pub fn run_unit(&self, id: &str, wait: Duration) -> Result<Option<Ran>, SweepError> {
        let Some(unit) = self.plan.get(id) else { return Err(SweepError::NoSuchUnit(id.into())) };
        let statuses = self.plan.statuses(false)?;
        let i = self.plan.units.iter().position(|u| u.id == unit.id).expect("found above");
        if statuses[i].is_done() {
            return Ok(None);
        }
        if statuses[i] == Status::Waiting {
            let missing: Vec<String> = unit
                .deps
                .iter()
                .filter_map(|d| {
                    let j = self.plan.units.iter().position(|u| &u.id == d)?;
                    (!statuses[j].is_done()).then(|| format!("{d} ({})", statuses[j].word()))
                })
                .collect();
            return Err(SweepError::WaitsOn { id: id.into(), missing: missing.join(", ") });
        }
        match self.claim_and_run(unit, wait)? {
            Claimed::HeldElsewhere => {
                Err(SweepError::StillHeld { id: id.into(), seconds: wait.as_secs_f64() })
            }
            Claimed::AlreadyDone => Ok(None),
            Claimed::Ran(ran) => Ok(Some(ran)),
        }
    }

    /// The report unit: `runs/twins.json` and the report of `runs/`, written unless it is up to date or
    /// another process is writing it (the report is written once per change of the runs).
    pub fn write_report(&self) -> Result<Claimed, SweepError> {
        let report = self.plan.get("report").expect("every plan ends in its report");
        self.claim_and_run(report, Duration::ZERO)
    }

    /// `runs/twins.json`: the rates not post-trained because they reached the same model as a lower rate
    /// (the report's regime checks read it).
    pub fn write_twins(&self, twins: &[Twin]) -> Result<(), SweepError> {
        let runs = self.recipe.out.join("runs");
        regime::write_twins(&runs, twins).map_err(SweepError::io("writing", &runs))
    }

    pub(crate) fn twins(&self, statuses: &[Status]) -> Vec<Twin> {
        let mut twins = Vec::new();
        for (u, s) in self.plan.units.iter().zip(statuses) {
            if let Status::Done(Done::Twin { same_as, rho }) = s {
                let method = u.method.clone().unwrap_or_default();
                twins.push(Twin { run: u.run.clone(), same_as: same_as.clone(), method, rho: *rho });
            }
        }
        twins
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{load_in, GOOD};

    struct Silent;

    impl Reporter for Silent {
        fn say(&self, _: &str) {}
        fn training(&self, _: &RunConfig) -> Box<dyn Progress> {
            Box::new(p2law_train::trainer::Quiet)
        }
    }

    #[test]
    fn a_unit_runs_only_once_its_dependencies_are_done() {
        let tmp = tempfile::tempdir().unwrap();
        let recipe = load_in(tmp.path(), GOOD).unwrap();
        let sweep = Sweep::new(&recipe, &Silent, None);
        let e = sweep.run_unit("prune:a-nm-r0.25", Duration::ZERO).unwrap_err();
        assert!(matches!(e, SweepError::NoSuchUnit(_)), "{e}");
        let e = sweep.run_unit("posttrain:a-depth-r0.25", Duration::ZERO).unwrap_err();
        assert_eq!(e.to_string(), "--unit posttrain:a-depth-r0.25: waits on prune:a-depth-r0.25 (waiting)");
        // Done already: nothing to run.
        std::fs::create_dir_all(recipe.out.join("base/a/final")).unwrap();
        std::fs::write(recipe.out.join("base/a/final/config.json"), "{}").unwrap();
        assert_eq!(sweep.run_unit("pretrain:a", Duration::ZERO).unwrap(), None);
        assert!(!recipe.out.join("journal").exists(), "nothing ran");
    }
}
