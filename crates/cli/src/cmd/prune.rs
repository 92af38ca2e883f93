//! `p2law prune`: prune a Hugging Face model directory by depth, width, N:M or unstructured sparsity.
//!
//! Steps: check the request against `config.json` (rate range and reachability, N:M divisibility, KV
//! groups, criterion) before loading anything; load the model; draw `--samples` windows of `--seq-len`
//! tokens from the calibration shard (capped by the model's context); measure the unpruned loss L0 on the
//! held-out stream; prune ([`p2law_prune::apply`]); measure the pruned loss; write the output directory —
//! weights and `config.json`, tokenizer files, `pruning.json` (docs/spec/formats.md) and, for sparse methods,
//! `masks.safetensors` — under a temporary name, then rename it into place, so `-o` never holds a
//! half-written model. JSON: the `pruning.json` object.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use p2law_data::progress::Heartbeat;
use p2law_formats::{CalibrationSet, Count, EvalSlice, PruningRecord, P2LAW_VERSION, PRUNING};
use p2law_model::{Config, Model, ParamCounts, SaveOptions};
use p2law_prune::apply::{self, Calibration, Method, Request, WidthAxes};
use p2law_prune::NmPattern;
use serde_json::json;

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
    let record = execute(&args)?;
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

/// Parses the method flags into a request (no model loaded yet).
fn request(args: &Args) -> anyhow::Result<Request> {
    let sparse_criterion =
        || -> anyhow::Result<_> { Ok(p2law_prune::by_name(args.criterion.as_deref().unwrap_or("wanda"))?) };
    let only = |allowed: &str| -> anyhow::Result<()> {
        match args.criterion.as_deref() {
            Some(c) if c != allowed => {
                bail!("--criterion {c:?} does not apply to --method {}; it scores by {allowed}", args.method)
            }
            _ => Ok(()),
        }
    };
    let method = match args.method.as_str() {
        "depth" => {
            only("block-influence")?;
            Method::Depth { contiguous: args.contiguous }
        }
        "width" => {
            only("activation")?;
            Method::Width { axes: args.width_axes.parse::<WidthAxes>()? }
        }
        "nm" => Method::Nm { pattern: args.pattern.parse::<NmPattern>()?, criterion: sparse_criterion()? },
        "unstructured" => Method::Unstructured { criterion: sparse_criterion()? },
        other => bail!("--method {other:?}: use depth, width, nm or unstructured"),
    };
    let rate = match (args.rate, &method) {
        (Some(r), _) => r,
        (None, Method::Nm { pattern, .. }) => pattern.rate(),
        (None, _) => bail!("--rate is required for --method {}", args.method),
    };
    Ok(Request { method, rate })
}

