//! Which pruning method, at which rate, for a target size and a token budget (`p2law advise`).
//!
//! Input: one fitted law per pruning method ([`MethodFit`]: the law, its parameters, optional bootstrap draws
//! and the domain it was fitted on) and a question ([`Question`]): the unpruned model (`n0`, `l0`), the
//! target (a parameter count or a rate) and the post-training budget `D`. Output: [`Advice`], one
//! [`Option`] per method, ranked by predicted loss after `D` tokens.
//!
//! Per method:
//! - **the rate that reaches the target**: `depth` removes whole layers, so with the layer count known the
//!   rate is the smallest `k / layers ≥ target` (the layers hold all but a sliver of the non-embedding
//!   parameters); `nm` prunes at its pattern's fixed rate (2:4 removes half of a matrix) and reaches lower
//!   rates by leaving the least sensitive layers dense, so it cannot go above the pattern's rate; `width` and
//!   `unstructured` reach any rate;
//! - **the predicted loss after the budget**, with the bootstrap's percentile interval when the fit has draws;
//! - **the tokens to come within `within` of that method's plateau** ([`crate::plan`]);
//! - **how far the question lies outside the fitted domain** ([`crate::Domain::outside`]).
//!
//! The recommendation is the method with the lowest predicted loss. Methods whose intervals overlap the best
//! one's are called a tie: the fits cannot tell them apart. Without intervals nothing is called a tie, and
//! the advice says the confidence is unknown.
//!
//! ```
//! use p2law_law::advise::{advise, MethodFit, Question, Target};
//! use p2law_law::{synth::SynthSpec, Law};
//! let law = Law::builtin("p2").unwrap();
//! let mut worse = SynthSpec::default().params.to_vec();
//! worse[4] *= 2.0; // twice the recoverable damage
//! let fits = vec![
//!     MethodFit::new("width", law.clone(), worse),
//!     MethodFit::new("depth", law.clone(), SynthSpec::default().params.to_vec()),
//! ];
//! let q = Question { n0: 1e9, l0: 2.9, target: Target::Rate(0.3), budget: 1e9, within: 0.01, layers: Some(20) };
//! let a = advise(&fits, &q);
//! assert_eq!(a.best.as_deref(), Some("depth"));
//! assert_eq!(a.options[0].rho, Some(0.3)); // 6 of 20 layers
//! ```

use serde::Serialize;

use crate::bootstrap::interval;
use crate::domain::Domain;
use crate::laws::Law;
use crate::plan::{plan, PlanQuery};

/// One method's fitted law.
#[derive(Debug, Clone)]
pub struct MethodFit {
    pub method: String,
    pub law: Law,
    pub params: Vec<f64>,
    /// Bootstrap parameter draws (may be empty).
    pub draws: Vec<Vec<f64>>,
    /// Coverage of the intervals drawn from `draws`.
    pub level: f64,
    pub domain: Option<Domain>,
}

impl MethodFit {
    /// A fit without draws or domain.
    pub fn new(method: &str, law: Law, params: Vec<f64>) -> MethodFit {
        MethodFit { method: method.into(), law, params, draws: Vec::new(), level: 0.95, domain: None }
    }
}

/// The size to prune to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Parameters after pruning (non-embedding, as `n0` counts them).
    Params(f64),
    /// The pruning rate ρ.
    Rate(f64),
}

/// What the user asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Question {
    pub n0: f64,
    pub l0: f64,
    pub target: Target,
    /// Post-training tokens the user can afford.
    pub budget: f64,
    /// Distance to the plateau counted as "there", for the tokens-to-plateau column.
    pub within: f64,
    /// Decoder layers of the model, for depth's whole-layer rates; `None`: depth at the target rate.
    pub layers: Option<usize>,
}

impl Question {
    /// The target as a rate.
    pub fn rate(&self) -> f64 {
        match self.target {
            Target::Rate(r) => r,
            Target::Params(n) => 1.0 - n / self.n0,
        }
    }
}

/// One method's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodOption {
    pub method: String,
    /// The rate this method prunes at to reach the target; `None` when it cannot.
    pub rho: Option<f64>,
    /// Why the method cannot reach the target, or how its rate was rounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Predicted loss after the budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// Plateau loss and the tokens after which the loss is within `within` of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plateau: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_within: Option<f64>,
    /// Where the question lies outside this fit's domain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outside_domain: Vec<String>,
}

/// Every method's answer, best first, and the recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub target_rate: f64,
    pub budget: f64,
    pub options: Vec<MethodOption>,
    /// The method with the lowest predicted loss.
    pub best: Option<String>,
    /// Methods whose intervals overlap the best one's.
    pub tied_with: Vec<String>,
    /// One sentence on how sure the recommendation is.
    pub confidence: String,
}

