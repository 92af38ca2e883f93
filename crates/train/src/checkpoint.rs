//! Resumable checkpoints: everything needed to continue a run bit-for-bit.
//!
//! Layout under the run's `checkpoints/` folder, one folder per saved step:
//!
//! ```text
//! checkpoints/step-0000000120/
//!   model.safetensors       every trainable parameter under its checkpoint name (f32)
//!   optimizer.safetensors   AdamW moments `m.<name>`, `v.<name>`
//!   state.json              TrainState: step, tokens, data position, seed, running sums
//! ```
//!
//! A checkpoint is written into `checkpoints/.tmp-step-<step>-<pid>-<n>/` (a [`Staging`] folder, owned through
//! a lock file beside it), every file fsynced, then the folder is renamed into place: a folder named `step-*`
//! is therefore always complete. [`remove_stale`] deletes the temporary folders of dead processes (a run
//! killed mid-save, or one that failed on a full disk) when a run starts. The trainer draws batches from a
//! counter-based sampler (seed, micro-batch index → batch), so the data position is one integer and no
//! generator state needs saving beyond it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use p2law_model::staging::{self, Staging};

use crate::adamw::AdamW;
use crate::error::{Result, TrainError};
use crate::fsio;

/// The scalar state of a run between two optimizer steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens consumed so far: `d` of the curve.
    pub tokens: u64,
    /// Micro-batches drawn from the sampler: the data position.
    pub micro_batches: u64,
    /// Seed of the data order (checked against the config on resume).
    pub seed: u64,
    /// Held-out loss of the starting model (`l0`), stored as f64 bits so it survives JSON exactly.
    #[serde(with = "f64_bits")]
    pub l0: f64,
    /// Sum and count of training losses since the last curve row (the row's `train_loss` is their mean).
    #[serde(with = "f64_bits")]
    pub train_loss_sum: f64,
    pub train_loss_count: u64,
}

/// A checkpoint read back from disk.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: TrainState,
    pub weights: HashMap<String, Tensor>,
    pub optimizer: HashMap<String, Tensor>,
}

const MODEL: &str = "model.safetensors";
const OPTIM: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// Writes a checkpoint of `state`, the parameters and the optimizer under `root`, then deletes all but
/// the newest `keep` checkpoints (`keep == 0` keeps all). Returns the checkpoint's folder.
pub fn save(
    root: &Path,
    state: &TrainState,
    params: &[(String, Var)],
    optim: &AdamW,
    keep: usize,
) -> Result<PathBuf> {
    let final_dir = root.join(format!("step-{:010}", state.step));
    let staged =
        Staging::create(root, &format!("{TMP_PREFIX}{:010}-", state.step)).map_err(TrainError::Fs)?;
    let tmp = staged.path();

    let weights: HashMap<String, Tensor> =
        params.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
    let optimizer: HashMap<String, Tensor> = optim.state_tensors().into_iter().collect();
    for (file, tensors) in [(MODEL, &weights), (OPTIM, &optimizer)] {
        let path = tmp.join(file);
        candle_core::safetensors::save(tensors, &path)
            .map_err(|e| TrainError::Checkpoint { path: path.clone(), msg: format!("writing: {e}") })?;
        fsio::sync_file(&path)?;
    }
    let json = serde_json::to_vec_pretty(state).expect("TrainState serializes");
    fsio::write_atomic(&tmp.join(STATE), &json)?;

    // A resumed run may save the same step again; the old folder is complete and equivalent, so replace it.
    staged.commit(&final_dir, true).map_err(TrainError::Fs)?;
    fsio::sync_dir(root)?;

    if keep > 0 {
        let all = list(root)?;
        for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
            std::fs::remove_dir_all(old).map_err(TrainError::io(old))?;
        }
    }
    Ok(final_dir)
}

/// Name prefix of the temporary folders checkpoints are written into.
const TMP_PREFIX: &str = ".tmp-step-";

/// Removes the temporary checkpoint folders that dead processes left under `root` (see the module docs);
/// those of a live process (another run writing here) are kept.
pub fn remove_stale(root: &Path) -> Result<Vec<PathBuf>> {
    staging::remove_stale(root, TMP_PREFIX, None).map_err(TrainError::Fs)
}

