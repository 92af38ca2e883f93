//! Tokenizers, through Hugging Face's `tokenizers` crate: load a `tokenizer.json`, or train a byte-level BPE.
//!
//! A [`TextTokenizer`] is the tokenizer plus what packing needs: the end-of-text id written after every
//! document, the vocabulary size (which picks u16 or u32 shards) and the sha256 of its JSON (recorded in shard
//! headers and the manifest so tokens are never read with the wrong vocabulary).
//!
//! Training ([`train_bpe`]) builds a GPT-2 style byte-level BPE: the ByteLevel pre-tokenizer (GPT-2 split
//! regex, no prefix space, so decoding gives the input back byte for byte), all 256 byte symbols in the initial
//! alphabet (any text encodes, no unknown token), `<|endoftext|>` as special token id 0, merges learned up to
//! the requested vocabulary size.
//!
//! ```
//! use p2law_data::tokenizer::{train_bpe, TrainParams};
//! let text = "the cat sat on the mat. the cat ate the rat.";
//! let tok = train_bpe([text].into_iter(), &TrainParams { vocab_size: 300, ..Default::default() }).unwrap();
//! let ids = tok.encode(text).unwrap();
//! assert!(ids.len() < text.len());
//! assert_eq!(tok.decode(&ids).unwrap(), text);
//! ```

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{DataError, Result};

/// The end-of-text token of trained tokenizers.
pub const EOT: &str = "<|endoftext|>";

/// End-of-text names tried, in order, when a loaded tokenizer is given no `--eos`.
pub const EOS_CANDIDATES: [&str; 6] = [EOT, "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>", "<|eot_id|>"];

/// Settings for training a byte-level BPE.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Final vocabulary size, special token and 256 byte symbols included.
    pub vocab_size: usize,
    /// A pair must occur at least this often to be merged.
    pub min_frequency: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams { vocab_size: 4096, min_frequency: 2 }
    }
}

/// A tokenizer ready for packing.
pub struct TextTokenizer {
    pub tokenizer: Tokenizer,
    /// Appended after every document in a shard.
    pub eos_id: u32,
    /// Including added tokens; every id is `< vocab_size`.
    pub vocab_size: usize,
    /// The exact JSON this tokenizer is saved as; [`TextTokenizer::sha256`] digests it.
    pub json: String,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The JSON is hundreds of kilobytes: show what identifies the tokenizer instead.
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("eos_id", &self.eos_id)
            .field("sha256", &self.sha256())
            .finish()
    }
}

impl TextTokenizer {
    fn new(tokenizer: Tokenizer, eos_id: u32, origin: &Path) -> Result<TextTokenizer> {
        let json = tokenizer.to_string(true).map_err(|e| DataError::tokenizer(origin, e))?;
        let vocab_size = tokenizer.get_vocab_size(true);
        Ok(TextTokenizer { tokenizer, eos_id, vocab_size, json })
    }

    /// sha256 of [`TextTokenizer::json`], lower-case hex.
    pub fn sha256(&self) -> String {
        crate::fsio::sha256_hex(self.json.as_bytes())
    }

    /// Ids of one text, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tokenizer.encode_fast(text, false).map_err(|e| DataError::tokenizer("(in memory)", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids of many texts, encoded in parallel (the library's rayon pool).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encs = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), false)
            .map_err(|e| DataError::tokenizer("(in memory)", e))?;
        Ok(encs.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Text of ids (special tokens kept, so a packed stream decodes with its separators).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, false).map_err(|e| DataError::tokenizer("(in memory)", e))
    }

    /// Saves the JSON atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsio::write_atomic(path, self.json.as_bytes())
    }
}

