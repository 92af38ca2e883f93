//! Width pruning of a model (Minitron-style): score hidden channels, FFN channels and attention heads by
//! calibration activations ([`crate::width`]), keep the same number in every layer, and slice every tensor
//! consistently, so the result is a standard, smaller Llama/Qwen2 checkpoint.
//!
//! Which axes shrink is a [`WidthAxes`] choice (`hidden`, `ffn`, `heads`, or several). The rate is split
//! by giving every chosen axis the same kept fraction `f`: `f` is scanned over all reachable values and
//! the one whose parameter count comes closest to the target is taken ([`plan`]). Heads go by whole KV
//! groups, so the grouped-query layout stays valid; `head_dim` is written explicitly in the new config.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;
use p2law_model::{Config, Model, ParamCounts, Tap};
use serde_json::json;

use super::calibrate::{tapped, Calibration};
use super::depth::layer_of;
use crate::error::{PruneError, Result};
use crate::rate::check_rate;
use crate::width::{keep_kv_groups, keep_top, sum_importance, ActivationImportance, KeptHeads};

/// Which dimensions width pruning shrinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WidthAxes {
    /// Hidden (embedding) channels: embeddings, every norm, every projection's input or output, lm_head.
    pub hidden: bool,
    /// FFN intermediate channels.
    pub ffn: bool,
    /// Attention heads, by whole KV groups.
    pub heads: bool,
}

impl Default for WidthAxes {
    /// Hidden channels only: the P² Law paper's width pruning.
    fn default() -> Self {
        Self { hidden: true, ffn: false, heads: false }
    }
}

impl FromStr for WidthAxes {
    type Err = PruneError;

    /// A comma list of `hidden`, `ffn`, `heads`, or `all`.
    fn from_str(s: &str) -> Result<Self> {
        let mut axes = Self { hidden: false, ffn: false, heads: false };
        for part in s.split(',').map(str::trim) {
            match part {
                "hidden" => axes.hidden = true,
                "ffn" => axes.ffn = true,
                "heads" => axes.heads = true,
                "all" => axes = Self { hidden: true, ffn: true, heads: true },
                other => {
                    return Err(PruneError::InvalidArgument {
                        what: "width axes",
                        reason: format!("unknown axis `{other}` in `{s}`; use hidden, ffn, heads or all"),
                    })
                }
            }
        }
        Ok(axes)
    }
}

impl fmt::Display for WidthAxes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [(self.hidden, "hidden"), (self.ffn, "ffn"), (self.heads, "heads")]
            .into_iter()
            .filter_map(|(on, n)| on.then_some(n))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// Kept counts (the same in every layer) and the config they give.
#[derive(Debug, Clone)]
pub(crate) struct WidthPlan {
    pub hidden: usize,
    pub ffn: usize,
    pub kv_groups: usize,
    pub config: Config,
}

fn shrunk(cfg: &Config, hidden: usize, ffn: usize, kv_groups: usize) -> Config {
    let mut out = cfg.clone();
    out.hidden_size = hidden;
    out.intermediate_size = ffn;
    out.num_heads = kv_groups * cfg.kv_groups();
    out.num_kv_heads = kv_groups;
    out
}

