//! Forecasting a post-training run while it runs (`p2law watch`): how low will it get, and when do more
//! tokens stop paying?
//!
//! Input: the points of one run so far (`n0`, `rho`, `l0` fixed; `d` growing), optionally a prior
//! ([`Prior`]: a law fitted on other runs, with bootstrap draws), the run's planned token count and the
//! gain threshold. Output: a [`Forecast`]: the loss predicted at the planned tokens and on the plateau, with
//! intervals, and the tokens after which the next `per` tokens gain less than `min_gain`.
//!
//! - **With a prior**, the prior's shape is kept: its nonlinear parameters (the exponents) are pinned and
//!   only its linear ones (for `p2`: `nc`, `dc`, `e`, the run's amplitude and offset) are refitted to this
//!   run, within their bounds. A few points suffice. Intervals: the same refit under each of the prior's
//!   bootstrap draws (shape uncertainty), percentiles of the predictions.
//! - **Without one**, the run is fitted alone with the single-run law [`SINGLE_RUN_LAW`]
//!   (`l0 + b/d^beta + e`, `b ≥ 0`, `beta ∈ [0, 2]`), which the forecast says is identified by this run
//!   only. Intervals: a residual bootstrap (residuals resampled onto the fitted curve, refitted).
//!
//! ```
//! use p2law_law::watch::{forecast, WatchQuery};
//! use p2law_law::Point;
//! // A run falling as 3 + 2 d^-0.3 + 0.1, observed up to 1e6 tokens, planned for 1e8.
//! let pts: Vec<Point> = (1..=12)
//!     .map(|i| { let d = 1e6 * i as f64 / 12.0; Point { run: 0, vars: [1e7, 8e6, 0.2, 3.0, d, 3.1 + 2.0 * d.powf(-0.3)] } })
//!     .collect();
//! let f = forecast(&pts, None, &WatchQuery { planned: Some(1e8), ..Default::default() }).unwrap();
//! assert!((f.final_loss.unwrap() - (3.1 + 2.0 * 1e8f64.powf(-0.3))).abs() < 1e-3);
//! ```

use p2law_formats::SplitMix64;
use serde::Serialize;

use crate::bootstrap::interval;
use crate::curves::Point;
use crate::fit::{fit, FitError, FitOptions};
use crate::laws::{Bound, Law};
use crate::plan::{plan, PlanQuery};
use crate::var::Var;

/// The law a run is fitted with when there is no prior.
pub const SINGLE_RUN_LAW: &str = "l0 + b/d^beta + e";

/// A law fitted on other runs.
#[derive(Debug, Clone)]
pub struct Prior {
    pub law: Law,
    pub params: Vec<f64>,
    pub draws: Vec<Vec<f64>>,
}

/// What to forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchQuery {
    /// The run's planned post-training tokens (the loss there is forecast), if known.
    pub planned: Option<f64>,
    /// Gain threshold: more tokens stop paying when the next `per` gain less than this.
    pub min_gain: f64,
    pub per: f64,
    /// Draws used for intervals (prior draws, or residual-bootstrap replicates).
    pub replicates: usize,
}

impl Default for WatchQuery {
    fn default() -> Self {
        WatchQuery { planned: None, min_gain: 1e-3, per: 1e9, replicates: 50 }
    }
}

/// A forecast from the points so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub points: usize,
    pub last_d: f64,
    pub last_loss: f64,
    /// `prior` (shape from other runs) or `single-run`.
    pub basis: String,
    pub params: Vec<(String, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_d: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_interval: Option<[f64; 2]>,
    pub plateau: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plateau_interval: Option<[f64; 2]>,
    /// Tokens after which the next `per` tokens gain less than `min_gain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_min_gain: Option<f64>,
    /// What the forecast cannot know, and the fit's warnings.
    pub notes: Vec<String>,
}

/// Why no forecast.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchError {
    #[error("watch: {have} points so far; a forecast needs at least {need}")]
    TooFew { have: usize, need: usize },
    #[error("watch: the points belong to {0} runs; follow one run")]
    SeveralRuns(usize),
    #[error("watch: {0}")]
    Fit(#[from] FitError),
}

/// `law` with every nonlinear parameter pinned at `values`.
fn pinned(law: &Law, values: &[f64]) -> Law {
    let linear = law.expr.linear_mask();
    let mut law = law.clone();
    for ((p, &v), lin) in law.params.iter_mut().zip(values).zip(linear) {
        if !lin {
            p.bound = Bound { lo: v, hi: v };
            (p.lo, p.hi) = (v, v);
        }
    }
    law
}

