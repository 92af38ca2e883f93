//! The run config: a TOML file ([`FileConfig`], every key documented, unknown keys rejected) resolved into a
//! checked [`RunConfig`] with absolute paths and every budget in optimizer steps.
//!
//! Token budgets are given in tokens and converted to steps of `train.batch_tokens`; a budget that is not a
//! multiple of the batch is rounded (totals down, intervals up) and the resolved numbers are written, as
//! comments, at the end of the run's `run.toml`. Relative paths are relative to the config file's folder.
//! Checks that need the data (batch or held-out slice larger than a split) happen when the data is opened,
//! still before the first step.
//!
//! ```
//! let toml = r#"
//!     name = "tiny"
//!     out = "runs/tiny"
//!     [model.arch]
//!     architectures = ["LlamaForCausalLM"]
//!     [data]
//!     dir = "tokens"
//!     [train]
//!     tokens = 1_048_576
//!     batch_tokens = 4096
//!     seq_len = 128
//!     micro_batch = 8
//!     lr = 3e-3
//! "#;
//! let file: p2law_train::config::FileConfig = toml::from_str(toml).unwrap();
//! let cfg = file.resolve(std::path::Path::new("/exp/RUN.toml")).unwrap();
//! assert_eq!((cfg.total_steps, cfg.accum), (256, 4));
//! assert_eq!(cfg.out_dir, std::path::PathBuf::from("/exp/runs/tiny"));
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::adamw::AdamWParams;
use crate::error::{Result, TrainError};
use crate::schedule::{Decay, Schedule};

/// `RUN.toml` as written by a user. `Option` fields have the defaults named in their comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Run name: the key in the run store and the `run` column of the curve. Letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Run directory (created): run.toml, curve.csv, checkpoints/, final/.
    pub out: PathBuf,
    /// Run store (SQLite). Default: `runs.sqlite` in the run directory's parent, shared by sibling runs.
    pub store: Option<PathBuf>,
    /// Seeds the from-scratch initialisation and the data order. Default 0.
    pub seed: Option<u64>,
    /// `cpu` or `cuda:N` (needs the `cuda` feature). Default `cpu`; `--device` overrides.
    pub device: Option<String>,
    pub model: ModelSection,
    pub data: DataSection,
    pub train: TrainSection,
    #[serde(default)]
    pub eval: EvalSection,
    #[serde(default)]
    pub checkpoint: CheckpointSection,
}

/// Where the starting model comes from: exactly one key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Post-train this Hugging Face directory. `pruning.json` there supplies n0, rho, l0, method; a
    /// `masks.safetensors` there keeps the model's zeros fixed.
    pub hf_dir: Option<PathBuf>,
    /// Train from scratch with this Hugging Face `config.json`.
    pub config: Option<PathBuf>,
    /// Train from scratch with this inline table of `config.json` keys (`[model.arch]`).
    pub arch: Option<toml::Table>,
}

/// Token shards written by `p2law data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The token-shard folder.
    pub dir: PathBuf,
    /// Split trained on. Default `pretrain` from scratch, `posttrain` from `model.hf_dir` (`p2law data`
    /// writes pretrain, posttrain, heldout and calib).
    pub train_split: Option<String>,
    /// Split the held-out loss is measured on. Default `heldout`.
    pub heldout_split: Option<String>,
}

/// Optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Training tokens D in total (rounded down to whole steps).
    pub tokens: u64,
    /// Tokens per optimizer step (= micro_batch · seq_len · gradient-accumulation steps).
    pub batch_tokens: u64,
    /// Tokens per sequence (the model sees `seq_len` inputs, predicts `seq_len` next tokens).
    pub seq_len: u64,
    /// Sequences per forward/backward pass; bounds memory. Must divide `batch_tokens / seq_len`.
    pub micro_batch: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Floor of the cosine decay. Default `lr / 10`.
    pub min_lr: Option<f64>,
    /// `cosine` or `constant` after warmup. Default `cosine`.
    pub schedule: Option<Decay>,
    /// Linear warmup length in tokens (rounded up to steps). Default 0.
    pub warmup_tokens: Option<u64>,
    /// Decoupled weight decay on matrices and embeddings. Default 0.1.
    pub weight_decay: Option<f64>,
    /// Adam β1. Default 0.9.
    pub beta1: Option<f64>,
    /// Adam β2. Default 0.95.
    pub beta2: Option<f64>,
    /// Adam ε. Default 1e-8.
    pub eps: Option<f64>,
    /// Global gradient-norm limit; 0 disables clipping. Default 1.0.
    pub grad_clip: Option<f64>,
}

