//! `p2law advise`: which pruning method and rate for a target size and a token budget, from one fitted law
//! per method (`p2law_law::advise`).
//!
//! The fits come from a folder of FIT.json files (`--fit-dir`: one per method, the method read from the
//! fit's domain or else the file name, e.g. `depth.json`), or are made here from curve files (`--curves`:
//! `p2` per method, with a run-level bootstrap for intervals).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use p2law_law::advise::{advise, Advice, MethodFit, Question, Target};
use p2law_law::bootstrap::{bootstrap, BootstrapOptions};
use p2law_law::curves::read_curves;
use p2law_law::{fit, FitFile, FitOptions, Law};

use super::table::{num, render};

#[derive(Parser, Debug)]
#[command(about = "Which pruning method and rate for a target size and token budget")]
pub struct Args {
    /// A folder of FIT.json files, one per method (from `p2law fit --out`, ideally with --bootstrap).
    #[arg(long, value_name = "DIR", conflicts_with = "curves", required_unless_present = "curves")]
    pub fit_dir: Option<PathBuf>,
    /// Or curve files with a `method` column: p2 is fitted per method here.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub curves: Vec<PathBuf>,
    /// Parameters of the unpruned model.
    #[arg(long)]
    pub n0: f64,
    /// Loss of the unpruned model.
    #[arg(long)]
    pub l0: f64,
    /// Parameters to prune to.
    #[arg(long, conflicts_with = "target_rate", required_unless_present = "target_rate")]
    pub target_params: Option<f64>,
    /// Or the pruning rate to reach.
    #[arg(long)]
    pub target_rate: Option<f64>,
    /// Post-training tokens you can afford.
    #[arg(long)]
    pub budget: f64,
    /// Only these methods (default: every method with a fit).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Decoder layers of the model (depth removes whole layers); or give --model.
    #[arg(long, conflicts_with = "model")]
    pub layers: Option<usize>,
    /// The model's HF directory: its config.json gives the layer count.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Distance to a method's plateau counted as "there" (the tokens-to-plateau column).
    #[arg(long, default_value_t = 0.01)]
    pub within: f64,
    /// Bootstrap replicates per method when fitting --curves.
    #[arg(long, default_value_t = 100)]
    pub bootstrap: usize,
    /// Draw predicted loss against D per method, with the intervals as bands (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let target = match (args.target_params, args.target_rate) {
        (Some(n), None) => {
            anyhow::ensure!(
                n > 0.0 && n < args.n0,
                "--target-params {n} must be between 0 and --n0 {}",
                args.n0
            );
            Target::Params(n)
        }
        (None, Some(r)) => {
            anyhow::ensure!(r > 0.0 && r < 1.0, "--target-rate {r} must be strictly between 0 and 1");
            Target::Rate(r)
        }
        _ => anyhow::bail!("give one of --target-params and --target-rate"),
    };
    anyhow::ensure!(
        args.n0.is_finite() && args.n0 > 0.0,
        "--n0 {} must be a positive parameter count",
        args.n0
    );
    anyhow::ensure!(args.l0.is_finite() && args.l0 > 0.0, "--l0 {} must be a positive loss", args.l0);
    anyhow::ensure!(
        args.budget.is_finite() && args.budget > 0.0,
        "--budget {} must be a positive token count",
        args.budget
    );
    anyhow::ensure!(
        args.within.is_finite() && args.within > 0.0,
        "--within {} must be positive",
        args.within
    );
    let layers = match (&args.model, args.layers) {
        (Some(dir), _) => Some(layer_count(dir)?),
        (None, l) => l,
    };
    let mut fits = match &args.fit_dir {
        Some(dir) => fits_from_dir(dir)?,
        None => fits_from_curves(&args.curves, args.bootstrap)?,
    };
    if !args.methods.is_empty() {
        fits.retain(|f| args.methods.contains(&f.method));
        anyhow::ensure!(!fits.is_empty(), "no fit for any of --methods {}", args.methods.join(","));
    }
    let q = Question { n0: args.n0, l0: args.l0, target, budget: args.budget, within: args.within, layers };
    let advice = advise(&fits, &q);
    if let Some(path) = &args.plot {
        plot(&fits, &q, &advice, path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&advice)?);
    } else {
        print_human(&advice);
    }
    Ok(())
}

fn layer_count(dir: &Path) -> anyhow::Result<usize> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    json["num_hidden_layers"].as_u64().filter(|&l| l > 0).map(|l| l as usize).with_context(|| {
        format!("{}: num_hidden_layers is missing or not a positive integer", path.display())
    })
}

/// Every `*.json` fit file in `dir`, keyed by method.
fn fits_from_dir(dir: &Path) -> anyhow::Result<Vec<MethodFit>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut by_method: BTreeMap<String, (PathBuf, MethodFit)> = BTreeMap::new();
    for path in paths {
        let file = FitFile::read(&path)?;
        let method = match file.domain.as_ref().map(|d| d.methods.as_slice()) {
            Some([one]) => one.clone(),
            Some(many) if many.len() > 1 => {
                anyhow::bail!(
                    "{}: fitted on several methods ({}); advise needs one fit per method",
                    path.display(),
                    many.join(", ")
                )
            }
            _ => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let fit = MethodFit {
            method: method.clone(),
            law: file.law()?,
            params: file.values(),
            draws: file.bootstrap.as_ref().map(|b| b.draws.clone()).unwrap_or_default(),
            level: file.bootstrap.as_ref().map_or(0.95, |b| b.level),
            domain: file.domain.clone(),
        };
        if let Some((first, _)) = by_method.insert(method.clone(), (path.clone(), fit)) {
            anyhow::bail!("two fits for method '{method}': {} and {}", first.display(), path.display());
        }
    }
    anyhow::ensure!(!by_method.is_empty(), "{}: no FIT.json files (*.json) found", dir.display());
    Ok(by_method.into_values().map(|(_, f)| f).collect())
}

