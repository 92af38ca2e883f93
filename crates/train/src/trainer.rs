//! The training loop. One optimizer step reads top to bottom in [`Trainer::step`]:
//!
//! 1. forward + backward on `accum` micro-batches of the seeded order ([`LanguageModel::loss_and_grads`]:
//!    for Hugging Face models on the CPU, a hand-run backward over the fused kernels), gradients summed
//!    then averaged;
//! 2. sparsity masks applied to the gradients;
//! 3. global-norm clipping;
//! 4. AdamW at the scheduled learning rate;
//! 5. masks re-applied to the weights.
//!
//! Around the steps, [`train`] evaluates on the fixed held-out slice every `eval_every_steps` (a
//! `curve.csv` row each time), checkpoints every `checkpoint_every_steps`, reports progress, keeps the run
//! store current, and at the end saves the final model to `<run>/final/`. The run directory's handling
//! (fresh start, resume, `run.toml`) lives in [`crate::rundir`].

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};

use crate::adamw::AdamW;
use crate::checkpoint::{self, TrainState};
use crate::clip::clip_global_norm;
use crate::config::RunConfig;
use crate::curve::{CurvePoint, CurveWriter};
use crate::error::{Result, TrainError};
use crate::eval::heldout_loss;
use crate::masks::Masks;
use crate::rundir::{self, Start};
use crate::sampler::{heldout_batches, Sampler};
use crate::schedule::lr_at;
use crate::seams::{Data, LanguageModel, TokenSource};
use crate::store::{RunRecord, RunStatus, RunStore};

/// What the run knows of its model before training (from `pruning.json`, or an unpruned model's size):
/// with the run's name and L0 it becomes the constants of every curve row ([`RunMeta::curve_run`],
/// `docs/spec/formats.md`) and of the run store's row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunMeta {
    /// The law's N0: non-embedding parameters of the unpruned model.
    pub n0: f64,
    /// Pruning rate (0 for an unpruned model).
    pub rho: f64,
    /// Loss before training; `None` measures it on the held-out slice before the first step.
    pub l0: Option<f64>,
    pub method: Option<String>,
    /// Non-embedding parameters after pruning, when known.
    pub n: Option<f64>,
    /// The pruning's target rate (`pruning.json`'s `target_rho`), when known.
    pub rho_target: Option<f64>,
    /// Architecture family (`config.json`'s `model_type`: `llama`, `qwen2`), when known.
    pub family: Option<String>,
}

impl RunMeta {
    /// The curve file's constants of run `name` whose L0 is `l0` (this meta's, or measured when it had none).
    pub fn curve_run(&self, name: &str, l0: f64) -> p2law_formats::CurveRun {
        p2law_formats::CurveRun {
            name: name.into(),
            n0: self.n0,
            rho: self.rho,
            l0,
            method: self.method.clone(),
            model: None,
            family: self.family.clone(),
            rho_target: self.rho_target,
        }
    }
}

/// How this invocation runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Control {
    /// Continue from the run directory's newest checkpoint (`--resume`).
    pub resume: bool,
    /// Stop (as if killed) after this many optimizer steps in this invocation; resumable later.
    pub stop_after_steps: Option<u64>,
}

/// One optimizer step, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    pub step: u64,
    pub total_steps: u64,
    pub tokens: u64,
    pub lr: f64,
    pub train_loss: f32,
    pub grad_norm: f64,
    /// Training throughput of this step.
    pub tokens_per_s: f64,
}

/// Receives progress; every method has an empty default.
pub trait Progress {
    /// Called once, with the step the run starts from (non-zero when resumed).
    fn start(&mut self, _first_step: u64, _total_steps: u64) {}
    fn step(&mut self, _report: &StepReport) {}
    fn eval(&mut self, _point: &CurvePoint) {}
    fn finish(&mut self) {}
}

/// A progress sink that ignores everything.
pub struct Quiet;
impl Progress for Quiet {}

/// How a call to [`train`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `true` when the run reached `total_steps` and saved its final model.
    pub finished: bool,
    pub step: u64,
    pub tokens: u64,
    pub l0: f64,
    /// Held-out loss of the last curve row written by this call, if any.
    pub last_val_loss: Option<f64>,
}

