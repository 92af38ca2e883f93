//! Fit a law and score it, on all points or on a holdout split: the step `p2law fit`, `p2law compare` and
//! `p2law report` share.
//!
//! Input: a [`Law`], [`Curves`], an optional [`Holdout`] and [`FitOptions`]. Output: an [`Evaluation`] with the
//! [`Fit`] (on the fit side of the split, or every point), [`FitMetrics`] (fit set, and held-out set when split)
//! and the split itself.
//!
//! ```
//! use p2law_law::{evaluate::evaluate, synth, FitOptions, Holdout, Law};
//! let curves = synth::generate(&synth::SynthSpec { points_per_run: 10, ..Default::default() });
//! let law = Law::builtin("p2").unwrap();
//! let holdout = Holdout::parse("data:0.2").unwrap(); // the last 2 of each run's 10 points
//! let ev = evaluate(&law, &curves, Some(&holdout), &FitOptions { starts: 16, ..Default::default() }).unwrap();
//! assert!(ev.metrics.holdout.unwrap().mape < 0.02);
//! assert_eq!(ev.fit_points(&curves).len(), 12 * 8);
//! assert_eq!(ev.held_points().unwrap().len(), 12 * 2);
//! ```

use std::collections::BTreeMap;

use crate::baselines::{baselines, BaselineScore};
use crate::curves::{Curves, Point};
use crate::fit::{fit, Fit, FitError, FitOptions};
use crate::fit_file::FitMetrics;
use crate::holdout::{Holdout, HoldoutError, Split};
use crate::laws::Law;
use crate::metrics::{Metrics, MetricsError};

/// A fitted and scored law.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub fit: Fit,
    pub metrics: FitMetrics,
    /// The split, when a holdout was given.
    pub split: Option<Split>,
    /// With a split: the held-out scores of the baselines that apply to it ([`crate::baselines`]).
    pub baselines: BTreeMap<String, BaselineScore>,
}

/// Why a law could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Holdout(#[from] HoldoutError),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error("scoring the {set} set: {source}")]
    Score { set: &'static str, source: MetricsError },
}

impl Evaluation {
    /// The points the law was fitted on.
    pub fn fit_points<'a>(&'a self, curves: &'a Curves) -> &'a [Point] {
        self.split.as_ref().map_or(&curves.points, |s| &s.fit)
    }

    /// The held-out points, when split.
    pub fn held_points(&self) -> Option<&[Point]> {
        self.split.as_ref().map(|s| s.held.as_slice())
    }
}

/// Fits `law` on `curves` (the fit side of `holdout`, when given) and scores it on both sides.
pub fn evaluate(
    law: &Law,
    curves: &Curves,
    holdout: Option<&Holdout>,
    opts: &FitOptions,
) -> Result<Evaluation, EvaluateError> {
    let split = holdout.map(|h| h.split(curves)).transpose()?;
    let fit_points = split.as_ref().map_or(curves.points.as_slice(), |s| &s.fit);
    let mut fitted = fit(law, fit_points, opts)?;
    if opts.diagnose {
        // The same checks as `fit`'s, with the runs' names in the messages.
        let name = |i: usize| curves.runs.get(i).map_or_else(|| format!("#{i}"), |r| r.name.clone());
        let dx = crate::diagnose::diagnose_named(law, &fitted.params, fit_points, &name);
        (fitted.warnings, fitted.condition) = (dx.warnings, dx.condition);
    }
    let score = |set, points: &[Point]| {
        score(law, &fitted.params, points).map_err(|source| EvaluateError::Score { set, source })
    };
    let metrics = FitMetrics {
        fit: score("fit", fit_points)?,
        holdout: split.as_ref().map(|s| score("held-out", &s.held)).transpose()?,
    };
    let baselines = split.as_ref().map(|s| baselines(curves, &s.is_held)).unwrap_or_default();
    Ok(Evaluation { fit: fitted, metrics, split, baselines })
}

/// Metrics of `params` on `points`.
pub fn score(law: &Law, params: &[f64], points: &[Point]) -> Result<Metrics, MetricsError> {
    Metrics::of(points, |p| law.predict(params, &p.vars))
}
