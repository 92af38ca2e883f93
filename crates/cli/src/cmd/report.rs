//! `p2law report RUNS_DIR -o DIR`: fit every law to a directory of post-training runs, run the paper's
//! generalization protocols, plan token budgets, check the paper's trends, and write `report.md`,
//! `report.json` and figures (`p2law_report::report`).

use std::path::PathBuf;

use clap::Parser;
use p2law_report::report::{PlanOverrides, Report};
use p2law_report::{generate, ReportOptions};

use super::table::{num, render};

#[derive(Parser, Debug)]
#[command(
    about = "Fit, compare, test and plan on a directory of runs; write report.md, report.json and figures"
)]
pub struct Args {
    /// A directory of runs (searched for curve.csv), a directory of curve files, or one curve file.
    #[arg(value_name = "RUNS_DIR")]
    pub runs: PathBuf,
    /// Directory to write the report into (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Multi-start grid size of each fit (the report makes about 20 fits per method).
    #[arg(long, default_value_t = ReportOptions::default().starts)]
    pub starts: usize,
    /// Seed for the start grids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Plans: stop when the next --per tokens lower the loss by less than this [default: 1e-3].
    #[arg(long)]
    pub min_gain: Option<f64>,
    /// Plans: token step for --min-gain [default: a tenth of the largest d observed, rounded to 1/2/5·10^k].
    #[arg(long, value_name = "TOKENS")]
    pub per: Option<f64>,
    /// Plans: stop when the loss is within this of its plateau [default: 0.01].
    #[arg(long, value_name = "EPS")]
    pub within: Option<f64>,
    /// Print report.json's content on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success (the files are still written).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.starts >= 1, "--starts must be at least 1");
    for (flag, v) in [("--min-gain", args.min_gain), ("--per", args.per), ("--within", args.within)] {
        if let Some(v) = v {
            anyhow::ensure!(v.is_finite() && v > 0.0, "{flag} {v} must be a positive number");
        }
    }
    let plan = PlanOverrides { min_gain: args.min_gain, per: args.per, within: args.within };
    let opts = ReportOptions { starts: args.starts, seed: args.seed, plan };
    let report = generate(&args.runs, &args.out, &opts)?;
    if args.json {
        print!("{}", p2law_report::report::report_json(&report));
    } else if !args.quiet {
        print_summary(&report, &args);
    }
    Ok(())
}

fn print_summary(r: &Report, args: &Args) {
    let i = &r.inputs;
    println!(
        "{} runs, {} points from {} file(s) under {}; {} unpruned run(s) skipped",
        i.n_runs,
        i.n_points,
        i.files.len(),
        args.runs.display(),
        i.skipped_unpruned.len()
    );
    println!("regime: {}", r.regime.verdict);
    println!();
    let mut rows = Vec::new();
    for g in &r.fits {
        for s in &g.laws {
            let held = |spec: &str| {
                let p = r.protocols.iter().find(|p| p.group == g.group && p.protocol == spec);
                let m = p.and_then(|p| p.laws.iter().find(|x| x.law == s.law)).and_then(|x| x.holdout);
                num(m.map(|m| m.mape), 3)
            };
            rows.push(vec![
                g.group.clone(),
                s.law.clone(),
                num(s.fit.and_then(|m| m.r2), 5),
                num(s.fit.map(|m| m.mape), 3),
                held("data:0.2"),
                held("largest-n0"),
                held("highest-rho"),
            ]);
        }
    }
    let header = ["group", "law", "r2", "mape", "mape data:0.2", "mape largest-n0", "mape highest-rho"];
    println!("{}", render(&header, &rows));
    println!();
    for t in &r.trends {
        println!("{}: {} ({} of {} comparisons)", t.claim, t.verdict.text(), t.agreeing_pairs, t.pairs);
    }
    let planned = r.plans.iter().filter(|p| p.error.is_none()).count();
    println!("plans: {planned} of {} runs (p2 fit of the {} group)", r.plans.len(), r.plan_group);
    println!();
    println!(
        "wrote {}, {} figure(s) and the {} curve file(s) read in {}",
        args.out.join("report.md").display(),
        r.figures.len(),
        i.shipped.len(),
        args.out.join(p2law_report::report::inputs::SHIPPED_DIR).display()
    );
}
