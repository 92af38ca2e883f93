//! Checks after every fit: does the fitted law mean what a loss-after-pruning law says, over the data it was
//! fitted to? A fit can reach r2 0.99 on pooled runs by explaining only the gaps between them while its
//! parameters say the loss rises with tokens, or falls without end; these checks say so.
//!
//! Input: a law, fitted parameters and the points they were fitted to. Output: [`Diagnosis`], a list of
//! [`FitWarning`]s (a kind and a one-line reason naming the run, value or parameter) and the condition
//! number of the fit's Jacobian. The checks, over the *fitted domain* (each run's `d` range; the box of the
//! data's `rho` and `d` ranges at each model size):
//!
//! | kind | warns when |
//! |---|---|
//! | `not-decreasing` | a run's predicted loss rises with `d` somewhere in its `d` range |
//! | `no-plateau` | predictions do not settle as `d` grows ×10³, ×10⁶, … past a run's last point (they fall without end, or are not finite) |
//! | `below-l0` | a run whose data never go below its `l0` is predicted below it at 10× its last `d`, or at 10¹²× its last `d` (where a law with a floor has levelled off) |
//! | `rho-order` | at some model size and `d`, a higher `rho` is predicted a lower loss (the paper: higher rate, higher loss) |
//! | `n0-order` | at some `rho` and `d`, the larger of two model sizes is predicted a higher loss |
//! | `at-bound` | a parameter rests on one of its bounds: the data pull it beyond what the law allows |
//! | `not-identified` | the data cannot determine some terms: one run, one `rho`, one `n0`, or one `rho` per `n0` |
//! | `ill-conditioned` | the Jacobian's condition number (columns scaled to unit norm) exceeds [`ILL_CONDITIONED`]; the weakest direction's parameters are named |
//!
//! ```
//! use p2law_law::{diagnose::{diagnose, WarningKind}, Law, Point};
//! // One run whose loss rises with d, "fitted" by a law whose d term has the wrong sign.
//! let law = Law::from_spec("l0 + a - b/d^0.5", &[]).unwrap();
//! let points: Vec<Point> =
//!     (1..=5).map(|i| Point { run: 0, vars: [1e6, 8e5, 0.2, 3.0, 1e3 * i as f64, 3.5] }).collect();
//! let dx = diagnose(&law, &[0.5, 1.0], &points);
//! assert!(dx.warnings.iter().any(|w| w.kind == WarningKind::NotDecreasing));
//! ```

use serde::{Deserialize, Serialize};

use crate::curves::{group_by_run, Point};
use crate::laws::{Law, Side};
use crate::var::Var;

/// Jacobian condition number above which a fit is called ill-conditioned: parameters move by 1e8 relative
/// units per unit of fit quality along the weakest direction.
pub const ILL_CONDITIONED: f64 = 1e8;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    NotDecreasing,
    NoPlateau,
    BelowL0,
    RhoOrder,
    N0Order,
    AtBound,
    NotIdentified,
    IllConditioned,
}

impl WarningKind {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::NotDecreasing => "not-decreasing",
            WarningKind::NoPlateau => "no-plateau",
            WarningKind::BelowL0 => "below-l0",
            WarningKind::RhoOrder => "rho-order",
            WarningKind::N0Order => "n0-order",
            WarningKind::AtBound => "at-bound",
            WarningKind::NotIdentified => "not-identified",
            WarningKind::IllConditioned => "ill-conditioned",
        }
    }

    /// Whether a fit with this warning contradicts what the law means (the loss falls with `d` and levels
    /// off, above the unpruned loss): such a fit does not describe the data, whatever its r2.
    pub fn is_unphysical(self) -> bool {
        matches!(self, WarningKind::NotDecreasing | WarningKind::NoPlateau | WarningKind::BelowL0)
    }
}

/// One finding, with a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitWarning {
    pub kind: WarningKind,
    pub message: String,
}

/// Every check's findings on one fit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnosis {
    pub warnings: Vec<FitWarning>,
    /// Condition number of the Jacobian at the fit (unit-norm columns, parameters on a bound left out);
    /// `None` when it cannot be computed (no free parameter, a non-finite derivative).
    pub condition: Option<f64>,
}

