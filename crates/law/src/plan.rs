//! Token-budget planning: for a fitted law and a pruned model (`n0`, `rho`, `l0`), how many post-training
//! tokens are worth spending.
//!
//! - `d_min_gain`: the smallest `d` at which the next `per` tokens (default 1e9) lower the predicted loss by
//!   less than `min_gain`: `L(d) − L(d + per) < min_gain`;
//! - `d_within`: the smallest `d` at which the predicted loss is within `within` of its plateau:
//!   `L(d) − L(∞) < within`;
//! - `plateau_loss`: `L(∞)`, the law evaluated at `d` = 1e40 tokens, checked to have settled (it must agree
//!   with `d` = 1e35 to within `within`/1000), else there is no usable plateau and the plan is an error.
//!
//! Both searches assume the loss falls monotonically with `d` (true of every built-in law with positive
//! exponents): they scan `d` = 1, 2, 4, … tokens up to 1e40 for the first `d` meeting the condition, then
//! bisect (in log space) to 1e-9 relative. With a bootstrap, each replicate's parameters are planned the
//! same way and percentile intervals come from the replicates that reach both targets.
//!
//! ```
//! use p2law_law::{plan::{plan, PlanQuery}, synth::SynthSpec, Law};
//! let law = Law::builtin("p2").unwrap();
//! let p = plan(&law, &SynthSpec::default().params, &PlanQuery::new(1e9, 0.5, 2.9)).unwrap();
//! assert!(p.d_min_gain > 1e9 && p.d_within > p.d_min_gain / 100.0 && p.plateau_loss > 2.9);
//! ```

use crate::bootstrap::{interval, BootstrapError};
use crate::laws::Law;

/// The largest `d` searched, and where the plateau is read.
const D_MAX: f64 = 1e40;

/// What to plan for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanQuery {
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    /// Loss decrease over the next `per` tokens below which more training is not worth it.
    pub min_gain: f64,
    /// Token step for `min_gain` (default 1e9).
    pub per: f64,
    /// Distance to the plateau counted as "there".
    pub within: f64,
}

impl PlanQuery {
    /// A query with the defaults `min_gain` = 1e-3, `per` = 1e9 tokens, `within` = 1e-2.
    pub fn new(n0: f64, rho: f64, l0: f64) -> Self {
        PlanQuery { n0, rho, l0, min_gain: 1e-3, per: 1e9, within: 1e-2 }
    }
}

/// A plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub d_min_gain: f64,
    pub d_within: f64,
    pub plateau_loss: f64,
}

/// Percentile intervals of a plan over bootstrap replicates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanIntervals {
    pub d_min_gain: (f64, f64),
    pub d_within: (f64, f64),
    pub plateau_loss: (f64, f64),
    /// Replicates for which a plan could not be made (left out of the intervals).
    pub failed: usize,
}

/// The JSON of a plan, as `p2law plan --json` prints it (and the Python package returns it): the plan at the
/// fitted parameters, the query's thresholds, the warnings `outside_domain`, and the bootstrap intervals when
/// there are any.
pub fn plan_json(
    point: &Plan,
    intervals: Option<&PlanIntervals>,
    q: &PlanQuery,
    outside: &[String],
) -> serde_json::Value {
    let pair = |x: (f64, f64)| [x.0, x.1];
    let mut out = serde_json::json!({
        "d_min_gain": point.d_min_gain,
        "d_within": point.d_within,
        "plateau_loss": point.plateau_loss,
        "min_gain": q.min_gain,
        "per": q.per,
        "within": q.within,
        "outside_domain": outside,
    });
    if let Some(i) = intervals {
        out["intervals"] = serde_json::json!({
            "d_min_gain": pair(i.d_min_gain),
            "d_within": pair(i.d_within),
            "plateau_loss": pair(i.plateau_loss),
            "failed_replicates": i.failed,
        });
    }
    out
}

/// Why no plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("plan: {field} = {value} is invalid; {need}")]
    BadInput { field: &'static str, value: f64, need: &'static str },
    #[error("plan: the law predicts {value} at d = {d:e} tokens, not a finite loss")]
    NonFinite { d: f64, value: f64 },
    #[error("plan: the predicted loss has no finite plateau (it still changes between d = 1e35 and 1e40: {at_35} vs {at_40}); is a d-exponent ≤ 0?")]
    NoPlateau { at_35: f64, at_40: f64 },
    #[error("plan: {what} is never reached for d up to 1e40 tokens")]
    NeverReached { what: String },
    #[error("plan: no bootstrap replicate gave a plan")]
    NoReplicatePlans,
    #[error("plan: {0}")]
    Interval(#[from] BootstrapError),
}

fn check(q: &PlanQuery) -> Result<(), PlanError> {
    let bad = |field, value, need| Err(PlanError::BadInput { field, value, need });
    if !(q.n0.is_finite() && q.n0 > 0.0) {
        return bad("n0", q.n0, "need a positive parameter count");
    }
    if !(q.rho > 0.0 && q.rho < 1.0) {
        return bad("rho", q.rho, "need a pruning rate strictly between 0 and 1");
    }
    if !q.l0.is_finite() {
        return bad("l0", q.l0, "need a finite loss");
    }
    for (field, v) in [("min_gain", q.min_gain), ("per", q.per), ("within", q.within)] {
        if !(v.is_finite() && v > 0.0) {
            return bad(field, v, "need a positive number");
        }
    }
    Ok(())
}

