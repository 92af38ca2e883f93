//! Laws: a named expression plus, for each parameter, the range its multi-start grid spans and the bounds
//! every fit keeps it within.
//!
//! The built-ins are written in the expression language exactly as in `docs/spec/law.md`; a user law is
//! the same thing from the command line. Laws may read `n0 n rho l0 d`, never `loss` (the fitting target).
//!
//! **Ranges** are where the grid of starting points lies: the fit may leave them. Parameters that enter the
//! law linearly (`nc`, `dc`, `e` in `p2`) are solved in closed form for each start, so their ranges matter
//! only for laws where that is impossible. A parameter given no range gets [`DEFAULT_RANGE`] (suits
//! exponents and unit-scale coefficients).
//!
//! **Bounds** ([`Bound`]) are part of what a law means, and every fit (least squares, Huber, bootstrap
//! replicates) honours them. The built-ins' bounds say that the loss falls with post-training tokens and
//! levels off, and keep exponents in ranges where they mean something:
//!
//! | parameter | bound | why |
//! |---|---|---|
//! | `beta` (every law) | `[0, 2]` | `D^-beta` must fall with `D` (β > 0); β = 0 makes the term a constant, β > 2 is faster than any data-scaling law reported |
//! | `dc` (`b` in `chinchilla`) | `[0, ∞)` | with β > 0, `dc/D^beta` is the part of the loss that more tokens remove: it must be ≥ 0, or the law has no floor and falls without end |
//! | `gamma` | `[-4, 4]` | sign free: with a positive bracket, γ < 0 makes `(1/ρ)^γ` grow with ρ (higher rate, higher loss); γ > 0 fits data where it does not. `4` is a factor 30 between ρ 0.15 and 0.35 |
//! | `delta` | `[-1, 1]` | sign free: `(1/N0)^δ` scales the whole pruning term with model size either way; larger |δ| only trades against `nc`, `dc`, `e` by orders of magnitude |
//! | `alpha` | `[-2, 2]` (`[0, 2]` in `chinchilla`) | sign free in P² (`nc` may be negative); bounded because `nc` and α trade off along a valley (`nc` 1e92 with α 20 fits as well as `nc` 10 with α 0.3 on a few sizes) |
//! | `nc`, `e`, `a` (P² forms) | free | linear terms whose sign the data decide (`e` is the plateau's offset, `nc` the size term's) |
//! | `e`, `a` (`chinchilla`) | `[0, ∞)` | Chinchilla's irreducible loss and size coefficient are positive |
//!
//! `--unbounded` ([`Law::unbounded`]) removes every bound (the behaviour before bounds existed); a user law
//! has none unless given (`--bound beta=0:2`, `--bound dc=0:`).
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

/// Closed bounds `lo ≤ x ≤ hi` on a parameter; either side may be infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub lo: f64,
    pub hi: f64,
}

impl Bound {
    /// No bound at all.
    pub const FREE: Bound = Bound { lo: f64::NEG_INFINITY, hi: f64::INFINITY };

    pub fn is_free(&self) -> bool {
        self.lo == f64::NEG_INFINITY && self.hi == f64::INFINITY
    }

    pub fn contains(&self, x: f64) -> bool {
        x >= self.lo && x <= self.hi
    }

    pub fn clamp(&self, x: f64) -> f64 {
        x.max(self.lo).min(self.hi)
    }

    /// Which side `x` sits on, if it is within a relative `1e-9` of a finite bound.
    pub fn active(&self, x: f64) -> Option<Side> {
        let near = |b: f64| b.is_finite() && (x - b).abs() <= 1e-9 * b.abs().max(1.0);
        if near(self.lo) {
            Some(Side::Lo)
        } else if near(self.hi) {
            Some(Side::Hi)
        } else {
            None
        }
    }

    /// `[lo, hi]` with `None` for an infinite side (JSON has no infinity).
    pub fn to_pair(self) -> [Option<f64>; 2] {
        let side = |v: f64| v.is_finite().then_some(v);
        [side(self.lo), side(self.hi)]
    }

    /// The inverse of [`Bound::to_pair`].
    pub fn from_pair(pair: [Option<f64>; 2]) -> Bound {
        Bound { lo: pair[0].unwrap_or(f64::NEG_INFINITY), hi: pair[1].unwrap_or(f64::INFINITY) }
    }
}