/// The kept counts whose non-embedding parameter count comes closest to removing `rate` of them.
pub(crate) fn plan(cfg: &Config, axes: WidthAxes, rate: f64) -> Result<WidthPlan> {
    check_rate(rate)?;
    if !(axes.hidden || axes.ffn || axes.heads) {
        return Err(PruneError::InvalidArgument { what: "width axes", reason: "no axis chosen".into() });
    }
    if axes.heads && cfg.num_kv_heads < 2 {
        return Err(PruneError::InvalidArgument {
            what: "width axes",
            reason: format!(
                "heads are pruned by whole KV groups and this model has {} KV head(s); drop `heads` from the axes",
                cfg.num_kv_heads
            ),
        });
    }
    let n0 = ParamCounts::from_config(cfg).non_embedding as f64;
    let units = |on: bool, n: usize| if on { n } else { 0 };
    let steps = [
        units(axes.hidden, cfg.hidden_size),
        units(axes.ffn, cfg.intermediate_size),
        units(axes.heads, cfg.num_kv_heads),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    let keep =
        |on: bool, n: usize, f: f64| if on { ((f * n as f64).round() as usize).clamp(1, n) } else { n };
    let mut best: Option<(f64, WidthPlan)> = None;
    for step in 1..steps {
        let f = step as f64 / steps as f64;
        let i = keep(axes.ffn, cfg.intermediate_size, f);
        // Why a multiple of the head count: transformers rejects a config whose hidden_size is not
        // divisible by num_attention_heads, even with an explicit head_dim. With the hidden size fixed,
        // the group count snaps to the nearest one that divides it (ties: more groups).
        let g = if axes.heads && !axes.hidden {
            let want = f * cfg.num_kv_heads as f64;
            (1..=cfg.num_kv_heads)
                .filter(|g| cfg.hidden_size.is_multiple_of(g * cfg.kv_groups()))
                .min_by(|a, b| (*a as f64 - want).abs().total_cmp(&(*b as f64 - want).abs()).then(b.cmp(a)))
                .unwrap_or(cfg.num_kv_heads)
        } else {
            keep(axes.heads, cfg.num_kv_heads, f)
        };
        let heads = g * cfg.kv_groups();
        let h = if axes.hidden {
            let per_head = ((f * cfg.hidden_size as f64 / heads as f64).round() as usize).max(1);
            (per_head * heads).min(cfg.hidden_size)
        } else {
            cfg.hidden_size
        };
        if h % heads != 0 {
            continue;
        }
        let config = shrunk(cfg, h, i, g);
        let rho = 1.0 - ParamCounts::from_config(&config).non_embedding as f64 / n0;
        let gap = (rho - rate).abs();
        if rho > 0.0 && best.as_ref().is_none_or(|(b, _)| gap < *b - 1e-12) {
            best = Some((gap, WidthPlan { hidden: h, ffn: i, kv_groups: g, config }));
        }
    }
    let (gap, plan) = best.ok_or_else(|| PruneError::RateUnreachable {
        rate,
        reason: format!("the {axes} axes of this model cannot be narrowed"),
    })?;
    if gap > rate {
        return Err(PruneError::RateUnreachable {
            rate,
            reason: format!(
                "the closest width on the {axes} axes misses it by {gap:.3}; add axes or change the rate"
            ),
        });
    }
    Ok(plan)
}

/// Minitron importances from one pass over the calibration set.
struct Importance {
    hidden: Vec<f64>,
    ffn: Vec<Vec<f64>>,
    heads: Vec<Vec<f64>>,
}

fn importance(model: &Model, calib: &Calibration) -> Result<Importance> {
    let cfg = model.config();
    let layers = cfg.num_layers;
    let mut ffn = vec![ActivationImportance::channels(cfg.intermediate_size); layers];
    let mut heads = vec![ActivationImportance::heads(cfg.num_heads, cfg.head_dim); layers];
    // Hidden channels are scored at every norm's output: two per layer and the final norm.
    let mut hidden = vec![ActivationImportance::channels(cfg.hidden_size); 2 * layers + 1];
    let ctx = model.context(calib.seq_len())?;
    for mut x in calib.embed(model)? {
        for (i, block) in model.layers().iter().enumerate() {
            let (out, seen) = tapped(block, &x, &ctx)?;
            for (tap, a) in seen {
                match tap {
                    Tap::AttnInput => hidden[2 * i].add(&a)?,
                    Tap::MlpInput => hidden[2 * i + 1].add(&a)?,
                    Tap::AttnHeads => heads[i].add(&a)?,
                    Tap::MlpHidden => ffn[i].add(&a)?,
                }
            }
            x = out;
        }
        hidden[2 * layers].add(&model.final_norm(&x)?.detach())?;
    }
    let scores = |v: &[ActivationImportance]| v.iter().map(|a| a.importance()).collect::<Vec<_>>();
    Ok(Importance { hidden: sum_importance(&scores(&hidden))?, ffn: scores(&ffn), heads: scores(&heads) })
}

/// Kept indices per axis (`None`: the axis is untouched).
struct Kept {
    hidden: Option<Vec<usize>>,
    ffn: Vec<Option<Vec<usize>>>,
    heads: Vec<Option<KeptHeads>>,
}

pub(crate) fn prune(
    model: &Model,
    axes: WidthAxes,
    rate: f64,
    calib: &Calibration,
) -> Result<(Model, serde_json::Value)> {
    let cfg = model.config();
    let plan = plan(cfg, axes, rate)?;
    let imp = importance(model, calib)?;
    let kept = Kept {
        hidden: axes.hidden.then(|| keep_top(&imp.hidden, plan.hidden)).transpose()?,
        ffn: imp
            .ffn
            .iter()
            .map(|f| axes.ffn.then(|| keep_top(f, plan.ffn)).transpose())
            .collect::<Result<_>>()?,
        heads: imp
            .heads
            .iter()
            .map(|h| axes.heads.then(|| keep_kv_groups(h, cfg.num_kv_heads, plan.kv_groups)).transpose())
            .collect::<Result<_>>()?,
    };
    let mut tensors = HashMap::new();
    for (name, t) in model.named_tensors() {
        let (rows, cols) = slices(&name, cfg, &kept);
        let t = select(&select(&t, 0, rows.as_deref())?, 1, cols.as_deref())?;
        tensors.insert(name, t);
    }
    let pruned = Model::from_tensors(&plan.config, tensors, model.dtype(), model.device())?;
    let details = json!({
        "axes": axes.to_string(),
        "hidden_size": [cfg.hidden_size, plan.hidden],
        "intermediate_size": [cfg.intermediate_size, plan.ffn],
        "num_key_value_heads": [cfg.num_kv_heads, plan.kv_groups],
        "kept_hidden": kept.hidden,
        "kept_ffn": kept.ffn,
        "kept_kv_heads": kept.heads.iter().map(|h| h.as_ref().map(|h| h.kv_heads.clone())).collect::<Vec<_>>(),
    });
    Ok((pruned, details))
}

/// Rows and columns of tensor `name` that stay (`None`: all).
fn slices(name: &str, cfg: &Config, kept: &Kept) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
    let hidden = kept.hidden.clone();
    let head_rows = |heads: &[usize]| -> Vec<usize> {
        heads.iter().flat_map(|h| h * cfg.head_dim..(h + 1) * cfg.head_dim).collect()
    };
    let Some((i, rest)) = layer_of(name) else {
        // Embeddings, lm_head (V, C) lose columns; the final norm (C) loses entries.
        return if name == "model.norm.weight" { (hidden, None) } else { (None, hidden) };
    };
    let q_rows = kept.heads[i].as_ref().map(|h| head_rows(&h.q_heads));
    let kv_rows = kept.heads[i].as_ref().map(|h| head_rows(&h.kv_heads));
    let ffn = kept.ffn[i].clone();
    let (module, param) = rest.rsplit_once('.').unwrap_or((rest, ""));
    let is_bias = param == "bias";
    match module {
        "input_layernorm" | "post_attention_layernorm" => (hidden, None),
        "self_attn.q_proj" => (q_rows, if is_bias { None } else { hidden }),
        "self_attn.k_proj" | "self_attn.v_proj" => (kv_rows, if is_bias { None } else { hidden }),
        "self_attn.o_proj" => (hidden, if is_bias { None } else { q_rows }),
        "mlp.gate_proj" | "mlp.up_proj" => (ffn, hidden),
        "mlp.down_proj" => (hidden, ffn),
        _ => (None, None),
    }
}