/// Runs every check of the module docs on `params` of `law` fitted to `points`; runs are named `#index`.
pub fn diagnose(law: &Law, params: &[f64], points: &[Point]) -> Diagnosis {
    diagnose_named(law, params, points, &|i| format!("#{i}"))
}

/// [`diagnose`], with `run_name(point.run)` naming runs in messages.
pub fn diagnose_named(
    law: &Law,
    params: &[f64],
    points: &[Point],
    run_name: &dyn Fn(usize) -> String,
) -> Diagnosis {
    let mut warnings = Vec::new();
    let runs = runs_of(points);
    let predict = |vars: &[f64; 6]| law.predict(params, vars);
    if law.expr.uses_var(Var::D) {
        shape_checks(&runs, run_name, &predict, &mut warnings);
    }
    order_checks(law, &runs, points, &predict, &mut warnings);
    for (p, &x) in law.params.iter().zip(params) {
        if let Some(side) = p.bound.active(x) {
            let (which, b) = match side {
                Side::Lo => ("lower", p.bound.lo),
                Side::Hi => ("upper", p.bound.hi),
            };
            warnings.push(warn(
                WarningKind::AtBound,
                format!(
                    "{} = {} rests on its {which} bound {b}: the data pull it beyond what the law allows",
                    p.name,
                    short(x)
                ),
            ));
        }
    }
    design_checks(law, &runs, &mut warnings);
    let condition = condition(law, params, points, &mut warnings);
    Diagnosis { warnings, condition }
}

fn warn(kind: WarningKind, message: String) -> FitWarning {
    FitWarning { kind, message }
}

/// A number in a message: 4 significant digits.
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e5 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

/// One run as the checks see it: its variables (from its first point), `d` range and lowest loss.
struct RunView {
    /// `Point::run` of its points.
    index: usize,
    vars: [f64; 6],
    d_min: f64,
    d_max: f64,
    min_loss: f64,
}

fn runs_of(points: &[Point]) -> Vec<RunView> {
    let n_runs = points.iter().map(|p| p.run + 1).max().unwrap_or(0);
    group_by_run(points, n_runs)
        .into_iter()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .map(|(index, g)| {
            let first = &points[g[0]];
            RunView {
                index,
                vars: first.vars,
                d_min: first.d(),
                d_max: points[*g.last().expect("non-empty")].d(),
                min_loss: g.iter().map(|&i| points[i].loss()).fold(f64::INFINITY, f64::min),
            }
        })
        .collect()
}

fn at_d(vars: &[f64; 6], d: f64) -> [f64; 6] {
    let mut v = *vars;
    v[Var::D as usize] = d;
    v
}

/// `n` log-spaced values from `lo` to `hi` (one when they are equal).
fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return vec![lo];
    }
    (0..n).map(|i| (lo.ln() + (hi / lo).ln() * i as f64 / (n - 1) as f64).exp()).collect()
}

fn rises(a: f64, b: f64) -> bool {
    b > a + 1e-9 * a.abs().max(1.0)
}

