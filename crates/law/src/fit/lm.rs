//! Levenberg–Marquardt on normal equations: the hand-rolled alternative to the `levenberg-marquardt` crate
//! (`fit::lm_crate`, built with the `bench` feature), kept because it is measurably faster here
//! (bench/fit_vs_scipy/README.md).
//!
//! With few parameters (p ≤ 64) and many points (n ~ 1e4), forming `JᵀJ` (p×p) and `Jᵀr` costs `n p²/2`
//! and the step is a p×p Cholesky solve, where the crate's pivoted QR of the n×p Jacobian costs `2 n p²`
//! plus copies. Damping follows Nielsen (1999) with Marquardt's scaling `D = diag(JᵀJ)` (running maximum,
//! as MINPACK); stopping follows MINPACK: relative reduction of the squared error below `ftol` (actual and
//! predicted), or a relative scaled step below `xtol`. Forming `JᵀJ` squares the condition number, which
//! the scaling and the damping keep in check for laws of a few well-scaled exponents and coefficients.

use crate::expr::batch::Batch;

/// Outcome of one LM run.
#[derive(Debug, Clone)]
pub(crate) struct LmResult {
    pub(crate) x: Vec<f64>,
    pub(crate) objective: f64,
    pub(crate) evaluations: usize,
    pub(crate) stop: Stop,
}

impl LmResult {
    pub(crate) fn converged(&self) -> bool {
        self.stop.converged()
    }
}

/// Why an LM run stopped: the first five are convergence, the rest are not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stop {
    /// The squared error's actual and predicted relative reductions fell below `ftol`.
    Ftol,
    /// The relative scaled step fell below `xtol`.
    Xtol,
    /// The gradient is zero at working precision.
    ZeroGradient,
    /// No step of any damping decreases the error (variable projection's test).
    NoFurtherDecrease,
    /// A law linear in every parameter: the projection is the answer.
    LinearLeastSquares,
    /// The evaluation budget ran out (or a screened start was not carried on to the final stage).
    EvaluationLimit,
    NonFiniteStart,
    NonFinitePrediction,
    NonFiniteJacobian,
    /// The damped normal equations stayed singular up to the largest damping.
    NotPositiveDefinite,
    /// The `levenberg-marquardt` crate's own termination (`bench` builds only).
    #[cfg(feature = "bench")]
    Crate {
        converged: bool,
        termination: String,
    },
}

impl Stop {
    pub(crate) fn converged(&self) -> bool {
        match self {
            Stop::Ftol
            | Stop::Xtol
            | Stop::ZeroGradient
            | Stop::NoFurtherDecrease
            | Stop::LinearLeastSquares => true,
            #[cfg(feature = "bench")]
            Stop::Crate { converged, .. } => *converged,
            _ => false,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Ftol => "ftol",
            Stop::Xtol => "xtol",
            Stop::ZeroGradient => "zero gradient",
            Stop::NoFurtherDecrease => "no further decrease",
            Stop::LinearLeastSquares => "linear least squares",
            Stop::EvaluationLimit => "evaluation limit reached",
            Stop::NonFiniteStart => "non-finite prediction at the start",
            Stop::NonFinitePrediction => "non-finite prediction",
            Stop::NonFiniteJacobian => "non-finite Jacobian",
            Stop::NotPositiveDefinite => "damped normal equations not positive definite",
            #[cfg(feature = "bench")]
            Stop::Crate { termination, .. } => termination,
        })
    }
}

/// MINPACK's default `ftol` and `xtol`, as SciPy's `curve_fit(method="lm")`.
pub(crate) const TIGHT: f64 = 1.49012e-8;

