//! Held-out evaluation: mean next-token cross-entropy of the model on the fixed held-out slice.
//!
//! Input: the batches of [`crate::sampler::heldout_batches`] (built once per run, so every evaluation sees
//! the same tokens, in the windows `p2law eval` and the pruning's L0 use). Output: the mean over every
//! predicted token in nats, summed in f64 by [`LanguageModel::loss_sum`] (for `p2law-model`'s decoder:
//! without the autograd graph and with the LM head's logits in chunks, as `p2law eval`).

use crate::error::{Result, TrainError};
use crate::seams::LanguageModel;

/// Mean held-out loss over `batches` of `(ids, targets)`, each (b, T); T may differ between batches.
pub fn heldout_loss<M: LanguageModel + ?Sized>(
    model: &M,
    batches: &[(candle_core::Tensor, candle_core::Tensor)],
) -> Result<f64> {
    let (mut sum, mut count) = (0f64, 0usize);
    for (ids, targets) in batches {
        let (s, n) = model.loss_sum(ids, targets)?;
        sum += s;
        count += n;
    }
    if count == 0 {
        return Err(TrainError::Data("the held-out slice holds no prediction".into()));
    }
    Ok(sum / count as f64)
}

/// Entropy (nats) of the unigram distribution of `tokens`: the loss of the best model that ignores context,
/// the bar a trained language model must clearly beat.
pub fn unigram_entropy(tokens: &[u32]) -> f64 {
    let mut counts = std::collections::HashMap::<u32, u64>::new();
    for &t in tokens {
        *counts.entry(t).or_default() += 1;
    }
    let n = tokens.len() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unigram_entropy_of_uniform_and_constant() {
        assert!((unigram_entropy(&[0, 1, 2, 3]) - 4f64.ln()).abs() < 1e-12);
        assert_eq!(unigram_entropy(&[5, 5, 5]), 0.0);
    }
}
