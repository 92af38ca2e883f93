//! The trainer's two seams: what it needs from a model ([`LanguageModel`]) and from the data
//! ([`TokenSource`], one per split, paired in [`Data`]). The trainer, the held-out evaluation and the run
//! directory depend on these traits only; `crate::setup` plugs in `p2law-model`'s decoder and
//! `p2law-data`'s shards, and the tests plug in a tiny bigram model and token vectors.

use std::path::Path;

use candle_core::{Tensor, Var};

use crate::error::{BoxError, Result};

/// What the trainer needs from a model.
pub trait LanguageModel {
    /// Every trainable parameter under its checkpoint name (Hugging Face names for real models).
    fn params(&self) -> Vec<(String, Var)>;
    /// Mean next-token cross-entropy (a scalar) of `ids` (B, T) u32 against `targets` (B, T) u32.
    fn loss(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor>;
    /// Summed next-token cross-entropy of `ids` against `targets` and the number of targets, for
    /// evaluation (no gradient needed). The default is [`LanguageModel::loss`] times the target count.
    fn loss_sum(&self, ids: &Tensor, targets: &Tensor) -> candle_core::Result<(f64, usize)> {
        let n = targets.elem_count();
        let mean = self.loss(ids, targets)?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        Ok((mean * n as f64, n))
    }
    /// [`LanguageModel::loss`] and its gradient for each of `params` (same order; `None` for a parameter
    /// the loss does not reach). The default runs candle's backward ([`backward`]).
    fn loss_and_grads(
        &self,
        ids: &Tensor,
        targets: &Tensor,
        params: &[(String, Var)],
    ) -> candle_core::Result<(Tensor, Vec<Option<Tensor>>)> {
        backward(self.loss(ids, targets)?, params)
    }
    /// Writes the model as a loadable directory (Hugging Face layout for real models).
    fn save(&self, dir: &Path) -> Result<()>;
}

/// `loss` and its gradient for each of `params` by candle's backward.
pub fn backward(
    loss: Tensor,
    params: &[(String, Var)],
) -> candle_core::Result<(Tensor, Vec<Option<Tensor>>)> {
    let grads = loss.backward()?;
    let per_param = params.iter().map(|(_, v)| grads.get(v.as_tensor()).cloned()).collect();
    Ok((loss, per_param))
}

/// The two splits a run reads.
pub struct Data<'a> {
    pub train: &'a dyn TokenSource,
    pub heldout: &'a dyn TokenSource,
}

/// Read access to one split's token stream.
pub trait TokenSource {
    /// Number of tokens in the split.
    fn len(&self) -> u64;
    /// Copies tokens `start .. start + out.len()` into `out`.
    fn read(&self, start: u64, out: &mut [u32]) -> std::result::Result<(), BoxError>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenSource for Vec<u32> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read(&self, start: u64, out: &mut [u32]) -> std::result::Result<(), BoxError> {
        let s = start as usize;
        let src = self.get(s..s + out.len()).ok_or("read past the end of the token vector")?;
        out.copy_from_slice(src);
        Ok(())
    }
}
