//! Laws: a named expression plus, for each parameter, the range its multi-start grid spans.
//!
//! The built-ins are written in the expression language exactly as in `shared/spec/law.md`; a user law is
//! the same thing from the command line. Laws may read `n0 n rho l0 d`, never `loss` (the fitting target).
//!
//! Ranges are where the grid of starting points lies, not bounds: the fit may leave them. Parameters that
//! enter the law linearly (`nc`, `dc`, `e` in `p2`) are solved in closed form for each start, so their
//! ranges matter only for laws where that is impossible. A parameter given no range gets
//! [`DEFAULT_RANGE`] (suits exponents and unit-scale coefficients).
//!
//! ```
//! use p2law_law::Law;
//! let law = Law::from_spec("l0 + a/d^b + e", &["a=0:10", "b=0.1:1"]).unwrap();
//! assert_eq!(law.param_names(), ["a", "b", "e"]);
//! assert_eq!((law.params[2].lo, law.params[2].hi), (0.0, 1.0));
//! assert_eq!(Law::builtin("p2").unwrap().param_names(), ["gamma", "delta", "nc", "alpha", "dc", "beta", "e"]);
//! ```

use crate::expr::{Expr, ExprError};
use crate::var::Var;

/// Range used for a parameter without one: `0:1`.
pub const DEFAULT_RANGE: (f64, f64) = (0.0, 1.0);

/// A parameter and the range its starting points span.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
}

/// A law: name, its expression (and source text), and one [`ParamSpec`] per expression parameter, in the
/// expression's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Law {
    pub name: String,
    pub source: String,
    pub expr: Expr,
    pub params: Vec<ParamSpec>,
}

/// Why a law could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LawError {
    #[error("law expression '{source_text}': {error}")]
    Parse { source_text: String, error: ExprError },
    #[error("law expression '{0}' reads 'loss', the observed value it is meant to predict")]
    UsesLoss(String),
    #[error("law expression '{0}' has no parameters to fit")]
    NoParams(String),
    #[error("unknown law '{name}' (built-in laws: {known})")]
    Unknown { name: String, known: String },
    #[error("parameter range '{spec}': {reason} (write NAME=LO:HI, as in 'alpha=0.1:1')")]
    BadRange { spec: String, reason: String },
}

/// `(name, expression, ranges)` of the built-ins. Ranges suit loss curves of pruned LLMs: `n0` 1e6..1e10,
/// `d` 1e5..1e10 tokens, losses 1..8, `rho` 0.05..0.9.
/// A built-in: name, expression, `(parameter, lo, hi)` ranges.
type Builtin = (&'static str, &'static str, &'static [(&'static str, f64, f64)]);

const BUILTINS: [Builtin; 5] = [
    (
        "p2",
        "l0 + (1/rho)^gamma * (1/n0)^delta * (nc/n0^alpha + dc/d^beta + e)",
        &[
            ("gamma", -1.5, 1.5),
            ("delta", 0.0, 0.5),
            ("nc", 0.0, 1e4),
            ("alpha", 0.0, 1.0),
            ("dc", 0.0, 1e4),
            ("beta", 0.0, 1.0),
            ("e", 0.0, 5.0),
        ],
    ),
    (
        "p2-no-size",
        "l0 + (1/rho)^gamma * (nc/n0^alpha + dc/d^beta + e)",
        &[
            ("gamma", -1.5, 1.5),
            ("nc", 0.0, 1e3),
            ("alpha", 0.0, 1.0),
            ("dc", 0.0, 1e3),
            ("beta", 0.0, 1.0),
            ("e", 0.0, 2.0),
        ],
    ),
    (
        "p2-additive",
        "l0 + a*rho^gamma + nc/n0^alpha + dc/d^beta + e",
        &[
            ("a", 0.0, 5.0),
            ("gamma", 0.0, 3.0),
            ("nc", 0.0, 1e3),
            ("alpha", 0.0, 1.0),
            ("dc", 0.0, 1e3),
            ("beta", 0.0, 1.0),
            ("e", -1.0, 1.0),
        ],
    ),
    (
        "p2-pruned-size",
        "l0 + nc/n^alpha + dc/d^beta + e",
        &[("nc", 0.0, 1e3), ("alpha", 0.0, 1.0), ("dc", 0.0, 1e3), ("beta", 0.0, 1.0), ("e", -1.0, 1.0)],
    ),
    (
        "chinchilla",
        "e + a/n^alpha + b/d^beta",
        &[("e", 1.0, 4.0), ("a", 0.0, 1e3), ("alpha", 0.0, 1.0), ("b", 0.0, 1e3), ("beta", 0.0, 1.0)],
    ),
];