/// Held-out evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Evaluate every this many training tokens (rounded up to steps), and after the last step.
    /// Default: a tenth of `train.tokens`.
    pub every_tokens: Option<u64>,
    /// Instead of `every_tokens`: evaluate at this many steps spaced evenly in log(step), from the first
    /// step to the last (fewer when steps coincide), since a scaling law's D spans decades.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
    /// With `points`: the first evaluation's step (the log spacing runs from it to the last step), so the
    /// curve skips the first steps' optimisation transient. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_step: Option<u64>,
    /// Size of the fixed held-out slice: the first this many tokens of the held-out split. Default 65536.
    pub tokens: Option<u64>,
    /// Sequences per evaluation forward pass. Default `train.micro_batch`.
    pub micro_batch: Option<u64>,
}

/// Checkpoints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Save every this many training tokens (rounded up to steps), and after the last step.
    /// Default: `eval.every_tokens`.
    pub every_tokens: Option<u64>,
    /// Checkpoints kept on disk (older ones deleted); 0 keeps all. Default 2.
    pub keep: Option<u64>,
}

/// The starting model.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A Hugging Face directory.
    HfDir(PathBuf),
    /// A fresh model from `config.json` contents.
    Scratch(serde_json::Value),
}

/// A checked config: what the trainer runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The file config with every default filled in and paths made absolute (saved as `run.toml`).
    pub file: FileConfig,
    pub name: String,
    pub out_dir: PathBuf,
    pub store: PathBuf,
    pub seed: u64,
    pub device: String,
    pub model: ModelSource,
    pub data_dir: PathBuf,
    pub train_split: String,
    pub heldout_split: String,
    pub seq_len: usize,
    pub micro_batch: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    pub accum: usize,
    pub batch_tokens: u64,
    pub total_steps: u64,
    pub schedule: Schedule,
    pub adamw: AdamWParams,
    pub grad_clip: f64,
    pub eval_every_steps: u64,
    /// Evaluation steps spaced in log(step) (`eval.points`); when set, `eval_every_steps` is unused.
    pub eval_log_steps: Option<Vec<u64>>,
    pub eval_tokens: u64,
    pub eval_micro_batch: usize,
    pub checkpoint_every_steps: u64,
    pub checkpoint_keep: usize,
}