fn select(t: &Tensor, dim: usize, keep: Option<&[usize]>) -> Result<Tensor> {
    match keep {
        None => Ok(t.clone()),
        Some(idx) => {
            let ids: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
            let ids = Tensor::new(ids.as_slice(), t.device())?;
            Ok(t.index_select(&ids, dim)?.contiguous()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let json = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
            "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 4,
            "vocab_size": 32, "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
        Config::from_hf_json(&json).unwrap()
    }

    #[test]
    fn plans_come_close_and_keep_groups_whole() {
        let c = cfg();
        let n0 = ParamCounts::from_config(&c).non_embedding as f64;
        // heads,ffn: 6 heads do not divide 64 channels, so only 2 or 4 of the 4 KV groups can stay.
        for (axes, tol) in [("hidden", 0.01), ("ffn", 0.01), ("heads,ffn", 0.1), ("all", 0.05)] {
            let p = plan(&c, axes.parse().unwrap(), 0.25).unwrap();
            let rho = 1.0 - ParamCounts::from_config(&p.config).non_embedding as f64 / n0;
            assert!((rho - 0.25).abs() < tol, "{axes}: {rho}");
            assert_eq!(p.config.num_heads, 2 * p.config.num_kv_heads);
            assert_eq!(p.config.hidden_size % p.config.num_heads, 0);
            assert_eq!(p.config.head_dim, 8);
        }
        let mut one_group = c.clone();
        one_group.num_kv_heads = 1;
        assert!(plan(&one_group, "heads".parse().unwrap(), 0.2).is_err());
        assert!(plan(&c, "hidden".parse().unwrap(), 1.0).is_err());
        assert!("hidden,depth".parse::<WidthAxes>().is_err());
        assert_eq!("all".parse::<WidthAxes>().unwrap().to_string(), "hidden,ffn,heads");
    }
}
