//! `p2law fit`: fit one law to curve files, score it on the fit set and an optional held-out set, and save
//! the result (`FIT.json`), intervals from a run-level bootstrap and a plot of the fitted curves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use p2law_law::fit_run::MAX_BOOTSTRAP;
use p2law_law::{Fit, FitFile, Metrics, Point};

use super::lawargs::{parse_holdout, DataArgs, FitArgs, LawArgs};
use super::table::{num, render};

#[derive(Parser, Debug)]
#[command(about = "Fit a law to loss curves and score it")]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub law: LawArgs,
    /// Hold points out of the fit and score them: data:0.2, largest-n0, highest-rho or where:EXPR.
    #[arg(long, value_name = "SPEC")]
    pub holdout: Option<String>,
    /// Run-level bootstrap resamples for parameter intervals (0 = none).
    #[arg(long, default_value_t = 0, value_name = "B")]
    pub bootstrap: usize,
    #[command(flatten)]
    pub fit: FitArgs,
    /// Write the fit (parameters, metrics, bootstrap draws) to this JSON file.
    #[arg(long, value_name = "FIT.json")]
    pub out: Option<PathBuf>,
    /// Draw the curves with the fitted law over them (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also report both objectives' solutions.
    #[arg(long)]
    pub verbose: bool,
}