/// The rate `method` prunes at to reach `rate`, or why it cannot, and a note on rounding.
fn method_rate(method: &str, rate: f64, layers: Option<usize>) -> (Option<f64>, Option<String>) {
    match method {
        "depth" => match layers {
            Some(l) if l > 0 => {
                let k = (rate * l as f64 - 1e-9).ceil().max(1.0) as usize;
                if k >= l {
                    (None, Some(format!("depth would remove all {l} layers")))
                } else {
                    let r = k as f64 / l as f64;
                    let note = ((r - rate).abs() > 1e-9).then(|| format!("{k} of {l} layers"));
                    (Some(r), note)
                }
            }
            _ => (Some(rate), Some("whole layers not checked (give the layer count)".into())),
        },
        "nm" if rate > 0.5 + 1e-12 => {
            (None, Some(format!("2:4 removes at most half of the prunable weights, not {rate:.3}")))
        }
        _ => (Some(rate), None),
    }
}

/// Answers `q` for every method of `fits` (see the module docs).
pub fn advise(fits: &[MethodFit], q: &Question) -> Advice {
    let rate = q.rate();
    let mut options: Vec<MethodOption> = fits
        .iter()
        .map(|f| {
            let (rho, note) = method_rate(&f.method, rate, q.layers);
            let mut o = MethodOption {
                method: f.method.clone(),
                rho,
                note,
                loss: None,
                interval: None,
                plateau: None,
                d_within: None,
                outside_domain: Vec::new(),
            };
            let Some(rho) = rho.filter(|r| *r > 0.0 && *r < 1.0) else { return o };
            let vars = [q.n0, q.n0 * (1.0 - rho), rho, q.l0, q.budget, 0.0];
            o.loss = Some(f.law.predict(&f.params, &vars)).filter(|v| v.is_finite());
            let draws: Vec<f64> =
                f.draws.iter().map(|p| f.law.predict(p, &vars)).filter(|v| v.is_finite()).collect();
            o.interval = interval(&draws, f.level)
                .ok()
                .filter(|(lo, hi)| !draws.is_empty() && lo.is_finite() && hi.is_finite())
                .map(|(lo, hi)| [lo, hi]);
            let pq = PlanQuery { within: q.within, ..PlanQuery::new(q.n0, rho, q.l0) };
            if let Ok(p) = plan(&f.law, &f.params, &pq) {
                (o.plateau, o.d_within) = (Some(p.plateau_loss), Some(p.d_within));
            }
            if let Some(d) = &f.domain {
                o.outside_domain = d.outside(q.n0, rho, Some(q.budget));
            }
            o
        })
        .collect();
    options.sort_by(|a, b| {
        let key = |o: &MethodOption| o.loss.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b)).then(a.method.cmp(&b.method))
    });
    let best = options.first().filter(|o| o.loss.is_some());
    let tied_with: Vec<String> = match best.and_then(|b| b.interval) {
        Some([_, hi]) => options[1..]
            .iter()
            .filter(|o| o.interval.is_some_and(|[lo, _]| lo <= hi))
            .map(|o| o.method.clone())
            .collect(),
        None => Vec::new(),
    };
    let confidence = match best {
        None => "no method reaches the target with a usable fit".to_string(),
        Some(b) if b.interval.is_none() => {
            "unknown: the fits have no bootstrap draws (fit with --bootstrap for intervals)".to_string()
        }
        Some(_) if !tied_with.is_empty() => format!(
            "a tie: the intervals of {} overlap the best one's, so the fits cannot tell them apart",
            tied_with.join(", ")
        ),
        Some(_) => "clear: no other method's interval overlaps the best one's".to_string(),
    };
    let extrapolating = best.is_some_and(|b| !b.outside_domain.is_empty());
    let confidence = if extrapolating {
        format!("{confidence}; the best method's prediction extrapolates beyond its fit")
    } else {
        confidence
    };
    Advice {
        target_rate: rate,
        budget: q.budget,
        best: best.map(|b| b.method.clone()),
        tied_with,
        confidence,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_method() {
        assert_eq!(method_rate("depth", 0.25, Some(8)), (Some(0.25), None));
        let (r, note) = method_rate("depth", 0.3, Some(8));
        assert_eq!((r, note.as_deref()), (Some(0.375), Some("3 of 8 layers")));
        assert!(method_rate("depth", 0.99, Some(4)).0.is_none());
        assert!(method_rate("nm", 0.6, None).0.is_none());
        assert_eq!(method_rate("nm", 0.5, None).0, Some(0.5));
        assert_eq!(method_rate("width", 0.37, None).0, Some(0.37));
        let q = Question {
            n0: 1e9,
            l0: 3.0,
            target: Target::Params(7.5e8),
            budget: 1e9,
            within: 0.01,
            layers: None,
        };
        assert!((q.rate() - 0.25).abs() < 1e-12);
    }
}
