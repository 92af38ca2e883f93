//! `p2law plan`: how many post-training tokens a pruned model is worth, from a fitted law: where the gain per
//! `--per` tokens drops below `--min-gain`, and where the loss comes within `--within` of its plateau; with
//! bootstrap intervals when the fit file has draws.

use std::path::PathBuf;

use clap::Parser;
use p2law_law::plan::{plan, plan_with_intervals, PlanQuery};
use p2law_law::FitFile;

use super::predict::ModelArgs;
use super::table::num;

#[derive(Parser, Debug)]
#[command(about = "Plan a post-training token budget from a fitted law")]
pub struct Args {
    /// A fit file written by `p2law fit --out`.
    #[arg(long, value_name = "FIT.json")]
    pub fit: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Stop when the next --per tokens lower the loss by less than this.
    #[arg(long, default_value_t = 1e-3)]
    pub min_gain: f64,
    /// Token step for --min-gain.
    #[arg(long, default_value_t = 1e9, value_name = "TOKENS")]
    pub per: f64,
    /// Stop when the loss is within this of its plateau.
    #[arg(long, default_value_t = 1e-2, value_name = "EPS")]
    pub within: f64,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.model.check()?;
    let file = FitFile::read(&args.fit)?;
    let law = file.law()?;
    let params = file.values();
    let q = PlanQuery {
        min_gain: args.min_gain,
        per: args.per,
        within: args.within,
        ..PlanQuery::new(args.model.n0, args.model.rho, args.model.l0)
    };
    let (point, intervals) = match &file.bootstrap {
        Some(b) => {
            let (p, i) = plan_with_intervals(&law, &params, &b.draws, &q, b.level)?;
            (p, Some(i))
        }
        None => (plan(&law, &params, &q)?, None),
    };
    let outside = args.model.outside(&file, &[point.d_min_gain, point.d_within]);
    if args.json {
        let out = p2law_law::plan_json(&point, intervals.as_ref(), &q, &outside);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let range = |x: Option<(f64, f64)>, sig| match x {
        Some((lo, hi)) => format!(" [{} – {}]", num(Some(lo), sig), num(Some(hi), sig)),
        None => String::new(),
    };
    println!(
        "law {} for n0 = {:e}, rho = {}, l0 = {}",
        file.law, args.model.n0, args.model.rho, args.model.l0
    );
    println!(
        "plateau loss:                {}{}",
        num(Some(point.plateau_loss), 5),
        range(intervals.map(|i| i.plateau_loss), 5)
    );
    println!(
        "gain < {} per {:e} tokens:  d = {}{}",
        q.min_gain,
        q.per,
        num(Some(point.d_min_gain), 3),
        range(intervals.map(|i| i.d_min_gain), 3)
    );
    println!(
        "within {} of plateau:       d = {}{}",
        q.within,
        num(Some(point.d_within), 3),
        range(intervals.map(|i| i.d_within), 3)
    );
    Ok(())
}
