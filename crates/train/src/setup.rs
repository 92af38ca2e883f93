//! Opening what a [`RunConfig`] names: the `p2law-model` decoder (from scratch or a Hugging Face directory,
//! with its `pruning.json` and `masks.safetensors`) and the `p2law-data` token shards, adapted to the
//! trainer's [`LanguageModel`] and [`TokenSource`] seams.
//!
//! Everything is checked here, before the first step: the model builds, the masks match it, both splits
//! exist, and every token id of the shards fits the model's vocabulary. [`Setup::train`] then runs the loop
//! on what was opened (for `p2law train` and a sweep's training units).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use p2law_data::{pipeline::shard_path, ShardReader, Split};
use p2law_model::{Config, Model, ParamCounts, SaveOptions};

use crate::config::{ModelSource, RunConfig};
use crate::device::open_device;
use crate::error::{BoxError, Result, TrainError};
use crate::masks::Masks;
use crate::meta::load_pruning_meta;
use crate::seams::{Data, LanguageModel, TokenSource};
use crate::trainer::{Control, Outcome, Progress, RunMeta};

/// A `p2law-model` decoder as the trainer sees it; weights are f32 (training precision on CPU).
pub struct HfModel {
    pub model: Model,
    /// The directory it was loaded from (tokenizer, pruning.json and masks are copied to the final model).
    pub source: Option<PathBuf>,
    /// Where to take tokenizer files from when the model has none (the data folder, for scratch runs).
    pub tokenizer_dir: Option<PathBuf>,
}

impl LanguageModel for HfModel {
    fn params(&self) -> Vec<(String, Var)> {
        let vars = self.model.varmap().data().lock().expect("varmap lock poisoned");
        vars.iter().map(|(name, var)| (name.clone(), var.clone())).collect()
    }

    fn loss(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        self.model.loss(ids, targets)
    }

