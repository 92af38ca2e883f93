//! The library entry of `p2law prune` and of a sweep's pruning units: prune a model directory into a new one
//! from typed parameters ([`PruneJob`]), or write a base model unpruned as a sweep's control
//! ([`ControlJob`]). Both return the [`PruningRecord`] they wrote as `pruning.json` (docs/spec/formats.md).
//!
//! A [`PruneJob`] checks its numbers, the request against `config.json` (rate range and reachability, N:M
//! divisibility, KV groups) and the output folder against the inputs before loading anything; loads the
//! model; draws `samples` windows of `seq_len` tokens (capped by the model's context) from the calibration
//! shard; measures the unpruned loss L0 on the held-out slice (unless given); prunes ([`crate::apply`]),
//! with a heartbeat line on stderr meanwhile if asked; measures the pruned loss; and writes the output
//! directory — weights and `config.json`, tokenizer files, `pruning.json` and, for sparse methods,
//! `masks.safetensors` — under a temporary name, renamed into place only once complete
//! ([`OutDir`]), so the output never holds a half-written model.
//!
//! Errors are [`JobError`]s; those about a parameter name it as the caller's [`Names`] say (`p2law prune`
//! passes its flags, a sweep [`Names::FIELDS`]). An unreachable rate stays a typed
//! [`PruneError::RateUnreachable`] ([`JobError::is_unreachable_rate`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use p2law_formats::shard::{ShardError, ShardReader};
use p2law_formats::{CalibrationSet, Count, EvalSlice, PruningRecord, CONTROL_METHOD, L0_GIVEN, L0_MEASURED};
use p2law_model::staging::{OutDir, OutDirError, OutNames};
use p2law_model::{Config, Model, ModelError, ParamCounts, SaveOptions};
use serde_json::json;

use crate::apply::{self, Calibration, Request};
use crate::error::PruneError;
use crate::mask::MaskSet;

/// How a job's errors name its parameters: [`Names::FIELDS`], or a command line's flags.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub model: &'static str,
    pub method: &'static str,
    pub rate: &'static str,
    pub calib: &'static str,
    pub samples: &'static str,
    pub seq_len: &'static str,
    pub batch: &'static str,
    pub heldout: &'static str,
    pub l0: &'static str,
    pub out: OutNames,
}

impl Names {
    /// The parameters in words.
    pub const FIELDS: Names = Names {
        model: "model",
        method: "method",
        rate: "rate",
        calib: "calibration shard",
        samples: "samples",
        seq_len: "seq_len",
        batch: "batch",
        heldout: "held-out shard",
        l0: "l0",
        out: OutNames { out: "output", overwrite: "overwrite" },
    };
}

