//! llama.cpp GGUF (Llama, Qwen2) → Hugging Face directory.
//!
//! Every tensor is dequantized to f32 (candle's GGUF reader already returns PyTorch-order shapes), renamed
//! (`blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`) and, for Llama, q/k rows are put back
//! in Hugging Face order: llama.cpp's converter interleaves the two rotary halves of every head
//! (`reshape(heads, 2, D/2, in).swapaxes(1, 2)`), which we invert with `reshape(heads, D/2, 2, in)
//! .swapaxes(1, 2)`. Qwen2 files are not permuted (llama.cpp runs them with NeoX-style rope). The config
//! comes from the `{arch}.*` metadata, the tokenizer from the vocabulary (see `gguf_tokenizer`); the result
//! is built as a [`Model`] first, so a GGUF whose tensors disagree with its metadata is rejected.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Map};

use crate::checkpoint::{save_hf_dir, SaveOptions};
use crate::config::{Architecture, Config};
use crate::error::{ModelError, Result};
use crate::gguf_read;
use crate::gguf_tokenizer::GgufVocab;
use crate::llama::Model;
use crate::safetensors_io::write_atomic;

/// What [`convert_gguf`] wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    pub config: Config,
    /// GGUF tensor type names seen, e.g. `["F32", "Q4_1", "Q6K"]`.
    pub source_types: Vec<String>,
    pub tokenizer_written: bool,
}

/// Converts `gguf` into a Hugging Face directory `out` (config, weights in `options.dtype`, tokenizer).
///
/// The whole file is read and checked (header, tensors against the metadata, the tokenizer) before
/// anything is written, so a GGUF that cannot be converted leaves `out` untouched.
pub fn convert_gguf(gguf: &Path, out: &Path, options: &SaveOptions) -> Result<Converted> {
    let mut file = std::fs::File::open(gguf).map_err(|e| ModelError::io(gguf, e))?;
    let loaded = load(&mut file, gguf)?;
    save_hf_dir(&loaded.model, out, options)?;
    write_atomic(&out.join("tokenizer.json"), loaded.tokenizer_json.as_bytes())?;
    write_tokenizer_config(&out.join("tokenizer_config.json"), &loaded.config, &loaded.vocab)?;
    Ok(Converted { config: loaded.config, source_types: loaded.source_types, tokenizer_written: true })
}

/// A GGUF file read into a checked model and tokenizer.
pub(crate) struct Loaded {
    pub config: Config,
    pub model: Model,
    pub source_types: Vec<String>,
    pub vocab: GgufVocab,
    pub tokenizer_json: String,
}

/// Reads a GGUF stream (`path` only names it in errors): header, config, every tensor, the model built
/// from them, and the tokenizer.
pub(crate) fn load<R: std::io::Read + std::io::Seek>(file: &mut R, path: &Path) -> Result<Loaded> {
    let err = |problem: String| ModelError::Gguf { path: path.to_path_buf(), problem };
    let ct = gguf_read::read_content(file).map_err(err)?;
    let config = config_from_metadata(&ct).map_err(|e| match e {
        ModelError::Config { key, problem } if key.starts_with("tensor ") => err(format!("{key}: {problem}")),
        ModelError::Config { key, problem } => err(format!("metadata {key}: {problem}")),
        ModelError::MissingTensor { name } => err(format!("tensor {name}: missing")),
        other => other,
    })?;
    let mut tensors = HashMap::new();
    let mut source_types = Vec::new();
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let info = &ct.tensor_infos[name];
        let hf = hf_name(name).ok_or_else(|| err(format!("tensor {name}: not a Llama/Qwen2 tensor name")))?;
        let kind = format!("{:?}", info.ggml_dtype);
        if !source_types.contains(&kind) {
            source_types.push(kind);
        }
        let q = ct.tensor(file, name, &Device::Cpu).map_err(|e| err(format!("tensor {name}: {e}")))?;
        let mut t = q.dequantize(&Device::Cpu).map_err(|e| err(format!("tensor {name}: {e}")))?;
        if config.architecture == Architecture::Llama {
            let heads = if hf.contains("q_proj.") {
                Some(config.num_heads)
            } else if hf.contains("k_proj.") {
                Some(config.num_kv_heads)
            } else {
                None
            };
            if let Some(heads) = heads {
                let rows = heads * config.head_dim;
                if t.dims().first() != Some(&rows) {
                    return Err(err(format!(
                        "tensor {name}: shape {:?}, but the metadata implies {rows} rows",
                        t.dims()
                    )));
                }
                t = unpermute(&t, heads)?;
            }
        }
        tensors.insert(hf, t);
    }
    source_types.sort();
    let model = Model::from_tensors(&config, tensors, DType::F32, &Device::Cpu)?;
    let vocab = GgufVocab::from_content(&ct)?;
    let tokenizer = vocab.build()?;
    let tokenizer_json =
        tokenizer.to_string(true).map_err(|e| ModelError::Tokenizer(format!("serializing: {e}")))?;
    Ok(Loaded { config, model, source_types, vocab, tokenizer_json })
}