/// Loads a `tokenizer.json`; `eos` names its end-of-text token, else [`EOS_CANDIDATES`] are tried.
pub fn load(path: &Path, eos: Option<&str>) -> Result<TextTokenizer> {
    if !path.exists() {
        return Err(DataError::tokenizer(path, "no such file"));
    }
    let tokenizer = Tokenizer::from_file(path).map_err(|e| DataError::tokenizer(path, e))?;
    let eos_id = match eos {
        Some(name) => tokenizer
            .token_to_id(name)
            .ok_or_else(|| DataError::tokenizer(path, format!("has no token '{name}' (given as --eos)")))?,
        None => EOS_CANDIDATES.iter().find_map(|c| tokenizer.token_to_id(c)).ok_or_else(|| {
            DataError::tokenizer(
                path,
                format!("has none of the usual end-of-text tokens {EOS_CANDIDATES:?}; name one with --eos"),
            )
        })?,
    };
    TextTokenizer::new(tokenizer, eos_id, path)
}

/// Trains a byte-level BPE on `texts`.
pub fn train_bpe<'a>(
    texts: impl Iterator<Item = &'a str> + Send,
    params: &TrainParams,
) -> Result<TextTokenizer> {
    let origin = Path::new("(training)");
    let alphabet = ByteLevel::alphabet();
    if params.vocab_size <= alphabet.len() {
        return Err(DataError::Config(format!(
            "vocabulary size {} must exceed the {} byte symbols plus {EOT}",
            params.vocab_size,
            alphabet.len()
        )));
    }
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, false, true)));
    // The same type decodes: byte symbols back to bytes.
    tokenizer.with_decoder(Some(ByteLevel::new(false, false, true)));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(params.vocab_size)
        .min_frequency(params.min_frequency)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOT, true)])
        .initial_alphabet(alphabet.into_iter().collect())
        .build()
        .into();
    tokenizer.train(&mut trainer, texts).map_err(|e| DataError::tokenizer(origin, e))?;
    let eos_id = tokenizer
        .token_to_id(EOT)
        .ok_or_else(|| DataError::tokenizer(origin, "lost its end-of-text token"))?;
    TextTokenizer::new(tokenizer, eos_id, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "It was the best of times, it was the worst of times,\n\
        it was the age of wisdom, it was the age of foolishness. Ünïcödé — “quotes” 日本語 🙂\t tabs  and  spaces\n";

    fn trained() -> TextTokenizer {
        let corpus = SAMPLE.repeat(20);
        train_bpe([corpus.as_str()].into_iter(), &TrainParams { vocab_size: 400, min_frequency: 2 }).unwrap()
    }

    #[test]
    fn round_trip_on_sample_text_including_unseen_bytes() {
        let tok = trained();
        assert_eq!(tok.eos_id, 0);
        assert!(tok.vocab_size <= 400 && tok.vocab_size > 257, "{}", tok.vocab_size);
        for text in [SAMPLE, "never seen: Ωμέγα ∑ ¿qué? \u{0} \r\n end"] {
            let ids = tok.encode(text).unwrap();
            assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size));
            assert_eq!(tok.decode(&ids).unwrap(), text);
        }
        // Training merged frequent pairs: the sample compresses well below one token per byte.
        assert!(tok.encode(SAMPLE).unwrap().len() * 2 < SAMPLE.len());
    }

    #[test]
    fn saved_json_loads_back_identically() {
        let tok = trained();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path).unwrap();
        let back = load(&path, None).unwrap();
        assert_eq!(back.sha256(), tok.sha256());
        assert_eq!(back.eos_id, tok.eos_id);
        assert_eq!(back.encode(SAMPLE).unwrap(), tok.encode(SAMPLE).unwrap());
        assert_eq!(tok.encode_batch(&[SAMPLE, "x"]).unwrap()[0], tok.encode(SAMPLE).unwrap());
    }

    #[test]
    fn training_is_deterministic() {
        assert_eq!(trained().json, trained().json);
    }

    #[test]
    fn load_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        assert!(load(&path, None).unwrap_err().to_string().contains("no such file"));
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path, None).unwrap_err().to_string().starts_with("tokenizer "));
        trained().save(&path).unwrap();
        assert!(load(&path, Some("<bos>")).unwrap_err().to_string().contains("has no token '<bos>'"));
        let small = TrainParams { vocab_size: 256, min_frequency: 2 };
        assert!(train_bpe(["a"].into_iter(), &small).is_err());
    }
}