/// Which bound of a parameter is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lo,
    Hi,
}

/// Prints `lo:hi` as `--bound` reads it (`0:` for `[0, ∞)`).
impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
        write!(f, "{}:{}", side(self.lo), side(self.hi))
    }
}

/// A parameter, the range its starting points span and the bounds the fit keeps it in.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
    pub bound: Bound,
}

impl ParamSpec {
    /// The start range, clipped to the bounds (a range partly outside them starts only inside).
    pub fn start_range(&self) -> (f64, f64) {
        let (lo, hi) = (self.bound.clamp(self.lo), self.bound.clamp(self.hi));
        if lo < hi {
            (lo, hi)
        } else {
            (lo, lo)
        }
    }
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
    #[error("parameter bound '{spec}': {reason} (write NAME=LO:HI with either side empty for no bound, as in 'beta=0:2' or 'dc=0:')")]
    BadBound { spec: String, reason: String },
}

/// A built-in: name, expression, `(parameter, range lo, range hi, bound lo, bound hi)`. Ranges suit loss
/// curves of pruned LLMs: `n0` 1e6..1e10, `d` 1e5..1e10 tokens, losses 1..8, `rho` 0.05..0.9. Bounds: see
/// the module docs.
type Builtin = (&'static str, &'static str, &'static [(&'static str, f64, f64, f64, f64)]);

const INF: f64 = f64::INFINITY;

