//! The whole build: sources → pieces → splits → tokenizer → shards → manifest, skipped when up to date.
//!
//! [`build`] takes a [`BuildParams`] and writes into `out`: `tokenizer.json`, `pretrain.bin`, `posttrain.bin`,
//! `heldout.bin`, `calib.bin` and, last, `manifest.json`. If `out` already holds an intact build whose
//! fingerprint (inputs' sha256 and every setting) matches, nothing is rewritten and the outcome says so.
//! The stages are also callable alone ([`load_sources`], [`prepare`], [`tokenizer_for`]) for the
//! `p2law data tokenizer` command and tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::{DataError, Result};
use crate::manifest::{DocRecord, Manifest, SplitRecord, TokenizerRecord, FORMAT, TOKENIZER_FILE};
use crate::progress;
use crate::shard::{bytes_per_token, write_shard, ShardMeta};
use crate::source::{chunk::chunk, corpus, Document, Input, Loaded};
use crate::split::{plan, Fractions, Split, SplitPlan};
use crate::tokenizer::{self, TextTokenizer, TrainParams};

/// Where documents come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// The public-domain corpus, fetched into this cache folder.
    Corpus { cache: PathBuf },
    /// Generic inputs: `.txt` folders, `.jsonl`, `.parquet` files.
    Inputs(Vec<PathBuf>),
}

/// Which tokenizer encodes the shards.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenizerSpec {
    /// Train a byte-level BPE on the pretrain split.
    Train(TrainParams),
    /// Use an existing `tokenizer.json`, with its end-of-text token's name (else guessed).
    File { path: PathBuf, eos: Option<String> },
}

/// Everything a build depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildParams {
    pub source: SourceSpec,
    /// Field/column holding the text in JSONL and Parquet inputs.
    pub text_column: String,
    pub out: PathBuf,
    pub seed: u64,
    pub fractions: Fractions,
    /// Documents longer than twice this are cut into pieces of about this size (see [`crate::source::chunk`]).
    pub piece_bytes: usize,
    pub tokenizer: TokenizerSpec,
    /// Rebuild even when the folder is up to date.
    pub force: bool,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// Instead of bars (logs in files): a heartbeat line on stderr at most this often.
    pub heartbeat: Option<std::time::Duration>,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            source: SourceSpec::Corpus { cache: corpus::default_cache_dir() },
            text_column: "text".into(),
            out: PathBuf::from("data/corpus"),
            seed: 0,
            fractions: Fractions::default(),
            piece_bytes: 50_000,
            tokenizer: TokenizerSpec::Train(TrainParams::default()),
            force: false,
            progress: false,
            heartbeat: None,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    pub manifest: Manifest,
    /// True when the folder was already up to date and nothing was written.
    pub up_to_date: bool,
    /// Seconds per stage: `sources`, `tokenizer`, `pack` (absent when skipped).
    pub seconds: BTreeMap<&'static str, f64>,
}

/// Documents cut into pieces and assigned to splits.
pub struct Prepared {
    pub docs: Vec<Document>,
    pub plan: SplitPlan,
}

impl Prepared {
    /// The texts of one split, in shard order.
    pub fn texts(&self, split: Split) -> Vec<&str> {
        self.plan.docs(split).iter().map(|&i| self.docs[i].text.as_str()).collect()
    }
}

/// Reads every document of a source (fetching the corpus if needed).
pub fn load_sources(source: &SourceSpec, text_column: &str) -> Result<Loaded> {
    match source {
        SourceSpec::Corpus { cache } => corpus::load(&corpus::fetch(cache)?),
        SourceSpec::Inputs(paths) => {
            if paths.is_empty() {
                return Err(DataError::Empty { what: "the input list".into() });
            }
            let mut all = Loaded::default();
            for p in paths {
                all.extend(Input::detect(p)?.load(text_column)?);
            }
            Ok(all)
        }
    }
}

/// Cuts long documents into pieces and plans the splits.
pub fn prepare(loaded: Loaded, piece_bytes: usize, fractions: &Fractions, seed: u64) -> Result<Prepared> {
    if loaded.documents.is_empty() {
        return Err(DataError::Empty { what: "the inputs".into() });
    }
    let docs: Vec<Document> = loaded.documents.into_iter().flat_map(|d| chunk(d, piece_bytes)).collect();
    let sizes: Vec<(String, usize)> = docs.iter().map(|d| (d.id.clone(), d.text.len())).collect();
    let plan = plan(&sizes, fractions, seed)?;
    Ok(Prepared { docs, plan })
}

/// Loads the given tokenizer, or trains one on the pretrain split.
pub fn tokenizer_for(spec: &TokenizerSpec, prepared: &Prepared, show: bool) -> Result<TextTokenizer> {
    tokenizer_beating(spec, prepared, show, None)
}

/// [`tokenizer_for`], with a heartbeat line every `beat` while a tokenizer trains.
pub fn tokenizer_beating(
    spec: &TokenizerSpec,
    prepared: &Prepared,
    show: bool,
    beat: Option<std::time::Duration>,
) -> Result<TextTokenizer> {
    match spec {
        TokenizerSpec::File { path, eos } => tokenizer::load(path, eos.as_deref()),
        TokenizerSpec::Train(params) => {
            let bar = progress::spinner(show, "training BPE");
            let texts = prepared.texts(Split::Pretrain);
            let tok = p2law_formats::heartbeat::around("[data] training BPE", beat, || {
                tokenizer::train_bpe(texts.into_iter(), params)
            });
            bar.finish_and_clear();
            tok
        }
    }
}