/// `not-decreasing`, `no-plateau`, `below-l0`.
fn shape_checks(
    runs: &[RunView],
    run_name: &dyn Fn(usize) -> String,
    predict: &impl Fn(&[f64; 6]) -> f64,
    out: &mut Vec<FitWarning>,
) {
    let name = |r: &RunView| format!("run {}", run_name(r.index));
    let (mut rising, mut endless, mut below) = (Vec::new(), Vec::new(), Vec::new());
    for r in runs {
        let grid = log_grid(r.d_min, r.d_max, 24);
        let pred: Vec<f64> = grid.iter().map(|&d| predict(&at_d(&r.vars, d))).collect();
        if let Some(j) = (1..pred.len()).find(|&j| rises(pred[j - 1], pred[j])) {
            rising.push(format!(
                "{}: {} at d = {} → {} at d = {}",
                name(r),
                short(pred[j - 1]),
                short(grid[j - 1]),
                short(pred[j]),
                short(grid[j])
            ));
        }
        // Predictions at d_max · 10^(3k): a plateau shows as shrinking steps between them.
        let far: Vec<f64> = (0..=4).map(|k| predict(&at_d(&r.vars, r.d_max * 1e3f64.powi(k)))).collect();
        let steps: Vec<f64> = far.windows(2).map(|w| w[1] - w[0]).collect();
        let settled = far.iter().all(|v| v.is_finite())
            && steps[3].abs() <= 0.9 * steps[2].abs().max(1e-12 * far[3].abs().max(1.0));
        if !settled {
            endless.push(format!(
                "{}: {} at d = {} → {} at d = {}",
                name(r),
                short(far[0]),
                short(r.d_max),
                short(far[4]),
                short(r.d_max * 1e12)
            ));
        }
        let l0 = r.vars[Var::L0 as usize];
        let ten = predict(&at_d(&r.vars, 10.0 * r.d_max));
        let lowest = ten.min(far[4]);
        if r.min_loss > l0 && lowest < l0 - 1e-9 * l0.abs().max(1.0) {
            // Name the value that is below l0: at 10× the data, or else far out (where a law with a floor
            // has levelled off).
            let (v, at) =
                if ten < far[4] { (ten, "at 10× its last d") } else { (far[4], "at 1e12× its last d") };
            below.push(format!("{} (l0 {}): {} {at}", name(r), short(l0), short(v)));
        }
    }
    let mut report = |kind, list: Vec<String>, what: &str| {
        if let Some(first) = list.first() {
            out.push(warn(kind, format!("{what} in {} of {} runs, e.g. {first}", list.len(), runs.len())));
        }
    };
    report(WarningKind::NotDecreasing, rising, "predicted loss rises with d within the fitted range");
    report(
        WarningKind::NoPlateau,
        endless,
        "predicted loss does not level off as d grows past the data (no floor)",
    );
    report(
        WarningKind::BelowL0,
        below,
        "predicted loss falls below the unpruned loss l0 where the data never go",
    );
}

/// Distinct values within a relative `1e-6`, sorted.
fn distinct(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() <= 1e-6 * b.abs());
    xs
}

/// `rho-order`, `n0-order`: the paper's trends, over the box of the data at each size.
fn order_checks(
    law: &Law,
    runs: &[RunView],
    points: &[Point],
    predict: &impl Fn(&[f64; 6]) -> f64,
    out: &mut Vec<FitWarning>,
) {
    if runs.is_empty() {
        return;
    }
    let get = |v: Var| runs.iter().map(|r| r.vars[v as usize]).collect::<Vec<_>>();
    let rhos = distinct(get(Var::Rho));
    let n0s = distinct(get(Var::N0));
    let d_lo = points.iter().map(Point::d).fold(f64::INFINITY, f64::min);
    let d_hi = points.iter().map(Point::d).fold(f64::NEG_INFINITY, f64::max);
    let ds = log_grid(d_lo, d_hi, 6);
    // A model size's typical run: its mean l0, and n from the law's own relation n = n0 (1 − rho).
    let l0_of = |n0: f64| {
        let l: Vec<f64> = runs
            .iter()
            .filter(|r| (r.vars[0] - n0).abs() <= 1e-6 * n0.abs())
            .map(|r| r.vars[Var::L0 as usize])
            .collect();
        l.iter().sum::<f64>() / l.len() as f64
    };
    let vars = |n0: f64, rho: f64, d: f64| [n0, n0 * (1.0 - rho), rho, l0_of(n0), d, 0.0];
    let uses_rate = law.expr.uses_var(Var::Rho) || law.expr.uses_var(Var::N);
    if uses_rate && rhos.len() >= 2 {
        let grid: Vec<f64> =
            (0..6).map(|i| rhos[0] + (rhos[rhos.len() - 1] - rhos[0]) * i as f64 / 5.0).collect();
        let at = |n0: f64, d: f64, rho: f64| predict(&vars(n0, rho, d));
        if let Some(r) = first_reversal(&n0s, &ds, &grid, at, |lo, hi| rises(hi, lo)) {
            out.push(warn(
                WarningKind::RhoOrder,
                format!(
                    "higher rho predicts lower loss at n0 = {}, d = {}: rho {} → {}, rho {} → {} (the paper: higher rate, higher loss)",
                    short(r.outer), short(r.d), short(r.steps[0]), short(r.values[0]), short(r.steps[1]), short(r.values[1])
                ),
            ));
        }
    }
    let uses_size = law.expr.uses_var(Var::N0) || law.expr.uses_var(Var::N) || law.expr.uses_var(Var::L0);
    if uses_size && n0s.len() >= 2 {
        let grid: Vec<f64> = if rhos.len() >= 2 {
            (0..4).map(|i| rhos[0] + (rhos[rhos.len() - 1] - rhos[0]) * i as f64 / 3.0).collect()
        } else {
            rhos.clone()
        };
        let at = |rho: f64, d: f64, n0: f64| predict(&vars(n0, rho, d));
        if let Some(r) = first_reversal(&grid, &ds, &n0s, at, rises) {
            out.push(warn(
                WarningKind::N0Order,
                format!(
                    "the larger model predicts higher loss at rho = {}, d = {}: n0 {} → {}, n0 {} → {} (the paper: larger model, lower loss)",
                    short(r.outer), short(r.d), short(r.steps[0]), short(r.values[0]), short(r.steps[1]), short(r.values[1])
                ),
            ));
        }
    }
}

