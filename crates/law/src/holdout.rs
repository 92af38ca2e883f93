//! Generalization splits (`--holdout SPEC`, `docs/spec/law.md`): which points a law is fitted on and which
//! it is scored on.
//!
//! | spec | held out |
//! |---|---|
//! | `data:F` | the last `F` of each run's points by `d` (`0 < F < 1`) |
//! | `largest-n0` | every run whose `n0` equals the largest `n0` |
//! | `highest-rho` | every run whose `rho` equals the highest `rho` |
//! | `where:EXPR` | every point where the predicate `EXPR` (over `n0 n rho l0 d loss`) is non-zero |
//!
//! `data:F` rounds per run: a run of `k ≥ 2` points holds out `round(F·k)` points (halves round away from
//! zero), but at least 1 and at most `k - 1`, so every run keeps a point to fit and shows one to score; a run
//! of one point is kept whole in the fit set. "Equals the largest" uses a relative tolerance of 1e-6, so
//! `7e9` and `7.000000001e9` are one size. A split that leaves either side empty is an error.
//!
//! ```
//! use p2law_law::{holdout::Holdout, Curves, Point, Run};
//! let pt = |run, d| Point { run, vars: [1e9, 5e8, 0.5, 2.0, d, 3.0] };
//! let curves = Curves {
//!     runs: vec![Run { name: "a".into(), n0: 1e9, rho: 0.5, l0: 2.0, ..Run::default() }],
//!     points: (1..=10).map(|i| pt(0, i as f64)).collect(),
//! };
//! let split = Holdout::parse("data:0.2").unwrap().split(&curves).unwrap();
//! assert_eq!(split.held.iter().map(|p| p.d()).collect::<Vec<_>>(), [9.0, 10.0]);
//! assert_eq!(split.fit.len(), 8);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::curves::{Curves, Point};
use crate::expr::Expr;

/// Relative tolerance for "equal to the maximum" in `largest-n0` / `highest-rho`.
const MAX_REL_TOL: f64 = 1e-6;

/// A parsed `--holdout` spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Holdout {
    /// `data:F`: the last fraction `F` of each run's points by `d`.
    Data(f64),
    /// `largest-n0`: runs at the largest `n0`.
    LargestN0,
    /// `highest-rho`: runs at the highest `rho`.
    HighestRho,
    /// `where:EXPR`: points where the parameter-free predicate is non-zero.
    Where(Expr),
}

/// Why a spec could not be parsed or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HoldoutError {
    #[error(
        "holdout {spec:?}: unknown spec; use data:F (e.g. data:0.2), largest-n0, highest-rho or where:EXPR"
    )]
    Unknown { spec: String },
    #[error("holdout {spec:?}: the fraction must be a number strictly between 0 and 1 (e.g. data:0.2)")]
    BadFraction { spec: String },
    #[error("holdout {spec:?}: {source}")]
    Expr { spec: String, source: crate::expr::ExprError },
    #[error("holdout {spec:?}: the predicate may only use the columns n0, n, rho, l0, d, loss; unknown names: {}", names.join(", "))]
    PredicateParams { spec: String, names: Vec<String> },
    #[error("holdout {spec:?}: predicate is not a number at point {index} (run {run:?}, d = {d})")]
    PredicateNan { spec: String, index: usize, run: String, d: f64 },
    #[error("holdout {spec}: nothing left to fit on ({held} of {total} points held out)")]
    NoFitData { spec: String, held: usize, total: usize },
    #[error("holdout {spec}: holds out no point (every run has fewer than 2 points, or nothing matches)")]
    NothingHeld { spec: String },
}

/// A split of a [`Curves`]' points. Points keep their `run` index into the original `Curves::runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Points to fit on, in the curves' order.
    pub fit: Vec<Point>,
    /// Points to score on, in the curves' order.
    pub held: Vec<Point>,
    /// `is_held[i]` for `curves.points[i]`.
    pub is_held: Vec<bool>,
}

