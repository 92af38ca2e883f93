//! Mean token cross-entropy and perplexity of a model over a token stream.
//!
//! The stream `ids[0..N]` is cut into windows that start every `context` tokens: window k reads inputs
//! `ids[k·ctx .. min((k+1)·ctx, N-1)]` and predicts the same positions shifted by one. Every token but the
//! first is predicted exactly once (N-1 predictions), each with the tokens since its window's start as
//! context, so windows never overlap in what they score. `loss` is the mean over all predictions and
//! `ppl = exp(loss)`. `scripts/smollm2_ppl.py` implements the same windows for transformers.
//!
//! ```
//! assert_eq!(p2law_model::eval::windows(10, 4), vec![(0, 4), (4, 4), (8, 1)]);
//! ```

use candle_core::{Result, Tensor};
use serde::Serialize;

use crate::llama::Model;

/// Result of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean cross-entropy in nats per predicted token.
    pub loss: f64,
    pub ppl: f64,
    /// Number of predicted tokens (stream length − 1).
    pub tokens: usize,
    pub windows: usize,
    pub context: usize,
}

/// (start, input length) of each window over a stream of `n` tokens.
pub fn windows(n: usize, context: usize) -> Vec<(usize, usize)> {
    let predicted = n.saturating_sub(1);
    (0..predicted).step_by(context.max(1)).map(|s| (s, context.min(predicted - s))).collect()
}

/// Evaluates `model` on `ids` with windows of `context` tokens, `batch` full windows per forward pass.
/// Memory is the model plus one batch's activations of one layer plus at most
/// [`crate::llama::HEAD_CHUNK_BYTES`] of logits ([`Model::loss_sum_no_grad`]).
/// `progress(done, total)` is called after each batch with counts of windows.
pub fn evaluate(
    model: &Model,
    ids: &[u32],
    context: usize,
    batch: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Evaluation> {
    if context == 0 || batch == 0 {
        candle_core::bail!("evaluate: context and batch must be positive");
    }
    let all = windows(ids.len(), context);
    if all.is_empty() {
        candle_core::bail!("evaluate: need at least 2 tokens, got {}", ids.len());
    }
    let mut total = 0f64;
    let mut count = 0usize;
    let mut done = 0usize;
    // Windows of equal length go through together; only the last one can be shorter.
    for group in all.chunk_by(|a, b| a.1 == b.1) {
        for chunk in group.chunks(batch) {
            let len = chunk[0].1;
            let mut inputs = Vec::with_capacity(chunk.len() * len);
            let mut targets = Vec::with_capacity(chunk.len() * len);
            for &(start, n) in chunk {
                inputs.extend_from_slice(&ids[start..start + n]);
                targets.extend_from_slice(&ids[start + 1..start + n + 1]);
            }
            let device = model.device();
            let x = Tensor::from_vec(inputs, (chunk.len(), len), device)?;
            let y = Tensor::from_vec(targets, (chunk.len(), len), device)?;
            let (sum, n) = model.loss_sum_no_grad(&x, &y)?;
            total += sum;
            count += n;
            done += chunk.len();
            progress(done, all.len());
        }
    }
    let loss = total / count as f64;
    Ok(Evaluation { loss, ppl: loss.exp(), tokens: count, windows: all.len(), context })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_prediction_once() {
        for (n, ctx) in [(2, 5), (9, 4), (17, 4), (100, 7)] {
            let w = windows(n, ctx);
            assert_eq!(w.iter().map(|x| x.1).sum::<usize>(), n - 1, "n {n} ctx {ctx}");
            assert!(w.windows(2).all(|p| p[0].0 + p[0].1 == p[1].0));
        }
        assert!(windows(1, 4).is_empty());
    }
}
