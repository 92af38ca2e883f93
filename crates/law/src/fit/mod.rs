//! Fitting a [`Law`] to loss observations ([`Point`]s), as `docs/spec/law.md` prescribes.
//!
//! Two objectives, each from a multi-start grid (see [`start_grid`]; each start's linear parameters are
//! solved in closed form first), starts run in parallel with rayon:
//! 1. least squares on the loss, `½ Σ (pred − loss)²`, Levenberg–Marquardt with the exact Jacobian, from
//!    every start;
//! 2. Huber (δ = [`FitOptions::huber_delta`], 1e-3) on `ln loss − ln pred`, summed, L-BFGS (Chinchilla's
//!    approach 3), from the [`FitOptions::polish`] least-squares end points with the lowest Huber
//!    objective: Gauss–Newton steps bring every start near a minimum in a few evaluations, where L-BFGS
//!    alone on the nearly piecewise-linear Huber objective needs hundreds per start.
//!
//! Least squares runs by variable projection (`fit::varpro`): LM over the nonlinear parameters with the
//! linear ones solved exactly at every evaluation (for `p2`: 4 exponents searched, `nc`, `dc`, `e` solved).
//! Every start is screened with a few evaluations, on every k-th point when there are more than about
//! 2,000; the 16 best then run to tight convergence on all points.
//!
//! Every fit honours the law's parameter bounds ([`crate::laws::Bound`]): the closed-form linear solve is
//! box-constrained and least-squares steps are projected (`fit::bounded`); the Huber stage moves bounded
//! parameters through transforms that keep them inside (and leaves on its bound one that starts there).
//! [`least_squares_from`], the paper's single LM run, ignores them.
//!
//! Each objective keeps its own best start; the fit's parameters are those of the solution with the lower
//! Huber objective (scale-free, robust to outliers), and both solutions are reported. Fits within a
//! relative 1e-6 of the best count as tied, and the one nearest the law's parameter ranges wins (the data
//! cannot tell them apart; the ranges are prior knowledge). Results do not depend on the thread count:
//! every start is independent and remaining ties are broken by start index.
//!
//! ```
//! use p2law_law::{fit, synth, FitOptions, Law};
//! let data = synth::generate(&synth::SynthSpec { noise_sd: 0.0, ..Default::default() });
//! let law = Law::builtin("p2").unwrap();
//! let f = fit(&law, &data.points, &FitOptions { starts: 16, ..Default::default() }).unwrap();
//! let beta = f.param("beta").unwrap();
//! assert!((beta - synth::SynthSpec::default().params[5]).abs() < 1e-3, "{beta}");
//! ```

mod bounded;
mod lbfgs;
mod lm;
#[cfg(feature = "bench")]
mod lm_crate;
mod start;
mod varpro;

use rayon::prelude::*;

use crate::curves::Point;
use crate::expr::batch::Batch;
use crate::laws::{Bound, Law};
use crate::var::Var;
use lbfgs::{LbfgsOptions, LbfgsResult};
use lm::{LmResult, Stop};

/// Which objectives to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objectives {
    #[default]
    Both,
    LeastSquares,
    Huber,
}

/// The objective a solution minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Levenberg–Marquardt on `½ Σ (pred − loss)²`.
    LeastSquares,
    /// L-BFGS on `Σ huber_δ(ln loss − ln pred)`.
    Huber,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::LeastSquares => "least-squares (LM)",
            Method::Huber => "huber-log (L-BFGS)",
        }
    }
}

