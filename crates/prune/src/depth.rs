//! Depth pruning by Block Influence (ShortGPT, Men et al., 2024): a transformer layer that barely changes
//! its input is cheap to remove.
//!
//! `BI(h_in, h_out) = mean over tokens t of 1 − cos(h_in_t, h_out_t)`, with `h` of shape `(..., hidden)`
//! (all leading dimensions are tokens) and `cos(a, b) = a·b / (max(‖a‖, ε) · max(‖b‖, ε))`, ε = 1e-8 as in
//! `torch.cosine_similarity` (a zero vector has cosine 0, influence 1).
//!
//! Layer choice, given per-layer parameter counts and the non-embedding total `n0`, reaches the target
//! rate as closely as whole layers allow: [`select_layers_greedy`] removes the lowest-BI layers (ties by
//! index); [`select_layers_contiguous`] removes the best-scoring run of consecutive layers (its score, e.g.
//! BI between the run's input and output, from [`BoundaryInfluence`]). If the closest whole-layer choice is
//! to remove nothing or everything, the rate is unreachable.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use p2law_prune::depth::{block_influence, select_layers_greedy};
//! let h = Tensor::new(&[[1f32, 0.], [0., 2.]], &Device::Cpu).unwrap();
//! let h2 = Tensor::new(&[[0f32, 1.], [0., 5.]], &Device::Cpu).unwrap();
//! assert_eq!(block_influence(&h, &h2).unwrap(), 0.5); // tokens: 1 − 0 and 1 − 1
//! let sel = select_layers_greedy(&[0.3, 0.1, 0.2, 0.4], &[10; 4], 40, 0.5).unwrap();
//! assert_eq!((sel.removed, sel.achieved_rho), (vec![1, 2], 0.5));
//! ```

use candle_core::Tensor;
use rayon::prelude::*;

use crate::error::{PruneError, Result};
use crate::matrix::activations_f64;
use crate::rate::check_rate;

const EPS: f64 = 1e-8;

/// Sum over tokens of `1 − cos` and the token count, for two `(..., hidden)` tensors of one shape.
fn influence_sum(h_in: &Tensor, h_out: &Tensor) -> Result<(f64, usize)> {
    if h_in.dims() != h_out.dims() {
        return Err(PruneError::ShapeMismatch {
            what: "block influence h_out".into(),
            expected: format!("{:?}", h_in.dims()),
            got: format!("{:?}", h_out.dims()),
        });
    }
    let hidden = *h_in.dims().last().unwrap_or(&0);
    let (tokens, a) = activations_f64("block influence h_in", h_in, hidden)?;
    let (_, b) = activations_f64("block influence h_out", h_out, hidden)?;
    let sum = a
        .chunks(hidden.max(1))
        .zip(b.chunks(hidden.max(1)))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let nx = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(EPS);
            let ny = y.iter().map(|v| v * v).sum::<f64>().sqrt().max(EPS);
            1.0 - dot / (nx * ny)
        })
        .sum();
    Ok((sum, tokens))
}

/// Block Influence of one batch: mean over tokens of `1 − cos(h_in_t, h_out_t)`.
pub fn block_influence(h_in: &Tensor, h_out: &Tensor) -> Result<f64> {
    let (sum, tokens) = influence_sum(h_in, h_out)?;
    if tokens == 0 {
        return Err(PruneError::EmptyCalibration { name: "block influence".into() });
    }
    Ok(sum / tokens as f64)
}

/// Block Influence between every pair of layer boundaries, accumulated over calibration batches.
///
/// Boundary `i` is the hidden state entering layer `i` (boundary `L` leaves the last layer), so layer `i`'s
/// BI is `pair(i, i + 1)` and the run of layers `s..s+k` has influence `pair(s, s + k)`.
#[derive(Debug, Clone)]
pub struct BoundaryInfluence {
    boundaries: usize,
    sums: Vec<f64>,
    tokens: usize,
}

impl BoundaryInfluence {
    /// For a model with `layers` layers (`layers + 1` boundaries).
    pub fn new(layers: usize) -> Self {
        let boundaries = layers + 1;
        Self { boundaries, sums: vec![0.0; boundaries * boundaries], tokens: 0 }
    }

