//! Model configuration: a Hugging Face `config.json` (file config, every key optional) resolved into a checked
//! runtime [`Config`].
//!
//! Two architectures share one decoder: `LlamaForCausalLM` (optional `attention_bias`, Llama-3 `rope_scaling`)
//! and `Qwen2ForCausalLM` (biases on q/k/v, none on o). Every key is either used, known to be harmless
//! (bookkeeping such as `transformers_version`), or rejected with an error naming it — a key we do not
//! understand could change the math, and silently ignoring it would give wrong numbers.
//!
//! ```
//! let json = serde_json::json!({
//!     "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
//!     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
//!     "vocab_size": 256, "rms_norm_eps": 1e-5, "max_position_embeddings": 128,
//! });
//! let cfg = p2law_model::Config::from_hf_json(&json).unwrap();
//! assert_eq!((cfg.head_dim, cfg.num_kv_heads), (16, 2));
//! assert_eq!(cfg.rope_theta, 10000.0);
//! ```

use serde_json::{json, Map, Value};

use crate::error::{ModelError, Result};
use crate::params::ParamCounts;

/// The largest model a config may describe: 2^40 parameters (about 1.1 trillion). Sizes beyond it are
/// rejected when the config is read, before any count, shape or allocation is computed from them.
pub const MAX_PARAMS: u64 = 1 << 40;

/// The two supported decoder families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
}

impl Architecture {
    /// The `architectures[0]` string of `config.json`.
    pub fn hf_name(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
        }
    }

    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
        }
    }
}

/// Llama-3 `rope_scaling` (`rope_type: "llama3"`): long wavelengths are slowed by `factor`, short ones kept,
/// the band between interpolated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeScaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

/// Checked runtime configuration of a decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub architecture: Architecture,
    pub vocab_size: usize,
    /// Residual stream width C.
    pub hidden_size: usize,
    /// MLP inner width (gate/up output).
    pub intermediate_size: usize,
    pub num_layers: usize,
    /// Query heads; `num_heads * head_dim` is the q_proj output width (not necessarily `hidden_size`).
    pub num_heads: usize,
    /// Key/value heads (GQA): each serves `num_heads / num_kv_heads` query heads.
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub max_position_embeddings: usize,
    /// `lm_head.weight` is `embed_tokens.weight` (no separate tensor on disk).
    pub tie_word_embeddings: bool,
    /// Biases on q_proj, k_proj and v_proj (Qwen2 always; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama with `attention_bias`).
    pub o_bias: bool,
    /// `bos_token_id` / `eos_token_id` / `pad_token_id`, passed through unchanged when saving.
    pub token_ids: Map<String, Value>,
}

/// Keys that do not affect the forward pass; accepted and dropped.
const HARMLESS: &[&str] = &[
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "initializer_range",
    "use_cache",
    "pretraining_tp",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "use_return_dict",
    "torchscript",
    "is_encoder_decoder",
    "id2label",
    "label2id",
    "problem_type",
    "tokenizer_class",
    "task_specific_params",
    "finetuning_task",
    "chunk_size_feed_forward",
    "prefix",
    "sep_token_id",
    "decoder_start_token_id",
    "max_window_layers",
    "model_type",
];

/// Keys read by [`Config::from_hf_json`].
const USED: &[&str] = &[
    "architectures",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "max_position_embeddings",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "hidden_act",
    "attention_dropout",
    "use_sliding_window",
    "sliding_window",
    "layer_types",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
];