/// Where a prediction first moves the wrong way between consecutive `steps` of one variable.
struct Reversal {
    outer: f64,
    d: f64,
    steps: [f64; 2],
    values: [f64; 2],
}

/// Scans `outer × ds × consecutive steps` for the first pair `(at(outer, d, s0), at(outer, d, s1))` that
/// `wrong` flags.
fn first_reversal(
    outer: &[f64],
    ds: &[f64],
    steps: &[f64],
    at: impl Fn(f64, f64, f64) -> f64,
    wrong: impl Fn(f64, f64) -> bool,
) -> Option<Reversal> {
    for &o in outer {
        for &d in ds {
            for w in steps.windows(2) {
                let (a, b) = (at(o, d, w[0]), at(o, d, w[1]));
                if wrong(a, b) {
                    return Some(Reversal { outer: o, d, steps: [w[0], w[1]], values: [a, b] });
                }
            }
        }
    }
    None
}

/// `not-identified` from the design of the data: what varies and what does not.
fn design_checks(law: &Law, runs: &[RunView], out: &mut Vec<FitWarning>) {
    let mut say = |m: String| out.push(warn(WarningKind::NotIdentified, m));
    let uses_rate = law.expr.uses_var(Var::Rho);
    let uses_size = law.expr.uses_var(Var::N0) || law.expr.uses_var(Var::N);
    if runs.len() == 1 {
        if uses_rate || uses_size {
            say("a single run: only the terms in d are identified; the rate and size terms (and their coefficients) are not".into());
        }
        return;
    }
    let rhos = distinct(runs.iter().map(|r| r.vars[Var::Rho as usize]).collect());
    let n0s = distinct(runs.iter().map(|r| r.vars[Var::N0 as usize]).collect());
    if uses_rate && rhos.len() < 2 {
        say(format!("one pruning rate (rho = {}): the rate terms are not identified", short(rhos[0])));
    } else if uses_rate && uses_size && n0s.len() >= 2 {
        let one_each = n0s.iter().all(|&n0| {
            let at: Vec<f64> = runs
                .iter()
                .filter(|r| (r.vars[0] - n0).abs() <= 1e-6 * n0.abs())
                .map(|r| r.vars[Var::Rho as usize])
                .collect();
            distinct(at).len() < 2
        });
        if one_each {
            say(format!(
                "each of the {} model sizes has a single pruning rate: the rate and size terms trade off and are not separately identified",
                n0s.len()
            ));
        }
    }
    if uses_size && n0s.len() < 2 {
        say(format!("one model size (n0 = {}): the size terms are not identified", short(n0s[0])));
    }
}