/// Fitting settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    pub objectives: Objectives,
    /// Size of the multi-start grid.
    pub starts: usize,
    /// How many least-squares end points (lowest Huber objective first) L-BFGS polishes on the Huber
    /// objective.
    pub polish: usize,
    /// Huber threshold on log residuals.
    pub huber_delta: f64,
    /// Iteration cap for L-BFGS (LM stops after 100 × (parameters + 1) evaluations, MINPACK's default).
    pub max_iter: usize,
    /// Seeds the random part of the start grid (used when `starts` is not a full grid).
    pub seed: u64,
    /// Run the checks of [`crate::diagnose`] on the result (bootstrap replicates skip them).
    pub diagnose: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            objectives: Objectives::Both,
            starts: 256,
            polish: 8,
            huber_delta: 1e-3,
            max_iter: 2000,
            seed: 0,
            diagnose: true,
        }
    }
}

/// One objective's best solution.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub method: Method,
    pub params: Vec<f64>,
    /// The method's own objective at `params`.
    pub objective: f64,
    /// `½ Σ (pred − loss)²` at `params`.
    pub half_sse: f64,
    /// `Σ huber_δ(ln loss − ln pred)` at `params`.
    pub huber: f64,
    /// Index of the winning start in [`start_grid`].
    pub start: usize,
    /// Objective evaluations the winning run used.
    pub evaluations: usize,
}

/// A fitted law.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub law: String,
    pub expr: String,
    pub names: Vec<String>,
    pub params: Vec<f64>,
    /// The method whose solution was kept.
    pub method: Method,
    /// That method's objective.
    pub objective: f64,
    pub least_squares: Option<Solution>,
    pub huber: Option<Solution>,
    pub n_points: usize,
    pub starts: usize,
    /// What the checks of [`crate::diagnose`] found (empty when [`FitOptions::diagnose`] is off).
    pub warnings: Vec<crate::diagnose::FitWarning>,
    /// Condition number of the Jacobian at the fit (see [`crate::diagnose`]).
    pub condition: Option<f64>,
    /// The work the fit did.
    pub stats: FitStats,
}

/// The work of one [`fit`], for benchmarks and for tuning the start grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FitStats {
    /// Objective evaluations of every least-squares run (screening and final).
    pub lm_evaluations: usize,
    /// Least-squares end points polished by L-BFGS on the Huber objective (0 for least squares only).
    pub polished: usize,
    /// Objective evaluations of those L-BFGS runs.
    pub lbfgs_evaluations: usize,
    /// Their iterations.
    pub lbfgs_iterations: usize,
}

impl Fit {
    /// A fitted parameter by name.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.names.iter().position(|n| n == name).map(|i| self.params[i])
    }
}

/// Why a fit failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error(
        "fitting law '{law}': {points} points for {params} parameters; need more points than parameters"
    )]
    TooFewPoints { law: String, points: usize, params: usize },
    #[error("fitting law '{law}': point {index} (run {run}) has {field} = {value}; {need}")]
    BadPoint { law: String, index: usize, run: usize, field: &'static str, value: f64, need: &'static str },
    #[error("fitting law '{law}': no start converged ({detail}); try other parameter ranges or more starts")]
    NotConverged { law: String, detail: String },
    #[error("fitting law '{law}': the fitted law predicts {value} at point {index} (run {run}), not a finite loss")]
    NonFinite { law: String, index: usize, run: usize, value: f64 },
}

/// Screening: every start runs variable-projection LM to this relative tolerance or this many
/// evaluations, which brings each start into its basin; the best [`FINALISTS`] (by squared error) then run
/// to [`FINAL_TOL`]. A screened run that stopped early is not a failure: it is just not a finalist.
const SCREEN_TOL: f64 = 1e-6;
const SCREEN_EVALS: usize = 10;
const FINALISTS: usize = 16;
const FINAL_TOL: f64 = 1e-10;
/// Screening sees at most about this many points: every k-th point, so each run keeps its spread over `d`.
/// Where a start's basin lies does not need ten thousand points to tell; the finalists then run on all.
const SCREEN_POINTS: usize = 2_000;
/// Fits whose objectives differ by less than this fraction are equally good: the data cannot tell them
/// apart (the P² law has flat valleys, e.g. `nc`–`alpha` when only two model sizes are fitted).
const TIE: f64 = 1e-6;

