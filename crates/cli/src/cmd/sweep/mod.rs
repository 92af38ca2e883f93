//! `p2law sweep RECIPE.toml`: pretrain the base family, prune it every way at every rate, post-train each
//! pruned model, then write the report — resumable, idempotent, shareable.
//!
//! Layout of the sweep directory (`out` in the recipe):
//! ```text
//! configs/<run>.toml     every generated RUN.toml (rerunnable with `p2law train --config`)
//! base/<model>/          pretraining runs (curve.csv, checkpoints/, final/)
//! pruned/<model>-<method>-<rate>/   `p2law prune` outputs (HF dir + pruning.json [+ masks])
//! pruned/<model>-control/           with `[prune] control = true`: the base as is, pruning.json with rho 0
//! runs/<model>-<method>-<rate>/     post-training runs: the curves the law is fitted to
//! runs/<model>-control/             the unpruned control, post-trained exactly like the pruned models
//! runs/twins.json        rates that reached the same model as a lower rate (not post-trained)
//! runs.sqlite            the run store of every training run
//! claims/                lock files of work in progress
//! report/                `p2law report runs/` at the end
//! ```
//! A unit of work is done when its output exists (`final/` of a run, `pruning.json` of a pruned model),
//! so rerunning skips it. A killed sweep loses only the work in progress: a run resumes from its last
//! checkpoint, a pruning (written under a temporary name, renamed at the end) starts over. Several sweeps
//! can share a directory: each unit is claimed by a lock file ([`claim`]) and skipped by the others.
//! L0 of a pretrained base is its final held-out loss on the same slice its post-training runs evaluate.
//! The control (when the recipe asks for one) is a unit like a pruning (`pruned/<model>-control/`) and a
//! post-training run like the others, so it resumes, skips and is claimed the same way.

mod claim;
pub mod recipe;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use p2law_report::report::regime::{self, Twin};
use p2law_train::trainer::Control;
use p2law_train::FileConfig;
use recipe::{BaseModel, Recipe};

#[derive(Parser, Debug)]
#[command(about = "Run a recipe: pretrain, prune every way, post-train, report (resumable)")]
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
}

/// What happened to each unit of work.
#[derive(Default)]
struct Tally {
    done: usize,
    skipped: usize,
    busy: Vec<String>,
    unreachable: Vec<String>,
    /// Runs whose rate gave the same pruned model as an earlier rate: not post-trained.
    twins: Vec<Twin>,
}

/// What became of one pruning unit.
enum Pruned {
    Dir(PathBuf),
    /// The grid cell's rate cannot be reached at this model's granularity.
    Unreachable,
    /// Another sweep is pruning it now.
    Busy,
}