/// The per-run state of the loop.
struct Trainer<'a, M: LanguageModel> {
    cfg: &'a RunConfig,
    model: &'a M,
    params: Vec<(String, Var)>,
    optim: AdamW,
    masks: Option<Masks>,
    sampler: Sampler,
    train: &'a dyn TokenSource,
    device: Device,
}

impl<M: LanguageModel> Trainer<'_, M> {
    /// Runs optimizer step `state.step` and advances `state`; returns (lr, mean train loss, grad norm).
    fn step(&mut self, state: &mut TrainState) -> Result<(f64, f32, f64)> {
        let lr = lr_at(&self.cfg.schedule, state.step);
        // 1) Gradient accumulation: sum over micro-batches, then the mean.
        let mut sum: Vec<Option<Tensor>> = vec![None; self.params.len()];
        let mut loss_sum = 0f32;
        for _ in 0..self.cfg.accum {
            let (ids, targets) = self.sampler.micro_batch(self.train, state.micro_batches, &self.device)?;
            state.micro_batches += 1;
            let (loss, grads) = self.model.loss_and_grads(&ids, &targets, &self.params)?;
            loss_sum += loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            for (acc, g) in sum.iter_mut().zip(grads) {
                if let Some(g) = g {
                    *acc = Some(match acc.take() {
                        None => g,
                        Some(a) => (a + g)?,
                    });
                }
            }
        }
        let train_loss = loss_sum / self.cfg.accum as f32;
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged { step: state.step, loss: train_loss });
        }
        let inv = 1.0 / self.cfg.accum as f64;
        let mut grads = Vec::with_capacity(self.params.len());
        for (g, (_, var)) in sum.into_iter().zip(&self.params) {
            // A parameter the loss does not reach (none in a decoder) gets a zero gradient.
            grads.push(match g {
                Some(g) if self.cfg.accum == 1 => g,
                Some(g) => g.affine(inv, 0.0)?,
                None => var.as_tensor().zeros_like()?,
            });
        }
        // 2) Pruned entries get no gradient.
        if let Some(m) = &self.masks {
            m.apply_to_grads(&self.params, &mut grads)?;
        }
        // 3) Clip the global norm.
        let grad_norm = clip_global_norm(&mut grads, self.cfg.grad_clip)?;
        // 4) AdamW.
        self.optim.step(&grads, lr)?;
        // 5) Pruned entries stay exactly zero.
        if let Some(m) = &self.masks {
            m.apply_to_weights(&self.params)?;
        }
        state.step += 1;
        state.tokens += self.cfg.batch_tokens;
        state.train_loss_sum += train_loss as f64;
        state.train_loss_count += 1;
        Ok((lr, train_loss, grad_norm))
    }
}