impl Config {
    /// Reads and checks `path` (a `config.json`).
    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|source| ModelError::Json { path: path.to_path_buf(), source })?;
        Config::from_hf_json(&value)
            .map_err(|e| ModelError::InFile { path: path.to_path_buf(), inner: Box::new(e) })
    }

    /// Resolves a parsed `config.json`.
    pub fn from_hf_json(value: &Value) -> Result<Config> {
        let obj = value.as_object().ok_or_else(|| ModelError::config("(root)", "not a JSON object"))?;
        for key in obj.keys() {
            if !USED.contains(&key.as_str()) && !HARMLESS.contains(&key.as_str()) {
                return Err(ModelError::config(
                    key,
                    "unknown key; it may change the model, so it is rejected",
                ));
            }
        }
        let architecture = match obj.get("architectures").and_then(|a| a.as_array()).map(|a| a.as_slice()) {
            Some([Value::String(name)]) => match name.as_str() {
                "LlamaForCausalLM" => Architecture::Llama,
                "Qwen2ForCausalLM" => Architecture::Qwen2,
                other => return Err(ModelError::UnsupportedArchitecture { found: other.to_string() }),
            },
            _ => {
                return Err(ModelError::config("architectures", "expected a list with one architecture name"))
            }
        };
        let hidden_size = usize_key(obj, "hidden_size")?;
        let num_heads = usize_key(obj, "num_attention_heads")?;
        if num_heads == 0 {
            return Err(ModelError::config("num_attention_heads", "must be positive"));
        }
        let head_dim = match obj.get("head_dim") {
            Some(Value::Null) | None => {
                if !hidden_size.is_multiple_of(num_heads) {
                    return Err(ModelError::config(
                        "head_dim",
                        "absent and hidden_size % num_attention_heads != 0",
                    ));
                }
                hidden_size / num_heads
            }
            Some(_) => usize_key(obj, "head_dim")?,
        };
        let num_kv_heads = match obj.get("num_key_value_heads") {
            Some(Value::Null) | None => num_heads,
            Some(_) => usize_key(obj, "num_key_value_heads")?,
        };
        if let Some(act) = obj.get("hidden_act") {
            if act != "silu" {
                return Err(ModelError::config("hidden_act", format!("{act} unsupported (only \"silu\")")));
            }
        }
        if bool_key(obj, "mlp_bias", false)? {
            return Err(ModelError::config("mlp_bias", "true is unsupported"));
        }
        if let Some(p) = obj.get("attention_dropout").and_then(Value::as_f64) {
            if p != 0.0 {
                return Err(ModelError::config("attention_dropout", "only 0 is supported"));
            }
        }
        if bool_key(obj, "use_sliding_window", false)? {
            return Err(ModelError::config("use_sliding_window", "sliding-window attention is unsupported"));
        }
        if let Some(types) = obj.get("layer_types").and_then(Value::as_array) {
            if types.iter().any(|t| t != "full_attention") {
                return Err(ModelError::config(
                    "layer_types",
                    "only \"full_attention\" layers are supported",
                ));
            }
        }
        let attention_bias = bool_key(obj, "attention_bias", false)?;
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Llama => (attention_bias, attention_bias),
            Architecture::Qwen2 => (true, false),
        };
        let (rope_theta, rope_scaling) = rope(obj)?;
        let token_ids = ["bos_token_id", "eos_token_id", "pad_token_id"]
            .iter()
            .filter_map(|k| obj.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone())))
            .collect();
        let config = Config {
            architecture,
            vocab_size: usize_key(obj, "vocab_size")?,
            hidden_size,
            intermediate_size: usize_key(obj, "intermediate_size")?,
            num_layers: usize_key(obj, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: f64_key(obj, "rms_norm_eps")?,
            rope_theta,
            rope_scaling,
            max_position_embeddings: usize_key(obj, "max_position_embeddings")?,
            tie_word_embeddings: bool_key(obj, "tie_word_embeddings", false)?,
            qkv_bias,
            o_bias,
            token_ids,
        };
        config.check()?;
        Ok(config)
    }

    /// Checks the invariants the decoder relies on (also used after pruning edits a config).
    pub fn check(&self) -> Result<()> {
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
        ] {
            if v == 0 {
                return Err(ModelError::config(key, "must be positive"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(ModelError::config(
                "num_key_value_heads",
                format!("{} does not divide num_attention_heads {}", self.num_kv_heads, self.num_heads),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(ModelError::config("head_dim", "rotary embeddings need an even head_dim"));
        }
        // Written so that NaN fails too.
        let positive = |x: f64| x.partial_cmp(&0.0) == Some(std::cmp::Ordering::Greater);
        if !positive(self.rms_norm_eps) || !positive(self.rope_theta) || !self.rope_theta.is_finite() {
            return Err(ModelError::config("rms_norm_eps/rope_theta", "must be positive"));
        }
        if let Some(s) = &self.rope_scaling {
            if ![s.factor, s.low_freq_factor, s.high_freq_factor]
                .iter()
                .all(|&x| positive(x) && x.is_finite())
                || s.original_max_position_embeddings == 0
            {
                return Err(ModelError::config(
                    "rope_scaling",
                    "factor, low_freq_factor, high_freq_factor and original_max_position_embeddings must be \
                     positive and finite",
                ));
            }
        }
        // Every size the decoder multiplies (q/k/v/o widths, matrices, the whole model) must fit, so that no
        // count, shape or allocation overflows later.
        match ParamCounts::checked(self) {
            Some(counts) if counts.total as u64 <= MAX_PARAMS => Ok(()),
            counts => Err(ModelError::config(
                "(sizes)",
                format!(
                    "vocab_size {} × hidden_size {}, {} layers of {} heads × head_dim {} and intermediate_size {} \
                     make {} parameters; at most 2^40 ({MAX_PARAMS}) are supported",
                    self.vocab_size,
                    self.hidden_size,
                    self.num_layers,
                    self.num_heads,
                    self.head_dim,
                    self.intermediate_size,
                    counts.map_or("more than 2^64".to_string(), |c| c.total.to_string()),
                ),
            )),
        }
    }

    /// The `config.json` that describes this model, with `torch_dtype` naming the stored dtype.
    pub fn to_hf_json(&self, torch_dtype: &str) -> Value {
        let rope_scaling = match &self.rope_scaling {
            None => Value::Null,
            Some(s) => json!({
                "rope_type": "llama3",
                "factor": s.factor,
                "low_freq_factor": s.low_freq_factor,
                "high_freq_factor": s.high_freq_factor,
                "original_max_position_embeddings": s.original_max_position_embeddings,
            }),
        };
        let mut v = json!({
            "architectures": [self.architecture.hf_name()],
            "model_type": self.architecture.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": torch_dtype,
        });
        let obj = v.as_object_mut().expect("built as an object");
        if self.architecture == Architecture::Llama {
            obj.insert("attention_bias".into(), Value::Bool(self.qkv_bias));
            obj.insert("mlp_bias".into(), Value::Bool(false));
        }
        obj.extend(self.token_ids.clone());
        v
    }

    /// Query heads per key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }
}

/// `rope_theta` and Llama-3 scaling, from the classic keys or transformers 5's `rope_parameters`.
fn rope(obj: &Map<String, Value>) -> Result<(f64, Option<RopeScaling>)> {
    let (params, key) = match (obj.get("rope_parameters"), obj.get("rope_scaling")) {
        (Some(p), _) if !p.is_null() => (Some(p), "rope_parameters"),
        (_, Some(s)) if !s.is_null() => (Some(s), "rope_scaling"),
        _ => (None, "rope_scaling"),
    };
    let mut theta = match obj.get("rope_theta") {
        Some(Value::Null) | None => 10000.0,
        Some(_) => f64_key(obj, "rope_theta")?,
    };
    let Some(params) = params else { return Ok((theta, None)) };
    let p = params.as_object().ok_or_else(|| ModelError::config(key, "expected an object"))?;
    if let Some(t) = p.get("rope_theta") {
        theta = t
            .as_f64()
            .ok_or_else(|| ModelError::config(&format!("{key}.rope_theta"), "expected a number"))?;
    }
    let kind = p.get("rope_type").or_else(|| p.get("type")).and_then(Value::as_str).unwrap_or("default");
    match kind {
        "default" => Ok((theta, None)),
        "llama3" => {
            let num = |k: &str| {
                p.get(k)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| ModelError::config(&format!("{key}.{k}"), "missing or not a number"))
            };
            let scaling = RopeScaling {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")? as usize,
            };
            if scaling.high_freq_factor <= scaling.low_freq_factor {
                return Err(ModelError::config(key, "high_freq_factor must exceed low_freq_factor"));
            }
            Ok((theta, Some(scaling)))
        }
        other => Err(ModelError::config(
            &format!("{key}.rope_type"),
            format!("{other:?} unsupported (only \"default\" and \"llama3\")"),
        )),
    }
}

fn usize_key(obj: &Map<String, Value>, key: &str) -> Result<usize> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(ModelError::config(key, "missing")),
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| ModelError::config(key, format!("expected a non-negative integer, found {v}"))),
    }
}

