//! Calibration data and the forward passes that gather statistics from it.
//!
//! A [`Calibration`] is `samples` token sequences of one length, grouped into batches `(B, T)` (u32).
//! [`sample_offsets`] picks where the sequences start in a token stream (the `calib` split): seeded,
//! sorted, non-overlapping whenever the stream is long enough.
//!
//! ```
//! use p2law_prune::apply::sample_offsets;
//! let starts = sample_offsets(10_000, 4, 512, 7).unwrap();
//! assert_eq!(starts.len(), 4);
//! assert!(starts.windows(2).all(|w| w[1] >= w[0] + 512) && starts[3] + 512 <= 10_000);
//! ```

use candle_core::{Device, Tensor};
use p2law_model::{Block, Context, Model, Tap};

use crate::error::{PruneError, Result};

/// Token sequences fed through the model to score weights, heads, channels or layers.
#[derive(Debug, Clone)]
pub struct Calibration {
    batches: Vec<Tensor>,
    samples: usize,
    seq_len: usize,
}

impl Calibration {
    /// Groups `sequences` (all of one length) into batches of at most `batch` on `device`.
    pub fn new(sequences: &[Vec<u32>], batch: usize, device: &Device) -> Result<Self> {
        let seq_len = sequences.first().map(Vec::len).unwrap_or(0);
        if seq_len < 2 || batch == 0 {
            return Err(PruneError::InvalidArgument {
                what: "calibration set",
                reason: format!(
                    "{} sequences of {seq_len} tokens in batches of {batch}; need at least one sequence of 2+ tokens",
                    sequences.len()
                ),
            });
        }
        if let Some(i) = sequences.iter().position(|s| s.len() != seq_len) {
            return Err(PruneError::ShapeMismatch {
                what: format!("calibration sequence {i}"),
                expected: format!("{seq_len} tokens"),
                got: sequences[i].len().to_string(),
            });
        }
        let batches = sequences
            .chunks(batch)
            .map(|chunk| Tensor::from_vec(chunk.concat(), (chunk.len(), seq_len), device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { batches, samples: sequences.len(), seq_len })
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Checks every token id against the model's vocabulary.
    pub(crate) fn check_vocab(&self, vocab: usize) -> Result<()> {
        for b in &self.batches {
            let max = b.max_all()?.to_scalar::<u32>()?;
            if max as usize >= vocab {
                return Err(PruneError::InvalidArgument {
                    what: "calibration set",
                    reason: format!("token id {max} is outside the model's vocabulary of {vocab}"),
                });
            }
        }
        Ok(())
    }

    /// The embedded batches, (B, T, C) each: the hidden states entering layer 0.
    pub(crate) fn embed(&self, model: &Model) -> Result<Vec<Tensor>> {
        Ok(self
            .batches
            .iter()
            .map(|ids| Ok(model.embed(ids)?.detach()))
            .collect::<candle_core::Result<_>>()?)
    }
}

/// Runs `block` on `x`, returning its output and the linear-layer inputs it showed, in order.
pub(crate) fn tapped(block: &Block, x: &Tensor, ctx: &Context) -> Result<(Tensor, Vec<(Tap, Tensor)>)> {
    let mut seen = Vec::with_capacity(4);
    let out = block.forward_tapped(x, ctx, &mut |tap, a| {
        seen.push((tap, a.detach()));
        Ok(())
    })?;
    Ok((out.detach(), seen))
}

/// `block` on `x` without the autograd graph.
///
/// Why detached: the weights are trainable variables, so every result would otherwise keep its inputs
/// alive for a backward pass that never comes — calibration states carried from layer to layer held every
/// intermediate activation of every earlier layer (tens of GB on a 135M-parameter model).
pub(crate) fn forward(block: &Block, x: &Tensor, ctx: &Context) -> Result<Tensor> {
    Ok(block.forward(x, ctx)?.detach())
}

/// `samples` start offsets of `seq_len`-token windows in a stream of `stream_len` tokens, seeded. Windows
/// do not overlap: the stream is cut into `stream_len / seq_len` slots and `samples` distinct slots are
/// drawn. Errors when the stream holds fewer than `samples` windows.
pub fn sample_offsets(stream_len: usize, samples: usize, seq_len: usize, seed: u64) -> Result<Vec<usize>> {
    let invalid = |reason: String| PruneError::InvalidArgument { what: "calibration size", reason };
    if samples == 0 {
        return Err(invalid("the number of samples must be ≥ 1, found 0".into()));
    }
    if seq_len < 2 {
        return Err(invalid(format!("the sequence length must be ≥ 2 tokens, found {seq_len}")));
    }
    let slots = stream_len / seq_len;
    if slots < samples {
        return Err(invalid(format!(
            "{samples} samples of {seq_len} tokens need {} tokens, the stream has {stream_len}; lower the samples \
             or sequence length",
            samples.saturating_mul(seq_len)
        )));
    }
    // Partial Fisher-Yates over the slot indices with SplitMix64: the first `samples` entries are a
    // uniform draw without replacement. (A plain modulo, not `below`: the windows are pinned by
    // scripts/prune_model_reference.py.)
    let mut rng = p2law_formats::SplitMix64::new(seed);
    let mut slot: Vec<usize> = (0..slots).collect();
    for i in 0..samples {
        let j = i + (rng.next_u64() % (slots - i) as u64) as usize;
        slot.swap(i, j);
    }
    let mut starts: Vec<usize> = slot[..samples].iter().map(|s| s * seq_len).collect();
    starts.sort_unstable();
    Ok(starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_seeded_distinct_and_checked() {
        let a = sample_offsets(1000, 5, 100, 1).unwrap();
        // scripts/prune_model_reference.py draws the same windows.
        assert_eq!(a, [100, 300, 500, 700, 800]);
        assert_eq!(a, sample_offsets(1000, 5, 100, 1).unwrap());
        assert_ne!(a, sample_offsets(1000, 5, 100, 2).unwrap());
        assert!(a.iter().all(|s| s % 100 == 0 && s + 100 <= 1000));
        assert_eq!(sample_offsets(1000, 10, 100, 3).unwrap(), (0..10).map(|i| i * 100).collect::<Vec<_>>());
        assert!(sample_offsets(999, 10, 100, 3).unwrap_err().to_string().contains("lower the samples"));
        let zero = sample_offsets(1000, 0, 100, 3).unwrap_err().to_string();
        assert!(zero.contains("must be ≥ 1") && !zero.contains("lower"), "{zero}");
        assert!(sample_offsets(1000, 1, 1, 3).unwrap_err().to_string().contains("≥ 2"));
        assert!(sample_offsets(usize::MAX, usize::MAX, usize::MAX, 0).is_err());
    }

    #[test]
    fn batches_and_bad_sets() {
        let seqs: Vec<Vec<u32>> = (0..5).map(|i| vec![i; 4]).collect();
        let c = Calibration::new(&seqs, 2, &Device::Cpu).unwrap();
        assert_eq!((c.samples(), c.seq_len(), c.batches.len()), (5, 4, 3));
        assert!(c.check_vocab(5).is_ok() && c.check_vocab(4).is_err());
        assert!(Calibration::new(&[vec![1, 2], vec![1]], 2, &Device::Cpu).is_err());
        assert!(Calibration::new(&[], 2, &Device::Cpu).is_err());
    }
}
