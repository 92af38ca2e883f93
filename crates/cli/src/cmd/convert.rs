//! `p2law convert`: a llama.cpp GGUF file (Llama or Qwen2) to a Hugging Face model directory.
//!
//! Weights are dequantized and written in `--dtype` (default f32, so nothing more is lost), q/k rows are
//! put back in Hugging Face order, and a `tokenizer.json` is rebuilt from the GGUF vocabulary. The output
//! directory must not exist unless `--overwrite`; it is built under a temporary name beside `-o` and moved
//! into place only when complete, so a failed conversion leaves nothing and an overwritten model is never
//! a mix of old and new files.
//! JSON: `{"out", "architecture", "source_types", "params": {…}}`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use p2law_model::checkpoint::dtype_from_name;
use p2law_model::staging::OutDir;
use p2law_model::{ParamCounts, SaveOptions};

#[derive(Parser, Debug)]
#[command(about = "Convert a GGUF file (Llama, Qwen2) to a Hugging Face directory")]
pub struct Args {
    /// The GGUF file.
    #[arg(long)]
    pub gguf: PathBuf,
    /// Output directory (created; must not exist, unless --overwrite).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Replace an existing output directory (only once the new one is complete).
    #[arg(long)]
    pub overwrite: bool,
    /// Stored dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Shard weight files above this many MiB.
    #[arg(long)]
    pub max_shard_mib: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dtype = dtype_from_name(&args.dtype)
        .with_context(|| format!("--dtype {:?}: use f32, bf16 or f16", args.dtype))?;
    let max_shard_bytes = match args.max_shard_mib {
        Some(0) => anyhow::bail!("--max-shard-mib 0: must be at least 1"),
        Some(m) => Some(m.checked_mul(1 << 20).context("--max-shard-mib: too large")?),
        None => None,
    };
    let options = SaveOptions { dtype, max_shard_bytes };
    let out = OutDir::check(&args.out, args.overwrite, &[("--gguf", &args.gguf)], super::OUT_FLAGS)?;
    let staged = out.stage()?;
    let done = p2law_model::convert_gguf(&args.gguf, staged.path(), &options)?;
    out.commit(staged)?;
    let counts = ParamCounts::from_config(&done.config);
    if args.json {
        let v = serde_json::json!({
            "out": args.out.display().to_string(),
            "architecture": done.config.architecture.hf_name(),
            "source_types": done.source_types,
            "params": counts,
        });
        println!("{v}");
    } else {
        println!(
            "wrote {} ({}, {} layers, {} parameters; from {})",
            args.out.display(),
            done.config.architecture.hf_name(),
            done.config.num_layers,
            counts.total,
            done.source_types.join(", ")
        );
    }
    Ok(())
}