/// Why a job failed; nothing is left at the output when it does.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A count or loss the job cannot work with.
    #[error("{name} {value}: {problem}")]
    Value { name: &'static str, value: String, problem: String },
    /// The request does not fit the model (rate out of range or unreachable, N:M divisibility, KV groups).
    #[error("{name}: {error}")]
    Request { name: String, error: Box<PruneError> },
    /// A token shard that cannot be read (the error names the file).
    #[error("{name}: {error}")]
    Shard { name: &'static str, error: ShardError },
    /// A calibration shard too short for the windows asked for.
    #[error("{name} {}: {error}", path.display())]
    Calibration { name: &'static str, path: PathBuf, error: Box<PruneError> },
    #[error(transparent)]
    Out(#[from] OutDirError),
    #[error("loading model {}: {error}", path.display())]
    Load { path: PathBuf, error: ModelError },
    #[error("measuring the held-out loss: {0}")]
    Eval(candle_core::Error),
    #[error("writing {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
    /// Reading the config, writing the model (the error names the file).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Calibrating or pruning.
    #[error(transparent)]
    Prune(#[from] PruneError),
}

impl JobError {
    /// Whether the rate is one the model's granularity cannot reach (a hole in a sweep's grid).
    pub fn is_unreachable_rate(&self) -> bool {
        let error = match self {
            JobError::Request { error, .. } => error.as_ref(),
            JobError::Prune(error) => error,
            _ => return false,
        };
        matches!(error, PruneError::RateUnreachable { .. })
    }
}

/// Everything one pruning needs.
pub struct PruneJob {
    /// Hugging Face model directory to prune.
    pub model: PathBuf,
    pub request: Request,
    /// Calibration token shard (the `calib` split of `p2law data build`).
    pub calib: PathBuf,
    /// Calibration sequences, of `seq_len` tokens (capped by the model's context), drawn with `seed`, fed
    /// `batch` at a time (also the batch of the held-out loss).
    pub samples: usize,
    pub seq_len: usize,
    pub seed: u64,
    pub batch: usize,
    /// Held-out shard for L0 and the pruned loss; `None`: `heldout.bin` beside `calib`, if present.
    pub heldout: Option<PathBuf>,
    /// Score at most this many held-out tokens.
    pub eval_tokens: usize,
    /// L0 given (e.g. measured by the pretraining run) instead of measured.
    pub l0: Option<f64>,
    /// Output directory; it must not exist unless `overwrite`.
    pub out: PathBuf,
    pub overwrite: bool,
    /// Compute dtype (the pruned weights are saved in it) and device.
    pub dtype: DType,
    pub device: Device,
    /// A heartbeat line on stderr this often while the pruning itself runs.
    pub heartbeat: Option<Duration>,
}

impl PruneJob {
    /// The held-out shard: the one given, else `heldout.bin` beside the calibration shard if it exists.
    pub fn heldout(&self) -> Option<PathBuf> {
        self.heldout.clone().or_else(|| {
            let sibling = self.calib.with_file_name("heldout.bin");
            sibling.is_file().then_some(sibling)
        })
    }

    /// Prunes as described in the module docs; `say` gets progress messages (what is being measured or
    /// pruned). Returns the record written as `pruning.json`.
    pub fn run(&self, names: &Names, say: impl Fn(&str)) -> Result<PruningRecord, JobError> {
        for (name, value, least) in
            [(names.samples, self.samples, 1), (names.batch, self.batch, 1), (names.seq_len, self.seq_len, 2)]
        {
            if value < least {
                return Err(JobError::Value {
                    name,
                    value: value.to_string(),
                    problem: format!("must be ≥ {least}"),
                });
            }
        }
        if let Some(l0) = self.l0.filter(|l0| !(l0.is_finite() && *l0 > 0.0)) {
            return Err(JobError::Value {
                name: names.l0,
                value: l0.to_string(),
                problem: "must be a positive loss".into(),
            });
        }
        let request = &self.request;
        let config = Config::from_file(&self.model.join("config.json"))?;
        request.check(&config).map_err(|error| JobError::Request {
            name: format!("{} {} {} {}", names.method, request.method.name(), names.rate, request.rate),
            error: Box::new(error),
        })?;
        let heldout = self.heldout();
        let mut inputs = vec![(names.model, self.model.as_path()), (names.calib, self.calib.as_path())];
        inputs.extend(heldout.as_deref().map(|h| (names.heldout, h)));
        let out = OutDir::check(&self.out, self.overwrite, &inputs, names.out)?;
        let seq_len = self.seq_len.min(config.max_position_embeddings);
        let shard = |error| JobError::Shard { name: names.calib, error };
        let calib_ids = ShardReader::open(&self.calib).map_err(shard)?;
        let starts =
            apply::sample_offsets(calib_ids.len(), self.samples, seq_len, self.seed).map_err(|error| {
                JobError::Calibration { name: names.calib, path: self.calib.clone(), error: Box::new(error) }
            })?;
        let sequences = starts
            .iter()
            .map(|&s| calib_ids.window(s, seq_len))
            .collect::<Result<Vec<_>, _>>()
            .map_err(shard)?;
        let heldout_ids =
            heldout.as_deref().map(|p| heldout_window(p, self.eval_tokens, names.heldout)).transpose()?;

        let model = load(&self.model, self.dtype, &self.device)?;
        let calib = Calibration::new(&sequences, self.batch, &self.device)?;
        let eval =
            |m: &Model| heldout_ids.as_ref().map(|ids| heldout_loss(m, ids, seq_len, self.batch)).transpose();
        let l0 = match self.l0 {
            Some(l0) => Some(l0),
            None => {
                say("measuring the unpruned loss (L0)…");
                eval(&model)?
            }
        };
        let (method, criterion) = (request.method.name(), request.method.criterion());
        say(&format!("pruning ({method} {criterion}, rate {})…", request.rate));
        let label = format!("[prune] {method} {criterion} rate {}", request.rate);
        let started = Instant::now();
        let outcome = p2law_formats::heartbeat::around(&label, self.heartbeat, || {
            apply::prune(model, request, &calib)
        })?;
        let prune_seconds = started.elapsed().as_secs_f64();
        say("measuring the pruned loss…");
        let loss_pruned = eval(&outcome.model)?;

        let before = ParamCounts::from_config(&config);
        let after = ParamCounts::from_config(outcome.model.config());
        let zeroed = outcome.n0 - outcome.n - (before.non_embedding - after.non_embedding) as u64;
        let record = PruningRecord {
            target_rho: Some(request.rate),
            rho: outcome.rho(),
            n0: Some(Count::new(before.non_embedding as u64, before.total as u64)),
            n: Some(Count::new(outcome.n, after.total as u64 - zeroed)),
            l0,
            l0_source: Some(if self.l0.is_some() { L0_GIVEN } else { L0_MEASURED }.into()),
            loss_pruned,
            eval: heldout.as_ref().map(|p| EvalSlice {
                data: p.display().to_string(),
                tokens: heldout_ids.as_ref().map_or(0, |ids| ids.len().saturating_sub(1)) as u64,
                context: seq_len as u64,
            }),
            calibration: Some(CalibrationSet {
                source: self.calib.display().to_string(),
                samples: self.samples as u64,
                seq_len: seq_len as u64,
                seed: self.seed,
                offsets: starts.iter().map(|&s| s as u64).collect(),
            }),
            masks: outcome.masks.as_ref().map(|_| "masks.safetensors".into()),
            prune_seconds: Some(prune_seconds),
            details: outcome.details,
            ..PruningRecord::stamped(method, criterion, &self.model)
        };
        write_output(&out, &self.model, &outcome.model, outcome.masks.as_ref(), &record, self.dtype)?;
        Ok(record)
    }
}

/// The unpruned control of a sweep: the base model written as a "pruned" directory with `rho` 0 and method
/// [`CONTROL_METHOD`], its L0 measured exactly as a [`PruneJob`] measures the L0 of the models pruned from
/// the same base (same held-out slice, context and batch, same dtype), so post-training treats it like them
/// and its curve carries `rho` 0 and that L0.
pub struct ControlJob {
    pub model: PathBuf,
    pub heldout: PathBuf,
    pub eval_tokens: usize,
    /// The context L0 is measured with (a [`PruneJob`]'s `seq_len`), capped by the model's.
    pub seq_len: usize,
    pub batch: usize,
    /// Output directory; it must not exist.
    pub out: PathBuf,
    pub dtype: DType,
    pub device: Device,
}

impl ControlJob {
    /// Writes the control (under a temporary name, renamed into place); returns its `pruning.json` record.
    pub fn run(&self) -> Result<PruningRecord, JobError> {
        let names = Names::FIELDS;
        let config = Config::from_file(&self.model.join("config.json"))?;
        let inputs = [(names.model, self.model.as_path()), (names.heldout, self.heldout.as_path())];
        let out = OutDir::check(&self.out, false, &inputs, names.out)?;
        let seq_len = self.seq_len.min(config.max_position_embeddings);
        let ids = heldout_window(&self.heldout, self.eval_tokens, names.heldout)?;
        let model = load(&self.model, self.dtype, &self.device)?;
        let l0 = heldout_loss(&model, &ids, seq_len, self.batch)?;
        let counts = ParamCounts::from_config(&config);
        let count = Count::new(counts.non_embedding as u64, counts.total as u64);
        let record = PruningRecord {
            n0: Some(count),
            n: Some(count),
            l0: Some(l0),
            l0_source: Some(L0_MEASURED.into()),
            loss_pruned: Some(l0),
            eval: Some(EvalSlice {
                data: self.heldout.display().to_string(),
                tokens: ids.len().saturating_sub(1) as u64,
                context: seq_len as u64,
            }),
            prune_seconds: Some(0.0),
            details: json!({"control": "the base model, unpruned, post-trained like the pruned models"}),
            ..PruningRecord::stamped(CONTROL_METHOD, "none", &self.model)
        };
        write_output(&out, &self.model, &model, None, &record, self.dtype)?;
        Ok(record)
    }
}

fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Model, JobError> {
    let (_, model) = p2law_model::load_hf_dir(dir, dtype, device)
        .map_err(|error| JobError::Load { path: dir.into(), error })?;
    Ok(model)
}

/// The first `eval_tokens` tokens of a held-out shard: the slice L0 and the pruned loss are measured on.
fn heldout_window(path: &Path, eval_tokens: usize, name: &'static str) -> Result<Vec<u32>, JobError> {
    let shard = |error| JobError::Shard { name, error };
    let reader = ShardReader::open(path).map_err(shard)?;
    reader.window(0, reader.len().min(eval_tokens)).map_err(shard)
}

/// Mean next-token loss of `model` on `ids`, in windows of `context` tokens, `batch` windows at a time.
fn heldout_loss(model: &Model, ids: &[u32], context: usize, batch: usize) -> Result<f64, JobError> {
    Ok(p2law_model::eval::evaluate(model, ids, context, batch, |_, _| ()).map_err(JobError::Eval)?.loss)
}

/// Writes the pruned directory under a staging name beside the output, then moves it into place.
fn write_output(
    out: &OutDir,
    source: &Path,
    model: &Model,
    masks: Option<&MaskSet>,
    record: &PruningRecord,
    dtype: DType,
) -> Result<(), JobError> {
    let staged = out.stage()?;
    let tmp = staged.path();
    p2law_model::save_hf_dir(model, tmp, &SaveOptions { dtype, max_shard_bytes: None })?;
    p2law_model::copy_tokenizer_files(source, tmp)?;
    if let Some(masks) = masks {
        crate::masks_io::write_masks(&tmp.join("masks.safetensors"), masks)?;
    }
    let json = tmp.join("pruning.json");
    p2law_formats::write_atomic(&json, record.to_json_pretty().as_bytes())
        .map_err(|error| JobError::Write { path: json.clone(), error })?;
    Ok(out.commit(staged)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use p2law_formats::shard::{write_shard, ShardMeta};

    use super::*;
    use crate::apply::Method;

    /// A random 4-layer Llama saved as `base/`, with `calib.bin` and `heldout.bin` beside it.
    fn tiny(dir: &Path) -> PathBuf {
        let json = json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 4, "num_attention_heads": 2, "vocab_size": 32, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 64});
        let model =
            Model::new_random(&Config::from_hf_json(&json).unwrap(), 0, DType::F32, &Device::Cpu).unwrap();
        let base = dir.join("base");
        p2law_model::save_hf_dir(&model, &base, &SaveOptions { dtype: DType::F32, max_shard_bytes: None })
            .unwrap();
        let meta = ShardMeta { vocab_size: 32, eos_id: 31, tokenizer_sha256: [0; 32] };
        let doc: Vec<u32> = (0..2000u32).map(|i| i * 7 % 31).collect();
        for split in ["calib", "heldout"] {
            write_shard(&dir.join(format!("{split}.bin")), &meta, std::slice::from_ref(&doc)).unwrap();
        }
        base
    }

    fn depth(dir: &Path, rate: f64, out: &str) -> PruneJob {
        PruneJob {
            model: dir.join("base"),
            request: Request { method: Method::Depth { contiguous: false }, rate },
            calib: dir.join("calib.bin"),
            samples: 4,
            seq_len: 16,
            seed: 0,
            batch: 2,
            heldout: None,
            eval_tokens: 256,
            l0: None,
            out: dir.join(out),
            overwrite: false,
            dtype: DType::F32,
            device: Device::Cpu,
            heartbeat: None,
        }
    }

    #[test]
    fn a_job_prunes_a_directory_and_its_errors_are_typed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        tiny(dir);
        let job = depth(dir, 0.25, "pruned");
        let said = RefCell::new(Vec::new());
        let record = job.run(&Names::FIELDS, |m| said.borrow_mut().push(m.to_string())).unwrap();
        assert_eq!((record.method.as_deref(), record.target_rho), (Some("depth"), Some(0.25)));
        assert!((record.rho - 0.25).abs() < 0.05, "{}", record.rho);
        assert!(record.l0.is_some() && record.loss_pruned.is_some());
        let eval = record.eval.as_ref().unwrap();
        assert_eq!(
            (eval.data.as_str(), eval.tokens, eval.context),
            (dir.join("heldout.bin").to_str().unwrap(), 255, 16)
        );
        assert_eq!(PruningRecord::read(&dir.join("pruned/pruning.json")).unwrap().rho, record.rho);
        assert_eq!(said.borrow().len(), 3, "{:?}", said.borrow());
        // The output exists now: refused, named by the caller's names.
        let e = job.run(&Names::FIELDS, |_| ()).unwrap_err().to_string();
        assert!(e.starts_with("output ") && e.ends_with("pass overwrite"), "{e}");
        // Removing no whole layer is the closest to 1 %: unreachable, as a type.
        let e = depth(dir, 0.01, "never").run(&Names::FIELDS, |_| ()).unwrap_err();
        assert!(e.is_unreachable_rate(), "{e}");
        assert!(e.to_string().starts_with("method depth rate 0.01: "), "{e}");
        let mut bad = depth(dir, 0.25, "never");
        bad.samples = 0;
        assert_eq!(bad.run(&Names::FIELDS, |_| ()).unwrap_err().to_string(), "samples 0: must be ≥ 1");
        assert!(!dir.join("never").exists());
    }

    #[test]
    fn the_control_is_the_base_with_the_l0_a_pruning_measures() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        tiny(dir);
        let pruned = depth(dir, 0.25, "pruned").run(&Names::FIELDS, |_| ()).unwrap();
        let control = ControlJob {
            model: dir.join("base"),
            heldout: dir.join("heldout.bin"),
            eval_tokens: 256,
            seq_len: 16,
            batch: 2,
            out: dir.join("control"),
            dtype: DType::F32,
            device: Device::Cpu,
        };
        let record = control.run().unwrap();
        assert_eq!((record.method.as_deref(), record.rho), (Some(CONTROL_METHOD), 0.0));
        assert_eq!(record.l0, pruned.l0);
        assert_eq!(record.loss_pruned, record.l0);
        assert!(dir.join("control/config.json").is_file() && dir.join("control/pruning.json").is_file());
    }

    /// The typed error, not a message that mentions it.
    #[test]
    fn only_the_unreachable_rate_error_is_unreachable() {
        let unreachable = || PruneError::RateUnreachable { rate: 0.15, reason: "2 layers".into() };
        let request =
            JobError::Request { name: "method depth rate 0.15".into(), error: Box::new(unreachable()) };
        assert!(request.is_unreachable_rate());
        assert!(JobError::Prune(unreachable()).is_unreachable_rate());
        let other = PruneError::InvalidPattern { pattern: "unreachable".into(), reason: "x".into() };
        assert!(!JobError::Prune(other).is_unreachable_rate());
    }
}
