//! `p2law prune`: prune a Hugging Face model directory by depth, width, N:M or unstructured sparsity.
//!
//! The flags become a [`PruneJob`] (the method flags a [`Request`], parsed as a sweep recipe's are), which
//! does the work (see [`p2law_prune::job`]): everything checked before the model loads, L0 and the pruned
//! loss measured on the held-out stream, the output written under a temporary name and renamed into place,
//! so `-o` never holds a half-written model. Errors name the flags ([`FLAGS`]). JSON: the `pruning.json`
//! object (docs/spec/formats.md).

use std::path::PathBuf;

use clap::Parser;
use p2law_formats::Count;
use p2law_prune::apply::{Request, RequestField, RequestSpec};
use p2law_prune::job::{Names, PruneJob};

#[derive(Parser, Debug, Clone)]
#[command(about = "Prune a model (depth, width, N:M, unstructured) and write a loadable HF directory")]
pub struct Args {
    /// Hugging Face model directory to prune.
    #[arg(long)]
    pub model: PathBuf,
    /// depth, width, nm or unstructured.
    #[arg(long)]
    pub method: String,
    /// Sparse methods: magnitude, wanda or sparsegpt (default wanda). Depth uses Block Influence and width
    /// activation importance; naming them is allowed, any other value is an error.
    #[arg(long)]
    pub criterion: Option<String>,
    /// Target fraction of non-embedding parameters removed or zeroed, in (0, 1). Optional for nm
    /// (default: the pattern's own rate).
    #[arg(long)]
    pub rate: Option<f64>,
    /// N:M pattern for --method nm.
    #[arg(long, default_value = "2:4")]
    pub pattern: String,
    /// Depth: remove one run of consecutive layers instead of the individually lowest-scoring ones.
    #[arg(long)]
    pub contiguous: bool,
    /// Width: axes to narrow, a comma list of hidden, ffn, heads, or all (every axis keeps the same fraction).
    #[arg(long, default_value = "hidden")]
    pub width_axes: String,
    /// Calibration token shard (the `calib` split from `p2law data build`).
    #[arg(long)]
    pub calib: PathBuf,
    /// Calibration sequences.
    #[arg(long, default_value_t = 128)]
    pub samples: usize,
    /// Tokens per calibration sequence (capped by the model's max_position_embeddings).
    #[arg(long, default_value_t = 512)]
    pub seq_len: usize,
    /// Seed for drawing the calibration windows.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Calibration sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Held-out token shard for L0 and the pruned loss (default: heldout.bin beside --calib, if present).
    #[arg(long)]
    pub heldout: Option<PathBuf>,
    /// Use this as L0 (the unpruned model's held-out loss, e.g. measured by the pretraining run on the
    /// same slice its post-training curves use) instead of measuring it.
    #[arg(long)]
    pub l0: Option<f64>,
    /// Score at most this many held-out tokens.
    #[arg(long, default_value_t = 65_536)]
    pub eval_tokens: usize,
    /// Output directory (must not exist, unless --overwrite).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace an existing output directory (only once the new one is complete).
    #[arg(long)]
    pub overwrite: bool,
    /// Compute dtype and device (pruned weights are saved in the dtype).
    #[command(flatten)]
    pub compute: super::compute::Compute,
    /// Print pruning.json instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress messages and no heartbeat.
    #[arg(long)]
    pub quiet: bool,
    /// A heartbeat line on stderr at most every this many seconds while the pruning itself runs (0: none):
    /// Wanda and SparseGPT on a real model take minutes with nothing else to say.
    #[arg(long, default_value_t = 30.0)]
    pub log_every: f64,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quiet {
        args.log_every = 0.0;
    }
    let heartbeat = super::train::heartbeat_every(args.log_every, false)?;
    let request = request(&args)?;
    let (dtype, device) = args.compute.resolve()?;
    let job = PruneJob {
        model: args.model.clone(),
        request,
        calib: args.calib.clone(),
        samples: args.samples,
        seq_len: args.seq_len,
        seed: args.seed,
        batch: args.batch,
        heldout: args.heldout.clone(),
        eval_tokens: args.eval_tokens,
        l0: args.l0,
        out: args.out.clone(),
        overwrite: args.overwrite,
        dtype,
        device,
        heartbeat,
    };
    let show = !args.quiet && !args.json;
    let record = job.run(&FLAGS, |msg| {
        if show {
            eprintln!("{msg}");
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.6}"));
        let count = |c: Option<Count>| c.map_or("-".into(), |c| c.non_embedding.to_string());
        println!("pruned   {} → {}", args.model.display(), args.out.display());
        println!(
            "method   {} ({})",
            record.method.as_deref().unwrap_or(""),
            record.criterion.as_deref().unwrap_or("")
        );
        println!("rho      {} (target {})", f(Some(record.rho)), f(record.target_rho));
        println!("n        {} of n0 {} non-embedding parameters", count(record.n), count(record.n0));
        println!("l0       {}", f(record.l0));
        println!("loss     {} after pruning", f(record.loss_pruned));
        println!("time     {:.2} s pruning", record.prune_seconds.unwrap_or(0.0));
    }
    Ok(())
}

/// How the job's errors name its parameters: by these flags.
const FLAGS: Names = Names {
    model: "--model",
    method: "--method",
    rate: "--rate",
    calib: "--calib",
    samples: "--samples",
    seq_len: "--seq-len",
    batch: "--batch",
    heldout: "--heldout",
    l0: "--l0",
    out: super::OUT_FLAGS,
};

/// Parses the method flags into a request (no model loaded yet); an error names its flag.
fn request(args: &Args) -> anyhow::Result<Request> {
    let spec = RequestSpec {
        method: &args.method,
        criterion: args.criterion.as_deref(),
        rate: args.rate,
        pattern: Some(&args.pattern),
        contiguous: args.contiguous,
        width_axes: Some(&args.width_axes),
    };
    Request::parse(&spec).map_err(|e| {
        let flag = match e.field() {
            RequestField::Method => "--method",
            RequestField::Criterion => "--criterion",
            RequestField::Rate => "--rate",
            RequestField::Pattern => "--pattern",
            RequestField::WidthAxes => "--width-axes",
        };
        anyhow::Error::new(e).context(flag)
    })
}
