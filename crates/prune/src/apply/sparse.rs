//! Sparse pruning of a model's linear layers, unstructured or N:M, by any [`Criterion`].
//!
//! Layer by layer, as in the Wanda and SparseGPT papers: the calibration hidden states enter layer `i`
//! after passing the already-pruned layers `0..i`; one tapped forward of layer `i` collects the input
//! statistics of its seven linear layers (q/k/v share one input, gate/up another), all seven are pruned,
//! and the states go on through the pruned layer. Memory stays at one layer's activations for the whole
//! calibration set. Magnitude needs no data and skips the forward passes.
//!
//! Rates: `rho` counts all non-embedding parameters, norms and biases included, which are never pruned.
//! Unstructured pruning therefore zeroes `rate · n0 / linear_params` of every linear layer, so the
//! achieved `rho` is the target. N:M zeroes `(m-n)/m` of a layer; a target below what all layers give
//! selects the least sensitive layers ([`select_nm_layers`]), sensitivity being the fraction of the
//! layer's squared Wanda score (`|W|·‖X‖`, or `|W|` for magnitude) that the pattern removes — a diagonal
//! estimate of the relative output error, from one forward pass of the unpruned model.

use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use p2law_model::{Config, Model, ParamCounts, Tap};
use serde_json::json;

use super::calibrate::{forward, tapped, Calibration};
use crate::calib::{InputStats, StatsNeed};
use crate::criterion::wanda::wanda_scores;
use crate::criterion::{Criterion, Sparsity};
use crate::error::{PruneError, Result};
use crate::mask::MaskSet;
use crate::nm::{nm_mask, select_nm_layers, LinearSensitivity, NmPattern};
use crate::rate::check_rate;

const TAPS: [Tap; 4] = [Tap::AttnInput, Tap::AttnHeads, Tap::MlpInput, Tap::MlpHidden];

/// One linear weight of the model.
#[derive(Debug, Clone)]
struct Linear {
    layer: usize,
    tap: Tap,
    name: String,
    /// (out, in).
    shape: (usize, usize),
}

fn linears(cfg: &Config) -> Vec<Linear> {
    let (c, q, kv, f) = (
        cfg.hidden_size,
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
        cfg.intermediate_size,
    );
    let shape = |module: &str| match module {
        "self_attn.q_proj" => (q, c),
        "self_attn.k_proj" | "self_attn.v_proj" => (kv, c),
        "self_attn.o_proj" => (c, q),
        "mlp.gate_proj" | "mlp.up_proj" => (f, c),
        _ => (c, f), // mlp.down_proj
    };
    (0..cfg.num_layers)
        .flat_map(|layer| {
            TAPS.iter().flat_map(move |&tap| {
                tap.linears().iter().map(move |m| Linear {
                    layer,
                    tap,
                    name: format!("model.layers.{layer}.{m}.weight"),
                    shape: shape(m),
                })
            })
        })
        .collect()
}

/// What a sparse request turns into, decided from the config alone (except the N:M layer choice).
#[derive(Debug, Clone)]
pub(crate) struct SparsePlan {
    sparsity: Sparsity,
    /// N:M on only some layers: the sensitivity pass picks them.
    partial_nm: bool,
}

/// Checks the request and fixes the per-layer sparsity.
pub(crate) fn plan(cfg: &Config, pattern: Option<NmPattern>, rate: f64) -> Result<SparsePlan> {
    check_rate(rate)?;
    let n0 = ParamCounts::from_config(cfg).non_embedding as f64;
    let all = linears(cfg);
    let linear_params: f64 = all.iter().map(|l| (l.shape.0 * l.shape.1) as f64).sum();
    let Some(pattern) = pattern else {
        let layer_rate = rate * n0 / linear_params;
        if layer_rate >= 1.0 {
            return Err(PruneError::RateUnreachable {
                rate,
                reason: format!(
                    "the linear layers hold only {:.4} of the non-embedding parameters",
                    linear_params / n0
                ),
            });
        }
        return Ok(SparsePlan { sparsity: Sparsity::Unstructured(layer_rate), partial_nm: false });
    };
    for l in &all {
        pattern.check_cols(&l.name, l.shape.1)?;
    }
    let max_rho = pattern.rate() * linear_params / n0;
    if rate > pattern.rate() + 1e-9 {
        return Err(PruneError::RateUnreachable {
            rate,
            reason: format!(
                "{pattern} zeroes at most {} of a layer; use a sparser pattern or unstructured",
                pattern.rate()
            ),
        });
    }
    Ok(SparsePlan { sparsity: Sparsity::Nm(pattern), partial_nm: rate < max_rho - 1e-9 })
}

/// Input statistics of every tap of one layer, over the whole calibration set; the layer's outputs.
fn layer_stats(
    model: &Model,
    layer: usize,
    xs: &[Tensor],
    calib: &Calibration,
    need: StatsNeed,
) -> Result<(HashMap<Tap, InputStats>, Vec<Tensor>)> {
    let ctx = model.context(calib.seq_len())?;
    let mut stats: HashMap<Tap, InputStats> = HashMap::new();
    let mut outs = Vec::with_capacity(xs.len());
    for x in xs {
        let (out, seen) = tapped(&model.layers()[layer], x, &ctx)?;
        for (tap, a) in seen {
            let features = a.dims().last().copied().unwrap_or(0);
            stats.entry(tap).or_insert_with(|| InputStats::new(features, need)).add(&a)?;
        }
        outs.push(out);
    }
    Ok((stats, outs))
}

