//! Depth pruning of a model: score layers by Block Influence on the calibration set, remove the chosen
//! ones and renumber the rest (`model.layers.{i}.*`), so the result is a standard checkpoint with fewer
//! `num_hidden_layers`.

use std::collections::HashMap;

use candle_core::Tensor;
use p2law_model::{Config, Model, ParamCounts};
use serde_json::json;

use super::calibrate::{forward, Calibration};
use crate::depth::{select_layers_contiguous, select_layers_greedy, BoundaryInfluence, LayerSelection};
use crate::error::Result;

/// Parameters of one decoder layer (every layer has the same shape) and the non-embedding total.
fn layer_params(cfg: &Config) -> (Vec<u64>, u64) {
    let n0 = ParamCounts::from_config(cfg).non_embedding as u64;
    let per_layer = (n0 - cfg.hidden_size as u64) / cfg.num_layers as u64;
    (vec![per_layer; cfg.num_layers], n0)
}

/// Which layers go, from a boundary-influence table; with no table (the pre-flight check) every layer
/// scores 0, which exercises the same rate arithmetic.
pub(crate) fn select(
    cfg: &Config,
    rate: f64,
    contiguous: bool,
    table: Option<&BoundaryInfluence>,
) -> Result<LayerSelection> {
    let (params, n0) = layer_params(cfg);
    let bi = table.map(|t| t.layers()).unwrap_or_else(|| vec![0.0; cfg.num_layers]);
    if contiguous {
        select_layers_contiguous(&params, n0, rate, |s, k| table.map_or(0.0, |t| t.pair(s, s + k)))
    } else {
        select_layers_greedy(&bi, &params, n0, rate)
    }
}

pub(crate) fn prune(
    model: &Model,
    rate: f64,
    contiguous: bool,
    calib: &Calibration,
) -> Result<(Model, serde_json::Value)> {
    let cfg = model.config();
    let mut table = BoundaryInfluence::new(cfg.num_layers);
    let ctx = model.context(calib.seq_len())?;
    for x in calib.embed(model)? {
        let mut hidden = vec![x];
        for block in model.layers() {
            let next = forward(block, hidden.last().expect("starts non-empty"), &ctx)?;
            hidden.push(next);
        }
        table.add(&hidden)?;
    }
    let selection = select(cfg, rate, contiguous, Some(&table))?;
    let mut new_cfg = cfg.clone();
    new_cfg.num_layers = cfg.num_layers - selection.removed.len();
    let tensors = renumber(model.named_tensors(), &selection.removed);
    let pruned = Model::from_tensors(&new_cfg, tensors, model.dtype(), model.device())?;
    let details = json!({
        "removed_layers": selection.removed,
        "kept_layers": (0..cfg.num_layers).filter(|i| !selection.removed.contains(i)).collect::<Vec<_>>(),
        "block_influence": table.layers(),
        "selection": if contiguous { "contiguous" } else { "greedy" },
    });
    Ok((pruned, details))
}

/// Drops the tensors of `removed` layers and renumbers the others consecutively.
fn renumber(tensors: Vec<(String, Tensor)>, removed: &[usize]) -> HashMap<String, Tensor> {
    tensors
        .into_iter()
        .filter_map(|(name, t)| match layer_of(&name) {
            Some((i, _)) if removed.contains(&i) => None,
            Some((i, rest)) => {
                let new = i - removed.iter().filter(|&&r| r < i).count();
                Some((format!("model.layers.{new}.{rest}"), t))
            }
            None => Some((name, t)),
        })
        .collect()
}

/// `model.layers.{i}.rest` → `(i, rest)`.
pub(crate) fn layer_of(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("model.layers.")?;
    let (i, rest) = rest.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn renumbering_closes_gaps() {
        let t = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap();
        let names = [
            "model.layers.0.a.weight",
            "model.layers.1.a.weight",
            "model.layers.2.a.weight",
            "model.norm.weight",
        ];
        let out = renumber(names.iter().map(|n| (n.to_string(), t.clone())).collect(), &[1]);
        let mut keys: Vec<_> = out.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["model.layers.0.a.weight", "model.layers.1.a.weight", "model.norm.weight"]);
        assert_eq!(layer_of("model.layers.12.mlp.up_proj.weight"), Some((12, "mlp.up_proj.weight")));
        assert_eq!(layer_of("lm_head.weight"), None);
    }
}