struct Sweep<'a> {
    recipe: &'a Recipe,
    quiet: bool,
    tally: Tally,
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

    /// Writes the RUN.toml of one training run and runs it (resuming an interrupted one); `false` when
    /// another sweep holds it.
    fn train(
        &mut self,
        name: &str,
        out: &Path,
        model: toml::Table,
        split: &str,
        sections: &toml::Table,
    ) -> anyhow::Result<bool> {
        if out.join("final/config.json").is_file() {
            self.tally.skipped += 1;
            return Ok(true);
        }
        let Some(_claim) = claim::try_claim(&self.dir("claims"), name)? else {
            self.tally.busy.push(name.into());
            return Ok(false);
        };
        // Checked again under the claim: another sweep may have finished this run and released its claim
        // between the check above and ours. Resuming the finished run would rewrite its curve while that
        // sweep reads it.
        if out.join("final/config.json").is_file() {
            self.tally.skipped += 1;
            return Ok(true);
        }
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
        p2law_law::atomic::write_atomic(&path, toml::to_string(&t)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        let cfg = FileConfig::load(&path).with_context(|| format!("generated config {}", path.display()))?;
        let resume = out.join("run.toml").is_file();
        self.say(&format!("{} {name}", if resume { "resuming" } else { "training" }));
        let show = !self.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let outcome = super::train::execute(&cfg, Control { resume, stop_after_steps: None }, show)
            .with_context(|| format!("run {name}"))?;
        if !outcome.finished {
            bail!("run {name} stopped before its last step");
        }
        self.tally.done += 1;
        Ok(true)
    }

    /// The base model's directory, pretraining it first when the recipe gives an `arch`.
    fn base(&mut self, m: &BaseModel) -> anyhow::Result<Option<PathBuf>> {
        if let Some(dir) = &m.hf_dir {
            return Ok(Some(dir.clone()));
        }
        let out = self.dir("base").join(&m.name);
        let mut model = toml::Table::new();
        model.insert("arch".into(), m.arch.clone().expect("checked: arch or hf_dir").into());
        let sections = self.recipe.pretrain.clone().expect("checked: arch needs [pretrain]");
        if !self.train(&format!("{}-base", m.name), &out, model, "pretrain", &sections)? {
            return Ok(None);
        }
        Ok(Some(out.join("final")))
    }

    /// The pruned-model unit `run` (`pruned/<run>/`): found done when its `pruning.json` exists, skipped
    /// when another sweep holds it, else made by `make` under this sweep's claim.
    fn pruned_unit(
        &mut self,
        run: &str,
        make: impl FnOnce(&mut Self, &Path) -> anyhow::Result<Pruned>,
    ) -> anyhow::Result<Pruned> {
        let out = self.dir("pruned").join(run);
        if out.join("pruning.json").is_file() {
            self.tally.skipped += 1;
            return Ok(Pruned::Dir(out));
        }
        let Some(_claim) = claim::try_claim(&self.dir("claims"), &format!("prune-{run}"))? else {
            self.tally.busy.push(format!("prune {run}"));
            return Ok(Pruned::Busy);
        };
        // Checked again under the claim, as in `train`.
        if out.join("pruning.json").is_file() {
            self.tally.skipped += 1;
            return Ok(Pruned::Dir(out));
        }
        make(self, &out)
    }

    /// The held-out tokens the post-training runs evaluate on, which L0 is measured on too.
    fn eval_tokens(&self) -> usize {
        let tokens =
            self.recipe.posttrain.get("eval").and_then(|e| e.get("tokens")).and_then(|v| v.as_integer());
        tokens.map_or(65_536, |t| t as usize)
    }

    /// The context L0 and the pruned loss are measured with (the calibration sequence length).
    fn l0_context(&self) -> usize {
        self.recipe.prune.calib_seq_len.unwrap_or(128)
    }

    fn prune(&mut self, run: &str, base: &Path, method: &str, rate: f64) -> anyhow::Result<Pruned> {
        self.pruned_unit(run, |sweep, out| sweep.prune_now(run, base, method, rate, out))
    }

    fn prune_now(
        &mut self,
        run: &str,
        base: &Path,
        method: &str,
        rate: f64,
        out: &Path,
    ) -> anyhow::Result<Pruned> {
        let out = out.to_path_buf();
        let grid = &self.recipe.prune;
        let args = super::prune::Args {
            model: base.to_path_buf(),
            method: method.into(),
            criterion: ["nm", "unstructured"]
                .contains(&method)
                .then(|| grid.criterion.clone().unwrap_or("wanda".into())),
            rate: Some(rate),
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
        };
        self.say(&format!("pruning {run}"));
        match super::prune::execute(&args) {
            Ok(record) => {
                self.say(&format!(
                    "pruned {run}: rho {:.4}, loss {:.4} → {:.4}",
                    record["rho"].as_f64().unwrap_or(f64::NAN),
                    record["l0"].as_f64().unwrap_or(f64::NAN),
                    record["loss_pruned"].as_f64().unwrap_or(f64::NAN)
                ));
                self.tally.done += 1;
                Ok(Pruned::Dir(out))
            }
            // A rate the model's granularity cannot reach (e.g. depth 0.15 of a 2-layer model) is a
            // hole in the grid, not a failure of the sweep.
            Err(e) if format!("{e:#}").contains("unreachable") => {
                self.say(&format!("skipping {run}: {e:#}"));
                self.tally.unreachable.push(run.into());
                Ok(Pruned::Unreachable)
            }
            Err(e) => Err(e.context(format!("pruning {run}"))),
        }
    }

    /// The unpruned control of base model `m`: `pruned/<model>-control/` (the base with a `pruning.json` of
    /// rho 0 and its L0 measured like the pruned models'), then post-trained like them as `<model>-control`.
    fn control(&mut self, m: &BaseModel, base: &Path) -> anyhow::Result<()> {
        let run = format!("{}-{}", m.name, super::prune::CONTROL_METHOD);
        let made = self.pruned_unit(&run, |sweep, out| {
            let args = super::prune::ControlArgs {
                model: base.to_path_buf(),
                heldout: sweep.recipe.data.join("heldout.bin"),
                eval_tokens: sweep.eval_tokens(),
                seq_len: sweep.l0_context(),
                batch: 8,
                out: out.to_path_buf(),
                compute: Default::default(),
            };
            sweep.say(&format!("writing the unpruned control {run}"));
            let record = super::prune::control(&args).with_context(|| format!("control {run}"))?;
            sweep.say(&format!("control {run}: l0 {:.4}", record["l0"].as_f64().unwrap_or(f64::NAN)));
            sweep.tally.done += 1;
            Ok(Pruned::Dir(out.to_path_buf()))
        })?;
        let Pruned::Dir(dir) = made else { return Ok(()) };
        let mut model = toml::Table::new();
        model.insert("hf_dir".into(), dir.display().to_string().into());
        let recipe = self.recipe;
        self.train(&run, &recipe.out.join("runs").join(&run), model, "posttrain", &recipe.posttrain)?;
        Ok(())
    }
}

