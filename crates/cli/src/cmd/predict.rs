//! `p2law predict`: the fitted law's loss for a pruned model at given token counts, with bootstrap intervals
//! when the fit file has bootstrap draws.

use std::path::PathBuf;

use clap::Parser;
use p2law_law::bootstrap::interval;
use p2law_law::FitFile;
use serde::Serialize;

use super::table::{num, render};

#[derive(Parser, Debug)]
#[command(about = "Predict post-training loss from a fitted law")]
pub struct Args {
    /// A fit file written by `p2law fit --out`.
    #[arg(long, value_name = "FIT.json")]
    pub fit: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Post-training tokens (repeatable).
    #[arg(long = "d", required = true, num_args = 1.., value_name = "TOKENS")]
    pub d: Vec<f64>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The pruned model a prediction or plan is for.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Parameters before pruning.
    #[arg(long)]
    pub n0: f64,
    /// Pruning rate, in (0, 1).
    #[arg(long)]
    pub rho: f64,
    /// Loss of the unpruned model.
    #[arg(long)]
    pub l0: f64,
}

impl ModelArgs {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.n0.is_finite() && self.n0 > 0.0,
            "--n0 {} must be a positive parameter count",
            self.n0
        );
        anyhow::ensure!(
            self.rho > 0.0 && self.rho < 1.0,
            "--rho {} must be strictly between 0 and 1",
            self.rho
        );
        anyhow::ensure!(self.l0.is_finite() && self.l0 > 0.0, "--l0 {} must be a positive loss", self.l0);
        Ok(())
    }

    /// The law variables at `d` tokens (`loss` unused).
    pub fn vars(&self, d: f64) -> [f64; 6] {
        [self.n0, self.n0 * (1.0 - self.rho), self.rho, self.l0, d, 0.0]
    }

    /// How far this model (and the token counts `ds`) lie outside the fit's domain, one message per
    /// variable and token count; each is also printed to stderr as a warning. Empty for fit files without
    /// a domain (written before it was recorded) and for questions inside it.
    pub fn outside(&self, file: &FitFile, ds: &[f64]) -> Vec<String> {
        let Some(domain) = &file.domain else { return Vec::new() };
        let mut out = domain.outside(self.n0, self.rho, None);
        out.extend(ds.iter().flat_map(|&d| domain.outside(domain.n0[0], domain.rho[0], Some(d))));
        for m in &out {
            eprintln!("warning: outside the fitted domain: {m}; the law is extrapolating");
        }
        out
    }
}

#[derive(Serialize)]
struct Prediction {
    d: f64,
    loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lo: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hi: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.model.check()?;
    if let Some(bad) = args.d.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
        anyhow::bail!("--d {bad} must be a positive number of tokens");
    }
    let file = FitFile::read(&args.fit)?;
    let law = file.law()?;
    let params = file.values();
    let outside = args.model.outside(&file, &args.d);
    let mut predictions = Vec::with_capacity(args.d.len());
    for &d in &args.d {
        let vars = args.model.vars(d);
        let loss = law.predict(&params, &vars);
        anyhow::ensure!(loss.is_finite(), "the law predicts {loss} at d = {d}: not a finite loss");
        let (lo, hi) = match &file.bootstrap {
            Some(b) => {
                let draws: Vec<f64> =
                    b.draws.iter().map(|p| law.predict(p, &vars)).filter(|v| v.is_finite()).collect();
                let (lo, hi) = interval(&draws, b.level)?;
                (Some(lo), Some(hi))
            }
            None => (None, None),
        };
        predictions.push(Prediction { d, loss, lo, hi });
    }
    if args.json {
        let out = serde_json::json!({ "predictions": predictions, "outside_domain": outside });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "law {} for n0 = {:e}, rho = {}, l0 = {}",
        file.law, args.model.n0, args.model.rho, args.model.l0
    );
    let rows: Vec<Vec<String>> = predictions
        .iter()
        .map(|p| vec![num(Some(p.d), 4), num(Some(p.loss), 5), num(p.lo, 5), num(p.hi, 5)])
        .collect();
    println!("{}", render(&["d", "loss", "lo", "hi"], &rows));
    Ok(())
}