/// Undoes llama.cpp's rotary permutation of q/k rows (see the module docs). Works for weights (out, in)
/// and biases (out).
pub fn unpermute(t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let dims = t.dims().to_vec();
    let Some((&out, rest)) = dims.split_first().filter(|_| heads > 0) else {
        candle_core::bail!("unpermute: a tensor of shape {dims:?} cannot be split into {heads} heads")
    };
    let rest: usize = rest.iter().product();
    let half = out / heads / 2;
    t.reshape((heads, half, 2, rest))?.transpose(1, 2)?.contiguous()?.reshape(dims)
}

/// The Hugging Face name of a GGUF tensor, or `None` for names this converter does not know.
fn hf_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

fn config_from_metadata(ct: &Content) -> Result<Config> {
    let arch_name =
        get(ct, "general.architecture")?.to_string().map_err(|_| bad("general.architecture"))?.clone();
    let architecture = match arch_name.as_str() {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        other => return Err(ModelError::UnsupportedArchitecture { found: format!("GGUF {other}") }),
    };
    let key = |k: &str| format!("{arch_name}.{k}");
    let uint = |k: &str| -> Result<usize> {
        let k = key(k);
        get(ct, &k)?.to_u64().map(|v| v as usize).map_err(|_| bad(&k))
    };
    let opt_uint = |k: &str| -> Result<Option<usize>> {
        if ct.metadata.contains_key(&key(k)) {
            uint(k).map(Some)
        } else {
            Ok(None)
        }
    };
    let float = |k: &str, default: Option<f64>| -> Result<f64> {
        match (ct.metadata.get(&key(k)), default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(ModelError::config(&key(k), "missing")),
            (Some(v), _) => v.to_f32().map(f64::from).or_else(|_| v.to_f64()).map_err(|_| bad(&key(k))),
        }
    };
    if ct.tensor_infos.contains_key("rope_freqs.weight")
        || ct.metadata.contains_key(&key("rope.scaling.type"))
    {
        return Err(ModelError::config(&key("rope.scaling"), "rope scaling in GGUF files is unsupported"));
    }
    let hidden_size = uint("embedding_length")?;
    let num_heads = uint("attention.head_count")?;
    let head_dim = opt_uint("attention.key_length")?.unwrap_or(hidden_size / num_heads.max(1));
    if let Some(rot) = opt_uint("rope.dimension_count")? {
        if rot != head_dim {
            return Err(ModelError::config(
                &key("rope.dimension_count"),
                "partial rotary embeddings are unsupported",
            ));
        }
    }
    let embed = ct
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| ModelError::MissingTensor { name: "token_embd.weight".into() })?;
    let vocab_size = match embed.shape.dims() {
        [vocab, _] => *vocab,
        dims => {
            return Err(ModelError::config(
                "tensor token_embd.weight",
                format!("expected 2 dimensions (vocabulary × embedding), found shape {dims:?}"),
            ))
        }
    };
    let mut token_ids = Map::new();
    for (gguf_key, hf_key) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
        ("tokenizer.ggml.padding_token_id", "pad_token_id"),
    ] {
        if let Some(id) = ct.metadata.get(gguf_key).and_then(|v| v.to_u64().ok()) {
            token_ids.insert(hf_key.into(), json!(id));
        }
    }
    let config = Config {
        architecture,
        vocab_size,
        hidden_size,
        intermediate_size: uint("feed_forward_length")?,
        num_layers: uint("block_count")?,
        num_heads,
        num_kv_heads: opt_uint("attention.head_count_kv")?.unwrap_or(num_heads),
        head_dim,
        rms_norm_eps: float("attention.layer_norm_rms_epsilon", None)?,
        rope_theta: float("rope.freq_base", Some(10000.0))?,
        rope_scaling: None,
        max_position_embeddings: uint("context_length")?,
        tie_word_embeddings: !ct.tensor_infos.contains_key("output.weight"),
        qkv_bias: ct.tensor_infos.contains_key("blk.0.attn_q.bias"),
        o_bias: ct.tensor_infos.contains_key("blk.0.attn_output.bias"),
        token_ids,
    };
    if config.architecture == Architecture::Llama && config.qkv_bias != config.o_bias {
        return Err(ModelError::config(
            &key("attention"),
            "Llama with q/k/v bias but no o bias is unsupported",
        ));
    }
    config.check()?;
    Ok(config)
}