/// Trains `model` as `cfg` says, writing the run directory; see the module docs for what happens when.
#[allow(clippy::too_many_arguments)]
pub fn train<M: LanguageModel>(
    cfg: &RunConfig,
    model: &M,
    meta: RunMeta,
    masks: Option<Masks>,
    data: Data<'_>,
    device: &Device,
    control: Control,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let mut params = model.params();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    // Data checks first: a batch or slice larger than the data fails before any work.
    rundir::check_data(cfg, &data)?;
    let heldout = heldout_batches(data.heldout, cfg.eval_tokens, cfg.seq_len, cfg.eval_micro_batch, device)?;

    let mut t = Trainer {
        cfg,
        model,
        optim: AdamW::new(&params, cfg.adamw)?,
        params,
        masks,
        sampler: Sampler::new(cfg.seed, cfg.seq_len, cfg.micro_batch),
        train: data.train,
        device: device.clone(),
    };
    if let Some(m) = &t.masks {
        m.apply_to_weights(&t.params)?;
    }

    // Fresh start or resume: the state, and l0 (measured on the starting model when not given).
    let mut state = match rundir::prepare(cfg, control.resume, device)? {
        Start::Resume(ck) => {
            ck.restore(&t.params, &mut t.optim)?;
            ck.state
        }
        Start::Fresh => {
            let l0 = match meta.l0 {
                Some(l0) if !l0.is_finite() => {
                    return Err(TrainError::NonFinite { what: "the given l0".into(), value: l0 })
                }
                Some(l0) => l0,
                None => match heldout_loss(model, &heldout)? {
                    l0 if l0.is_finite() => l0,
                    l0 => {
                        return Err(TrainError::NonFinite {
                            what: "the starting model's held-out loss (l0)".into(),
                            value: l0,
                        })
                    }
                },
            };
            rundir::begin(cfg)?;
            TrainState {
                step: 0,
                tokens: 0,
                micro_batches: 0,
                seed: cfg.seed,
                l0,
                train_loss_sum: 0.0,
                train_loss_count: 0,
            }
        }
    };
    let curve_run = meta.curve_run(&cfg.name, state.l0);
    let curve_path = cfg.out_dir.join("curve.csv");
    let mut curve = if state.step > 0 {
        CurveWriter::resume(&curve_path, curve_run, meta.n, state.step)?
    } else {
        CurveWriter::create(&curve_path, curve_run, meta.n)?
    };
    let store = RunStore::open(&cfg.store)?;
    store.upsert(&RunRecord {
        name: cfg.name.clone(),
        status: RunStatus::Running,
        n0: meta.n0,
        rho: meta.rho,
        l0: state.l0,
        method: meta.method.clone(),
        dir: cfg.out_dir.clone(),
        tokens: state.tokens,
        step: state.step,
    })?;

    let result = run_loop(&mut t, &mut state, &heldout, &mut curve, &store, control, progress);
    if result.is_err() {
        // Best effort: the original error matters more than a failure to record it.
        let _ = store.set_progress(&cfg.name, RunStatus::Failed, state.tokens, state.step);
    }
    let last_val_loss = result?;
    let finished = state.step >= cfg.total_steps;
    if finished {
        rundir::save_final(cfg, model)?;
        store.set_progress(&cfg.name, RunStatus::Finished, state.tokens, state.step)?;
    }
    progress.finish();
    Ok(Outcome { finished, step: state.step, tokens: state.tokens, l0: state.l0, last_val_loss })
}

/// Steps until the end of the run or `stop_after_steps`; returns the last held-out loss written.
fn run_loop<M: LanguageModel>(
    t: &mut Trainer<'_, M>,
    state: &mut TrainState,
    heldout: &[(Tensor, Tensor)],
    curve: &mut CurveWriter,
    store: &RunStore,
    control: Control,
    progress: &mut dyn Progress,
) -> Result<Option<f64>> {
    let cfg = t.cfg;
    progress.start(state.step, cfg.total_steps);
    let (mut row_tokens, mut row_secs, mut steps_here, mut last_val) = (0u64, 0f64, 0u64, None);
    while state.step < cfg.total_steps {
        if control.stop_after_steps.is_some_and(|n| steps_here >= n) {
            break;
        }
        let started = Instant::now();
        let (lr, train_loss, grad_norm) = t.step(state)?;
        let secs = started.elapsed().as_secs_f64();
        (row_tokens, row_secs, steps_here) = (row_tokens + cfg.batch_tokens, row_secs + secs, steps_here + 1);
        progress.step(&StepReport {
            step: state.step,
            total_steps: cfg.total_steps,
            tokens: state.tokens,
            lr,
            train_loss,
            grad_norm,
            tokens_per_s: cfg.batch_tokens as f64 / secs.max(1e-9),
        });

        let last = state.step == cfg.total_steps;
        if cfg.evaluates_after(state.step) {
            let val_loss = heldout_loss(t.model, heldout)?;
            let point = CurvePoint {
                d: state.tokens,
                step: state.step,
                lr,
                train_loss: state.train_loss_sum / state.train_loss_count.max(1) as f64,
                val_loss,
                tokens_per_s: row_tokens as f64 / row_secs.max(1e-9),
            };
            curve.append(&point)?;
            progress.eval(&point);
            (state.train_loss_sum, state.train_loss_count, row_tokens, row_secs) = (0.0, 0, 0, 0.0);
            last_val = Some(val_loss);
        }
        if state.step.is_multiple_of(cfg.checkpoint_every_steps) || last {
            let root = cfg.out_dir.join("checkpoints");
            checkpoint::save(&root, state, &t.params, &t.optim, cfg.checkpoint_keep)?;
            store.set_progress(&cfg.name, RunStatus::Running, state.tokens, state.step)?;
        }
    }
    Ok(last_val)
}