impl Law {
    /// Names of the built-in laws.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|b| b.0).collect()
    }

    /// A built-in law by name.
    pub fn builtin(name: &str) -> Result<Law, LawError> {
        let Some((name, src, ranges)) = BUILTINS.iter().find(|b| b.0 == name) else {
            return Err(LawError::Unknown {
                name: name.to_string(),
                known: Self::builtin_names().join(", "),
            });
        };
        let specs: Vec<String> = ranges.iter().map(|(p, lo, hi)| format!("{p}={lo}:{hi}")).collect();
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        let mut law = Law::from_spec(src, &specs)?;
        law.name = name.to_string();
        Ok(law)
    }

    /// A user law (named `custom`) from an expression and `NAME=LO:HI` ranges for some of its parameters.
    pub fn from_spec(src: &str, ranges: &[&str]) -> Result<Law, LawError> {
        let expr =
            Expr::parse(src).map_err(|error| LawError::Parse { source_text: src.to_string(), error })?;
        if expr.uses_var(Var::Loss) {
            return Err(LawError::UsesLoss(src.to_string()));
        }
        if expr.params().is_empty() {
            return Err(LawError::NoParams(src.to_string()));
        }
        let mut params: Vec<ParamSpec> = expr
            .params()
            .iter()
            .map(|name| ParamSpec { name: name.clone(), lo: DEFAULT_RANGE.0, hi: DEFAULT_RANGE.1 })
            .collect();
        let mut seen = vec![false; params.len()];
        for spec in ranges {
            let bad =
                |reason: &str| LawError::BadRange { spec: spec.to_string(), reason: reason.to_string() };
            let (name, range) = spec.split_once('=').ok_or_else(|| bad("missing '='"))?;
            let (lo, hi) = range.split_once(':').ok_or_else(|| bad("missing ':' between LO and HI"))?;
            let lo: f64 = lo.trim().parse().map_err(|_| bad("LO is not a number"))?;
            let hi: f64 = hi.trim().parse().map_err(|_| bad("HI is not a number"))?;
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(bad("need finite LO < HI"));
            }
            let i = params
                .iter()
                .position(|p| p.name == name.trim())
                .ok_or_else(|| bad(&format!("the expression has no parameter '{}'", name.trim())))?;
            if seen[i] {
                return Err(bad("range given twice"));
            }
            seen[i] = true;
            (params[i].lo, params[i].hi) = (lo, hi);
        }
        Ok(Law { name: "custom".to_string(), source: src.to_string(), expr, params })
    }

    /// Parameter names, in order.
    pub fn param_names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// The law's prediction for one row of variables.
    pub fn predict(&self, params: &[f64], vars: &[f64; 6]) -> f64 {
        self.expr.eval(vars, params)
    }
}

/// The law's prediction for one row of variables (same as [`Law::predict`]).
pub fn predict(law: &Law, params: &[f64], vars: &[f64; 6]) -> f64 {
    law.predict(params, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_with_ranges_for_every_parameter() {
        for name in Law::builtin_names() {
            let law = Law::builtin(name).unwrap();
            let names = law.expr.params();
            assert_eq!(law.params.len(), names.len(), "{name}");
            let (_, _, ranges) = BUILTINS.iter().find(|b| b.0 == name).unwrap();
            assert_eq!(ranges.len(), names.len(), "{name}: every parameter needs a range");
        }
    }

    #[test]
    fn p2_matches_the_formula() {
        let law = Law::builtin("p2").unwrap();
        let (g, dl, nc, a, dc, b, e): (f64, f64, f64, f64, f64, f64, f64) =
            (0.6, 0.1, 500.0, 0.3, 400.0, 0.28, 0.5);
        let (n0, rho, l0, d): (f64, f64, f64, f64) = (3e8, 0.4, 3.1, 2e9);
        let want = l0 + (1.0 / rho).powf(g) * (1.0 / n0).powf(dl) * (nc / n0.powf(a) + dc / d.powf(b) + e);
        let got = law.predict(&[g, dl, nc, a, dc, b, e], &[n0, n0 * (1.0 - rho), rho, l0, d, 0.0]);
        assert!((got - want).abs() < 1e-12 * want);
    }

    #[test]
    fn bad_laws_and_ranges_are_errors() {
        assert!(matches!(Law::builtin("p3"), Err(LawError::Unknown { .. })));
        assert!(matches!(Law::from_spec("loss + a", &[]), Err(LawError::UsesLoss(_))));
        assert!(matches!(Law::from_spec("l0 + 1", &[]), Err(LawError::NoParams(_))));
        assert!(matches!(Law::from_spec("a + (", &[]), Err(LawError::Parse { .. })));
        for bad in ["a", "a=1", "a=x:2", "a=2:1", "z=0:1"] {
            assert!(matches!(Law::from_spec("a*d", &[bad]), Err(LawError::BadRange { .. })), "{bad}");
        }
        assert!(Law::from_spec("a*d", &["a=0:1", "a=0:2"]).is_err());
    }
}
