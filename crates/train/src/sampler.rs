//! Training batches in a seeded order that can be resumed from one integer, and the fixed held-out slice.
//!
//! A split of `L` tokens is cut into `W = ⌊(L − 1) / T⌋` non-overlapping windows of `T + 1` tokens (inputs
//! and the next-token targets share `T` of them). Sequence number `k` of the run (counted over all
//! micro-batches) is window `perm_e[k mod W]` of epoch `e = ⌊k / W⌋`, where `perm_e` is a Fisher–Yates
//! shuffle seeded by `(seed, e)`. Every window is therefore seen once per epoch, and the batch of any
//! micro-batch index is a pure function of `(seed, index)`: resuming needs only the index.
//!
//! Shapes: a micro-batch is `ids` (B, T) u32 and `targets` (B, T) u32 with `targets[b, t] = ids[b, t + 1]`
//! in the underlying token stream.
//!
//! ```
//! use p2law_train::sampler::Sampler;
//! let tokens: Vec<u32> = (0..101).collect(); // 10 windows of 10 + 1 tokens
//! let s = Sampler::new(7, 10, 2);
//! let (ids, targets) = s.micro_batch_rows(&tokens, 0).unwrap();
//! assert_eq!(ids.len(), 20);
//! assert_eq!(targets[0], ids[0] + 1);
//! // Same seed and index, same batch.
//! assert_eq!(s.micro_batch_rows(&tokens, 0).unwrap().0, ids);
//! ```

use std::cell::RefCell;

use candle_core::{Device, Tensor};
use p2law_formats::SplitMix64;

use crate::error::{Result, TrainError};
use crate::seams::TokenSource;

/// The seeded training order.
pub struct Sampler {
    seed: u64,
    seq_len: usize,
    micro_batch: usize,
    /// The permutation of the most recent epoch (recomputing it per batch would cost O(W)).
    cache: RefCell<Option<(u64, u64, Vec<u32>)>>,
}

impl Sampler {
    pub fn new(seed: u64, seq_len: usize, micro_batch: usize) -> Sampler {
        Sampler { seed, seq_len, micro_batch, cache: RefCell::new(None) }
    }

    /// Windows of `T + 1` tokens in a split of `len` tokens.
    pub fn windows(&self, len: u64) -> u64 {
        len.saturating_sub(1) / self.seq_len as u64
    }

    /// Window index of the `k`-th sequence of the run.
    fn window_of(&self, k: u64, windows: u64) -> u64 {
        let (epoch, pos) = (k / windows, k % windows);
        let mut cache = self.cache.borrow_mut();
        if !matches!(&*cache, Some((e, w, _)) if *e == epoch && *w == windows) {
            *cache = Some((epoch, windows, shuffled(windows, self.seed, epoch)));
        }
        cache.as_ref().map(|(_, _, p)| p[pos as usize] as u64).unwrap_or(0)
    }

    /// Micro-batch `index` as flat row-major `(ids, targets)` of B·T tokens each.
    pub fn micro_batch_rows(&self, src: &dyn TokenSource, index: u64) -> Result<(Vec<u32>, Vec<u32>)> {
        let windows = self.windows(src.len());
        if windows < self.micro_batch as u64 {
            return Err(TrainError::Data(
                format!(
                    "{} tokens hold {windows} sequences of {} + 1, fewer than one micro-batch of {}",
                    src.len(),
                    self.seq_len,
                    self.micro_batch
                )
                .into(),
            ));
        }
        let t = self.seq_len;
        let mut ids = Vec::with_capacity(self.micro_batch * t);
        let mut targets = Vec::with_capacity(self.micro_batch * t);
        let mut buf = vec![0u32; t + 1];
        for row in 0..self.micro_batch as u64 {
            let w = self.window_of(index * self.micro_batch as u64 + row, windows);
            src.read(w * t as u64, &mut buf).map_err(TrainError::Data)?;
            ids.extend_from_slice(&buf[..t]);
            targets.extend_from_slice(&buf[1..]);
        }
        Ok((ids, targets))
    }

    /// Micro-batch `index` as `(ids, targets)` tensors, each (B, T) u32 on `device`.
    pub fn micro_batch(
        &self,
        src: &dyn TokenSource,
        index: u64,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let (ids, targets) = self.micro_batch_rows(src, index)?;
        let shape = (self.micro_batch, self.seq_len);
        Ok((Tensor::from_vec(ids, shape, device)?, Tensor::from_vec(targets, shape, device)?))
    }
}