/// Runs the whole build (or nothing, when `out` is up to date).
pub fn build(params: &BuildParams) -> Result<BuildOutcome> {
    params.fractions.validate()?;
    let mut seconds = BTreeMap::new();
    let t = Instant::now();
    let loaded = load_sources(&params.source, &params.text_column)?;
    let fingerprint = fingerprint(params, &loaded)?;
    seconds.insert("sources", t.elapsed().as_secs_f64());
    if !params.force {
        if let Ok(manifest) = Manifest::load(&params.out) {
            if manifest.fingerprint == fingerprint && manifest.intact(&params.out) {
                return Ok(BuildOutcome { manifest, up_to_date: true, seconds });
            }
        }
    }
    let sources = loaded.files.clone();
    let prepared = prepare(loaded, params.piece_bytes, &params.fractions, params.seed)?;

    let t = Instant::now();
    let tok = tokenizer_beating(&params.tokenizer, &prepared, params.progress, params.heartbeat)?;
    let tok_sha = tok.sha256();
    tok.save(&params.out.join(TOKENIZER_FILE))?;
    seconds.insert("tokenizer", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let vocab_size = u32::try_from(tok.vocab_size)
        .map_err(|_| DataError::Config(format!("vocabulary of {} does not fit u32 ids", tok.vocab_size)))?;
    let meta = ShardMeta { vocab_size, eos_id: tok.eos_id, tokenizer_sha256: sha_bytes(&tok_sha) };
    let total: u64 = prepared.docs.iter().map(|d| d.text.len() as u64).sum();
    let bar = progress::bytes_bar(params.progress, total, "tokenizing");
    let mut beat = params.heartbeat.map(|every| progress::Heartbeat::new("tokenizing", every));
    let mut done_bytes = 0u64;
    let mut splits = BTreeMap::new();
    for split in Split::ALL {
        let members = prepared.plan.docs(split);
        if members.is_empty() {
            continue;
        }
        let mut ids = Vec::with_capacity(members.len());
        // Batches of documents keep both cores busy while the bar still moves.
        for group in members.chunks(64) {
            let texts: Vec<&str> = group.iter().map(|&i| prepared.docs[i].text.as_str()).collect();
            ids.extend(tok.encode_batch(&texts)?);
            let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
            bar.inc(bytes);
            done_bytes += bytes;
            if let Some(b) = &mut beat {
                b.bytes(done_bytes, total);
            }
        }
        let path = params.out.join(split.file_name());
        let header = write_shard(&path, &meta, &ids)?;
        let docs: Vec<DocRecord> = members
            .iter()
            .zip(&ids)
            .map(|(&i, t)| DocRecord {
                id: prepared.docs[i].id.clone(),
                bytes: prepared.docs[i].text.len() as u64,
                tokens: t.len() as u64,
            })
            .collect();
        let record = SplitRecord {
            file: split.file_name().into(),
            sha256: crate::fsio::sha256_file(&path)?,
            documents: docs.len(),
            bytes: docs.iter().map(|d| d.bytes).sum(),
            tokens: header.tokens,
            docs,
        };
        splits.insert(split, record);
    }
    bar.finish_and_clear();
    seconds.insert("pack", t.elapsed().as_secs_f64());

    let manifest = Manifest {
        format: FORMAT,
        fingerprint,
        seed: params.seed,
        fractions: params.fractions,
        piece_bytes: params.piece_bytes,
        text_column: params.text_column.clone(),
        sources,
        tokenizer: TokenizerRecord {
            file: TOKENIZER_FILE.into(),
            sha256: tok_sha,
            vocab_size: tok.vocab_size,
            eos_id: tok.eos_id,
            origin: match &params.tokenizer {
                TokenizerSpec::Train(p) => {
                    format!("trained byte-level BPE (vocab {}) on pretrain", p.vocab_size)
                }
                TokenizerSpec::File { path, .. } => path.display().to_string(),
            },
            dtype: if bytes_per_token(vocab_size) == 2 { "u16" } else { "u32" }.into(),
        },
        splits,
    };
    manifest.save(&params.out)?;
    Ok(BuildOutcome { manifest, up_to_date: false, seconds })
}

/// Digest of everything the output depends on: format, settings, the sources' names and sha256s, and the
/// tokenizer choice (for a file, its sha256).
fn fingerprint(params: &BuildParams, loaded: &Loaded) -> Result<String> {
    let tokenizer = match &params.tokenizer {
        TokenizerSpec::Train(p) => format!("train:{}:{}", p.vocab_size, p.min_frequency),
        TokenizerSpec::File { path, eos } => format!("file:{}:{eos:?}", crate::fsio::sha256_file(path)?),
    };
    let sources: Vec<(String, &str)> = loaded
        .files
        .iter()
        .map(|f| {
            (
                f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                f.sha256.as_str(),
            )
        })
        .collect();
    let key = serde_json::json!({
        "format": FORMAT,
        "seed": params.seed,
        "fractions": params.fractions,
        "piece_bytes": params.piece_bytes,
        "text_column": params.text_column,
        "tokenizer": tokenizer,
        "sources": sources,
    });
    Ok(crate::fsio::sha256_hex(key.to_string().as_bytes()))
}

fn sha_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("sha256 hex from our own digest");
    }
    out
}

/// The data folder: `$P2LAW_DATA`, else `data/corpus`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("P2LAW_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data/corpus"))
}

/// The shard of `split` in a built folder, checked against the manifest.
pub fn shard_path(dir: &Path, split: Split) -> Result<PathBuf> {
    let m = Manifest::load(dir)?;
    m.shard_path(dir, split).ok_or_else(|| DataError::Manifest {
        path: dir.join(crate::manifest::MANIFEST_FILE),
        problem: format!("has no '{split}' split (its fraction was 0)"),
    })
}
