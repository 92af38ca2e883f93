//! What each kind of unit does, its claim held, its dependencies done and its output missing: a training
//! run from a generated RUN.toml ([`p2law_train`]), a pruning or the unpruned control
//! ([`p2law_prune::job`], on the CPU in f32, L0 measured on the post-training evaluation tokens), the
//! report ([`p2law_report`]).

use std::path::Path;

use candle_core::{DType, Device};
use p2law_prune::apply::Request;
use p2law_prune::job::{ControlJob, Names, PruneJob};
use p2law_train::trainer::Control;
use p2law_train::FileConfig;

use crate::plan::{Kind, Unit};
use crate::recipe::DEFAULT_CALIB_SAMPLES;
use crate::run::{Ran, Sweep};
use crate::SweepError;

/// Calibration sequences per forward pass, and held-out windows per batch of L0.
const BATCH: usize = 8;

impl Sweep<'_> {
    /// Runs `unit`.
    pub(crate) fn run(&self, unit: &Unit) -> Result<Ran, SweepError> {
        match unit.kind {
            Kind::Pretrain => {
                let m = self.recipe.models.iter().find(|m| m.name == unit.model).expect("plan from recipe");
                let mut model = toml::Table::new();
                model.insert("arch".into(), m.arch.clone().expect("checked: arch or hf_dir").into());
                let sections = self.recipe.pretrain.as_ref().expect("checked: arch needs [pretrain]");
                let resumed = self.train(&unit.run, &unit.outputs[0], model, "pretrain", sections)?;
                Ok(Ran::Work { resumed })
            }
            Kind::Prune => self.prune(unit),
            Kind::Control => {
                let job = ControlJob {
                    model: unit.inputs[0].clone(),
                    heldout: self.recipe.data.join("heldout.bin"),
                    eval_tokens: self.recipe.eval_tokens(),
                    seq_len: self.recipe.l0_context(),
                    batch: BATCH,
                    out: unit.outputs[0].clone(),
                    dtype: DType::F32,
                    device: Device::Cpu,
                };
                self.say(&format!("writing the unpruned control {}", unit.run));
                let record = job
                    .run()
                    .map_err(|e| SweepError::Control { run: unit.run.clone(), error: Box::new(e) })?;
                self.say(&format!("control {}: l0 {:.4}", unit.run, record.l0.unwrap_or(f64::NAN)));
                Ok(Ran::Work { resumed: false })
            }
            Kind::Posttrain => {
                let mut model = toml::Table::new();
                model.insert("hf_dir".into(), unit.inputs[0].display().to_string().into());
                let sections = &self.recipe.posttrain;
                let resumed = self.train(&unit.run, &unit.outputs[0], model, "posttrain", sections)?;
                Ok(Ran::Work { resumed })
            }
            Kind::Report => {
                self.report()?;
                Ok(Ran::Work { resumed: false })
            }
        }
    }

    /// Writes the RUN.toml of one training run and runs it (resuming an interrupted one). Returns whether
    /// it resumed.
    fn train(
        &self,
        name: &str,
        out: &Path,
        model: toml::Table,
        split: &str,
        sections: &toml::Table,
    ) -> Result<bool, SweepError> {
        let t = self.recipe.run_toml(sections, name, out, model, split);
        let configs = self.recipe.out.join("configs");
        let path = configs.join(format!("{name}.toml"));
        std::fs::create_dir_all(&configs).map_err(SweepError::io("creating", &configs))?;
        let text =
            toml::to_string(&t).map_err(std::io::Error::other).map_err(SweepError::io("writing", &path))?;
        p2law_formats::write_atomic(&path, text.as_bytes()).map_err(SweepError::io("writing", &path))?;
        let cfg =
            FileConfig::load(&path).map_err(|error| SweepError::Config { path: path.clone(), error })?;
        let resume = out.join("run.toml").is_file();
        self.say(&format!("{} {name}", if resume { "resuming" } else { "training" }));
        let setup =
            p2law_train::setup::open(&cfg).map_err(|error| SweepError::Open { name: name.into(), error })?;
        let mut progress = self.reporter.training(&cfg);
        let outcome = setup
            .train(&cfg, Control { resume, stop_after_steps: None }, progress.as_mut())
            .map_err(|error| SweepError::Train { name: name.into(), error })?;
        if !outcome.finished {
            return Err(SweepError::Unfinished(name.into()));
        }
        Ok(resume)
    }

    fn prune(&self, unit: &Unit) -> Result<Ran, SweepError> {
        let (run, out) = (&unit.run, &unit.outputs[0]);
        let method = unit.method.as_deref().expect("prune units have a method");
        let request = Request::parse(&self.recipe.request_spec(method, unit.rate))
            .expect("checked when the recipe was read");
        let job = PruneJob {
            model: unit.inputs[0].clone(),
            request,
            calib: self.recipe.data.join("calib.bin"),
            samples: self.recipe.prune.calib_samples.unwrap_or(DEFAULT_CALIB_SAMPLES),
            seq_len: self.recipe.l0_context(),
            seed: self.recipe.seed,
            batch: BATCH,
            heldout: Some(self.recipe.data.join("heldout.bin")),
            eval_tokens: self.recipe.eval_tokens(),
            // L0 is measured on the held-out tokens the post-training curves are evaluated on, as the
            // pruned model's loss is: the base's own last evaluation may use other tokens (pretraining's
            // `eval.tokens`), and an L0 from a different sample shifts every `L − L0` of the fit.
            l0: None,
            out: out.clone(),
            overwrite: false,
            dtype: DType::F32,
            device: Device::Cpu,
            heartbeat: self.heartbeat,
        };
        self.say(&format!("pruning {run}"));
        match job.run(&Names::FIELDS, |_| ()) {
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
            Err(e) if e.is_unreachable_rate() => {
                self.say(&format!("skipping {run}: {e}"));
                let marker = self.plan.unreachable_marker(run);
                let pruned = self.recipe.out.join("pruned");
                std::fs::create_dir_all(&pruned).map_err(SweepError::io("creating", &pruned))?;
                p2law_formats::write_atomic(&marker, format!("{e}\n").as_bytes())
                    .map_err(SweepError::io("writing", &marker))?;
                Ok(Ran::Unreachable)
            }
            Err(e) => Err(SweepError::Prune { run: run.clone(), error: Box::new(e) }),
        }
    }

    /// `runs/twins.json` from the plan (every pruning done), then the report of `runs/`.
    fn report(&self) -> Result<(), SweepError> {
        self.write_twins(&self.twins(&self.plan.statuses(false)?))?;
        let out = self.recipe.out.join("report");
        let runs = self.recipe.out.join("runs");
        let report = p2law_report::generate(&runs, &out, &p2law_report::ReportOptions::default())?;
        self.say(&format!("report: {}", out.join("report.md").display()));
        self.say(&format!("regime: {}", report.regime.verdict));
        Ok(())
    }
}