/// Everything `p2law prune` does, returning the `pruning.json` record (also used by `p2law sweep`).
pub fn execute(args: &Args) -> anyhow::Result<PruningRecord> {
    let beat = super::train::heartbeat_every(args.log_every, false)?;
    for (flag, value, least) in
        [("--samples", args.samples, 1), ("--batch", args.batch, 1), ("--seq-len", args.seq_len, 2)]
    {
        if value < least {
            bail!("{flag} {value}: must be ≥ {least}");
        }
    }
    let request = request(args)?;
    if let Some(l0) = args.l0.filter(|l0| !(l0.is_finite() && *l0 > 0.0)) {
        bail!("--l0 {l0}: must be a positive loss");
    }
    let config_path = args.model.join("config.json");
    let config = Config::from_file(&config_path)?;
    request.check(&config).with_context(|| format!("--method {} --rate {}", args.method, request.rate))?;
    let heldout = args.heldout.clone().or_else(|| {
        let sibling = args.calib.with_file_name("heldout.bin");
        sibling.is_file().then_some(sibling)
    });
    let mut inputs = vec![("--model", args.model.as_path()), ("--calib", args.calib.as_path())];
    inputs.extend(heldout.as_deref().map(|h| ("--heldout", h)));
    let out = super::outdir::OutDir::check(&args.out, args.overwrite, &inputs)?;
    let (dtype, device) = args.compute.resolve()?;
    let seq_len = args.seq_len.min(config.max_position_embeddings);
    // The shard reader's errors name the file.
    let calib_ids = p2law_data::ShardReader::open(&args.calib).context("--calib")?;
    let starts = apply::sample_offsets(calib_ids.len(), args.samples, seq_len, args.seed)
        .with_context(|| format!("--calib {}", args.calib.display()))?;
    let sequences = starts.iter().map(|&s| calib_ids.window(s, seq_len)).collect::<Result<Vec<_>, _>>()?;
    let heldout_ids = heldout.as_deref().map(|p| heldout_window(p, args.eval_tokens)).transpose()?;

    let say = |msg: &str| {
        if !args.quiet && !args.json {
            eprintln!("{msg}");
        }
    };
    let (_, model) = p2law_model::load_hf_dir(&args.model, dtype, &device)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let calib = Calibration::new(&sequences, args.batch, &device)?;
    let eval = |m: &Model| -> anyhow::Result<Option<f64>> {
        heldout_ids.as_ref().map(|ids| heldout_loss(m, ids, seq_len, args.batch)).transpose()
    };
    let l0 = match args.l0 {
        Some(l0) => Some(l0),
        None => {
            say("measuring the unpruned loss (L0)…");
            eval(&model)?
        }
    };
    say(&format!(
        "pruning ({} {}, rate {})…",
        request.method.name(),
        request.method.criterion(),
        request.rate
    ));
    let label =
        format!("[prune] {} {} rate {}", request.method.name(), request.method.criterion(), request.rate);
    let started = Instant::now();
    let outcome = Heartbeat::around(&label, beat, || apply::prune(model, &request, &calib))?;
    let prune_seconds = started.elapsed().as_secs_f64();
    say("measuring the pruned loss…");
    let loss_pruned = eval(&outcome.model)?;

    let before = ParamCounts::from_config(&config);
    let after = ParamCounts::from_config(outcome.model.config());
    let zeroed = outcome.n0 - outcome.n - (before.non_embedding - after.non_embedding) as u64;
    let record = PruningRecord {
        format: Some(PRUNING.tag()),
        p2law_version: Some(P2LAW_VERSION.into()),
        method: Some(request.method.name().into()),
        criterion: Some(request.method.criterion().into()),
        target_rho: Some(request.rate),
        rho: outcome.rho(),
        n0: Some(Count::new(before.non_embedding as u64, before.total as u64)),
        n: Some(Count::new(outcome.n, after.total as u64 - zeroed)),
        l0,
        l0_source: Some(if args.l0.is_some() { "given (--l0)" } else { "measured on eval" }.into()),
        loss_pruned,
        eval: heldout.as_ref().map(|p| EvalSlice {
            data: p.display().to_string(),
            tokens: heldout_ids.as_ref().map_or(0, |ids| ids.len().saturating_sub(1)) as u64,
            context: seq_len as u64,
        }),
        calibration: Some(CalibrationSet {
            source: args.calib.display().to_string(),
            samples: args.samples as u64,
            seq_len: seq_len as u64,
            seed: args.seed,
            offsets: starts.iter().map(|&s| s as u64).collect(),
        }),
        source_model: Some(args.model.display().to_string()),
        masks: outcome.masks.as_ref().map(|_| "masks.safetensors".into()),
        prune_seconds: Some(prune_seconds),
        details: outcome.details,
    };
    let masks = outcome.masks.as_ref();
    write_output(&out, &args.model, &outcome.model, masks, &record, dtype)?;
    Ok(record)
}

/// The first `eval_tokens` tokens of a held-out shard: the slice L0 and the pruned loss are measured on.
fn heldout_window(path: &Path, eval_tokens: usize) -> anyhow::Result<Vec<u32>> {
    // The shard reader's errors name the file.
    let reader = p2law_data::ShardReader::open(path).context("--heldout")?;
    Ok(reader.window(0, reader.len().min(eval_tokens))?)
}