/// The Jacobian's condition number, and an `ill-conditioned` warning naming the weakest direction.
fn condition(law: &Law, params: &[f64], points: &[Point], out: &mut Vec<FitWarning>) -> Option<f64> {
    let free: Vec<usize> =
        (0..params.len()).filter(|&j| law.params[j].bound.active(params[j]).is_none()).collect();
    if free.is_empty() || points.is_empty() {
        return None;
    }
    let rows: Vec<[f64; 6]> = points.iter().map(|p| p.vars).collect();
    let batch = crate::expr::batch::Batch::new(&law.expr.tape, &rows);
    let mut ws = batch.workspace();
    let (n, np) = (rows.len(), params.len());
    let mut pred = vec![0.0; n];
    let mut jac = vec![0.0; n * np];
    batch.jacobian(params, &mut ws, &mut pred, &mut jac);
    let jac = &jac;
    let col = |j: usize| (0..n).map(move |i| jac[i * np + j]);
    let norms: Vec<f64> = free.iter().map(|&j| col(j).map(|v| v * v).sum::<f64>().sqrt()).collect();
    if norms.iter().any(|v| !v.is_finite()) {
        return None;
    }
    if let Some(k) = norms.iter().position(|&v| v == 0.0) {
        out.push(warn(
            WarningKind::NotIdentified,
            format!(
                "{} has no effect on any prediction at the fit: it is not identified",
                law.params[free[k]].name
            ),
        ));
        return None;
    }
    let m = free.len();
    let gram = nalgebra::DMatrix::from_fn(m, m, |a, b| {
        col(free[a]).zip(col(free[b])).map(|(x, y)| x * y).sum::<f64>() / (norms[a] * norms[b])
    });
    let eig = nalgebra::SymmetricEigen::try_new(gram, f64::EPSILON, 1000)?;
    let (mut lo, mut hi) = (0usize, 0usize);
    for i in 0..m {
        if eig.eigenvalues[i] < eig.eigenvalues[lo] {
            lo = i;
        }
        if eig.eigenvalues[i] > eig.eigenvalues[hi] {
            hi = i;
        }
    }
    let cond = (eig.eigenvalues[hi] / eig.eigenvalues[lo].max(0.0)).sqrt();
    if cond > ILL_CONDITIONED || !cond.is_finite() {
        let v = eig.eigenvectors.column(lo);
        let mut names: Vec<(f64, &str)> = (0..m)
            .map(|a| (v[a].abs(), law.params[free[a]].name.as_str()))
            .filter(|(w, _)| *w > 0.2)
            .collect();
        names.sort_by(|a, b| b.0.total_cmp(&a.0));
        let names: Vec<&str> = names.iter().map(|n| n.1).collect();
        let how = if cond.is_finite() {
            format!("condition number {}: the data barely separate", short(cond))
        } else {
            "the Jacobian is singular: the data cannot separate".to_string()
        };
        out.push(warn(
            WarningKind::IllConditioned,
            format!(
                "{how} {}; their values one by one mean little (see the bootstrap intervals)",
                names.join(", ")
            ),
        ));
    }
    cond.is_finite().then_some(cond)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, SynthSpec};

    fn kinds(d: &Diagnosis) -> Vec<WarningKind> {
        d.warnings.iter().map(|w| w.kind).collect()
    }

    #[test]
    fn a_law_without_a_floor_is_flagged() {
        // Loss falls like a − b ln d: no plateau, and below l0 at 10× the data.
        let law = Law::from_spec("l0 + a - b*ln(d)", &[]).unwrap();
        let points: Vec<Point> = (1..=6)
            .map(|i| {
                let d = 1e3 * 2f64.powi(i);
                Point { run: 0, vars: [1e6, 8e5, 0.2, 3.0, d, 3.0 + 2.3 - 0.2 * d.ln()] }
            })
            .collect();
        assert!(points.iter().all(|p| p.loss() > 3.0), "the data stay above l0");
        let dx = diagnose(&law, &[2.3, 0.2], &points);
        let k = kinds(&dx);
        assert!(k.contains(&WarningKind::NoPlateau), "{k:?}");
        assert!(k.contains(&WarningKind::BelowL0), "{k:?}");
        assert!(!k.contains(&WarningKind::NotDecreasing), "{k:?}");
    }

    #[test]
    fn a_plateau_below_l0_is_named_by_its_value_below_l0() {
        // l0 + 5/d^0.3 − 0.01: above l0 (3.0) at 10× the data, 0.01 below it far out.
        let law = Law::from_spec("l0 + a/d^b + e", &[]).unwrap();
        let params = [5.0, 0.3, -0.01];
        let points: Vec<Point> = (1..=6)
            .map(|i| {
                let d = 1e3 * 2f64.powi(i);
                Point { run: 0, vars: [1e6, 8e5, 0.2, 3.0, d, 3.0 + 5.0 / d.powf(0.3) - 0.01] }
            })
            .collect();
        let ten = 3.0 + 5.0 / (10.0 * 64e3f64).powf(0.3) - 0.01;
        assert!(ten > 3.0 && points.iter().all(|p| p.loss() > 3.0));
        let dx = diagnose(&law, &params, &points);
        let w = dx.warnings.iter().find(|w| w.kind == WarningKind::BelowL0).expect("below-l0 raised");
        assert!(w.message.contains("2.99 at 1e12× its last d"), "{}", w.message);
    }

    #[test]
    fn the_true_law_on_its_own_data_raises_nothing_physical() {
        let spec = SynthSpec::default();
        let c = generate(&SynthSpec { noise_sd: 0.0, ..spec.clone() });
        let law = Law::builtin("p2").unwrap();
        let dx = diagnose(&law, &spec.params, &c.points);
        assert!(dx.warnings.iter().all(|w| !w.kind.is_unphysical()), "{:?}", dx.warnings);
        assert!(dx.condition.unwrap() > 1.0);
    }

    #[test]
    fn wrong_rate_order_and_size_order_are_flagged() {
        // gamma > 0 with a positive bracket: (1/rho)^gamma falls with rho.
        let law = Law::from_spec("l0 + (1/rho)^g * b/d^0.3 + c/n0", &[]).unwrap();
        let mut points = Vec::new();
        for (run, (n0, rho)) in [(1e6, 0.2), (1e6, 0.4), (4e6, 0.2), (4e6, 0.4)].into_iter().enumerate() {
            for d in [1e3, 1e4, 1e5] {
                points.push(Point { run, vars: [n0, n0 * (1.0 - rho), rho, 3.0, d, 3.5] });
            }
        }
        let dx = diagnose(&law, &[1.0, 10.0, -1e5], &points);
        let k = kinds(&dx);
        assert!(k.contains(&WarningKind::RhoOrder) && k.contains(&WarningKind::N0Order), "{k:?}");
    }

    #[test]
    fn one_rate_per_size_is_not_identified() {
        let law = Law::builtin("p2").unwrap();
        let mut points = Vec::new();
        for (run, (n0, rho)) in [(1e6, 0.2), (2e6, 0.25), (4e6, 0.3)].into_iter().enumerate() {
            for d in [1e3, 1e4, 1e5] {
                points.push(Point { run, vars: [n0, n0 * (1.0 - rho), rho, 3.0, d, 3.5] });
            }
        }
        let x = [-0.5, 0.1, 1.0, 0.3, 10.0, 0.3, 0.1];
        let dx = diagnose(&law, &x, &points);
        assert!(
            dx.warnings
                .iter()
                .any(|w| w.kind == WarningKind::NotIdentified && w.message.contains("single pruning rate")),
            "{:?}",
            dx.warnings
        );
    }

    #[test]
    fn parameters_on_a_bound_are_named() {
        let law = Law::builtin("p2").unwrap();
        let c = generate(&SynthSpec { noise_sd: 0.0, points_per_run: 4, ..Default::default() });
        let mut x = SynthSpec::default().params.to_vec();
        x[5] = 0.0; // beta on its lower bound
        let dx = diagnose(&law, &x, &c.points);
        assert!(dx
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::AtBound && w.message.starts_with("beta = 0")));
    }
}