/// How far `x` strays outside the law's parameter ranges, in range widths (0 inside every range).
fn range_excess(law: &Law, x: &[f64]) -> f64 {
    law.params
        .iter()
        .zip(x)
        .map(|(p, &v)| {
            let width = (p.hi - p.lo).abs().max(f64::MIN_POSITIVE);
            ((p.lo - v).max(v - p.hi).max(0.0)) / width
        })
        .sum()
}

/// The best candidate `(objective, params, start)`: the lowest objective, except that among fits tied with
/// it (within [`TIE`]) the one nearest the law's ranges wins. Ranges only seed the starts, but where the
/// data are silent they are the best knowledge there is: two equally good fits whose extrapolations
/// differ (to a larger model, say) should not be chosen by rounding.
fn pick<'a, T>(law: &Law, cands: impl IntoIterator<Item = (f64, &'a [f64], usize, T)>) -> Option<T> {
    let cands: Vec<(f64, &[f64], usize, T)> = cands.into_iter().collect();
    let best = cands.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        return None;
    }
    let limit = best + TIE * best.abs();
    cands
        .into_iter()
        .filter(|c| c.0 <= limit)
        .map(|c| (range_excess(law, c.1), c))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1 .0.total_cmp(&b.1 .0)).then(a.1 .2.cmp(&b.1 .2)))
        .map(|(_, c)| c.3)
}

/// The starting points [`fit`] uses, before the closed-form linear solve.
pub fn start_grid(law: &Law, opts: &FitOptions) -> Vec<Vec<f64>> {
    start::grid(law, &law.expr.linear_mask(), opts.starts, opts.seed)
}

/// `huber_δ(r)` and its derivative.
fn huber(r: f64, delta: f64) -> (f64, f64) {
    if r.abs() <= delta {
        (0.5 * r * r, r)
    } else {
        (delta * (r.abs() - 0.5 * delta), delta * r.signum())
    }
}

/// The data a fit needs, checked: rows, targets, batch evaluator.
struct Prepared<'t> {
    batch: Batch<'t>,
    y: Vec<f64>,
    runs: Vec<usize>,
}

fn prepare<'t>(law: &'t Law, points: &[Point], opts: &FitOptions) -> Result<Prepared<'t>, FitError> {
    let np = law.params.len();
    if points.len() <= np {
        return Err(FitError::TooFewPoints { law: law.name.clone(), points: points.len(), params: np });
    }
    for (index, p) in points.iter().enumerate() {
        let bad = |field: &'static str, value: f64, need: &'static str| FitError::BadPoint {
            law: law.name.clone(),
            index,
            run: p.run,
            field,
            value,
            need,
        };
        for v in [Var::N0, Var::N, Var::Rho, Var::L0, Var::D] {
            if law.expr.uses_var(v) && !p.get(v).is_finite() {
                return Err(bad(v.name(), p.get(v), "the law uses it, so it must be finite"));
            }
        }
        let loss = p.loss();
        let need_positive = opts.objectives != Objectives::LeastSquares;
        if !loss.is_finite() || (need_positive && loss <= 0.0) {
            return Err(bad(
                "loss",
                loss,
                "need a finite, positive loss (the Huber objective takes its log)",
            ));
        }
    }
    let rows: Vec<[f64; 6]> = points.iter().map(|p| p.vars).collect();
    Ok(Prepared {
        batch: Batch::new(&law.expr.tape, &rows),
        y: points.iter().map(|p| p.loss()).collect(),
        runs: points.iter().map(|p| p.run).collect(),
    })
}