/// The achieved ρ a pruned model's `pruning.json` records.
fn achieved_rho(pruned: &Path) -> anyhow::Result<f64> {
    let path = pruned.join("pruning.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    json["rho"].as_f64().with_context(|| format!("{}: `rho` is missing or not a number", path.display()))
}

/// `0.25` → `r0.25` (run names keep the rate readable).
fn rate_tag(rate: f64) -> String {
    format!("r{}", rate)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut recipe = Recipe::load(&args.recipe)?;
    if let Some(out) = &args.out {
        recipe.out = std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?;
    }
    for split in ["pretrain", "posttrain", "heldout", "calib"] {
        let path = recipe.data.join(format!("{split}.bin"));
        if !path.is_file() {
            bail!("{}: missing; build the token shards first with `p2law data build`", path.display());
        }
    }
    let mut sweep = Sweep { recipe: &recipe, quiet: args.quiet, tally: Tally::default() };
    for m in &recipe.models {
        let Some(base) = sweep.base(m)? else { continue };
        if recipe.prune.control {
            sweep.control(m, &base)?;
        }
        for method in &recipe.prune.methods {
            // Achieved ρ → run: two target rates that whole layers (or channels) round to the same
            // pruned model would post-train the same run twice and count twice in every fit.
            let mut reached: Vec<(f64, String)> = Vec::new();
            for &rate in &recipe.prune.rates {
                let run = format!("{}-{method}-{}", m.name, rate_tag(rate));
                let pruned = match sweep.prune(&run, &base, method, rate)? {
                    Pruned::Dir(dir) => dir,
                    Pruned::Unreachable => continue,
                    // Until the lower rate's model exists, this one cannot be told apart from it: leave the
                    // rest of this method to the sweep that holds it (or to a rerun).
                    Pruned::Busy => break,
                };
                let rho = achieved_rho(&pruned)?;
                if let Some((_, twin)) = reached.iter().find(|(r, _)| *r == rho) {
                    sweep.say(&format!(
                        "{run} reaches the same model as {twin} (rho {rho:.4}): not post-trained"
                    ));
                    sweep.tally.twins.push(Twin { run, same_as: twin.clone(), method: method.clone(), rho });
                    continue;
                }
                reached.push((rho, run.clone()));
                let mut model = toml::Table::new();
                model.insert("hf_dir".into(), pruned.display().to_string().into());
                sweep.train(
                    &run,
                    &recipe.out.join("runs").join(&run),
                    model,
                    "posttrain",
                    &recipe.posttrain,
                )?;
            }
        }
    }
    let t = &sweep.tally;
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
    }
    if t.busy.is_empty() {
        // Only a pass that saw every unit knows every twin; the report's regime checks read this file.
        let runs = recipe.out.join("runs");
        regime::write_twins(&runs, &t.twins).with_context(|| format!("writing {}", runs.display()))?;
    }
    if !args.no_report && t.busy.is_empty() {
        let out = recipe.out.join("report");
        let report =
            p2law_report::generate(&recipe.out.join("runs"), &out, &p2law_report::ReportOptions::default())?;
        sweep.say(&format!("report: {}", out.join("report.md").display()));
        sweep.say(&format!("regime: {}", report.regime.verdict));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_tags_keep_the_rate_readable() {
        assert_eq!(rate_tag(0.25), "r0.25");
    }
}
