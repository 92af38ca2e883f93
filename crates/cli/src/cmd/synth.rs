//! `p2law synth`: write synthetic post-training curves drawn from known P² Law parameters plus noise — for
//! trying the law engine, checking a fit recovers what generated the data, and benchmarks.

use std::path::PathBuf;

use clap::Parser;
use p2law_law::synth::{generate, SynthSpec};

#[derive(Parser, Debug)]
#[command(about = "Write synthetic P² Law curves (known parameters plus Gaussian noise)")]
pub struct Args {
    /// Output curve file (CSV).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Standard deviation of the Gaussian noise added to every loss.
    #[arg(long, default_value_t = 0.01)]
    pub noise: f64,
    /// Points per run (log-spaced in d).
    #[arg(long, default_value_t = 40)]
    pub points: usize,
    /// Model sizes before pruning (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1e8,3e8,1e9")]
    pub n0: Vec<f64>,
    /// Pruning rates (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.35,0.5,0.65")]
    pub rho: Vec<f64>,
    /// Pruning-method labels (comma-separated): each gets its own runs from the same law, written with a
    /// `method` column. None by default.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Most points per run, and in all: synthetic curves for tests and demos, not a memory benchmark.
const MAX_POINTS: usize = 100_000;
const MAX_TOTAL: usize = 1_000_000;

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.noise >= 0.0 && args.noise.is_finite(), "--noise {} must be ≥ 0", args.noise);
    anyhow::ensure!(
        (2..=MAX_POINTS).contains(&args.points),
        "--points {} must be between 2 and {MAX_POINTS} per run",
        args.points
    );
    let runs = args.n0.len() * args.rho.len() * args.methods.len().max(1);
    anyhow::ensure!(
        runs * args.points <= MAX_TOTAL,
        "{runs} runs × {} points is more than {MAX_TOTAL} points; use fewer --points, sizes, rates or methods",
        args.points
    );
    if let Some(bad) = args.rho.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
        anyhow::bail!("--rho {bad} must be strictly between 0 and 1");
    }
    if let Some(bad) = args.n0.iter().find(|n| !(n.is_finite() && **n > 0.0)) {
        anyhow::bail!("--n0 {bad} must be a positive parameter count");
    }
    if let Some(bad) = args.methods.iter().find(|m| m.trim().is_empty() || m.contains(',')) {
        anyhow::bail!("--methods {bad:?}: each method needs a non-empty name");
    }
    let spec = SynthSpec {
        methods: args.methods,
        n0s: args.n0,
        rhos: args.rho,
        points_per_run: args.points,
        noise_sd: args.noise,
        seed: args.seed,
        ..SynthSpec::default()
    };
    let curves = generate(&spec);
    p2law_law::write_curves_csv(&args.out, &curves)?;
    let names = ["gamma", "delta", "nc", "alpha", "dc", "beta", "e"];
    let truth: Vec<String> = names.iter().zip(spec.params).map(|(n, v)| format!("{n}={v}")).collect();
    eprintln!(
        "wrote {} points of {} runs to {} (p2 with {}; noise sd {})",
        curves.points.len(),
        curves.runs.len(),
        args.out.display(),
        truth.join(" "),
        spec.noise_sd
    );
    Ok(())
}