impl FileConfig {
    /// Reads and resolves `path`.
    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        let file: FileConfig = crate::error::parse_toml(path, &text)?;
        file.resolve(path)
    }

    /// Checks every field and derives the step budgets; `path` is the config file (for relative paths and
    /// error messages). Phases: the run's name and paths, the model, the optimisation, the evaluation and
    /// checkpoint intervals, then the config with every default filled in.
    pub fn resolve(&self, path: &Path) -> Result<RunConfig> {
        let bad = |field: &str, msg: String| TrainError::Config {
            path: path.to_path_buf(),
            field: field.into(),
            msg,
        };
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => absolute(p),
            _ => absolute(Path::new(".")),
        };
        let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };

        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(bad("name", format!("{:?}: use letters, digits, `.`, `_` or `-`", self.name)));
        }
        let out_dir = abs(&self.out);
        let store = match &self.store {
            Some(s) => abs(s),
            None => out_dir.parent().unwrap_or(Path::new("/")).join("runs.sqlite"),
        };
        let device = self.device.clone().unwrap_or_else(|| "cpu".into());
        crate::device::parse_device_name(&device).map_err(|msg| bad("device", msg))?;

        let model = self.model.resolve(&abs, &bad)?;
        let t = self.train.resolve(&bad)?;
        let e = self.eval.resolve(&self.train, t.schedule.total_steps, &bad)?;
        let ckpt_every = self.checkpoint.every_tokens.unwrap_or(e.every_tokens);
        if ckpt_every == 0 {
            return Err(bad("checkpoint.every_tokens", "must be positive".into()));
        }
        let keep = self.checkpoint.keep.unwrap_or(2);

        // Pretraining reads the pretrain split, post-training (from a directory) the posttrain split.
        let default_split = if matches!(model, ModelSource::HfDir(_)) { "posttrain" } else { "pretrain" };
        let m = &self.model;
        let filled = FileConfig {
            name: self.name.clone(),
            out: out_dir.clone(),
            store: Some(store.clone()),
            seed: Some(self.seed.unwrap_or(0)),
            device: Some(device.clone()),
            model: ModelSection {
                hf_dir: m.hf_dir.as_deref().map(abs),
                config: m.config.as_deref().map(abs),
                arch: m.arch.clone(),
            },
            data: DataSection {
                dir: abs(&self.data.dir),
                train_split: Some(self.data.train_split.clone().unwrap_or_else(|| default_split.into())),
                heldout_split: Some(self.data.heldout_split.clone().unwrap_or_else(|| "heldout".into())),
            },
            train: TrainSection {
                min_lr: Some(t.schedule.min_lr),
                schedule: Some(t.schedule.decay),
                warmup_tokens: Some(t.warmup_tokens),
                weight_decay: Some(t.adamw.weight_decay),
                beta1: Some(t.adamw.beta1),
                beta2: Some(t.adamw.beta2),
                eps: Some(t.adamw.eps),
                grad_clip: Some(t.grad_clip),
                ..self.train.clone()
            },
            eval: EvalSection {
                every_tokens: self.eval.points.is_none().then_some(e.every_tokens),
                points: self.eval.points,
                first_step: self.eval.first_step,
                tokens: Some(e.tokens),
                micro_batch: Some(e.micro_batch),
            },
            checkpoint: CheckpointSection { every_tokens: Some(ckpt_every), keep: Some(keep) },
        };
        let batch_tokens = self.train.batch_tokens;
        Ok(RunConfig {
            name: self.name.clone(),
            out_dir,
            store,
            seed: self.seed.unwrap_or(0),
            device,
            model,
            data_dir: filled.data.dir.clone(),
            train_split: filled.data.train_split.clone().unwrap_or_default(),
            heldout_split: filled.data.heldout_split.clone().unwrap_or_default(),
            seq_len: self.train.seq_len as usize,
            micro_batch: self.train.micro_batch as usize,
            accum: (batch_tokens / t.per_micro) as usize,
            batch_tokens,
            total_steps: t.schedule.total_steps,
            schedule: t.schedule,
            adamw: t.adamw,
            grad_clip: t.grad_clip,
            eval_every_steps: e.every_tokens.div_ceil(batch_tokens),
            eval_log_steps: e.log_steps,
            eval_tokens: e.tokens,
            eval_micro_batch: e.micro_batch as usize,
            checkpoint_every_steps: ckpt_every.div_ceil(batch_tokens),
            checkpoint_keep: keep as usize,
            file: filled,
        })
    }
}

/// A config error for a field: `bad(field, message)`.
type Bad<'a> = dyn Fn(&str, String) -> TrainError + 'a;

impl ModelSection {
    /// The starting model: exactly one of the three keys, paths made absolute by `abs`.
    fn resolve(&self, abs: &dyn Fn(&Path) -> PathBuf, bad: &Bad) -> Result<ModelSource> {
        match (&self.hf_dir, &self.config, &self.arch) {
            (Some(dir), None, None) => {
                let dir = abs(dir);
                if !dir.join("config.json").is_file() {
                    return Err(bad("model.hf_dir", format!("{} has no config.json", dir.display())));
                }
                Ok(ModelSource::HfDir(dir))
            }
            (None, Some(file), None) => {
                let file = abs(file);
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| bad("model.config", format!("{}: {e}", file.display())))?;
                let json = serde_json::from_str(&text)
                    .map_err(|e| bad("model.config", format!("{}: invalid JSON: {e}", file.display())))?;
                Ok(ModelSource::Scratch(json))
            }
            (None, None, Some(table)) => Ok(ModelSource::Scratch(
                serde_json::to_value(table).map_err(|e| bad("model.arch", e.to_string()))?,
            )),
            (None, None, None) => {
                Err(bad("model", "missing: set one of `hf_dir`, `config` or `[model.arch]`".into()))
            }
            _ => Err(bad("model", "set only one of `hf_dir`, `config` or `[model.arch]`".into())),
        }
    }
}