impl Prepared<'_> {
    /// `(½ SSE, Σ huber)` at `x`; infinite when a prediction is not finite (or not positive, for Huber).
    fn criteria(&self, x: &[f64], delta: f64) -> (f64, f64) {
        let mut ws = self.batch.workspace();
        let mut pred = vec![0.0; self.y.len()];
        self.batch.values(x, &mut ws, &mut pred);
        let (mut sse, mut hub) = (0.0, 0.0);
        for (p, y) in pred.iter().zip(&self.y) {
            sse += 0.5 * (p - y) * (p - y);
            hub += if *p > 0.0 { huber(y.ln() - p.ln(), delta).0 } else { f64::INFINITY };
        }
        let fin = |v: f64| if v.is_finite() { v } else { f64::INFINITY };
        (fin(sse), fin(hub))
    }

    /// L-BFGS on the Huber objective from `x0`, in coordinates where every point is feasible: a free
    /// parameter is scaled by `x0`'s magnitude (so that parameters of size 1e3 and 1e-1 move alike), one
    /// bounded on one side moves as `lo + e^u` (or `hi − e^u`), one bounded on both as
    /// `lo + (hi − lo)·σ(u)`. A parameter that starts on a bound (the least-squares end point put it
    /// there) stays on it.
    fn huber_run(&self, x0: &[f64], law: &Law, opts: &FitOptions) -> LbfgsResult {
        let maps: Vec<Coord> = x0.iter().zip(&law.params).map(|(&x, p)| Coord::new(x, p)).collect();
        let mut ws = self.batch.workspace();
        let mut theta = vec![0.0; x0.len()];
        let delta = opts.huber_delta;
        let y = &self.y;
        let objective = |z: &[f64], gz: &mut [f64]| {
            theta.iter_mut().zip(z.iter().zip(&maps)).for_each(|(t, (z, m))| *t = m.value(*z));
            let f = self.batch.objective(
                &theta,
                &mut ws,
                |i, p| {
                    if p > 0.0 && p.is_finite() {
                        let (h, dh) = huber(y[i].ln() - p.ln(), delta);
                        (h, -dh / p)
                    } else {
                        (f64::INFINITY, 0.0)
                    }
                },
                gz,
            );
            gz.iter_mut().zip(z.iter().zip(&maps)).for_each(|(g, (z, m))| *g *= m.slope(*z));
            f
        };
        let z0: Vec<f64> = x0.iter().zip(&maps).map(|(x, m)| m.coordinate(*x)).collect();
        let mut r =
            lbfgs::minimize(objective, &z0, &LbfgsOptions { max_iter: opts.max_iter, ..Default::default() });
        r.x = r.x.iter().zip(&maps).map(|(z, m)| m.value(*z)).collect();
        r
    }
}

/// How one parameter maps from the L-BFGS coordinate `u` (see `Prepared::huber_run`).
#[derive(Debug, Clone, Copy)]
enum Coord {
    /// `x = u · scale`.
    Scaled(f64),
    /// Held at this value (on a bound).
    Held(f64),
    /// `x = lo + e^u`.
    Above(f64),
    /// `x = hi − e^u`.
    Below(f64),
    /// `x = lo + (hi − lo) σ(u)`.
    Between(f64, f64),
}

impl Coord {
    fn new(x: f64, p: &crate::laws::ParamSpec) -> Coord {
        let b = p.bound;
        if b.active(x).is_some() {
            return Coord::Held(x);
        }
        match (b.lo.is_finite(), b.hi.is_finite()) {
            (false, false) => {
                Coord::Scaled(if x.abs() > 1e-8 { x.abs() } else { (p.hi - p.lo).abs().max(1e-8) })
            }
            (true, false) => Coord::Above(b.lo),
            (false, true) => Coord::Below(b.hi),
            (true, true) => Coord::Between(b.lo, b.hi),
        }
    }

    fn coordinate(self, x: f64) -> f64 {
        match self {
            Coord::Scaled(s) => x / s,
            Coord::Held(_) => 0.0,
            Coord::Above(lo) => (x - lo).ln(),
            Coord::Below(hi) => (hi - x).ln(),
            Coord::Between(lo, hi) => {
                let t = (x - lo) / (hi - lo);
                (t / (1.0 - t)).ln()
            }
        }
    }