const BUILTINS: [Builtin; 5] = [
    (
        "p2",
        "l0 + (1/rho)^gamma * (1/n0)^delta * (nc/n0^alpha + dc/d^beta + e)",
        &[
            ("gamma", -1.5, 1.5, -4.0, 4.0),
            ("delta", 0.0, 0.5, -1.0, 1.0),
            ("nc", 0.0, 1e4, -INF, INF),
            ("alpha", 0.0, 1.0, -2.0, 2.0),
            ("dc", 0.0, 1e4, 0.0, INF),
            ("beta", 0.0, 1.0, 0.0, 2.0),
            ("e", 0.0, 5.0, -INF, INF),
        ],
    ),
    (
        "p2-no-size",
        "l0 + (1/rho)^gamma * (nc/n0^alpha + dc/d^beta + e)",
        &[
            ("gamma", -1.5, 1.5, -4.0, 4.0),
            ("nc", 0.0, 1e3, -INF, INF),
            ("alpha", 0.0, 1.0, -2.0, 2.0),
            ("dc", 0.0, 1e3, 0.0, INF),
            ("beta", 0.0, 1.0, 0.0, 2.0),
            ("e", 0.0, 2.0, -INF, INF),
        ],
    ),
    (
        "p2-additive",
        "l0 + a*rho^gamma + nc/n0^alpha + dc/d^beta + e",
        &[
            ("a", 0.0, 5.0, -INF, INF),
            ("gamma", 0.0, 3.0, -4.0, 4.0),
            ("nc", 0.0, 1e3, -INF, INF),
            ("alpha", 0.0, 1.0, -2.0, 2.0),
            ("dc", 0.0, 1e3, 0.0, INF),
            ("beta", 0.0, 1.0, 0.0, 2.0),
            ("e", -1.0, 1.0, -INF, INF),
        ],
    ),
    (
        "p2-pruned-size",
        "l0 + nc/n^alpha + dc/d^beta + e",
        &[
            ("nc", 0.0, 1e3, -INF, INF),
            ("alpha", 0.0, 1.0, -2.0, 2.0),
            ("dc", 0.0, 1e3, 0.0, INF),
            ("beta", 0.0, 1.0, 0.0, 2.0),
            ("e", -1.0, 1.0, -INF, INF),
        ],
    ),
    (
        "chinchilla",
        "e + a/n^alpha + b/d^beta",
        &[
            ("e", 1.0, 4.0, 0.0, INF),
            ("a", 0.0, 1e3, 0.0, INF),
            ("alpha", 0.0, 1.0, 0.0, 2.0),
            ("b", 0.0, 1e3, 0.0, INF),
            ("beta", 0.0, 1.0, 0.0, 2.0),
        ],
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
        let specs: Vec<String> = ranges.iter().map(|(p, lo, hi, ..)| format!("{p}={lo}:{hi}")).collect();
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        let mut law = Law::from_spec(src, &specs)?;
        law.name = name.to_string();
        for (p, (_, _, _, blo, bhi)) in law.params.iter_mut().zip(ranges.iter()) {
            p.bound = Bound { lo: *blo, hi: *bhi };
        }
        Ok(law)
    }

    /// The same law without any bounds (`--unbounded`).
    pub fn unbounded(mut self) -> Law {
        self.params.iter_mut().for_each(|p| p.bound = Bound::FREE);
        self
    }

    /// Whether any parameter is bounded.
    pub fn is_bounded(&self) -> bool {
        self.params.iter().any(|p| !p.bound.is_free())
    }

    /// Sets bounds from `NAME=LO:HI` specs (`--bound`): either side may be empty (no bound on that side),
    /// `inf` / `-inf` are accepted, and `LO ≤ HI` (equal pins the parameter).
    pub fn set_bounds(&mut self, specs: &[&str]) -> Result<(), LawError> {
        let mut seen = vec![false; self.params.len()];
        for spec in specs {
            let bad =
                |reason: &str| LawError::BadBound { spec: spec.to_string(), reason: reason.to_string() };
            let (name, range) = spec.split_once('=').ok_or_else(|| bad("missing '='"))?;
            let (lo, hi) = range.split_once(':').ok_or_else(|| bad("missing ':' between LO and HI"))?;
            let side = |text: &str, missing: f64, which: &str| -> Result<f64, LawError> {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(missing);
                }
                text.parse::<f64>().map_err(|_| bad(&format!("{which} is not a number")))
            };
            let (lo, hi) = (side(lo, f64::NEG_INFINITY, "LO")?, side(hi, f64::INFINITY, "HI")?);
            if lo.is_nan() || hi.is_nan() || lo > hi || lo == f64::INFINITY || hi == f64::NEG_INFINITY {
                return Err(bad("need LO ≤ HI"));
            }
            let i = self
                .params
                .iter()
                .position(|p| p.name == name.trim())
                .ok_or_else(|| bad(&format!("the law has no parameter '{}'", name.trim())))?;
            if seen[i] {
                return Err(bad("bound given twice"));
            }
            seen[i] = true;
            self.params[i].bound = Bound { lo, hi };
        }
        Ok(())
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
            .map(|name| ParamSpec {
                name: name.clone(),
                lo: DEFAULT_RANGE.0,
                hi: DEFAULT_RANGE.1,
                bound: Bound::FREE,
            })
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

    #[test]
    fn builtin_bounds_say_the_loss_falls_with_d_and_levels_off() {
        for name in Law::builtin_names() {
            let law = Law::builtin(name).unwrap();
            let beta = law.params.iter().find(|p| p.name == "beta").unwrap();
            assert_eq!(beta.bound, Bound { lo: 0.0, hi: 2.0 }, "{name}");
            let dc = law.params.iter().find(|p| p.name == "dc" || p.name == "b").unwrap();
            assert_eq!((dc.bound.lo, dc.bound.hi), (0.0, f64::INFINITY), "{name}");
            for p in &law.params {
                let (lo, hi) = p.start_range();
                assert!(
                    p.bound.contains(lo) && p.bound.contains(hi),
                    "{name}.{}: starts outside bounds",
                    p.name
                );
            }
            assert!(!law.clone().unbounded().is_bounded());
        }
    }

    #[test]
    fn bounds_parse_with_open_sides() {
        let mut law = Law::from_spec("a + b/d^c", &[]).unwrap();
        assert!(!law.is_bounded());
        law.set_bounds(&["c=0:2", "b=0:", "a=-inf:10"]).unwrap();
        assert_eq!(law.params[0].bound, Bound { lo: f64::NEG_INFINITY, hi: 10.0 });
        assert_eq!(law.params[1].bound, Bound { lo: 0.0, hi: f64::INFINITY });
        assert_eq!(law.params[2].bound.to_string(), "0:2");
        assert_eq!(Bound::from_pair(law.params[1].bound.to_pair()), law.params[1].bound);
        for bad in ["c", "c=1", "c=x:2", "c=2:1", "z=0:1", "c=nan:1"] {
            assert!(matches!(law.set_bounds(&[bad]), Err(LawError::BadBound { .. })), "{bad}");
        }
        assert!(law.set_bounds(&["c=0:1", "c=0:2"]).is_err());
    }
}
