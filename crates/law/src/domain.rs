//! The domain a law was fitted on, and how far a question lies outside it.
//!
//! A fit describes the model sizes, pruning rates and token counts it saw. `FIT.json` keeps their ranges
//! ([`Domain`]); `predict` and `plan` say when they are asked outside them and by how much, since a law
//! fitted on 1e8–3e8 parameters answers about 3e10 with the same confidence whether or not it should.
//!
//! ```
//! use p2law_law::{domain::Domain, Point};
//! let pt = |n0: f64, rho: f64, d: f64| Point { run: 0, vars: [n0, n0 * (1.0 - rho), rho, 3.0, d, 3.5] };
//! let dom = Domain::of(&[pt(1e8, 0.2, 1e6), pt(3e8, 0.35, 1e9)], &[]);
//! assert!(dom.outside(2e8, 0.25, Some(1e8)).is_empty());
//! let far = dom.outside(3e9, 0.5, Some(1e10));
//! assert_eq!(far.len(), 3);
//! assert_eq!(far[0], "n0 = 3.00e9 is 10× the largest fitted n0 (3.00e8)");
//! ```

use serde::{Deserialize, Serialize};

use crate::curves::Point;
use crate::var::Var;

/// Ranges `[min, max]` of the fitted data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    pub n0: [f64; 2],
    pub rho: [f64; 2],
    pub d: [f64; 2],
    pub l0: [f64; 2],
    /// Pruning methods of the fitted runs, when the curves name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

impl Domain {
    /// The ranges of `points` (not empty); `methods` as given.
    pub fn of(points: &[Point], methods: &[String]) -> Domain {
        let range = |v: Var| {
            points
                .iter()
                .map(|p| p.get(v))
                .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], x| [lo.min(x), hi.max(x)])
        };
        let mut methods = methods.to_vec();
        methods.sort();
        methods.dedup();
        Domain { n0: range(Var::N0), rho: range(Var::Rho), d: range(Var::D), l0: range(Var::L0), methods }
    }

    /// One message per variable of the question outside its fitted range, saying by how much (sizes and
    /// tokens as a factor, rates as a difference). Empty inside the domain.
    pub fn outside(&self, n0: f64, rho: f64, d: Option<f64>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = ratio("n0", n0, self.n0) {
            out.push(m);
        }
        let tol = 1e-9;
        if rho < self.rho[0] - tol {
            out.push(format!(
                "rho = {rho} is {:.3} below the lowest fitted rho ({})",
                self.rho[0] - rho,
                self.rho[0]
            ));
        } else if rho > self.rho[1] + tol {
            out.push(format!(
                "rho = {rho} is {:.3} above the highest fitted rho ({})",
                rho - self.rho[1],
                self.rho[1]
            ));
        }
        if let Some(m) = d.and_then(|d| ratio("d", d, self.d)) {
            out.push(m);
        }
        out
    }
}

/// `name = x is k× the largest fitted name (hi)` or `1/k of the smallest`, when `x` is outside `[lo, hi]`.
fn ratio(name: &str, x: f64, [lo, hi]: [f64; 2]) -> Option<String> {
    let g = |v: f64| format!("{v:.2e}");
    let k = |r: f64| if r >= 10.0 { format!("{r:.0}") } else { format!("{r:.2}") };
    if x > hi * (1.0 + 1e-9) {
        Some(format!("{name} = {} is {}× the largest fitted {name} ({})", g(x), k(x / hi), g(hi)))
    } else if x < lo * (1.0 - 1e-9) {
        Some(format!("{name} = {} is 1/{} of the smallest fitted {name} ({})", g(x), k(lo / x), g(lo)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_and_above_say_by_how_much() {
        let dom =
            Domain { n0: [1e8, 3e8], rho: [0.15, 0.35], d: [1e6, 1e9], l0: [3.0, 3.2], methods: vec![] };
        assert_eq!(
            dom.outside(1e7, 0.1, Some(1e5)),
            [
                "n0 = 1.00e7 is 1/10 of the smallest fitted n0 (1.00e8)",
                "rho = 0.1 is 0.050 below the lowest fitted rho (0.15)",
                "d = 1.00e5 is 1/10 of the smallest fitted d (1.00e6)",
            ]
        );
        assert_eq!(
            dom.outside(4.5e8, 0.5, None),
            [
                "n0 = 4.50e8 is 1.50× the largest fitted n0 (3.00e8)",
                "rho = 0.5 is 0.150 above the highest fitted rho (0.35)",
            ]
        );
    }
}
