//! `p2law info`: what a Hugging Face model directory holds: architecture, shapes and parameter counts.
//!
//! Counts come from `config.json` and are checked against the tensor headers of the weight files (no
//! weights are read). JSON: `{"architecture", "config": {…}, "params": {"total", "non_embedding",
//! "embedding", "lm_head"}, "stored_params", "files"}`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;
use p2law_model::{checkpoint, Config, ParamCounts};

#[derive(Parser, Debug)]
#[command(about = "Architecture and parameter counts (total, non-embedding) of a model directory")]
pub struct Args {
    /// Hugging Face model directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::from_file(&args.dir.join("config.json"))?;
    let counts = ParamCounts::from_config(&config);
    let shapes = checkpoint::tensor_shapes(&args.dir)?;
    let stored: usize = shapes
        .iter()
        .filter(|(name, _)| !(config.tie_word_embeddings && name == "lm_head.weight"))
        .filter(|(name, _)| !name.ends_with("rotary_emb.inv_freq"))
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    if stored != counts.total {
        bail!(
            "{}: the weight files hold {stored} parameters but config.json implies {} (config/tensor mismatch; \
             `p2law eval` or loading names the tensor)",
            args.dir.display(),
            counts.total
        );
    }
    let files = checkpoint::weight_files(&args.dir)?.len();
    if args.json {
        let v = serde_json::json!({
            "architecture": config.architecture.hf_name(),
            "config": config.to_hf_json("float32"),
            "params": counts,
            "stored_params": stored,
            "files": files,
        });
        println!("{v}");
    } else {
        println!("architecture     {}", config.architecture.hf_name());
        println!("layers           {}", config.num_layers);
        println!("hidden / ffn     {} / {}", config.hidden_size, config.intermediate_size);
        println!(
            "heads / kv heads {} / {} (head_dim {})",
            config.num_heads, config.num_kv_heads, config.head_dim
        );
        println!("vocab            {} (tied embeddings: {})", config.vocab_size, config.tie_word_embeddings);
        println!("params total     {}", counts.total);
        println!("params non-emb   {}", counts.non_embedding);
        println!("embedding        {}", counts.embedding);
        println!("lm_head          {}", counts.lm_head);
        println!("weight files     {files}");
    }
    Ok(())
}