    fn value(self, u: f64) -> f64 {
        match self {
            Coord::Scaled(s) => u * s,
            Coord::Held(x) => x,
            Coord::Above(lo) => lo + u.exp(),
            Coord::Below(hi) => hi - u.exp(),
            Coord::Between(lo, hi) => lo + (hi - lo) / (1.0 + (-u).exp()),
        }
    }

    /// `dx/du`.
    fn slope(self, u: f64) -> f64 {
        match self {
            Coord::Scaled(s) => s,
            Coord::Held(_) => 0.0,
            Coord::Above(_) => u.exp(),
            Coord::Below(_) => -u.exp(),
            Coord::Between(lo, hi) => {
                let s = 1.0 / (1.0 + (-u).exp());
                (hi - lo) * s * (1.0 - s)
            }
        }
    }
}

/// Fits `law` to `points` in phases: `screen` every start, `finish` the best, keep the best least-squares
/// solution, `polish` on the Huber objective, then `choose` between the two objectives' solutions.
pub fn fit(law: &Law, points: &[Point], opts: &FitOptions) -> Result<Fit, FitError> {
    let data = prepare(law, points, opts)?;
    let linear = law.expr.linear_mask();
    let grid = start::grid(law, &linear, opts.starts, opts.seed);
    let bounds: Vec<Bound> = law.params.iter().map(|p| p.bound).collect();
    let stride = points.len().div_ceil(SCREEN_POINTS);
    let thinned = if stride > 1 {
        let every: Vec<Point> = points.iter().step_by(stride).copied().collect();
        Some(prepare(law, &every, opts)?)
    } else {
        None
    };
    let mut stage1 = screen(thinned.as_ref().unwrap_or(&data), &grid, &linear, &bounds);
    finish(&data, &mut stage1, &linear, &bounds, opts.polish, stride > 1);
    let mut failures: Vec<String> = stage1
        .iter()
        .flatten()
        .filter(|r| !r.converged() && r.stop != Stop::EvaluationLimit)
        .map(|r| format!("LM: {}", r.stop))
        .collect();
    let least_squares = if opts.objectives != Objectives::Huber {
        best_least_squares(law, &data, &stage1, opts.huber_delta)
    } else {
        None
    };
    let mut stats = FitStats {
        lm_evaluations: stage1.iter().flatten().map(|r| r.evaluations).sum(),
        ..Default::default()
    };
    let huber_sol = if opts.objectives != Objectives::LeastSquares {
        polish(law, &data, &stage1, opts, &mut stats, &mut failures)
    } else {
        None
    };
    let chosen = choose(law, &least_squares, &huber_sol, failures)?;
    check_finite(law, &data, &chosen.params)?;
    let diagnosis = if opts.diagnose {
        crate::diagnose::diagnose(law, &chosen.params, points)
    } else {
        Default::default()
    };
    Ok(Fit {
        law: law.name.clone(),
        expr: law.source.clone(),
        names: law.param_names().iter().map(|s| s.to_string()).collect(),
        params: chosen.params.clone(),
        method: chosen.method,
        objective: chosen.objective,
        least_squares: least_squares.clone(),
        huber: huber_sol.clone(),
        n_points: points.len(),
        starts: grid.len(),
        warnings: diagnosis.warnings,
        condition: diagnosis.condition,
        stats,
    })
}

/// Stage 1, every start: closed-form linear parameters (variable projection), then a few LM evaluations
/// on squared error over `data`'s points; `None` where the linear solve gives no finite error.
fn screen(data: &Prepared, grid: &[Vec<f64>], linear: &[bool], bounds: &[Bound]) -> Vec<Option<LmResult>> {
    let n = data.y.len();
    grid.par_iter()
        .map(|x0| {
            let mut x = x0.clone();
            let mut pred = vec![0.0; n];
            let mut ws = data.batch.workspace();
            let sse = start::solve_linear(&data.batch, &mut ws, linear, bounds, &data.y, &mut x, &mut pred);
            sse.is_finite()
                .then(|| varpro::fit(&data.batch, &data.y, linear, bounds, &x, SCREEN_TOL, SCREEN_EVALS))
        })
        .collect()
}