/// Sensitivity of every linear layer to the pattern, from the unpruned model.
fn sensitivities(
    model: &Model,
    criterion: &dyn Criterion,
    pattern: NmPattern,
    calib: &Calibration,
) -> Result<Vec<LinearSensitivity>> {
    let weights: BTreeMap<String, Tensor> = model.named_tensors().into_iter().collect();
    let uses_data = criterion.needs() != StatsNeed::None;
    let mut xs = if uses_data { calib.embed(model)? } else { Vec::new() };
    let mut out = Vec::new();
    let all = linears(model.config());
    for layer in 0..model.config().num_layers {
        let stats = if uses_data {
            let (stats, next) = layer_stats(model, layer, &xs, calib, StatsNeed::InputNorms)?;
            xs = next;
            Some(stats)
        } else {
            None
        };
        for l in all.iter().filter(|l| l.layer == layer) {
            let w = weights[&l.name].to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            let norms = match &stats {
                Some(s) => s[&l.tap].feature_norms(),
                None => vec![1.0; l.shape.1],
            };
            let scores = wanda_scores(&w, &norms);
            let mask = nm_mask(&scores, l.shape.1, pattern);
            let total: f64 = scores.iter().map(|s| s * s).sum();
            let removed: f64 = scores.iter().zip(&mask).filter(|(_, &m)| m == 0).map(|(s, _)| s * s).sum();
            let sensitivity = if total > 0.0 { removed / total } else { 0.0 };
            out.push(LinearSensitivity {
                name: l.name.clone(),
                params: (l.shape.0 * l.shape.1) as u64,
                sensitivity,
            });
        }
    }
    Ok(out)
}

pub(crate) fn prune(
    model: &Model,
    criterion: &dyn Criterion,
    pattern: Option<NmPattern>,
    rate: f64,
    calib: &Calibration,
) -> Result<(MaskSet, serde_json::Value)> {
    let cfg = model.config().clone();
    let n0 = ParamCounts::from_config(&cfg).non_embedding as u64;
    let plan = plan(&cfg, pattern, rate)?;
    let all = linears(&cfg);
    let mut details = json!({"criterion": criterion.name()});
    let chosen: Vec<String> = match (plan.partial_nm, plan.sparsity) {
        (true, Sparsity::Nm(p)) => {
            let sens = sensitivities(model, criterion, p, calib)?;
            let selection = select_nm_layers(&sens, n0, rate, p)?;
            details["nm_sensitivity"] =
                sens.iter().map(|s| (s.name.clone(), serde_json::Value::from(s.sensitivity))).collect();
            selection.names
        }
        _ => all.iter().map(|l| l.name.clone()).collect(),
    };
    match plan.sparsity {
        Sparsity::Nm(p) => {
            details["pattern"] = p.to_string().into();
            details["nm_layers"] = chosen.clone().into();
        }
        Sparsity::Unstructured(r) => details["layer_rate"] = r.into(),
    }
    let weights: BTreeMap<String, Tensor> = model.named_tensors().into_iter().collect();
    let need = criterion.needs();
    let mut xs = if need != StatsNeed::None { calib.embed(model)? } else { Vec::new() };
    let mut masks = MaskSet::new();
    for layer in 0..cfg.num_layers {
        let here: Vec<&Linear> =
            all.iter().filter(|l| l.layer == layer && chosen.contains(&l.name)).collect();
        let stats = if need != StatsNeed::None && !here.is_empty() {
            // Why the outputs are recomputed below: they must come from the pruned layer.
            Some(layer_stats(model, layer, &xs, calib, need)?.0)
        } else {
            None
        };
        for l in &here {
            let pruned = criterion.prune(
                &l.name,
                &weights[&l.name],
                plan.sparsity,
                stats.as_ref().map(|s| &s[&l.tap]),
            )?;
            model.set_weight(&l.name, &pruned.weight)?;
            masks.insert(l.name.clone(), pruned.mask)?;
        }
        if need != StatsNeed::None && layer + 1 < cfg.num_layers {
            let ctx = model.context(calib.seq_len())?;
            xs = xs.iter().map(|x| forward(&model.layers()[layer], x, &ctx)).collect::<Result<_>>()?;
        }
    }
    Ok((masks, details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_check_patterns_and_rates() {
        let json = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
            "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 2,
            "vocab_size": 32, "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
        let cfg = Config::from_hf_json(&json).unwrap();
        let two_four = Some(NmPattern::TWO_FOUR);
        assert!(!plan(&cfg, two_four, 0.5).unwrap().partial_nm);
        assert!(plan(&cfg, two_four, 0.25).unwrap().partial_nm);
        assert!(matches!(plan(&cfg, two_four, 0.6), Err(PruneError::RateUnreachable { .. })));
        assert!(plan(&cfg, Some("2:3".parse().unwrap()), 0.3).is_err(), "3 does not divide 16");
        match plan(&cfg, None, 0.5).unwrap().sparsity {
            Sparsity::Unstructured(r) => assert!(r > 0.5 && r < 0.51, "{r}"),
            s => panic!("{s:?}"),
        }
        assert_eq!(linears(&cfg).len(), 14);
    }
}
