//! The run directory: start fresh or resume, `run.toml`, data checks, the final model.
//!
//! ```text
//! <out>/run.toml       the resolved config (written once, compared on resume)
//! <out>/curve.csv      held-out curve, one row per evaluation
//! <out>/checkpoints/   step-NNNNNNNNNN/ folders (see `checkpoint`)
//! <out>/final/         the trained model, written when the run completes
//! ```
//!
//! Without `--resume`, a directory that already holds a run is an error (nothing is overwritten). With
//! `--resume`, the config must describe the same run as the saved `run.toml` (the device may differ), and
//! training continues from the newest checkpoint; a directory with no run yet simply starts, so a sweep can
//! always pass `--resume`.

use candle_core::Device;
use p2law_model::staging::{self, Staging};

use crate::checkpoint::{self, Checkpoint};
use crate::config::{FileConfig, RunConfig};
use crate::error::{Result, TrainError};
use crate::fsio;
use crate::seams::{Data, LanguageModel};

/// Where a run starts.
pub enum Start {
    Fresh,
    Resume(Box<Checkpoint>),
}

/// Checks the splits are large enough for the configured batch and held-out slice.
pub fn check_data(cfg: &RunConfig, data: &Data<'_>) -> Result<()> {
    let train = data.train.len();
    let need = (cfg.micro_batch * (cfg.seq_len + 1)) as u64;
    if cfg.batch_tokens > train || need > train {
        return Err(TrainError::Config {
            path: cfg.out_dir.join("run.toml"),
            field: "train.batch_tokens".into(),
            msg: format!(
                "a batch of {} tokens is larger than the `{}` split ({train} tokens); use a smaller batch",
                cfg.batch_tokens, cfg.train_split
            ),
        });
    }
    let heldout = data.heldout.len();
    if cfg.eval_tokens > heldout {
        return Err(TrainError::Config {
            path: cfg.out_dir.join("run.toml"),
            field: "eval.tokens".into(),
            msg: format!(
                "{} tokens requested but the `{}` split has {heldout}; lower `eval.tokens`",
                cfg.eval_tokens, cfg.heldout_split
            ),
        });
    }
    Ok(())
}

/// Name prefix of the temporary folder `final/` is written into.
const FINAL_TMP_PREFIX: &str = ".final.tmp-";

/// Prepares the run directory and says where training starts. Temporary folders that dead processes left
/// (a checkpoint or final model half-written when a run was killed or its disk filled up) are removed
/// first, so they neither pile up nor take the space a resumed run needs.
pub fn prepare(cfg: &RunConfig, resume: bool, device: &Device) -> Result<Start> {
    let dir = &cfg.out_dir;
    let run_toml = dir.join("run.toml");
    let ckpts = dir.join("checkpoints");
    checkpoint::remove_stale(&ckpts)?;
    staging::remove_stale(dir, FINAL_TMP_PREFIX, Some(&dir.join("final"))).map_err(TrainError::Fs)?;
    let has_run =
        run_toml.exists() || dir.join("curve.csv").exists() || !checkpoint::list(&ckpts)?.is_empty();
    if has_run && !resume {
        return Err(TrainError::RunDir {
            path: dir.clone(),
            msg: "already holds a run: pass --resume to continue it, or choose another `out`".into(),
        });
    }
    if resume && run_toml.exists() {
        let saved = FileConfig::load(&run_toml)?;
        if !saved.same_run(cfg) {
            return Err(TrainError::RunDir {
                path: run_toml,
                msg: "the config differs from the one this run started with; resume with the saved run.toml \
                      or choose another `out`"
                    .into(),
            });
        }
        if let Some(latest) = checkpoint::latest(&ckpts)? {
            let ck = checkpoint::load(&latest, device)?;
            if ck.state.seed != cfg.seed {
                return Err(TrainError::Checkpoint {
                    path: latest,
                    msg: format!("saved with seed {}, the config says {}", ck.state.seed, cfg.seed),
                });
            }
            return Ok(Start::Resume(Box::new(ck)));
        }
    }
    Ok(Start::Fresh)
}

/// Creates the run directory of a fresh run and writes its `run.toml` (after [`prepare`] said `Fresh` and
/// the starting model passed its checks, so a run that cannot start leaves no directory behind).
pub fn begin(cfg: &RunConfig) -> Result<()> {
    let dir = &cfg.out_dir;
    std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    fsio::write_atomic(&dir.join("run.toml"), cfg.to_run_toml().as_bytes())
}

/// Saves the trained model to `<out>/final/`, replacing any earlier one only once the new one is complete.
pub fn save_final<M: LanguageModel + ?Sized>(cfg: &RunConfig, model: &M) -> Result<()> {
    let dir = cfg.out_dir.join("final");
    let staged = Staging::create(&cfg.out_dir, FINAL_TMP_PREFIX).map_err(TrainError::Fs)?;
    let tmp = staged.path();
    model.save(tmp)?;
    for entry in std::fs::read_dir(tmp).map_err(TrainError::io(tmp))? {
        let path = entry.map_err(TrainError::io(tmp))?.path();
        if path.is_file() {
            fsio::sync_file(&path)?;
        }
    }
    staged.commit(&dir, true).map_err(TrainError::Fs)?;
    fsio::sync_dir(&cfg.out_dir)
}