    /// Adds one batch: the `layers + 1` hidden states, each `(..., hidden)` of one shape.
    pub fn add(&mut self, hidden: &[Tensor]) -> Result<()> {
        if hidden.len() != self.boundaries {
            return Err(PruneError::ShapeMismatch {
                what: "hidden states per batch".into(),
                expected: format!("{} boundaries", self.boundaries),
                got: hidden.len().to_string(),
            });
        }
        let dims = hidden[0].dims();
        if let Some(h) = hidden.iter().find(|h| h.dims() != dims) {
            return Err(PruneError::ShapeMismatch {
                what: "block influence hidden states".into(),
                expected: format!("{dims:?}"),
                got: format!("{:?}", h.dims()),
            });
        }
        let width = (*dims.last().unwrap_or(&0)).max(1);
        // Why each boundary is converted and normed once: every pair of boundaries is compared, and
        // converting per pair made this quadratic in the layer count times the activation size.
        let data = hidden
            .iter()
            .map(|h| activations_f64("block influence hidden state", h, width).map(|(_, d)| d))
            .collect::<Result<Vec<_>>>()?;
        let norms: Vec<Vec<f64>> = data
            .iter()
            .map(|d| d.chunks(width).map(|x| x.iter().map(|v| v * v).sum::<f64>().sqrt().max(EPS)).collect())
            .collect();
        let pairs: Vec<(usize, usize)> =
            (0..self.boundaries).flat_map(|s| (s + 1..self.boundaries).map(move |e| (s, e))).collect();
        let sums: Vec<f64> = pairs
            .par_iter()
            .map(|&(s, e)| {
                let tokens = data[s].chunks(width).zip(data[e].chunks(width));
                tokens
                    .zip(norms[s].iter().zip(&norms[e]))
                    .map(|((x, y), (nx, ny))| {
                        1.0 - x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>() / (nx * ny)
                    })
                    .sum()
            })
            .collect();
        for ((s, e), sum) in pairs.into_iter().zip(sums) {
            self.sums[s * self.boundaries + e] += sum;
        }
        self.tokens += norms[0].len();
        Ok(())
    }

    /// Mean influence between boundaries `start < end`.
    pub fn pair(&self, start: usize, end: usize) -> f64 {
        self.sums[start * self.boundaries + end] / self.tokens.max(1) as f64
    }

    /// Per-layer Block Influence.
    pub fn layers(&self) -> Vec<f64> {
        (0..self.boundaries - 1).map(|i| self.pair(i, i + 1)).collect()
    }
}

/// Layers chosen for removal.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSelection {
    /// Removed layer indices, ascending.
    pub removed: Vec<usize>,
    /// Parameters they hold.
    pub removed_params: u64,
    /// `removed_params / n0`.
    pub achieved_rho: f64,
}

fn check_layers(layer_params: &[u64], n0: u64, target: f64) -> Result<()> {
    check_rate(target)?;
    let total: u64 = layer_params.iter().sum();
    if layer_params.len() < 2 || n0 == 0 || total > n0 {
        return Err(PruneError::InvalidArgument { what: "layer parameter counts", reason: format!("{} layers holding {total} parameters with n0 = {n0}; need at least 2 layers and a total within n0", layer_params.len()) });
    }
    Ok(())
}

fn finish(mut removed: Vec<usize>, layer_params: &[u64], n0: u64, target: f64) -> Result<LayerSelection> {
    if removed.is_empty() || removed.len() == layer_params.len() {
        let what = if removed.is_empty() { "removing no layer" } else { "removing every layer" };
        return Err(PruneError::RateUnreachable {
            rate: target,
            reason: format!(
                "{what} is the closest whole-layer choice; layers hold {:?} of {n0} parameters",
                layer_params
            ),
        });
    }
    removed.sort_unstable();
    let removed_params = removed.iter().map(|&i| layer_params[i]).sum::<u64>();
    Ok(LayerSelection { removed, removed_params, achieved_rho: removed_params as f64 / n0 as f64 })
}

/// Removes the lowest-BI layers (ties by index); the count is the prefix whose rate is closest to `target`
/// (ties: fewer layers).
pub fn select_layers_greedy(
    bi: &[f64],
    layer_params: &[u64],
    n0: u64,
    target: f64,
) -> Result<LayerSelection> {
    check_layers(layer_params, n0, target)?;
    if bi.len() != layer_params.len() {
        return Err(PruneError::ShapeMismatch {
            what: "block influence scores".into(),
            expected: format!("{} layers", layer_params.len()),
            got: bi.len().to_string(),
        });
    }
    crate::error::check_finite("block influence scores", bi)?;
    let mut order: Vec<usize> = (0..bi.len()).collect();
    order.sort_by(|&a, &b| bi[a].total_cmp(&bi[b]).then(a.cmp(&b)));
    let (mut best_k, mut best_gap, mut cum) = (0, target, 0u64);
    for (k, &i) in order.iter().enumerate() {
        cum += layer_params[i];
        let gap = (cum as f64 / n0 as f64 - target).abs();
        if gap < best_gap - 1e-12 {
            (best_k, best_gap) = (k + 1, gap);
        }
    }
    finish(order[..best_k].to_vec(), layer_params, n0, target)
}