/// Smallest `d` in [1, D_MAX] where `cond(d)` holds, assuming it stays true once true.
fn first_d(cond: &mut dyn FnMut(f64) -> Result<bool, PlanError>, what: &str) -> Result<f64, PlanError> {
    let mut lo = 1.0;
    if cond(lo)? {
        return Ok(lo);
    }
    let mut hi = 2.0;
    while !cond(hi)? {
        lo = hi;
        hi *= 2.0;
        if hi > D_MAX {
            return Err(PlanError::NeverReached { what: what.to_string() });
        }
    }
    // Invariant: cond(lo) false, cond(hi) true.
    while hi / lo > 1.0 + 1e-9 {
        let mid = (lo * hi).sqrt();
        if cond(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The plan for one parameter vector.
pub fn plan(law: &Law, params: &[f64], q: &PlanQuery) -> Result<Plan, PlanError> {
    check(q)?;
    let loss = |d: f64| -> Result<f64, PlanError> {
        let v = law.predict(params, &[q.n0, q.n0 * (1.0 - q.rho), q.rho, q.l0, d, 0.0]);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(PlanError::NonFinite { d, value: v })
        }
    };
    let (at_35, at_40) = (loss(1e35)?, loss(D_MAX)?);
    // The plateau must be known far more finely than the `within` the caller asks about: a law whose loss
    // still moves by more than a thousandth of that between 1e35 and 1e40 tokens has no usable plateau.
    if (at_35 - at_40).abs() > (1e-3 * q.within).max(1e-12 * at_40.abs()) {
        return Err(PlanError::NoPlateau { at_35, at_40 });
    }
    let plateau_loss = at_40;
    // Differences of losses near `plateau_loss` are only known to ~1e-16 of it: thresholds below 1e-12 of
    // the loss would be met by rounding, not by the law.
    for (field, v) in [("min_gain", q.min_gain), ("within", q.within)] {
        if v < 1e-12 * plateau_loss.abs() {
            return Err(PlanError::BadInput {
                field,
                value: v,
                need: "need a threshold above 1e-12 of the loss (rounding)",
            });
        }
    }
    let d_min_gain = first_d(
        &mut |d| Ok(loss(d)? - loss(d + q.per)? < q.min_gain),
        &format!("a gain below {} per {:e} tokens", q.min_gain, q.per),
    )?;
    // Past d ≈ per · 1e15, `d + per` rounds to `d` and every gain reads as zero: not a real answer.
    if d_min_gain > q.per * 1e15 {
        return Err(PlanError::NeverReached {
            what: format!("a gain below {} per {:e} tokens (before d + per rounds to d)", q.min_gain, q.per),
        });
    }
    let d_within = first_d(
        &mut |d| Ok(loss(d)? - plateau_loss < q.within),
        &format!("a loss within {} of the plateau", q.within),
    )?;
    Ok(Plan { d_min_gain, d_within, plateau_loss })
}

/// The plan at `params` plus central `level` intervals over bootstrap parameter `samples`.
pub fn plan_with_intervals(
    law: &Law,
    params: &[f64],
    samples: &[Vec<f64>],
    q: &PlanQuery,
    level: f64,
) -> Result<(Plan, PlanIntervals), PlanError> {
    let point = plan(law, params, q)?;
    let plans: Vec<Plan> = samples.iter().filter_map(|s| plan(law, s, q).ok()).collect();
    if plans.is_empty() {
        return Err(PlanError::NoReplicatePlans);
    }
    let col = |f: fn(&Plan) -> f64| plans.iter().map(f).collect::<Vec<f64>>();
    let intervals = PlanIntervals {
        d_min_gain: interval(&col(|p| p.d_min_gain), level)?,
        d_within: interval(&col(|p| p.d_within), level)?,
        plateau_loss: interval(&col(|p| p.plateau_loss), level)?,
        failed: samples.len() - plans.len(),
    };
    Ok((point, intervals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_power_law() {
        // L = 2 + 100 d^-0.5: gain over `per` is ≈ 50 per d^-1.5 for d ≫ per; plateau 2;
        // within eps when 100/sqrt(d) < eps ⇒ d > (100/eps)².
        let law = Law::from_spec("l0 + a/d^b", &[]).unwrap();
        let q = PlanQuery { min_gain: 1e-3, per: 1.0, within: 1e-2, ..PlanQuery::new(1e8, 0.5, 2.0) };
        let p = plan(&law, &[100.0, 0.5], &q).unwrap();
        assert!((p.plateau_loss - 2.0).abs() < 1e-12);
        assert!((p.d_within / 1e8 - 1.0).abs() < 1e-6, "{}", p.d_within);
        // Exact root of 100 (d^-0.5 − (d+1)^-0.5) = 1e-3, by the same condition.
        let g = |d: f64| 100.0 * (d.powf(-0.5) - (d + 1.0).powf(-0.5));
        assert!(g(p.d_min_gain) < 1e-3 && g(p.d_min_gain * (1.0 - 1e-8)) >= 1e-3);
    }

    #[test]
    fn bad_inputs_and_unreachable_targets_are_errors() {
        let law = Law::from_spec("l0 + a/d^b", &[]).unwrap();
        assert!(matches!(
            plan(&law, &[1.0, 0.5], &PlanQuery::new(1e8, 1.5, 2.0)),
            Err(PlanError::BadInput { .. })
        ));
        assert!(matches!(
            plan(&law, &[1.0, -0.1], &PlanQuery::new(1e8, 0.5, 2.0)),
            Err(PlanError::NoPlateau { .. })
        ));
        let q = PlanQuery { min_gain: 1e-300, ..PlanQuery::new(1e8, 0.5, 2.0) };
        assert!(matches!(plan(&law, &[1.0, 0.5], &q), Err(PlanError::BadInput { field: "min_gain", .. })));
    }
}