/// Stage 1b: the `FINALISTS` (at least `polish`) screened runs with the lowest squared error continue to
/// tight convergence on all points. When the screen ran on `thinned` points, the other runs' objectives
/// cannot compete and are marked unconverged.
fn finish(
    data: &Prepared,
    stage1: &mut [Option<LmResult>],
    linear: &[bool],
    bounds: &[Bound],
    polish: usize,
    thinned: bool,
) {
    let np = linear.len();
    let mut order: Vec<usize> =
        (0..stage1.len()).filter(|&i| stage1[i].as_ref().is_some_and(|r| r.objective.is_finite())).collect();
    order.sort_by(|&a, &b| {
        let f = |i: usize| stage1[i].as_ref().map_or(f64::INFINITY, |r| r.objective);
        f(a).total_cmp(&f(b)).then(a.cmp(&b))
    });
    order.truncate(FINALISTS.max(polish));
    let finished: Vec<(usize, LmResult)> = order
        .par_iter()
        .filter_map(|&i| {
            let r = stage1[i].as_ref()?;
            Some((i, varpro::fit(&data.batch, &data.y, linear, bounds, &r.x, FINAL_TOL, 100 * (np + 1))))
        })
        .collect();
    if thinned {
        for r in stage1.iter_mut().flatten() {
            r.stop = Stop::EvaluationLimit;
        }
    }
    for (i, r) in finished {
        stage1[i] = Some(r);
    }
}

/// The least-squares solution: the converged run with the lowest squared error (ties as [`pick`] says).
fn best_least_squares(
    law: &Law,
    data: &Prepared,
    stage1: &[Option<LmResult>],
    delta: f64,
) -> Option<Solution> {
    let best = pick(
        law,
        stage1.iter().enumerate().filter_map(|(i, r)| {
            let r = r.as_ref().filter(|r| r.converged() && r.objective.is_finite())?;
            Some((r.objective, r.x.as_slice(), i, (i, r)))
        }),
    );
    best.map(|(start, r)| {
        let (half_sse, huber) = data.criteria(&r.x, delta);
        Solution {
            method: Method::LeastSquares,
            params: r.x.clone(),
            objective: half_sse,
            half_sse,
            huber,
            start,
            evaluations: r.evaluations,
        }
    })
}

/// Stage 2: L-BFGS on the Huber objective, from the `polish` least-squares end points with the lowest
/// Huber objective (ties by start index). The Huber minimum lies next to a least-squares minimum for all
/// but outlier-ridden data, so polishing every start's end would repeat the same descent hundreds of times
/// (the distinct ends differ only along the flat delta–alpha–nc valley). Counts its work in `stats`, and
/// adds the runs that did not converge to `failures`.
fn polish(
    law: &Law,
    data: &Prepared,
    stage1: &[Option<LmResult>],
    opts: &FitOptions,
    stats: &mut FitStats,
    failures: &mut Vec<String>,
) -> Option<Solution> {
    let mut ranked: Vec<(f64, usize)> = stage1
        .par_iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (data.criteria(&r.x, opts.huber_delta).1, i)))
        .filter(|(h, _)| h.is_finite())
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    ranked.truncate(opts.polish.max(1));
    let runs: Vec<(usize, LbfgsResult)> = ranked
        .par_iter()
        .filter_map(|&(_, i)| stage1[i].as_ref().map(|r| (i, data.huber_run(&r.x, law, opts))))
        .collect();
    stats.polished = runs.len();
    stats.lbfgs_evaluations = runs.iter().map(|r| r.1.evaluations).sum();
    stats.lbfgs_iterations = runs.iter().map(|r| r.1.iterations).sum();
    for (_, r) in &runs {
        if !r.stop.converged() {
            failures.push(format!("L-BFGS: {:?}", r.stop));
        }
    }
    let best = pick(
        law,
        runs.iter()
            .filter(|(_, r)| r.stop.converged() && r.f.is_finite())
            .map(|(i, r)| (r.f, r.x.as_slice(), *i, (*i, r.clone()))),
    );
    best.map(|(start, r)| {
        let (half_sse, huber) = data.criteria(&r.x, opts.huber_delta);
        Solution {
            method: Method::Huber,
            params: r.x,
            objective: huber,
            half_sse,
            huber,
            start,
            evaluations: r.evaluations,
        }
    })
}

