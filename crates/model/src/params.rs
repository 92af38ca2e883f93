//! Parameter counts: total, and non-embedding (what scaling laws call N).
//!
//! `embedding` is the token embedding matrix (V·C). `lm_head` is the output projection when it is a separate
//! matrix (untied), else 0. `non_embedding = total - embedding - lm_head`: the blocks plus the final norm.
//! Counts come from the config alone, so they can be reported without loading weights; a test checks them
//! against the tensors of a built model.
//!
//! ```
//! # let json = serde_json::json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 8,
//! #   "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
//! #   "vocab_size": 10, "rms_norm_eps": 1e-6, "max_position_embeddings": 32, "tie_word_embeddings": true});
//! # let cfg = p2law_model::Config::from_hf_json(&json).unwrap();
//! let counts = p2law_model::ParamCounts::from_config(&cfg);
//! // q 8·8+8, k and v 8·4+4 each, o 8·8, mlp 3·8·16, two norms 2·8, final norm 8.
//! assert_eq!(counts.non_embedding, 72 + 36 + 36 + 64 + 384 + 16 + 8);
//! assert_eq!(counts.total, counts.non_embedding + 80);
//! ```

use serde::Serialize;

use crate::config::Config;

/// Parameter counts of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    pub total: usize,
    pub non_embedding: usize,
    pub embedding: usize,
    pub lm_head: usize,
}

impl ParamCounts {
    /// Counts implied by a config. A config that passed [`Config::check`] cannot overflow; for any other
    /// the counts saturate at `usize::MAX` rather than wrap or panic.
    pub fn from_config(cfg: &Config) -> ParamCounts {
        ParamCounts::checked(cfg).unwrap_or(ParamCounts {
            total: usize::MAX,
            non_embedding: usize::MAX,
            embedding: usize::MAX,
            lm_head: usize::MAX,
        })
    }

    /// Counts implied by a config, or `None` when one of them (or a product on the way) overflows `usize`.
    pub fn checked(cfg: &Config) -> Option<ParamCounts> {
        let (c, hd) = (cfg.hidden_size, cfg.head_dim);
        let mul = |a: usize, b: usize| a.checked_mul(b);
        let q = mul(cfg.num_heads, hd)?;
        let kv = mul(cfg.num_kv_heads, hd)?;
        let qkv_bias = if cfg.qkv_bias { q.checked_add(mul(2, kv)?)? } else { 0 };
        let o_bias = if cfg.o_bias { c } else { 0 };
        let attention = mul(c, q)?
            .checked_add(mul(mul(2, c)?, kv)?)?
            .checked_add(mul(q, c)?)?
            .checked_add(qkv_bias)?
            .checked_add(o_bias)?;
        let mlp = mul(mul(3, c)?, cfg.intermediate_size)?;
        let block = attention.checked_add(mlp)?.checked_add(mul(2, c)?)?;
        let non_embedding = mul(cfg.num_layers, block)?.checked_add(c)?;
        let embedding = mul(cfg.vocab_size, c)?;
        let lm_head = if cfg.tie_word_embeddings { 0 } else { embedding };
        let total = non_embedding.checked_add(embedding)?.checked_add(lm_head)?;
        Some(ParamCounts { total, non_embedding, embedding, lm_head })
    }
}