/// Mean next-token loss of `model` on `ids`, in windows of `context` tokens, `batch` windows at a time.
fn heldout_loss(model: &Model, ids: &[u32], context: usize, batch: usize) -> anyhow::Result<f64> {
    Ok(p2law_model::eval::evaluate(model, ids, context, batch, |_, _| ())?.loss)
}

/// The method `pruning.json` gives an unpruned control ([`control`]): the label `p2law report` looks for.
pub const CONTROL_METHOD: &str = p2law_report::report::regime::CONTROL_METHOD;

/// What [`control`] needs: the base model, and the held-out slice and context `execute` would measure
/// L0 on (`--heldout`, `--eval-tokens`, the calibration `--seq-len`, `--batch`).
#[derive(Debug, Clone)]
pub struct ControlArgs {
    pub model: PathBuf,
    pub heldout: PathBuf,
    pub eval_tokens: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub out: PathBuf,
    pub compute: super::compute::Compute,
}

/// The unpruned control of a sweep: the base model written as a "pruned" directory with `rho` 0 and method
/// [`CONTROL_METHOD`], its L0 measured exactly as [`execute`] measures the L0 of the models pruned from the
/// same base (same slice, context and batch, same dtype), so `p2law train` post-trains it like them and its
/// curve carries `rho` 0 and that L0. Written under a temporary name and renamed, like a pruned model.
/// Returns the `pruning.json` record.
pub fn control(args: &ControlArgs) -> anyhow::Result<PruningRecord> {
    let config_path = args.model.join("config.json");
    let config =
        Config::from_file(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let inputs = [("--model", args.model.as_path()), ("--heldout", args.heldout.as_path())];
    let out = super::outdir::OutDir::check(&args.out, false, &inputs)?;
    let (dtype, device) = args.compute.resolve()?;
    let seq_len = args.seq_len.min(config.max_position_embeddings);
    let ids = heldout_window(&args.heldout, args.eval_tokens)?;
    let (_, model) = p2law_model::load_hf_dir(&args.model, dtype, &device)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let l0 = heldout_loss(&model, &ids, seq_len, args.batch)?;
    let counts = ParamCounts::from_config(&config);
    let count = Count::new(counts.non_embedding as u64, counts.total as u64);
    let record = PruningRecord {
        format: Some(PRUNING.tag()),
        p2law_version: Some(P2LAW_VERSION.into()),
        method: Some(CONTROL_METHOD.into()),
        criterion: Some("none".into()),
        target_rho: None,
        rho: 0.0,
        n0: Some(count),
        n: Some(count),
        l0: Some(l0),
        l0_source: Some("measured on eval".into()),
        loss_pruned: Some(l0),
        eval: Some(EvalSlice {
            data: args.heldout.display().to_string(),
            tokens: ids.len().saturating_sub(1) as u64,
            context: seq_len as u64,
        }),
        calibration: None,
        source_model: Some(args.model.display().to_string()),
        masks: None,
        prune_seconds: Some(0.0),
        details: json!({"control": "the base model, unpruned, post-trained like the pruned models"}),
    };
    write_output(&out, &args.model, &model, None, &record, dtype)?;
    Ok(record)
}

/// Writes the pruned directory under a staging name beside `out`, then moves it into place.
fn write_output(
    out: &super::outdir::OutDir,
    source: &Path,
    model: &Model,
    masks: Option<&p2law_prune::MaskSet>,
    record: &PruningRecord,
    dtype: candle_core::DType,
) -> anyhow::Result<()> {
    let staged = out.stage()?;
    let tmp = staged.path();
    p2law_model::save_hf_dir(model, tmp, &SaveOptions { dtype, max_shard_bytes: None })?;
    p2law_model::copy_tokenizer_files(source, tmp)?;
    if let Some(masks) = masks {
        p2law_prune::masks_io::write_masks(&tmp.join("masks.safetensors"), masks)?;
    }
    let json = tmp.join("pruning.json");
    p2law_formats::write_atomic(&json, record.to_json_pretty().as_bytes())
        .with_context(|| format!("writing {}", json.display()))?;
    out.commit(staged)
}
