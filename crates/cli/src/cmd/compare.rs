//! `p2law compare`: fit several laws to the same curves and put their scores side by side (model selection).
//! The built-ins named by `--laws`, then a law of the user's own (`--law-expr`, named `custom`) beside them.

use clap::Parser;
use p2law_law::{FitMetrics, Law};
use serde::Serialize;

use super::fit::{metrics_row, METRICS_HEADER};
use super::lawargs::{parse_holdout, DataArgs, FitArgs, LawExprArgs};
use super::table::{num, render};

#[derive(Parser, Debug)]
#[command(about = "Fit several laws to the same curves and compare their scores")]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated built-in laws.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "p2,p2-no-size,p2-additive,p2-pruned-size,chinchilla"
    )]
    pub laws: Vec<String>,
    // `--law-expr EXPR` and its `--param` ranges: fitted and scored after the built-ins, named `custom`.
    #[command(flatten)]
    pub expr: LawExprArgs,
    /// Hold points out of every fit and score them: data:0.2, largest-n0, highest-rho or where:EXPR.
    #[arg(long, value_name = "SPEC")]
    pub holdout: Option<String>,
    #[command(flatten)]
    pub fit: FitArgs,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    law: String,
    expr: String,
    n_params: usize,
    params: std::collections::BTreeMap<String, f64>,
    metrics: FitMetrics,
    /// What the checks after the fit found.
    warnings: Vec<p2law_law::FitWarning>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let curves = args.data.load()?;
    // Resolve every law before any fitting, so a typo fails at once.
    let mut laws: Vec<Law> =
        args.laws.iter().map(|name| Law::builtin(name.trim())).collect::<Result<_, _>>()?;
    laws.extend(args.expr.resolve()?);
    let laws: Vec<Law> = laws.into_iter().map(|l| args.fit.law(l)).collect();
    let opts = args.fit.options()?;
    let holdout = args.holdout.as_deref().map(parse_holdout).transpose()?;

    let mut rows = Vec::with_capacity(laws.len());
    let mut baselines = Default::default();
    for law in &laws {
        let ev = p2law_law::evaluate(law, &curves, holdout.as_ref(), &opts)?;
        baselines = ev.baselines;
        rows.push(Row {
            law: law.name.clone(),
            expr: law.source.clone(),
            n_params: law.params.len(),
            params: ev.fit.names.iter().cloned().zip(ev.fit.params.iter().copied()).collect(),
            metrics: ev.metrics,
            warnings: ev.fit.warnings,
        });
    }

    if args.json {
        let out = serde_json::json!({
            "holdout": args.holdout,
            "n_points": curves.points.len(),
            "n_runs": curves.runs.len(),
            "laws": rows,
            "baselines": baselines,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut header = vec!["law", "k"];
    header.extend_from_slice(&METRICS_HEADER);
    let table: Vec<Vec<String>> = rows
        .iter()
        .flat_map(|r| {
            let sets = [("fit", Some(&r.metrics.fit)), ("holdout", r.metrics.holdout.as_ref())];
            sets.into_iter()
                .filter_map(|(set, m)| m.map(|m| (set, m)))
                .map(|(set, m)| {
                    let mut row = vec![r.law.clone(), r.n_params.to_string()];
                    row.extend(metrics_row(set, m));
                    row
                })
                .collect::<Vec<_>>()
        })
        .collect();
    println!(
        "{} points, {} runs{}",
        curves.points.len(),
        curves.runs.len(),
        args.holdout.map(|h| format!(", holdout {h}")).unwrap_or_default()
    );
    println!("{}", render(&header, &table));
    if !baselines.is_empty() {
        let rows: Vec<Vec<String>> = baselines
            .iter()
            .map(|(name, b)| vec![name.clone(), num(Some(b.rmse), 4), num(Some(b.mape), 3)])
            .collect();
        println!();
        println!("baselines on the held-out points (a law should beat these):");
        println!("{}", render(&["baseline", "rmse", "mape"], &rows));
    }
    for r in &rows {
        for w in &r.warnings {
            println!("warning ({}, {}): {}", r.law, w.kind.name(), w.message);
        }
    }
    Ok(())
}
