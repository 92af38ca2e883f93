//! Arguments shared by the law subcommands (`fit`, `compare`): which curve files, which law (a built-in, or one
//! of the user's own with `--law-expr`), how to fit.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use p2law_law::curves::{read_curves, CurveFormat};
use p2law_law::{Curves, FitOptions, Law};

/// `--data FILE…` and an optional format override.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// Curve files (CSV or JSONL with columns run,n0,rho,l0,d,loss); several are merged.
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pub data: Vec<PathBuf>,
    /// Read every file as this format instead of guessing from its extension (csv, jsonl).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<CurveFormat>,
}

impl DataArgs {
    pub fn load(&self) -> anyhow::Result<Curves> {
        Ok(read_curves(&self.data, self.format)?)
    }
}

/// `--law NAME` or `--law-expr EXPR` with `--param NAME=LO:HI` ranges.
#[derive(Args, Debug)]
pub struct LawArgs {
    /// A built-in law: p2, p2-no-size, p2-additive, p2-pruned-size, chinchilla.
    #[arg(long, conflicts_with = "law_expr", value_name = "NAME")]
    pub law: Option<String>,
    #[command(flatten)]
    pub expr: LawExprArgs,
    /// Bound a parameter in every fit, e.g. --bound beta=0:2 or --bound dc=0: (an empty side is open;
    /// repeatable). Replaces a built-in law's bound for that parameter.
    #[arg(long = "bound", value_name = "NAME=LO:HI")]
    pub bounds: Vec<String>,
}

impl LawArgs {
    /// The chosen law (`p2` when neither flag is given) with its `--bound`s; warnings about a `--law-expr`
    /// go to stderr.
    pub fn resolve(&self) -> anyhow::Result<Law> {
        let mut law = match self.expr.resolve()? {
            Some(law) => law,
            None => Law::builtin(self.law.as_deref().unwrap_or("p2"))?,
        };
        law.set_bounds(&self.bounds.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(law)
    }
}

/// `--law-expr EXPR` with `--param NAME=LO:HI` ranges: a law of the user's own (`fit`, `compare`).
#[derive(Args, Debug)]
pub struct LawExprArgs {
    /// Your own law in the expression language, e.g. "l0 + a/d^b + e" (variables n0 n rho l0 d; functions
    /// ln, log10, log2, exp, sqrt; every other name is a parameter). `compare` fits it beside the built-ins.
    #[arg(long, value_name = "EXPR")]
    pub law_expr: Option<String>,
    /// Start range of a parameter of --law-expr, e.g. --param b=0.1:1 (repeatable; default 0:1).
    #[arg(long = "param", value_name = "NAME=LO:HI", requires = "law_expr")]
    pub params: Vec<String>,
}

impl LawExprArgs {
    /// The `--law-expr` law, if given. Each of its [`Law::lint`] warnings (a parameter named like a misspelt
    /// variable) is printed to stderr as one line starting `warning: `; they do not stop the command.
    pub fn resolve(&self) -> anyhow::Result<Option<Law>> {
        let Some(expr) = &self.law_expr else { return Ok(None) };
        let ranges: Vec<&str> = self.params.iter().map(String::as_str).collect();
        let law = Law::from_spec(expr, &ranges)?;
        for warning in law.lint() {
            eprintln!("warning: {warning}");
        }
        Ok(Some(law))
    }
}

/// Multi-start settings.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// Number of starting points in the multi-start grid.
    #[arg(long, default_value_t = FitOptions::default().starts)]
    pub starts: usize,
    /// Seed for the start grid and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fit without any parameter bounds (the built-ins' bounds keep β > 0 and D_C ≥ 0, so that the loss
    /// falls with tokens and levels off; this reproduces fits made before bounds existed).
    #[arg(long)]
    pub unbounded: bool,
}

impl FitArgs {
    /// `law` as these settings fit it (without its bounds under `--unbounded`).
    pub fn law(&self, law: Law) -> Law {
        if self.unbounded {
            law.unbounded()
        } else {
            law
        }
    }

    pub fn options(&self) -> anyhow::Result<FitOptions> {
        anyhow::ensure!(self.starts >= 1, "--starts must be at least 1");
        Ok(FitOptions { starts: self.starts, seed: self.seed, ..FitOptions::default() })
    }
}

/// Parses a `--holdout` spec into the library type.
pub fn parse_holdout(spec: &str) -> anyhow::Result<p2law_law::holdout::Holdout> {
    p2law_law::holdout::Holdout::parse(spec).with_context(|| "invalid --holdout")
}