impl Holdout {
    /// Parses a spec (`data:0.2`, `largest-n0`, `highest-rho`, `where:EXPR`).
    pub fn parse(spec: &str) -> Result<Holdout, HoldoutError> {
        let spec = spec.trim();
        if let Some(f) = spec.strip_prefix("data:") {
            return match f.trim().parse::<f64>() {
                Ok(f) if f > 0.0 && f < 1.0 => Ok(Holdout::Data(f)),
                _ => Err(HoldoutError::BadFraction { spec: spec.into() }),
            };
        }
        if let Some(src) = spec.strip_prefix("where:") {
            let expr = Expr::parse(src).map_err(|source| HoldoutError::Expr { spec: spec.into(), source })?;
            if !expr.params().is_empty() {
                return Err(HoldoutError::PredicateParams {
                    spec: spec.into(),
                    names: expr.params().to_vec(),
                });
            }
            return Ok(Holdout::Where(expr));
        }
        match spec {
            "largest-n0" => Ok(Holdout::LargestN0),
            "highest-rho" => Ok(Holdout::HighestRho),
            _ => Err(HoldoutError::Unknown { spec: spec.into() }),
        }
    }

    /// `mask[i]` is true when `curves.points[i]` is held out. Errors when either side would be empty.
    pub fn held_mask(&self, curves: &Curves) -> Result<Vec<bool>, HoldoutError> {
        let mask = match self {
            Holdout::Data(f) => last_fraction(curves, *f),
            Holdout::LargestN0 => at_max(curves, |p| p.get(crate::Var::N0)),
            Holdout::HighestRho => at_max(curves, |p| p.get(crate::Var::Rho)),
            Holdout::Where(expr) => self.predicate(curves, expr)?,
        };
        let held = mask.iter().filter(|&&h| h).count();
        if held == 0 {
            return Err(HoldoutError::NothingHeld { spec: self.to_string() });
        }
        if held == mask.len() {
            return Err(HoldoutError::NoFitData { spec: self.to_string(), held, total: mask.len() });
        }
        Ok(mask)
    }

    /// Splits the points into fit and held-out sets.
    pub fn split(&self, curves: &Curves) -> Result<Split, HoldoutError> {
        let is_held = self.held_mask(curves)?;
        let (mut fit, mut held) = (Vec::new(), Vec::new());
        for (p, &h) in curves.points.iter().zip(&is_held) {
            if h {
                held.push(*p)
            } else {
                fit.push(*p)
            }
        }
        Ok(Split { fit, held, is_held })
    }

    fn predicate(&self, curves: &Curves, expr: &Expr) -> Result<Vec<bool>, HoldoutError> {
        curves
            .points
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let v = expr.eval(&p.vars, &[]);
                if v.is_nan() {
                    let run = curves.runs.get(p.run).map(|r| r.name.clone()).unwrap_or_default();
                    return Err(HoldoutError::PredicateNan { spec: self.to_string(), index, run, d: p.d() });
                }
                Ok(v != 0.0)
            })
            .collect()
    }
}

/// Per run: the last `round(f·k)` points by `d`, clamped to `1..=k-1`; none for a one-point run.
fn last_fraction(curves: &Curves, f: f64) -> Vec<bool> {
    let mut mask = vec![false; curves.points.len()];
    for group in curves.points_by_run() {
        let k = group.len();
        if k < 2 {
            continue;
        }
        let held = ((f * k as f64).round() as usize).clamp(1, k - 1);
        for &i in &group[k - held..] {
            mask[i] = true;
        }
    }
    mask
}

/// Points whose `key` is within the relative tolerance of the maximum `key`.
fn at_max(curves: &Curves, key: impl Fn(&Point) -> f64) -> Vec<bool> {
    let max = curves.points.iter().map(&key).fold(f64::NEG_INFINITY, f64::max);
    curves.points.iter().map(|p| (max - key(p)).abs() <= MAX_REL_TOL * max.abs()).collect()
}

impl FromStr for Holdout {
    type Err = HoldoutError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Holdout::parse(s)
    }
}

/// Prints the spec back in the form [`Holdout::parse`] reads.
impl fmt::Display for Holdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holdout::Data(x) => write!(f, "data:{x}"),
            Holdout::LargestN0 => f.write_str("largest-n0"),
            Holdout::HighestRho => f.write_str("highest-rho"),
            Holdout::Where(e) => write!(f, "where:{}", e.source()),
        }
    }
}

#[cfg(test)]
mod tests;