/// The solution the fit keeps: the lower Huber objective of the two (ties as [`pick`] says), or the only
/// one; an error naming the `failures` when neither objective has a solution.
fn choose<'s>(
    law: &Law,
    least_squares: &'s Option<Solution>,
    huber: &'s Option<Solution>,
    mut failures: Vec<String>,
) -> Result<&'s Solution, FitError> {
    match (least_squares, huber) {
        (Some(l), Some(h)) => {
            let cands = [(h.huber, h.params.as_slice(), 0, h), (l.huber, l.params.as_slice(), 1, l)];
            Ok(pick(law, cands).expect("both objectives are finite"))
        }
        (Some(s), None) | (None, Some(s)) => Ok(s),
        (None, None) => {
            failures.sort();
            failures.dedup();
            let detail = if failures.is_empty() {
                "every start gave a non-finite prediction".to_string()
            } else {
                failures.join("; ")
            };
            Err(FitError::NotConverged { law: law.name.clone(), detail })
        }
    }
}

fn check_finite(law: &Law, data: &Prepared, x: &[f64]) -> Result<(), FitError> {
    let mut ws = data.batch.workspace();
    let mut pred = vec![0.0; data.y.len()];
    data.batch.values(x, &mut ws, &mut pred);
    match pred.iter().position(|p| !p.is_finite()) {
        Some(index) => Err(FitError::NonFinite {
            law: law.name.clone(),
            index,
            run: data.runs[index],
            value: pred[index],
        }),
        None => Ok(()),
    }
}

/// One Levenberg–Marquardt run from `x0` (no grid, no linear solve): the paper's fitting procedure alone.
pub fn least_squares_from(law: &Law, points: &[Point], x0: &[f64]) -> Result<Solution, FitError> {
    least_squares_with(law, points, |data| lm::levenberg_marquardt(&data.batch, &data.y, x0, lm::TIGHT))
}

/// [`least_squares_from`] with the `levenberg-marquardt` crate instead of our LM (for the bench).
#[cfg(feature = "bench")]
pub fn least_squares_from_crate(law: &Law, points: &[Point], x0: &[f64]) -> Result<Solution, FitError> {
    least_squares_with(law, points, |data| lm_crate::levenberg_marquardt(&data.batch, &data.y, x0, 100))
}

/// One least-squares run by `lm` on the prepared points, checked and scored.
fn least_squares_with(
    law: &Law,
    points: &[Point],
    lm: impl FnOnce(&Prepared) -> LmResult,
) -> Result<Solution, FitError> {
    let opts = FitOptions { objectives: Objectives::LeastSquares, ..Default::default() };
    let data = prepare(law, points, &opts)?;
    let r = lm(&data);
    if !r.converged() {
        return Err(FitError::NotConverged { law: law.name.clone(), detail: format!("LM: {}", r.stop) });
    }
    check_finite(law, &data, &r.x)?;
    let (half_sse, huber) = data.criteria(&r.x, opts.huber_delta);
    Ok(Solution {
        method: Method::LeastSquares,
        params: r.x,
        objective: half_sse,
        half_sse,
        huber,
        start: 0,
        evaluations: r.evaluations,
    })
}
