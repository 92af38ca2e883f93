//! `p2law eval`: mean token cross-entropy and perplexity of a model over a token stream.
//!
//! The stream is a token shard from `p2law data` (recognised by its header) or a UTF-8 text file tokenized
//! with the model's `tokenizer.json` (or `--tokenizer`). Windows of `--context` tokens start every
//! `--context` tokens, so each token but the first is scored exactly once (see `p2law_model::eval`).
//! JSON: `{"loss", "ppl", "tokens", "windows", "context", "model", "data"}`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Mean token cross-entropy and perplexity of a model over a token stream")]
pub struct Args {
    /// Hugging Face model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Token shard (from `p2law data`) or UTF-8 text file.
    #[arg(long)]
    pub data: PathBuf,
    /// tokenizer.json for a text file (default: the model directory's).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Tokens per window.
    #[arg(long, default_value_t = 1024)]
    pub context: usize,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Use only the first N tokens of the stream.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Compute dtype and device.
    #[command(flatten)]
    pub compute: super::compute::Compute,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    for (flag, value) in [("--context", args.context), ("--batch", args.batch)] {
        if value == 0 {
            bail!("{flag} 0: must be ≥ 1");
        }
    }
    let (dtype, device) = args.compute.resolve()?;
    let (config, model) = p2law_model::load_hf_dir(&args.model, dtype, &device)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let mut ids =
        read_tokens(&args.data, args.tokenizer.as_deref().unwrap_or(&args.model.join("tokenizer.json")))?;
    if let Some(max) = args.max_tokens {
        ids.truncate(max);
    }
    if let Some((i, id)) = ids.iter().enumerate().find(|(_, id)| **id as usize >= config.vocab_size) {
        bail!(
            "{}: token {i} is id {id}, outside the model's vocabulary of {}",
            args.data.display(),
            config.vocab_size
        );
    }
    let show = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::hidden();
    if show {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let result = p2law_model::eval::evaluate(&model, &ids, args.context, args.batch, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    if args.json {
        let mut v = serde_json::to_value(result)?;
        v["model"] = args.model.display().to_string().into();
        v["data"] = args.data.display().to_string().into();
        println!("{v}");
    } else {
        println!("model    {}", args.model.display());
        println!(
            "data     {} ({} tokens scored, {} windows of ≤{})",
            args.data.display(),
            result.tokens,
            result.windows,
            result.context
        );
        println!("loss     {:.6}", result.loss);
        println!("ppl      {:.4}", result.ppl);
    }
    Ok(())
}

/// Token ids from a shard (by its magic bytes) or a text file tokenized with `tokenizer`.
fn read_tokens(data: &Path, tokenizer: &Path) -> anyhow::Result<Vec<u32>> {
    let mut magic = [0u8; 8];
    let is_shard = {
        use std::io::Read;
        let mut f = std::fs::File::open(data).with_context(|| format!("opening {}", data.display()))?;
        f.read(&mut magic).map(|n| n == 8 && &magic == p2law_data::shard::MAGIC).unwrap_or(false)
    };
    if is_shard {
        let reader = p2law_data::ShardReader::open(data)?;
        return Ok(reader.window(0, reader.len())?);
    }
    let text = std::fs::read_to_string(data)
        .with_context(|| format!("{}: not a token shard nor UTF-8 text", data.display()))?;
    let tok = tokenizers::Tokenizer::from_file(tokenizer)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer.display()))?;
    let enc = tok.encode(text, false).map_err(|e| anyhow::anyhow!("tokenizing {}: {e}", data.display()))?;
    Ok(enc.get_ids().to_vec())
}