/// The fixed held-out slice: the first `tokens` tokens of `src`, cut into the windows of
/// [`p2law_model::eval::windows`] with context `seq_len` (every token but the first predicted once, the last
/// window possibly shorter), grouped `micro_batch` windows of one length at a time. Each item is
/// `(ids, targets)` (b, T) u32. The same windows as `p2law eval` and the pruning's L0 and pruned loss over
/// the same tokens and context, so a curve's held-out loss and its L0 measure the same predictions.
pub fn heldout_batches(
    src: &dyn TokenSource,
    tokens: u64,
    seq_len: usize,
    micro_batch: usize,
    device: &Device,
) -> Result<Vec<(Tensor, Tensor)>> {
    if tokens > src.len() {
        return Err(TrainError::Data(
            format!("held-out slice of {tokens} tokens is larger than the split ({} tokens)", src.len())
                .into(),
        ));
    }
    let windows = p2law_model::eval::windows(tokens as usize, seq_len);
    let mut out = Vec::new();
    for group in windows.chunk_by(|a, b| a.1 == b.1) {
        for chunk in group.chunks(micro_batch.max(1)) {
            let t = chunk[0].1;
            let (mut ids, mut targets) =
                (Vec::with_capacity(chunk.len() * t), Vec::with_capacity(chunk.len() * t));
            let mut buf = vec![0u32; t + 1];
            for &(start, _) in chunk {
                src.read(start as u64, &mut buf).map_err(TrainError::Data)?;
                ids.extend_from_slice(&buf[..t]);
                targets.extend_from_slice(&buf[1..]);
            }
            let shape = (chunk.len(), t);
            out.push((Tensor::from_vec(ids, shape, device)?, Tensor::from_vec(targets, shape, device)?));
        }
    }
    Ok(out)
}

/// `0..n` shuffled by Fisher–Yates with a SplitMix64 stream seeded by `(seed, epoch)`.
fn shuffled(n: u64, seed: u64, epoch: u64) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix64::new(seed ^ epoch.wrapping_add(1).wrapping_mul(0xA076_1D64_78BD_642F));
    for i in (1..perm.len()).rev() {
        // Multiply-shift maps a 64-bit draw onto 0..=i without the bias of a plain modulo.
        let j = rng.below(i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    perm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    #[test]
    fn the_shuffle_is_pinned() {
        // Data order of existing runs (and their resumption) depends on these exact draws.
        assert_eq!(shuffled(10, 3, 0), [4, 0, 6, 1, 5, 9, 8, 2, 3, 7]);
    }

    #[test]
    fn one_epoch_visits_every_window_once() {
        let src = tokens(10 * 8 + 1); // 10 windows of 8 + 1
        let s = Sampler::new(3, 8, 2);
        let mut starts: Vec<u32> = (0..5)
            .map(|i| s.micro_batch_rows(&src, i).unwrap().0)
            .flat_map(|ids| ids.chunks(8).map(|c| c[0]).collect::<Vec<_>>())
            .collect();
        starts.sort();
        assert_eq!(starts, (0..10).map(|w| w * 8).collect::<Vec<_>>());
    }

    #[test]
    fn order_depends_on_seed_and_epoch_and_targets_are_shifted() {
        let src = tokens(64 * 16 + 1);
        let (a, b) = (Sampler::new(1, 16, 4), Sampler::new(2, 16, 4));
        let (ids_a, tg_a) = a.micro_batch_rows(&src, 0).unwrap();
        assert_ne!(ids_a, b.micro_batch_rows(&src, 0).unwrap().0);
        // Epoch 0 and epoch 1 (index 16 = sequence 64) are shuffled differently.
        assert_ne!(ids_a, a.micro_batch_rows(&src, 16).unwrap().0);
        assert!(ids_a.iter().zip(&tg_a).all(|(i, t)| *t == i + 1));
        // A fresh sampler (as after a resume) reproduces any index.
        let again = Sampler::new(1, 16, 4);
        assert_eq!(again.micro_batch_rows(&src, 21).unwrap(), a.micro_batch_rows(&src, 21).unwrap());
    }

    #[test]
    fn too_little_data_is_an_error() {
        let err = Sampler::new(0, 16, 4).micro_batch_rows(&tokens(40), 0).unwrap_err().to_string();
        assert!(err.contains("fewer than one micro-batch"), "{err}");
    }

    #[test]
    fn heldout_slice_is_consecutive_windows() {
        let src = tokens(100);
        let batches = heldout_batches(&src, 50, 8, 4, &Device::Cpu).unwrap();
        // 49 predictions in windows of 8: 6 full ones (a group of 4, one of 2), then one of 1.
        let shapes: Vec<_> = batches.iter().map(|(i, _)| i.dims().to_vec()).collect();
        assert_eq!(shapes, vec![vec![4, 8], vec![2, 8], vec![1, 1]]);
        let ids = batches[1].0.to_vec2::<u32>().unwrap();
        assert_eq!(ids[1][0], 40);
        assert_eq!(batches[1].1.to_vec2::<u32>().unwrap()[1][7], 48);
        assert_eq!(
            (batches[2].0.to_vec2::<u32>().unwrap(), batches[2].1.to_vec2::<u32>().unwrap()),
            (vec![vec![48]], vec![vec![49]])
        );
        // Every token of the slice but the first is predicted once, as `p2law eval` scores it.
        let predicted: usize = batches.iter().map(|(_, t)| t.elem_count()).sum();
        assert_eq!(predicted, 49);
        assert!(heldout_batches(&src, 101, 8, 4, &Device::Cpu).is_err());
    }
}