fn f64_key(obj: &Map<String, Value>, key: &str) -> Result<f64> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(ModelError::config(key, "missing")),
        Some(v) => v.as_f64().ok_or_else(|| ModelError::config(key, format!("expected a number, found {v}"))),
    }
}

fn bool_key(obj: &Map<String, Value>, key: &str, default: bool) -> Result<bool> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            v.as_bool().ok_or_else(|| ModelError::config(key, format!("expected true/false, found {v}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256,
            "rms_norm_eps": 1e-6, "max_position_embeddings": 64, "tie_word_embeddings": true,
            "rope_theta": 1e6, "transformers_version": "4.0", "eos_token_id": 3,
        })
    }

    #[test]
    fn qwen2_has_qkv_bias_and_round_trips() {
        let cfg = Config::from_hf_json(&base()).unwrap();
        assert!(cfg.qkv_bias && !cfg.o_bias && cfg.tie_word_embeddings);
        let again = Config::from_hf_json(&cfg.to_hf_json("float32")).unwrap();
        assert_eq!(cfg, again);
    }

    #[test]
    fn unknown_key_is_named() {
        let mut v = base();
        v["mystery_scale"] = json!(2.0);
        let err = Config::from_hf_json(&v).unwrap_err().to_string();
        assert!(err.contains("mystery_scale"), "{err}");
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let mut v = base();
        v["architectures"] = json!(["MistralForCausalLM"]);
        let err = Config::from_hf_json(&v).unwrap_err().to_string();
        assert!(err.contains("MistralForCausalLM"), "{err}");
    }

    #[test]
    fn missing_key_and_bad_gqa_are_named() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("vocab_size");
        assert!(Config::from_hf_json(&v).unwrap_err().to_string().contains("vocab_size"));
        let mut v = base();
        v["num_key_value_heads"] = json!(3);
        assert!(Config::from_hf_json(&v).unwrap_err().to_string().contains("num_key_value_heads"));
    }

    #[test]
    fn llama3_rope_scaling_is_parsed_and_other_types_rejected() {
        let mut v = base();
        v["architectures"] = json!(["LlamaForCausalLM"]);
        v["rope_scaling"] = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 32});
        let cfg = Config::from_hf_json(&v).unwrap();
        assert_eq!(cfg.rope_scaling.unwrap().original_max_position_embeddings, 32);
        v["rope_scaling"] = json!({"rope_type": "yarn", "factor": 4.0});
        assert!(Config::from_hf_json(&v).unwrap_err().to_string().contains("yarn"));
    }

    #[test]
    fn zero_heads_and_overflowing_sizes_are_errors_not_panics() {
        let mut v = base();
        v["num_attention_heads"] = json!(0);
        let err = Config::from_hf_json(&v).unwrap_err().to_string();
        assert!(err.contains("num_attention_heads") && err.contains("positive"), "{err}");
        for (key, value) in [
            ("vocab_size", json!(u64::MAX)),
            ("head_dim", json!(1u64 << 62)),
            ("num_hidden_layers", json!(1u64 << 63)),
            ("intermediate_size", json!(1u64 << 40)),
        ] {
            let mut v = base();
            v[key] = value;
            let err = Config::from_hf_json(&v).unwrap_err().to_string();
            assert!(err.contains("2^40"), "{key}: {err}");
        }
        // At the limit is fine: 2^40 parameters are counted without overflow.
        let mut v = base();
        v["vocab_size"] = json!(1u64 << 33);
        v["hidden_size"] = json!(64);
        let cfg = Config::from_hf_json(&v).unwrap();
        assert!(ParamCounts::from_config(&cfg).total as u64 <= MAX_PARAMS);
    }
}