/// `[train]` checked, defaults filled in.
struct Training {
    /// Tokens per micro-batch, `micro_batch · seq_len`.
    per_micro: u64,
    warmup_tokens: u64,
    schedule: Schedule,
    adamw: AdamWParams,
    grad_clip: f64,
}

impl TrainSection {
    /// Checks the batch shape, the budget, the learning-rate schedule and the optimizer's settings.
    fn resolve(&self, bad: &Bad) -> Result<Training> {
        let t = self;
        for (field, v) in [("train.seq_len", t.seq_len), ("train.micro_batch", t.micro_batch)] {
            if v == 0 {
                return Err(bad(field, "must be at least 1".into()));
            }
        }
        // micro_batch · (seq_len + 1) tokens are read per micro-batch (inputs and the shifted targets).
        let Some(per_micro) =
            t.micro_batch.checked_mul(t.seq_len.saturating_add(1)).map(|_| t.micro_batch * t.seq_len)
        else {
            return Err(bad(
                "train.micro_batch",
                format!("micro_batch {} × seq_len {} overflows", t.micro_batch, t.seq_len),
            ));
        };
        if t.batch_tokens == 0 || !t.batch_tokens.is_multiple_of(per_micro) {
            return Err(bad(
                "train.batch_tokens",
                format!(
                    "{} is not a positive multiple of micro_batch · seq_len = {per_micro}",
                    t.batch_tokens
                ),
            ));
        }
        let total_steps = t.tokens / t.batch_tokens;
        if total_steps == 0 {
            return Err(bad(
                "train.tokens",
                format!("{} is less than one batch ({})", t.tokens, t.batch_tokens),
            ));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(bad("train.lr", format!("{} must be positive", t.lr)));
        }
        let min_lr = t.min_lr.unwrap_or(t.lr / 10.0);
        if !(min_lr.is_finite() && (0.0..=t.lr).contains(&min_lr)) {
            return Err(bad("train.min_lr", format!("{min_lr} must be between 0 and lr = {}", t.lr)));
        }
        let warmup_tokens = t.warmup_tokens.unwrap_or(0);
        if warmup_tokens > t.tokens {
            return Err(bad(
                "train.warmup_tokens",
                format!("{warmup_tokens} exceeds train.tokens = {}", t.tokens),
            ));
        }
        let adamw = AdamWParams {
            beta1: t.beta1.unwrap_or(0.9),
            beta2: t.beta2.unwrap_or(0.95),
            eps: t.eps.unwrap_or(1e-8),
            weight_decay: t.weight_decay.unwrap_or(0.1),
        };
        for (field, v) in [("train.beta1", adamw.beta1), ("train.beta2", adamw.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(bad(field, format!("{v} must be in [0, 1)")));
            }
        }
        if !(adamw.eps > 0.0 && adamw.eps.is_finite()) {
            return Err(bad("train.eps", format!("{} must be positive", adamw.eps)));
        }
        if !(adamw.weight_decay >= 0.0 && adamw.weight_decay.is_finite()) {
            return Err(bad("train.weight_decay", format!("{} must be >= 0", adamw.weight_decay)));
        }
        let grad_clip = t.grad_clip.unwrap_or(1.0);
        if !(grad_clip >= 0.0 && grad_clip.is_finite()) {
            return Err(bad("train.grad_clip", format!("{grad_clip} must be >= 0 (0 disables)")));
        }
        let schedule = Schedule {
            peak_lr: t.lr,
            min_lr,
            warmup_steps: warmup_tokens.div_ceil(t.batch_tokens).min(total_steps),
            total_steps,
            decay: t.schedule.unwrap_or(Decay::Cosine),
        };
        Ok(Training { per_micro, warmup_tokens, schedule, adamw, grad_clip })
    }
}

/// `[eval]` checked, defaults filled in.
struct Evaluation {
    /// The steps of `eval.points`, when given.
    log_steps: Option<Vec<u64>>,
    every_tokens: u64,
    tokens: u64,
    micro_batch: u64,
}