/// Complete checkpoints under `root`, oldest first, with their step. A missing `root` has none.
pub fn list(root: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::Io { path: root.to_path_buf(), source: e }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(TrainError::io(root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse::<u64>().ok()) {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint under `root`, if any.
pub fn latest(root: &Path) -> Result<Option<PathBuf>> {
    Ok(list(root)?.pop().map(|(_, p)| p))
}

/// Reads a checkpoint folder onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<Checkpoint> {
    let state_path = dir.join(STATE);
    let bytes = std::fs::read(&state_path).map_err(TrainError::io(&state_path))?;
    let state: TrainState = serde_json::from_slice(&bytes)
        .map_err(|e| TrainError::Checkpoint { path: state_path.clone(), msg: e.to_string() })?;
    let read = |file: &str| -> Result<HashMap<String, Tensor>> {
        let path = dir.join(file);
        candle_core::safetensors::load(&path, device)
            .map_err(|e| TrainError::Checkpoint { path: path.clone(), msg: e.to_string() })
    };
    Ok(Checkpoint { dir: dir.to_path_buf(), state, weights: read(MODEL)?, optimizer: read(OPTIM)? })
}

impl Checkpoint {
    /// Copies the saved weights into `params` and the saved moments into `optim`. Every parameter must be
    /// present with its shape.
    pub fn restore(&self, params: &[(String, Var)], optim: &mut AdamW) -> Result<()> {
        let path = self.dir.join(MODEL);
        for (name, var) in params {
            let t = self.weights.get(name).ok_or_else(|| TrainError::Checkpoint {
                path: path.clone(),
                msg: format!("no weight `{name}`: the checkpoint is from a different model"),
            })?;
            if t.dims() != var.as_tensor().dims() {
                return Err(TrainError::Checkpoint {
                    path: path.clone(),
                    msg: format!("`{name}` has shape {:?}, the model {:?}", t.dims(), var.as_tensor().dims()),
                });
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        optim.load_state(&self.optimizer, self.state.step, &self.dir.join(OPTIM))
    }
}

/// Serde adapter: an f64 as its IEEE-754 bit pattern (u64), because JSON float parsing is not guaranteed
/// to round-trip the last bit.
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(x.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f64::from_bits(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adamw::AdamWParams;

    fn state(step: u64) -> TrainState {
        TrainState {
            step,
            tokens: step * 64,
            micro_batches: step * 2,
            seed: 7,
            l0: 0.1 + 0.2, // not exactly representable in short decimal: must survive bit-exactly
            train_loss_sum: 1.0 / 3.0,
            train_loss_count: 3,
        }
    }

    #[test]
    fn save_load_restore_round_trip_and_pruning() {
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        let var = Var::from_tensor(&Tensor::new(&[[0.5f32, -1.5]], &dev).unwrap()).unwrap();
        let params = vec![("w".to_string(), var.clone())];
        let mut opt = AdamW::new(&params, AdamWParams::default()).unwrap();
        opt.step(&[Tensor::new(&[[1f32, 1.0]], &dev).unwrap()], 0.1).unwrap();
        let want = var.as_tensor().to_vec2::<f32>().unwrap();
        for step in 1..=3 {
            save(&root, &state(step), &params, &opt, 2).unwrap();
        }
        let steps: Vec<u64> = list(&root).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![2, 3], "keep = 2 drops the oldest");
        // No temporary folder is left behind.
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 2);

        let ck = load(&latest(&root).unwrap().unwrap(), &dev).unwrap();
        assert_eq!(ck.state, state(3));
        assert_eq!(ck.state.l0.to_bits(), (0.1f64 + 0.2).to_bits());
        var.set(&Tensor::zeros((1, 2), candle_core::DType::F32, &dev).unwrap()).unwrap();
        let mut fresh = AdamW::new(&params, AdamWParams::default()).unwrap();
        ck.restore(&params, &mut fresh).unwrap();
        assert_eq!(var.as_tensor().to_vec2::<f32>().unwrap(), want);
        assert_eq!(fresh.steps(), 3);
    }

    #[test]
    fn restore_rejects_other_models() {
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let var = Var::from_tensor(&Tensor::zeros((2, 2), candle_core::DType::F32, &dev).unwrap()).unwrap();
        let params = vec![("w".to_string(), var)];
        let opt = AdamW::new(&params, AdamWParams::default()).unwrap();
        let path = save(dir.path(), &state(1), &params, &opt, 0).unwrap();
        let ck = load(&path, &dev).unwrap();
        let other = vec![("u".to_string(), Var::zeros((2, 2), candle_core::DType::F32, &dev).unwrap())];
        let mut opt2 = AdamW::new(&other, AdamWParams::default()).unwrap();
        let err = ck.restore(&other, &mut opt2).unwrap_err().to_string();
        assert!(err.contains("no weight `u`"), "{err}");
    }

    #[test]
    fn missing_root_has_no_checkpoints() {
        assert!(latest(Path::new("/nonexistent/p2law/checkpoints")).unwrap().is_none());
    }
}