/// Runs LM from `x0` with relative tolerance `tol` ([`TIGHT`]: MINPACK's default); stops after
/// `100 (p + 1)` evaluations.
pub(crate) fn levenberg_marquardt(batch: &Batch, y: &[f64], x0: &[f64], tol: f64) -> LmResult {
    let (n, p) = (y.len(), x0.len());
    let max_evals = 100 * (p + 1);
    let mut ws = batch.workspace();
    let mut pred = vec![0.0; n];
    let mut x = x0.to_vec();
    let half_sse = |pred: &[f64]| {
        let s = 0.5 * pred.iter().zip(y).map(|(p, y)| (p - y) * (p - y)).sum::<f64>();
        if s.is_finite() {
            s
        } else {
            f64::INFINITY
        }
    };
    batch.linearize(&x, &mut ws, &mut pred);
    let mut f = half_sse(&pred);
    let mut evals = 1;
    let done = |x: Vec<f64>, f: f64, evaluations, stop| LmResult { x, objective: f, evaluations, stop };
    if !f.is_finite() {
        return done(x, f, evals, Stop::NonFiniteStart);
    }
    let (mut a, mut g) = (vec![0.0; p * p], vec![0.0; p]);
    let mut diag = vec![0.0f64; p];
    let mut lambda = -1.0;
    let mut nu = 2.0;
    let (mut xn, mut step, mut chol) = (vec![0.0; p], vec![0.0; p], vec![0.0; p * p]);
    loop {
        // Normal equations at x: a = JᵀJ, g = Jᵀr (r = pred − y), from the factored Jacobian.
        batch.gram(&ws, y, &pred, &mut a, &mut g);
        g.iter_mut().for_each(|v| *v = -*v);
        if !a.iter().chain(&g).all(|v| v.is_finite()) {
            return done(x, f, evals, Stop::NonFiniteJacobian);
        }
        for j in 0..p {
            diag[j] = diag[j].max(a[j * p + j]).max(1e-300);
        }
        if g.iter().zip(&diag).all(|(g, d)| g.abs() <= 1e-300 * d.sqrt()) {
            return done(x, f, evals, Stop::ZeroGradient);
        }
        if lambda < 0.0 {
            lambda = 1e-3 * (0..p).map(|j| a[j * p + j] / diag[j]).fold(0.0, f64::max);
        }
        // Inner loop: raise damping until a step decreases the squared error.
        loop {
            if evals >= max_evals {
                return done(x, f, evals, Stop::EvaluationLimit);
            }
            for j in 0..p {
                for k in 0..p {
                    chol[j * p + k] = a[j * p + k] + if j == k { lambda * diag[j] } else { 0.0 };
                }
            }
            if !cholesky_solve(&mut chol, &g, &mut step, p) {
                if lambda.is_nan() || lambda >= 1e30 {
                    return done(x, f, evals, Stop::NotPositiveDefinite);
                }
                lambda *= nu;
                nu *= 2.0;
                continue;
            }
            xn.iter_mut().zip(x.iter().zip(&step)).for_each(|(xn, (x, s))| *xn = x - s);
            batch.values(&xn, &mut ws, &mut pred);
            let fnew = half_sse(&pred);
            evals += 1;
            // Predicted reduction of the linear model: ½ sᵀ(λ D s + Jᵀr) with s = -step.
            let predicted: f64 =
                0.5 * (0..p).map(|j| step[j] * (lambda * diag[j] * step[j] + g[j])).sum::<f64>();
            let actual = f - fnew;
            let xnorm = (0..p).map(|j| diag[j] * x[j] * x[j]).sum::<f64>().sqrt();
            let snorm = (0..p).map(|j| diag[j] * step[j] * step[j]).sum::<f64>().sqrt();
            if fnew.is_finite() && actual > 0.0 {
                let rho = actual / predicted.max(1e-300);
                lambda *= (1.0 / 3.0f64).max(1.0 - (2.0 * rho - 1.0).powi(3));
                nu = 2.0;
                std::mem::swap(&mut x, &mut xn);
                batch.linearize(&x, &mut ws, &mut pred);
                let f_old = f;
                f = fnew;
                if actual <= tol * f_old && predicted <= tol * f_old {
                    return done(x, f, evals, Stop::Ftol);
                }
                if snorm <= tol * xnorm {
                    return done(x, f, evals, Stop::Xtol);
                }
                break;
            }
            if snorm <= tol * xnorm || (fnew.is_finite() && -actual <= tol * f && predicted <= tol * f) {
                // No step of any damping helps at working precision: a minimum.
                batch.values(&x, &mut ws, &mut pred);
                return done(x, f, evals, Stop::Xtol);
            }
            lambda *= nu;
            nu *= 2.0;
        }
    }
}

/// Solves `m s = b` for symmetric positive definite `m` (p×p, overwritten by its Cholesky factor).
/// Returns false when `m` is not numerically positive definite.
pub(super) fn cholesky_solve(m: &mut [f64], b: &[f64], s: &mut [f64], p: usize) -> bool {
    for j in 0..p {
        let mut d = m[j * p + j];
        for k in 0..j {
            d -= m[j * p + k] * m[j * p + k];
        }
        if !d.is_finite() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        m[j * p + j] = d;
        for i in j + 1..p {
            let mut v = m[i * p + j];
            for k in 0..j {
                v -= m[i * p + k] * m[j * p + k];
            }
            m[i * p + j] = v / d;
        }
    }
    for i in 0..p {
        let mut v = b[i];
        for k in 0..i {
            v -= m[i * p + k] * s[k];
        }
        s[i] = v / m[i * p + i];
    }
    for i in (0..p).rev() {
        let mut v = s[i];
        for k in i + 1..p {
            v -= m[k * p + i] * s[k];
        }
        s[i] = v / m[i * p + i];
    }
    true
}
