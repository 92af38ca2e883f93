//! Token-budget plans for every pruned run, from the pooled `p2` fit ([`p2law_law::plan`]).
//!
//! Thresholds default to the scale of the data rather than of billion-token runs: `per` is a tenth of the
//! largest `d` observed (rounded down to 1, 2 or 5 × 10^k tokens), `min_gain` 1e-3 loss per `per` tokens, and
//! `within` 0.01 of the plateau. So a curve spanning 1e5–1e7 tokens asks "does the next 1e6 tokens still buy
//! 0.001 of loss?", not a question about 1e9 tokens it never saw.

use p2law_law::plan::{plan, PlanQuery};
use p2law_law::{Curves, Law};
use serde::Serialize;

/// The plan thresholds (see the module docs for the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanSettings {
    pub min_gain: f64,
    pub per: f64,
    pub within: f64,
}

impl PlanSettings {
    /// The defaults for curves whose largest `d` is `max_d`.
    pub fn for_data(max_d: f64) -> PlanSettings {
        PlanSettings { min_gain: 1e-3, per: round_down_125(max_d / 10.0).max(1.0), within: 1e-2 }
    }
}

/// Thresholds given by the user; each `None` keeps the data-derived default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlanOverrides {
    pub min_gain: Option<f64>,
    pub per: Option<f64>,
    pub within: Option<f64>,
}

impl PlanOverrides {
    /// `defaults` with the given thresholds replaced.
    pub fn apply(&self, defaults: PlanSettings) -> PlanSettings {
        PlanSettings {
            min_gain: self.min_gain.unwrap_or(defaults.min_gain),
            per: self.per.unwrap_or(defaults.per),
            within: self.within.unwrap_or(defaults.within),
        }
    }
}

/// The largest 1, 2 or 5 × 10^k not above `x` (`x` itself when not positive and finite).
fn round_down_125(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let mag = 10f64.powf(x.log10().floor());
    [5.0, 2.0, 1.0].iter().map(|m| m * mag).find(|&v| v <= x * (1.0 + 1e-12)).unwrap_or(mag)
}

/// One run's plan, or why there is none.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub run: String,
    pub method: Option<String>,
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    /// The largest `d` the run was observed at, and its loss there.
    pub observed_d: f64,
    pub observed_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_min_gain: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_within: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plateau_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Plans for every run of `curves` from `law` at `params`.
pub fn plan_runs(law: &Law, params: &[f64], curves: &Curves, s: &PlanSettings) -> Vec<RunPlan> {
    let by_run = curves.points_by_run();
    curves
        .runs
        .iter()
        .zip(&by_run)
        .map(|(run, idx)| {
            let last = idx.last().map(|&i| curves.points[i]);
            let q = PlanQuery {
                min_gain: s.min_gain,
                per: s.per,
                within: s.within,
                ..PlanQuery::new(run.n0, run.rho, run.l0)
            };
            let result = plan(law, params, &q);
            RunPlan {
                run: run.name.clone(),
                method: run.method.clone(),
                n0: run.n0,
                rho: run.rho,
                l0: run.l0,
                observed_d: last.map_or(f64::NAN, |p| p.d()),
                observed_loss: last.map_or(f64::NAN, |p| p.loss()),
                d_min_gain: result.as_ref().ok().map(|p| p.d_min_gain),
                d_within: result.as_ref().ok().map(|p| p.d_within),
                plateau_loss: result.as_ref().ok().map(|p| p.plateau_loss),
                error: result.err().map(|e| e.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2law_law::synth::{generate, SynthSpec};

    #[test]
    fn defaults_follow_the_data_scale() {
        assert_eq!(PlanSettings::for_data(1e7).per, 1e6);
        assert_eq!(PlanSettings::for_data(3.7e6).per, 2e5);
        assert_eq!(PlanSettings::for_data(5e10).per, 5e9);
        assert_eq!(round_down_125(1.0), 1.0);
        let o = PlanOverrides { within: Some(0.05), ..Default::default() }.apply(PlanSettings::for_data(1e7));
        assert_eq!((o.min_gain, o.per, o.within), (1e-3, 1e6, 0.05));
    }

    #[test]
    fn plans_every_run_from_the_true_law() {
        let spec = SynthSpec { points_per_run: 4, ..Default::default() };
        let curves = generate(&spec);
        let law = Law::builtin("p2").unwrap();
        let plans = plan_runs(&law, &spec.params, &curves, &PlanSettings::for_data(spec.d_max));
        assert_eq!(plans.len(), 12);
        for p in &plans {
            assert!(p.error.is_none(), "{:?}", p.error);
            assert!(p.plateau_loss.unwrap() > p.l0 && p.d_within.unwrap() > 0.0);
            assert_eq!(p.observed_d, spec.d_max);
        }
    }
}