    /// Without the autograd graph, the LM head's logits in chunks (`p2law_model::Model::loss_sum_no_grad`).
    fn loss_sum(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<(f64, usize)> {
        self.model.loss_sum_no_grad(ids, targets)
    }

    /// On the CPU in f32, by the model's hand-run backward over the fused kernels (see
    /// `p2law_model::Model::loss_and_grads`); elsewhere by candle's.
    fn loss_and_grads(
        &self,
        ids: &Tensor,
        targets: &Tensor,
        params: &[(String, Var)],
    ) -> candle_core::Result<(Tensor, Vec<Option<Tensor>>)> {
        match self.model.loss_and_grads(ids, targets)? {
            Some((loss, mut grads)) => {
                Ok((loss, params.iter().map(|(_, v)| grads.remove(&v.as_tensor().id())).collect()))
            }
            None => crate::seams::backward(self.model.loss(ids, targets)?, params),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        p2law_model::save_hf_dir(
            &self.model,
            dir,
            &SaveOptions { dtype: DType::F32, max_shard_bytes: None },
        )?;
        for src in self.source.iter().chain(self.tokenizer_dir.iter()) {
            if !p2law_model::copy_tokenizer_files(src, dir)?.is_empty() {
                break;
            }
        }
        // A post-trained pruned model is still that pruned model: keep its record and its masks.
        if let Some(src) = &self.source {
            for name in ["pruning.json", "masks.safetensors"] {
                let from = src.join(name);
                if from.is_file() {
                    std::fs::copy(&from, dir.join(name)).map_err(TrainError::io(&from))?;
                }
            }
        }
        Ok(())
    }
}

/// One split's shard as a [`TokenSource`].
pub struct ShardSource(pub ShardReader);

impl TokenSource for ShardSource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read(&self, start: u64, out: &mut [u32]) -> std::result::Result<(), BoxError> {
        Ok(self.0.read_into(start as usize, out)?)
    }
}

/// Everything a run needs, opened and checked.
pub struct Setup {
    pub device: Device,
    pub model: HfModel,
    pub meta: RunMeta,
    pub masks: Option<Masks>,
    pub train: ShardSource,
    pub heldout: ShardSource,
}

impl Setup {
    /// Trains the opened model as `cfg` says ([`crate::trainer::train`]), keeping freed memory for reuse
    /// while the loop runs ([`crate::alloc::KeepFreedMemory`]).
    pub fn train(self, cfg: &RunConfig, control: Control, progress: &mut dyn Progress) -> Result<Outcome> {
        let _keep = crate::alloc::KeepFreedMemory::new();
        let data = Data { train: &self.train, heldout: &self.heldout };
        crate::trainer::train(cfg, &self.model, self.meta, self.masks, data, &self.device, control, progress)
    }
}

/// Refuses a from-scratch model whose training state cannot fit in this machine's memory, before the
/// allocation that would abort the process: weights, gradients and the two AdamW moments take 16 bytes per
/// parameter in f32. (Only checked on the CPU, where the total memory is known from `/proc/meminfo`.)
fn check_memory(config: &Config, device: &Device, cfg: &RunConfig) -> Result<()> {
    if !device.is_cpu() {
        return Ok(());
    }
    let Some(total) = memory_total_bytes() else { return Ok(()) };
    let params = ParamCounts::from_config(config).total as u64;
    let need = params.saturating_mul(16);
    if need > total {
        return Err(TrainError::Config {
            path: cfg.out_dir.join("run.toml"),
            field: "model.arch".into(),
            msg: format!(
                "{params} parameters need about {:.1} GiB for weights, gradients and optimizer state; this machine \
                 has {:.1} GiB",
                need as f64 / (1u64 << 30) as f64,
                total as f64 / (1u64 << 30) as f64
            ),
        });
    }
    Ok(())
}

/// `MemTotal` of `/proc/meminfo`, when readable.
fn memory_total_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Opens the device, the model (with its run constants and masks) and the two splits of `cfg`.
pub fn open(cfg: &RunConfig) -> Result<Setup> {
    let device = open_device(&cfg.device)?;
    let (model, source) = match &cfg.model {
        ModelSource::HfDir(dir) => {
            let (_, model) = p2law_model::load_hf_dir(dir, DType::F32, &device)?;
            (model, Some(dir.clone()))
        }
        ModelSource::Scratch(json) => {
            let config = Config::from_hf_json(json)?;
            check_memory(&config, &device, cfg)?;
            (Model::new_random(&config, cfg.seed, DType::F32, &device)?, None)
        }
    };
    let counts = ParamCounts::from_config(model.config());
    let vocab = model.config().vocab_size;
    let model = HfModel { model, source: source.clone(), tokenizer_dir: Some(cfg.data_dir.clone()) };

    // Run constants: from pruning.json, else the model is its own unpruned N0 and l0 is measured.
    let mut meta = match source.as_deref().map(load_pruning_meta).transpose()?.flatten() {
        Some(meta) => meta,
        None => RunMeta {
            n0: counts.non_embedding as f64,
            rho: 0.0,
            l0: None,
            method: None,
            n: None,
            rho_target: None,
            family: None,
        },
    };
    meta.family = Some(model.model.config().architecture.model_type().to_string());
    let masks = match source.as_ref().map(|d| d.join("masks.safetensors")).filter(|p| p.is_file()) {
        Some(path) => Some(Masks::load(&path, &model.params())?),
        None => None,
    };

    let open_split = |name: &str| -> Result<ShardSource> {
        let data_err = |e: p2law_data::DataError| TrainError::Data(Box::new(e));
        let split = Split::parse(name).map_err(data_err)?;
        let reader = ShardReader::open(shard_path(&cfg.data_dir, split).map_err(data_err)?)
            .map_err(|e| data_err(e.into()))?;
        let shard_vocab = reader.header().meta.vocab_size as usize;
        if shard_vocab > vocab {
            return Err(TrainError::Data(
                format!(
                    "{}: tokenized with a vocabulary of {shard_vocab}, but the model has {vocab} embeddings",
                    reader.path().display()
                )
                .into(),
            ));
        }
        Ok(ShardSource(reader))
    };
    let train = open_split(&cfg.train_split)?;
    let heldout = open_split(&cfg.heldout_split)?;
    Ok(Setup { device, model, meta, masks, train, heldout })
}