/// `p2` fitted to each method's runs, with `replicates` bootstrap draws.
fn fits_from_curves(paths: &[PathBuf], replicates: usize) -> anyhow::Result<Vec<MethodFit>> {
    anyhow::ensure!(!paths.is_empty(), "give --fit-dir or --curves");
    anyhow::ensure!(replicates <= 100_000, "--bootstrap {replicates} is more than 100000 replicates");
    let curves = read_curves(paths, None)?;
    let mut methods: Vec<String> = curves.runs.iter().filter_map(|r| r.method.clone()).collect();
    methods.sort();
    methods.dedup();
    anyhow::ensure!(
        !methods.is_empty(),
        "the curves name no method (a `method` column); advise compares methods"
    );
    let law = Law::builtin("p2")?;
    let opts = FitOptions { starts: 64, ..Default::default() };
    methods
        .iter()
        .map(|m| {
            let own = curves.select_runs(|r| r.method.as_deref() == Some(m.as_str()));
            let f = fit(&law, &own.points, &opts).with_context(|| format!("fitting p2 to the {m} runs"))?;
            for w in &f.warnings {
                eprintln!("warning: {m} fit ({}): {}", w.kind.name(), w.message);
            }
            let draws = if replicates > 0 && own.runs.len() >= 2 {
                let b = BootstrapOptions {
                    replicates,
                    seed: 0,
                    fit: FitOptions { starts: 16, polish: 2, diagnose: false, ..Default::default() },
                };
                bootstrap(&law, &own.points, &b).with_context(|| format!("bootstrap of the {m} fit"))?.samples
            } else {
                Vec::new()
            };
            let domain = p2law_law::Domain::of(&own.points, std::slice::from_ref(m));
            Ok(MethodFit { draws, domain: Some(domain), ..MethodFit::new(m, law.clone(), f.params) })
        })
        .collect()
}

fn print_human(a: &Advice) {
    println!("target rate {:.4}, budget {} tokens", a.target_rate, num(Some(a.budget), 3));
    let rows: Vec<Vec<String>> = a
        .options
        .iter()
        .map(|o| {
            vec![
                o.method.clone(),
                o.rho.map_or("—".into(), |r| format!("{r:.4}")),
                num(o.loss, 5),
                o.interval
                    .map_or("—".into(), |[lo, hi]| format!("{} – {}", num(Some(lo), 5), num(Some(hi), 5))),
                num(o.plateau, 5),
                num(o.d_within, 3),
                [
                    o.note.clone(),
                    (!o.outside_domain.is_empty())
                        .then(|| format!("extrapolates: {}", o.outside_domain.join("; "))),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            ]
        })
        .collect();
    println!(
        "{}",
        render(&["method", "rho", "loss at budget", "interval", "plateau", "d to plateau", "notes"], &rows)
    );
    match &a.best {
        Some(b) => println!("recommendation: {b} ({})", a.confidence),
        None => println!("no recommendation: {}", a.confidence),
    }
}

/// Predicted loss against D (a decade below the budget to two above) per method that reaches the target.
fn plot(fits: &[MethodFit], q: &Question, a: &Advice, path: &Path) -> anyhow::Result<()> {
    let ds: Vec<f64> = (0..=36).map(|i| q.budget * 10f64.powf(-1.0 + 3.0 * i as f64 / 36.0)).collect();
    let bands: Vec<p2law_report::bands::Band> = a
        .options
        .iter()
        .filter_map(|o| {
            let rho = o.rho?;
            let f = fits.iter().find(|f| f.method == o.method)?;
            let points = ds
                .iter()
                .filter_map(|&d| {
                    let vars = [q.n0, q.n0 * (1.0 - rho), rho, q.l0, d, 0.0];
                    let mid = f.law.predict(&f.params, &vars);
                    let draws: Vec<f64> =
                        f.draws.iter().map(|p| f.law.predict(p, &vars)).filter(|v| v.is_finite()).collect();
                    let (lo, hi) = p2law_law::bootstrap::interval(&draws, f.level)
                        .ok()
                        .filter(|(lo, hi)| !draws.is_empty() && lo.is_finite() && hi.is_finite())
                        .unwrap_or((mid, mid));
                    mid.is_finite().then_some((d, lo.min(mid), mid, hi.max(mid)))
                })
                .collect();
            Some(p2law_report::bands::Band { name: format!("{} (rho {rho:.3})", o.method), points })
        })
        .collect();
    let title = format!("predicted loss, n0 {} pruned to rate {:.3}", num(Some(q.n0), 3), a.target_rate);
    p2law_report::bands::plot_bands(&bands, Some(q.budget), path, &title)?;
    Ok(())
}