impl EvalSection {
    /// Checks when and on how much the held-out loss is measured, for a run of `total_steps` as `train`
    /// says.
    fn resolve(&self, train: &TrainSection, total_steps: u64, bad: &Bad) -> Result<Evaluation> {
        if self.points.is_some() && self.every_tokens.is_some() {
            return Err(bad("eval.points", "give either eval.points or eval.every_tokens, not both".into()));
        }
        match self.points {
            Some(0) => return Err(bad("eval.points", "must be at least 1".into())),
            Some(p) if p > MAX_EVAL_POINTS => {
                return Err(bad("eval.points", format!("{p} is more than {MAX_EVAL_POINTS} evaluations")))
            }
            _ => {}
        }
        if self.first_step.is_some() && self.points.is_none() {
            return Err(bad("eval.first_step", "only applies with eval.points".into()));
        }
        let first_step = self.first_step.unwrap_or(1);
        if !(1..=total_steps).contains(&first_step) {
            return Err(bad(
                "eval.first_step",
                format!("{first_step} must be in 1..={total_steps} (the run's steps)"),
            ));
        }
        let log_steps = self.points.map(|p| log_spaced_steps(first_step, total_steps, p));
        let every_tokens = self.every_tokens.unwrap_or((train.tokens / 10).max(train.batch_tokens));
        let tokens = self.tokens.unwrap_or(65_536);
        let micro_batch = self.micro_batch.unwrap_or(train.micro_batch);
        if every_tokens == 0 {
            return Err(bad("eval.every_tokens", "must be positive".into()));
        }
        if tokens <= train.seq_len {
            return Err(bad("eval.tokens", format!("{tokens} is less than one sequence (seq_len + 1)")));
        }
        if micro_batch == 0 {
            return Err(bad("eval.micro_batch", "must be at least 1".into()));
        }
        Ok(Evaluation { log_steps, every_tokens, tokens, micro_batch })
    }
}

impl RunConfig {
    /// The text of `run.toml`: the filled-in file config (itself a valid `RUN.toml`), then the derived
    /// step budgets as comments.
    pub fn to_run_toml(&self) -> String {
        let body = toml::to_string(&self.file).expect("FileConfig serializes to TOML");
        let eval = match &self.eval_log_steps {
            Some(steps) => format!("at steps {steps:?}"),
            None => format!("every {} steps", self.eval_every_steps),
        };
        format!(
            "{body}\n# Resolved: {} steps of {} tokens ({} micro-batches of {} × {}), warmup {} steps,\n\
             # eval {eval} on {} held-out tokens, checkpoint every {} steps.\n",
            self.total_steps,
            self.batch_tokens,
            self.accum,
            self.micro_batch,
            self.seq_len,
            self.schedule.warmup_steps,
            self.eval_tokens,
            self.checkpoint_every_steps
        )
    }

    /// Whether the held-out slice is evaluated after step `step` (always after the last).
    pub fn evaluates_after(&self, step: u64) -> bool {
        step == self.total_steps
            || match &self.eval_log_steps {
                Some(steps) => steps.binary_search(&step).is_ok(),
                None => step.is_multiple_of(self.eval_every_steps),
            }
    }

    /// Whether two configs describe the same run (all but the device, which a resumed run may change).
    pub fn same_run(&self, other: &RunConfig) -> bool {
        let strip = |f: &FileConfig| FileConfig { device: None, ..f.clone() };
        strip(&self.file) == strip(&other.file)
    }
}

/// Most evaluations `eval.points` may ask for (each is a held-out pass and a curve row).
const MAX_EVAL_POINTS: u64 = 100_000;

/// `points` steps in `first..=total` spaced evenly in log(step), rounded, without repeats; always ends at
/// `total`.
fn log_spaced_steps(first: u64, total: u64, points: u64) -> Vec<u64> {
    let ratio = total as f64 / first as f64;
    let mut steps: Vec<u64> = (0..points)
        .map(|i| {
            let f = if points == 1 { 1.0 } else { i as f64 / (points - 1) as f64 };
            ((first as f64 * ratio.powf(f)).round() as u64).clamp(first, total)
        })
        .collect();
    steps.push(total);
    steps.sort_unstable();
    steps.dedup();
    steps
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
