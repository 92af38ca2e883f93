//! A Hugging Face `tokenizer.json` rebuilt from a GGUF file's vocabulary.
//!
//! Only byte-level BPE (`tokenizer.ggml.model = "gpt2"`, used by SmolLM2, Qwen2 and Llama 3) is supported:
//! tokens and merges are copied as they are, control tokens (type 3) become special added tokens and
//! user-defined ones (type 4) plain added tokens. The pre-tokenizer is chosen by `tokenizer.ggml.pre`, which
//! names the splitting regex llama.cpp uses for the model family; an unknown one is an error rather than a
//! guess, since the wrong split changes every token id.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::byte_level::ByteLevel as ByteLevelProcessor;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{ModelError, Result};

/// GPT-2-style split with single digits, as in Qwen2's `tokenizer.json`.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split: digits in groups of up to three.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// What the rebuilt tokenizer needs from the GGUF metadata.
pub(crate) struct GgufVocab {
    pub tokens: Vec<String>,
    pub merges: Vec<(String, String)>,
    pub token_types: Vec<i64>,
    pub pre: String,
}

impl GgufVocab {
    pub(crate) fn from_content(ct: &Content) -> Result<GgufVocab> {
        let model = meta(ct, "tokenizer.ggml.model")?
            .to_string()
            .map_err(|_| not_a("tokenizer.ggml.model", "string"))?;
        if model != "gpt2" {
            return Err(ModelError::Tokenizer(format!(
                "tokenizer.ggml.model {model:?} unsupported (only byte-level BPE, \"gpt2\")"
            )));
        }
        let tokens = strings(meta(ct, "tokenizer.ggml.tokens")?, "tokenizer.ggml.tokens")?;
        let merges = strings(meta(ct, "tokenizer.ggml.merges")?, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| {
                    ModelError::Tokenizer(format!("merge {m:?} is not two tokens separated by a space"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_types = match ct.metadata.get("tokenizer.ggml.token_type") {
            None => vec![1; tokens.len()],
            Some(v) => v
                .to_vec()
                .map_err(|_| not_a("tokenizer.ggml.token_type", "array"))?
                .iter()
                .map(|t| {
                    t.to_i64()
                        .or_else(|_| t.to_i32().map(i64::from))
                        .map_err(|_| not_a("token_type", "integer"))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let pre = match ct.metadata.get("tokenizer.ggml.pre") {
            None => "default".to_string(),
            Some(v) => v.to_string().map_err(|_| not_a("tokenizer.ggml.pre", "string"))?.clone(),
        };
        Ok(GgufVocab { tokens, merges, token_types, pre })
    }

    /// The tokenizer; errors name the unsupported setting.
    pub(crate) fn build(&self) -> Result<Tokenizer> {
        let vocab: Vocab = self.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, self.merges.clone())
            .build()
            .map_err(|e| ModelError::Tokenizer(format!("building BPE: {e}")))?;
        let mut tok = Tokenizer::new(bpe);
        let byte_level = |use_regex| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, use_regex));
        let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
            let regex = SplitPattern::Regex(pattern.to_string());
            let split = Split::new(regex, SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| ModelError::Tokenizer(format!("split regex: {e}")))?;
            Ok(PreTokenizerWrapper::Split(split))
        };
        let pre = match self.pre.as_str() {
            "default" | "gpt2" => byte_level(true),
            // SmolLM / StarCoder: single digits, then the GPT-2 split.
            "smollm" | "starcoder" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level(true),
            ])),
            "qwen2" => {
                tok.with_normalizer(Some(NFC));
                PreTokenizerWrapper::Sequence(Sequence::new(vec![split(QWEN2_PATTERN)?, byte_level(false)]))
            }
            "llama-bpe" | "llama3" => {
                PreTokenizerWrapper::Sequence(Sequence::new(vec![split(LLAMA3_PATTERN)?, byte_level(false)]))
            }
            other => {
                return Err(ModelError::Tokenizer(format!(
                "tokenizer.ggml.pre {other:?} unsupported (known: gpt2, smollm, starcoder, qwen2, llama-bpe)"
            )))
            }
        };
        tok.with_pre_tokenizer(Some(pre));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        tok.with_post_processor(Some(ByteLevelProcessor::new(false, false, true)));
        let added: Vec<AddedToken> = self
            .tokens
            .iter()
            .zip(&self.token_types)
            .filter(|(_, t)| **t == 3 || **t == 4)
            .map(|(s, t)| AddedToken::from(s.clone(), *t == 3))
            .collect();
        tok.add_tokens(&added);
        Ok(tok)
    }
}

fn meta<'a>(ct: &'a Content, key: &str) -> Result<&'a Value> {
    ct.metadata.get(key).ok_or_else(|| ModelError::Tokenizer(format!("GGUF metadata key {key} is missing")))
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>> {
    v.to_vec()
        .map_err(|_| not_a(key, "array"))?
        .iter()
        .map(|s| s.to_string().cloned().map_err(|_| not_a(key, "array of strings")))
        .collect()
}

fn not_a(key: &str, what: &str) -> ModelError {
    ModelError::Tokenizer(format!("GGUF metadata key {key} is not a {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(pre: &str) -> GgufVocab {
        // Byte-level alphabet for "ab 12": 'a','b','Ġ' (space),'1','2', merges a+b and Ġ+ab.
        let tokens: Vec<String> =
            ["a", "b", "Ġ", "1", "2", "ab", "Ġab", "<|end|>"].iter().map(|s| s.to_string()).collect();
        let merges = vec![("a".into(), "b".into()), ("Ġ".into(), "ab".into())];
        GgufVocab { token_types: vec![1, 1, 1, 1, 1, 1, 1, 3], tokens, merges, pre: pre.into() }
    }

    #[test]
    fn encodes_with_merges_digits_and_specials() {
        let tok = tiny("smollm").build().unwrap();
        let enc = tok.encode("ab ab12<|end|>", false).unwrap();
        assert_eq!(enc.get_ids(), &[5, 6, 3, 4, 7]);
        assert_eq!(tok.decode(&[5, 6, 3, 4], false).unwrap(), "ab ab12");
    }

    #[test]
    fn unknown_pre_tokenizer_is_named() {
        let err = tiny("mystery").build().unwrap_err().to_string();
        assert!(err.contains("mystery"), "{err}");
    }
}