/// Removes one run of consecutive layers: among runs whose rate is closest to `target`, the one with the
/// lowest `score(start, len)` (ties: earliest start). A natural score is
/// `|s, k| boundary_influence.pair(s, s + k)`.
pub fn select_layers_contiguous(
    layer_params: &[u64],
    n0: u64,
    target: f64,
    score: impl Fn(usize, usize) -> f64,
) -> Result<LayerSelection> {
    check_layers(layer_params, n0, target)?;
    let layers = layer_params.len();
    // (gap, score, start, len) of the best run so far; the empty choice is the baseline to beat.
    let mut best: (f64, f64, usize, usize) = (target, f64::INFINITY, 0, 0);
    for len in 1..=layers {
        for start in 0..=layers - len {
            let params: u64 = layer_params[start..start + len].iter().sum();
            let gap = (params as f64 / n0 as f64 - target).abs();
            let s = score(start, len);
            if !s.is_finite() {
                return Err(PruneError::NonFinite {
                    what: format!("score of layers {start}..{}", start + len),
                    index: start,
                    value: s,
                });
            }
            if gap < best.0 - 1e-12 || ((gap - best.0).abs() <= 1e-12 && s < best.1) {
                best = (gap, s, start, len);
            }
        }
    }
    finish((best.2..best.2 + best.3).collect(), layer_params, n0, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn influence_of_identity_is_zero_and_of_orthogonal_is_one() {
        let h = Tensor::new(&[[[1f32, 2., 3.], [0., 1., 0.]]], &Device::Cpu).unwrap();
        assert!(block_influence(&h, &h).unwrap().abs() < 1e-12);
        assert!(block_influence(&h, &(&h * 3.0).unwrap()).unwrap().abs() < 1e-12);
        let z = h.zeros_like().unwrap();
        assert_eq!(block_influence(&h, &z).unwrap(), 1.0);
        assert!(block_influence(&h, &h.get(0).unwrap()).is_err());
    }

    #[test]
    fn boundary_table_matches_direct_influence() {
        let hs: Vec<Tensor> =
            (0..4).map(|i| Tensor::new(&[[1f32, i as f32], [i as f32, 1.]], &Device::Cpu).unwrap()).collect();
        let mut table = BoundaryInfluence::new(3);
        table.add(&hs).unwrap();
        table.add(&hs).unwrap();
        let direct = block_influence(&hs[1], &hs[3]).unwrap();
        assert!((table.pair(1, 3) - direct).abs() < 1e-12);
        assert_eq!(table.layers().len(), 3);
        assert!(table.add(&hs[..2]).is_err());
    }

    #[test]
    fn greedy_reaches_closest_whole_layer_rate() {
        let bi = [0.5, 0.1, 0.3, 0.1, 0.9];
        let params = [10; 5];
        // n0 = 60 (embedding-free extras such as norms are outside layers): 0.3 → 2 layers (0.333).
        let s = select_layers_greedy(&bi, &params, 60, 0.3).unwrap();
        assert_eq!(s.removed, vec![1, 3]);
        assert_eq!(s.removed_params, 20);
        assert!(matches!(
            select_layers_greedy(&bi, &params, 60, 0.05),
            Err(PruneError::RateUnreachable { .. })
        ));
        assert!(select_layers_greedy(&bi, &params, 60, 0.95).is_err(), "closest is all five layers");
        assert!(select_layers_greedy(&bi[..4], &params, 60, 0.3).is_err());
    }

    #[test]
    fn contiguous_picks_lowest_scoring_run_of_right_length() {
        let params = [10; 6];
        let score = |s: usize, k: usize| [0.9, 0.25, 0.3, 0.1, 0.2, 0.8][s..s + k].iter().sum::<f64>();
        let s = select_layers_contiguous(&params, 60, 0.5, score).unwrap();
        assert_eq!(s.removed, vec![2, 3, 4]);
        assert_eq!(s.achieved_rho, 0.5);
    }
}