/// Checks the outputs before any work: a plot format we can write, no output that is an input or the other
/// output (a failed command must not leave one output written and the other missing, nor eat its input).
fn check_outputs(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.bootstrap <= MAX_BOOTSTRAP,
        "--bootstrap {} is more than {MAX_BOOTSTRAP} replicates",
        args.bootstrap
    );
    if let Some(plot) = &args.plot {
        let ext = plot.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        anyhow::ensure!(
            matches!(ext.as_deref(), Some("png" | "svg")),
            "--plot {}: the figure must be .png or .svg",
            plot.display()
        );
    }
    let same = |a: &std::path::Path, b: &std::path::Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    for out in [&args.out, &args.plot].into_iter().flatten() {
        if let Some(input) = args.data.data.iter().find(|i| same(i, out)) {
            anyhow::bail!("{}: is an input (--data) and would be overwritten by the output", input.display());
        }
    }
    if let (Some(out), Some(plot)) = (&args.out, &args.plot) {
        anyhow::ensure!(!same(out, plot), "--out and --plot name the same file {}", out.display());
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    check_outputs(&args)?;
    let curves = args.data.load()?;
    let law = args.fit.law(args.law.resolve()?);
    let opts = args.fit.options()?;
    let holdout = args.holdout.as_deref().map(parse_holdout).transpose()?;
    let spec = args.holdout.as_deref().zip(holdout.as_ref());
    let run = p2law_law::fit_to_file(&law, &curves, spec, &opts, args.bootstrap)?;
    if run.failed_replicates > 0 {
        tracing::warn!(
            "bootstrap: {} of {} replicate fits failed and are left out",
            run.failed_replicates,
            args.bootstrap
        );
    }
    let (file, ev) = (&run.file, &run.evaluation);
    let fit = &ev.fit;
    if let Some(path) = &args.plot {
        let held = ev.split.as_ref().map(|s| s.is_held.clone()).unwrap_or_default();
        let title = match &args.holdout {
            Some(h) => format!("{} law, holdout {h}", law.name),
            None => format!("{} law", law.name),
        };
        let predict = |p: &Point| law.predict(&fit.params, &p.vars);
        p2law_report::plot_fit(&curves, &held, &predict, path, &title)?;
    }
    // Last, so that a failed plot leaves no fit file behind.
    if let Some(path) = &args.out {
        file.write(path)?;
    }

    if args.json {
        let mut value = serde_json::to_value(file)?;
        if args.verbose {
            value["solutions"] = solutions_json(fit);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_human(file, fit, args.verbose);
    }
    Ok(())
}

fn solutions_json(fit: &Fit) -> serde_json::Value {
    let one = |s: &p2law_law::Solution| {
        serde_json::json!({
            "method": s.method.name(),
            "params": fit.names.iter().cloned().zip(s.params.iter().copied()).collect::<BTreeMap<_, _>>(),
            "objective": s.objective,
            "half_sse": s.half_sse,
            "huber": s.huber,
            "start": s.start,
            "evaluations": s.evaluations,
        })
    };
    serde_json::json!({
        "least_squares": fit.least_squares.as_ref().map(one),
        "huber": fit.huber.as_ref().map(one),
    })
}

fn print_human(file: &FitFile, fit: &Fit, verbose: bool) {
    println!("law {}: {}", file.law, file.expr);
    println!(
        "fitted on {} points of {} runs; kept the {} solution (objective {:.6e})",
        file.n_points, file.n_runs, file.method, file.objective
    );
    println!();
    let rows: Vec<Vec<String>> = file
        .param_order
        .iter()
        .map(|name| {
            let interval = file.intervals.as_ref().and_then(|i| i.get(name));
            vec![
                name.clone(),
                num(Some(file.params[name]), 5),
                num(interval.map(|i| i[0]), 4),
                num(interval.map(|i| i[1]), 4),
                file.bounds.get(name).map_or("free".into(), |b| p2law_law::Bound::from_pair(*b).to_string()),
            ]
        })
        .collect();
    println!("{}", render(&["param", "value", "lo", "hi", "bound"], &rows));
    println!();
    println!(
        "{}",
        metrics_table(&[("fit", Some(&file.metrics.fit)), ("holdout", file.metrics.holdout.as_ref())])
    );
    if let (Some(held), false) = (&file.metrics.holdout, file.baselines.is_empty()) {
        println!();
        println!("{}", baselines_table(held, &file.baselines));
    }
    if let Some(c) = file.condition {
        println!();
        println!("condition number of the fit's Jacobian: {}", num(Some(c), 3));
    }
    for w in &file.warnings {
        println!("warning ({}): {}", w.kind.name(), w.message);
    }
    if verbose {
        for s in [&fit.least_squares, &fit.huber].into_iter().flatten() {
            println!();
            println!(
                "{}: ½SSE {:.6e}, Σhuber {:.6e}, start {}, {} evaluations",
                s.method.name(),
                s.half_sse,
                s.huber,
                s.start,
                s.evaluations
            );
            let values: Vec<String> =
                fit.names.iter().zip(&s.params).map(|(n, v)| format!("{n}={}", num(Some(*v), 5))).collect();
            println!("  {}", values.join(" "));
        }
    }
}

/// The law's held-out rmse and MAPE beside each baseline's, and whether the law beats them all.
pub fn baselines_table(held: &Metrics, baselines: &BTreeMap<String, p2law_law::BaselineScore>) -> String {
    let mut rows = vec![vec!["the law".to_string(), num(Some(held.rmse), 4), num(Some(held.mape), 3)]];
    rows.extend(
        baselines.iter().map(|(name, b)| vec![name.clone(), num(Some(b.rmse), 4), num(Some(b.mape), 3)]),
    );
    let best = baselines.values().map(|b| b.rmse).fold(f64::INFINITY, f64::min);
    let verdict = if held.rmse < best {
        "the law beats every baseline on held-out rmse".to_string()
    } else {
        format!("a baseline does as well as the law or better (best baseline rmse {})", num(Some(best), 4))
    };
    format!("{}\n{verdict}", render(&["held-out", "rmse", "mape"], &rows))
}

/// One row per named metrics set.
pub fn metrics_table(sets: &[(&str, Option<&Metrics>)]) -> String {
    let rows: Vec<Vec<String>> = sets
        .iter()
        .filter_map(|(name, m)| m.map(|m| (name, m)))
        .map(|(name, m)| metrics_row(name, m))
        .collect();
    render(&METRICS_HEADER, &rows)
}

pub const METRICS_HEADER: [&str; 8] = ["set", "r2", "r2_within", "huber", "asd", "asd_log", "rmse", "mape"];

pub fn metrics_row(name: &str, m: &Metrics) -> Vec<String> {
    vec![
        name.to_string(),
        num(m.r2, 5),
        num(m.r2_within, 4),
        num(Some(m.huber), 3),
        num(m.asd, 3),
        num(m.asd_log, 3),
        num(Some(m.rmse), 4),
        num(Some(m.mape), 3),
    ]
}