/// `tokenizer_config.json` so `AutoTokenizer` picks the fast tokenizer and knows the special tokens.
fn write_tokenizer_config(path: &Path, config: &Config, vocab: &GgufVocab) -> Result<()> {
    let mut v = json!({"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false});
    for (id_key, name_key) in
        [("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"), ("pad_token_id", "pad_token")]
    {
        let token = config
            .token_ids
            .get(id_key)
            .and_then(|id| id.as_u64())
            .and_then(|id| vocab.tokens.get(id as usize));
        if let Some(token) = token {
            v[name_key] = json!(token);
        }
    }
    let text = serde_json::to_string_pretty(&v).expect("JSON values serialize") + "\n";
    write_atomic(path, text.as_bytes())
}

fn get<'a>(ct: &'a Content, key: &str) -> Result<&'a Value> {
    ct.metadata.get(key).ok_or_else(|| ModelError::config(key, "missing"))
}

fn bad(key: &str) -> ModelError {
    ModelError::config(key, "has the wrong type")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's permutation, written forward, so the test checks the inverse against it.
    fn permute(t: &Tensor, heads: usize) -> Tensor {
        let (out, inp) = t.dims2().unwrap();
        t.reshape((heads, 2, out / heads / 2, inp))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((out, inp))
            .unwrap()
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        let w = Tensor::arange(0f32, 48., &Device::Cpu).unwrap().reshape((12, 4)).unwrap();
        let back = unpermute(&permute(&w, 3), 3).unwrap();
        assert_eq!(back.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
        // Rows of one head (D = 4): HF order [r0, r1, r2, r3] is stored as [r0, r2, r1, r3].
        let p = permute(&w, 3).to_vec2::<f32>().unwrap();
        assert_eq!((p[1][0], p[2][0]), (8.0, 4.0));
    }

    #[test]
    fn names_map_and_unknown_names_are_refused() {
        assert_eq!(hf_name("blk.12.ffn_down.weight").unwrap(), "model.layers.12.mlp.down_proj.weight");
        assert_eq!(hf_name("blk.0.attn_q.bias").unwrap(), "model.layers.0.self_attn.q_proj.bias");
        assert!(hf_name("blk.0.attn_qkv.weight").is_none());
        assert!(hf_name("rope_freqs.weight").is_none());
    }
}