fn quiet() -> FitOptions {
    FitOptions { starts: 9, polish: 1, diagnose: false, ..Default::default() }
}

/// Forecasts the run of `points` (see the module docs).
pub fn forecast(points: &[Point], prior: Option<&Prior>, q: &WatchQuery) -> Result<Forecast, WatchError> {
    let mut runs: Vec<usize> = points.iter().map(|p| p.run).collect();
    runs.sort_unstable();
    runs.dedup();
    if runs.len() > 1 {
        return Err(WatchError::SeveralRuns(runs.len()));
    }
    let mut points = points.to_vec();
    points.sort_by(|a, b| a.d().total_cmp(&b.d()));
    let (law, basis) = match prior {
        Some(p) => (pinned(&p.law, &p.params), "prior"),
        None => {
            let mut law = Law::from_spec(SINGLE_RUN_LAW, &["b=0:10", "beta=0.05:1", "e=-1:1"])
                .expect("the single-run law parses");
            law.set_bounds(&["b=0:", "beta=0:2"]).expect("its bounds parse");
            (law, "single-run")
        }
    };
    let free = law.params.iter().filter(|p| p.bound.lo != p.bound.hi).count();
    let need = free + 2;
    if points.len() < need {
        return Err(WatchError::TooFew { have: points.len(), need });
    }
    let main = fit(&law, &points, &FitOptions { diagnose: true, ..quiet() })?;
    let last = points.last().expect("non-empty");
    let vars_at = |d: f64| {
        let mut v = last.vars;
        v[Var::D as usize] = d;
        v
    };
    let predict = |params: &[f64], d: f64| law.predict(params, &vars_at(d));
    let pq = PlanQuery {
        min_gain: q.min_gain,
        per: q.per,
        ..PlanQuery::new(last.get(Var::N0), last.get(Var::Rho).max(1e-12), last.get(Var::L0))
    };
    // Predictions under other parameter vectors: each replicate refits the run's points with their residuals
    // resampled (the run's own noise), under a prior draw's shape when there is a prior (the shape's
    // uncertainty). With a prior alone, a run's noise would never widen the interval.
    let fitted: Vec<f64> = points.iter().map(|p| predict(&main.params, p.d())).collect();
    let resid: Vec<f64> = points.iter().zip(&fitted).map(|(p, f)| p.loss() - f).collect();
    let mut rng = SplitMix64::new(0x77a7c4);
    let mut resample = || -> Vec<Point> {
        points
            .iter()
            .zip(&fitted)
            .map(|(p, f)| {
                let mut v = p.vars;
                let k = (rng.uniform() * resid.len() as f64) as usize % resid.len();
                v[Var::Loss as usize] = f + resid[k];
                Point { vars: v, ..*p }
            })
            .collect()
    };
    let replicate_params: Vec<Vec<f64>> = match prior {
        Some(p) => p
            .draws
            .iter()
            .take(q.replicates)
            .filter_map(|draw| fit(&pinned(&p.law, draw), &resample(), &quiet()).ok().map(|f| f.params))
            .collect(),
        None => (0..q.replicates)
            .filter_map(|_| fit(&law, &resample(), &quiet()).ok().map(|f| f.params))
            .collect(),
    };
    let spread = |values: Vec<f64>| {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        interval(&v, 0.95).ok().filter(|_| v.len() >= 10).map(|(lo, hi)| [lo, hi])
    };
    let plateau_of = |params: &[f64]| plan(&law, params, &pq).map(|p| p.plateau_loss).ok();
    let final_loss = q.planned.map(|d| predict(&main.params, d));
    let final_interval =
        q.planned.and_then(|d| spread(replicate_params.iter().map(|p| predict(p, d)).collect()));
    let main_plan = plan(&law, &main.params, &pq).ok();
    let plateau = main_plan.map_or_else(|| predict(&main.params, 1e40), |p| p.plateau_loss);
    let plateau_interval = spread(replicate_params.iter().filter_map(|p| plateau_of(p)).collect());
    // With a prior, its pinned exponents sit "on their bounds" and a single run cannot separate its
    // constant terms: expected, so only the findings that say the forecast is unphysical are kept.
    let mut notes: Vec<String> = main
        .warnings
        .iter()
        .filter(|w| prior.is_none() || w.kind.is_unphysical())
        .map(|w| format!("{}: {}", w.kind.name(), w.message))
        .collect();
    if prior.is_none() {
        notes.push(format!(
            "fitted on this run alone ({SINGLE_RUN_LAW}): its exponent and plateau rest on {} points; a prior fit (--fit) of other runs pins the shape",
            points.len()
        ));
    }
    if let Some(d) = q.planned.filter(|d| *d > 10.0 * last.d()) {
        notes.push(format!("the planned {d:.3e} tokens are {:.0}× the tokens seen so far", d / last.d()));
    }
    Ok(Forecast {
        points: points.len(),
        last_d: last.d(),
        last_loss: last.loss(),
        basis: basis.to_string(),
        params: main.names.iter().cloned().zip(main.params.iter().copied()).collect(),
        planned_d: q.planned,
        final_loss,
        final_interval,
        plateau,
        plateau_interval,
        d_min_gain: main_plan.map(|p| p.d_min_gain),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, SynthSpec};

    #[test]
    fn the_error_shrinks_as_the_run_grows() {
        // One synthetic run (n0 3e8, rho 0.35) with noise; its true loss at the end is known.
        let spec = SynthSpec {
            n0s: vec![3e8],
            rhos: vec![0.35],
            points_per_run: 40,
            noise_sd: 0.003,
            seed: 5,
            ..SynthSpec::default()
        };
        let c = generate(&spec);
        let law = Law::builtin("p2").unwrap();
        let end = c.points.last().unwrap();
        let truth = law.predict(&spec.params, &end.vars);
        let q = WatchQuery { planned: Some(end.d()), per: 1e8, ..Default::default() };
        let errors: Vec<f64> = [0.3, 0.6, 0.9]
            .iter()
            .map(|share| {
                let n = (share * c.points.len() as f64) as usize;
                let f = forecast(&c.points[..n], None, &q).unwrap();
                (f.final_loss.unwrap() - truth).abs()
            })
            .collect();
        assert!(errors[2] < errors[0], "{errors:?}");
        assert!(errors[2] < 0.01, "{errors:?}");

        // With a prior (the truth's shape and draws around it), 30 % of the run already forecasts well.
        let draws: Vec<Vec<f64>> = (0..20)
            .map(|i| {
                let mut p = spec.params.to_vec();
                p[5] *= 1.0 + 0.01 * (i as f64 - 10.0) / 10.0;
                p
            })
            .collect();
        let prior = Prior { law: law.clone(), params: spec.params.to_vec(), draws };
        let n = (0.3 * c.points.len() as f64) as usize;
        let f = forecast(&c.points[..n], Some(&prior), &q).unwrap();
        let [lo, hi] = f.final_interval.unwrap();
        assert!((f.final_loss.unwrap() - truth).abs() < 0.01, "{f:?}");
        assert!(lo <= truth + 0.005 && truth - 0.005 <= hi, "{truth} vs [{lo}, {hi}]");
        assert_eq!(f.basis, "prior");
    }

    #[test]
    fn a_prior_with_one_shape_still_carries_the_runs_noise() {
        // Every prior draw is the truth itself: the shape is certain, and only the run's noise is left. The
        // interval must still have the width that noise gives the refitted terms, not collapse to a point.
        let spec = SynthSpec {
            n0s: vec![3e8],
            rhos: vec![0.25],
            points_per_run: 30,
            noise_sd: 0.01,
            seed: 11,
            ..SynthSpec::default()
        };
        let c = generate(&spec);
        let law = Law::builtin("p2").unwrap();
        let end = c.points.last().unwrap();
        let truth = law.predict(&spec.params, &end.vars);
        let prior =
            Prior { law: law.clone(), params: spec.params.to_vec(), draws: vec![spec.params.to_vec(); 40] };
        let q = WatchQuery { planned: Some(end.d()), per: 1e8, ..Default::default() };
        let f = forecast(&c.points[..10], Some(&prior), &q).unwrap();
        let [lo, hi] = f.final_interval.unwrap();
        assert!(hi - lo > 1e-3, "[{lo}, {hi}]");
        assert!(lo - 0.01 <= truth && truth <= hi + 0.01, "{truth} vs [{lo}, {hi}]");
    }

    #[test]
    fn too_few_points_and_several_runs_are_errors() {
        let pt = |run, d: f64| Point { run, vars: [1e7, 8e6, 0.2, 3.0, d, 3.5] };
        assert!(matches!(
            forecast(&[pt(0, 1.0), pt(0, 2.0)], None, &WatchQuery::default()),
            Err(WatchError::TooFew { .. })
        ));
        let two = [pt(0, 1.0), pt(1, 2.0), pt(0, 3.0), pt(0, 4.0), pt(0, 5.0), pt(0, 6.0)];
        assert!(matches!(forecast(&two, None, &WatchQuery::default()), Err(WatchError::SeveralRuns(2))));
    }
}
