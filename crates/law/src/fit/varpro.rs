//! Least squares by variable projection: Levenberg–Marquardt over the nonlinear parameters only, with the
//! linear ones (see `expr::linear`) at their exact least-squares values at every evaluation.
//!
//! For fixed nonlinear `θ_N` the prediction is affine in the linear `θ_L`: `pred = c + G θ_L`, where `G`'s
//! columns are the Jacobian columns of `θ_L`. One Jacobian pass at `(θ_N, θ_L)` therefore gives, through
//! `A = JᵀJ` and `b = Jᵀ(y − pred)`, the optimal step `Δ = A_LL⁺ b_L` (exact: the model is affine in
//! `θ_L`), the residuals at `θ_L + Δ` (`pred + G Δ`) and the reduced normal equations: the Schur complement
//! `A_NN − A_NL A_LL⁺ A_LN` (Kaufman's approximation of the projected Jacobian's Gram matrix) and gradient
//! `J_Nᵀ r`. Removing the linear directions — for `p2`, `nc`, `dc`, `e`, which trade off almost exactly
//! against `delta` and `alpha` — leaves a small, well-conditioned problem: a few LM iterations per start
//! where full LM needs a hundred.

use nalgebra::DMatrix;

use super::lm::{LmResult, Stop};
use crate::expr::batch::{Batch, Workspace};
use crate::laws::Bound;

struct Eval {
    /// Half sum of squared residuals at the projected point.
    f: f64,
    /// The full parameter vector with projected linear parameters.
    x: Vec<f64>,
    /// Reduced Gram matrix (m × m, row-major) and gradient over the nonlinear parameters.
    a: Vec<f64>,
    g: Vec<f64>,
}

struct Projector<'a, 'b> {
    batch: &'a Batch<'b>,
    y: &'a [f64],
    lin: Vec<usize>,
    non: Vec<usize>,
    bounds: &'a [Bound],
    ws: Workspace,
    pred: Vec<f64>,
}

impl Projector<'_, '_> {
    /// Evaluates at full vector `x` (its linear part is the expansion point) and projects.
    fn eval(&mut self, x: &[f64]) -> Option<Eval> {
        let p = x.len();
        self.batch.linearize(x, &mut self.ws, &mut self.pred);
        let mut a = vec![0.0; p * p];
        let mut b = vec![0.0; p];
        self.batch.gram(&self.ws, self.y, &self.pred, &mut a, &mut b);
        if !a.iter().chain(&b).all(|v| v.is_finite()) {
            return None;
        }
        let (lin, non) = (&self.lin, &self.non);
        let k = lin.len();
        // Pseudo-inverse of A_LL with unit-diagonal scaling, so collinear terms give the minimum-norm step.
        let scale: Vec<f64> = lin.iter().map(|&l| a[l * p + l].sqrt()).collect();
        if scale.iter().any(|&s| s.is_nan() || s <= 1e-150) {
            return None; // a linear term vanishes on all the data: nothing to project on
        }
        let all = DMatrix::from_fn(k, k, |r, c| a[lin[r] * p + lin[c]] / (scale[r] * scale[c]));
        let rhs = nalgebra::DVector::from_fn(k, |r, _| b[lin[r]] / scale[r]);
        // The step Δ keeps θ + Δ in the bounds; scaled like the columns.
        let lo: Vec<f64> = lin.iter().zip(&scale).map(|(&l, s)| (self.bounds[l].lo - x[l]) * s).collect();
        let hi: Vec<f64> = lin.iter().zip(&scale).map(|(&l, s)| (self.bounds[l].hi - x[l]) * s).collect();
        let sol = super::bounded::box_quadratic(&all, &rhs, &lo, &hi)?;
        // The projection runs over the free linear parameters only (one held at a bound is a constant).
        let free: Vec<usize> = (0..k).filter(|&r| sol.free[r]).collect();
        let pos = |r: usize| free.iter().position(|&f| f == r);
        let inv = |r: usize, c: usize| match (pos(r), pos(c)) {
            (Some(u), Some(v)) => sol.pinv_free[(u, v)] / (scale[r] * scale[c]),
            _ => 0.0,
        };
        let mut x = x.to_vec();
        let mut delta = vec![0.0; k];
        for r in 0..k {
            delta[r] = sol.theta[r] / scale[r];
            let next = self.bounds[lin[r]].clamp(x[lin[r]] + delta[r]);
            delta[r] = next - x[lin[r]];
            x[lin[r]] = next;
        }
        // Residuals after the linear step, `pred + G Δ − y`, recomputed rather than expanded from A and b:
        // the expansion cancels catastrophically when Δ is large (far from the data's scale).
        let mut step = vec![0.0; p];
        for (c, &l) in lin.iter().enumerate() {
            step[l] = delta[c];
        }
        let mut g_full = vec![0.0; p];
        let f = self.batch.project(&self.ws, self.y, &self.pred, &step, &mut g_full);
        if !f.is_finite() {
            return None;
        }
        let m = non.len();
        let mut ar = vec![0.0; m * m];
        for (r, &i) in non.iter().enumerate() {
            for (c, &j) in non.iter().enumerate() {
                let mut s = a[i * p + j];
                for u in 0..k {
                    for v in 0..k {
                        s -= a[i * p + lin[u]] * inv(u, v) * a[lin[v] * p + j];
                    }
                }
                ar[r * m + c] = s;
            }
        }
        let g = non.iter().map(|&j| g_full[j]).collect();
        Some(Eval { f, x, a: ar, g })
    }
}

/// Variable-projection LM from `x0` with relative tolerance `tol` on the squared error and the step;
/// stops after `max_evals` evaluations (not converged).
pub(crate) fn fit(
    batch: &Batch,
    y: &[f64],
    linear: &[bool],
    bounds: &[Bound],
    x0: &[f64],
    tol: f64,
    max_evals: usize,
) -> LmResult {
    let p = x0.len();
    let lin: Vec<usize> = (0..p).filter(|&i| linear[i]).collect();
    let non: Vec<usize> = (0..p).filter(|&i| !linear[i]).collect();
    let m = non.len();
    let mut proj = Projector {
        batch,
        y,
        lin,
        non: non.clone(),
        bounds,
        ws: batch.workspace(),
        pred: vec![0.0; y.len()],
    };
    let lo: Vec<f64> = non.iter().map(|&i| bounds[i].lo).collect();
    let hi: Vec<f64> = non.iter().map(|&i| bounds[i].hi).collect();
    let bounded = non.iter().any(|&i| !bounds[i].is_free());
    let x0: Vec<f64> = x0.iter().zip(bounds).map(|(x, b)| b.clamp(*x)).collect();
    let x0 = x0.as_slice();
    let fail = |x: Vec<f64>, evaluations, stop| LmResult { x, objective: f64::INFINITY, evaluations, stop };
    let Some(mut cur) = proj.eval(x0) else {
        return fail(x0.to_vec(), 1, Stop::NonFiniteStart);
    };
    let mut evals = 1;
    let done = |e: Eval, evaluations, stop| LmResult { x: e.x, objective: e.f, evaluations, stop };
    if m == 0 {
        // Purely linear law: the projection is the answer; one more pass confirms it (rounding).
        let e2 = proj.eval(&cur.x.clone());
        return match e2 {
            Some(e) => done(e, 2, Stop::LinearLeastSquares),
            None => fail(cur.x, 2, Stop::NonFinitePrediction),
        };
    }
    let mut diag: Vec<f64> = vec![0.0; m];
    let (mut lambda, mut nu) = (-1.0f64, 2.0);
    let (mut chol, mut step) = (vec![0.0; m * m], vec![0.0; m]);
    loop {
        for (j, d) in diag.iter_mut().enumerate() {
            *d = d.max(cur.a[j * m + j]).max(1e-300);
        }
        if lambda < 0.0 {
            lambda = 1e-3;
        }
        loop {
            if evals >= max_evals {
                return done(cur, evals, Stop::EvaluationLimit);
            }
            let solved = if bounded {
                let damping: Vec<f64> = diag.iter().map(|d| lambda * d).collect();
                let xs: Vec<f64> = non.iter().map(|&i| cur.x[i]).collect();
                super::bounded::projected_step(&cur.a, &cur.g, &damping, &xs, &lo, &hi, &mut chol, &mut step)
            } else {
                for j in 0..m {
                    for k in 0..m {
                        chol[j * m + k] = cur.a[j * m + k] + if j == k { lambda * diag[j] } else { 0.0 };
                    }
                }
                super::lm::cholesky_solve(&mut chol, &cur.g, &mut step, m)
            };
            if !solved {
                if lambda.is_nan() || lambda >= 1e30 {
                    return done(cur, evals, Stop::NotPositiveDefinite);
                }
                lambda *= nu;
                nu *= 2.0;
                continue;
            }
            let mut xn = cur.x.clone();
            for (j, &i) in non.iter().enumerate() {
                xn[i] -= step[j];
            }
            let trial = proj.eval(&xn);
            evals += 1;
            let predicted: f64 =
                0.5 * (0..m).map(|j| step[j] * (lambda * diag[j] * step[j] + cur.g[j])).sum::<f64>();
            let xnorm =
                non.iter().enumerate().map(|(j, &i)| diag[j] * cur.x[i] * cur.x[i]).sum::<f64>().sqrt();
            let snorm = (0..m).map(|j| diag[j] * step[j] * step[j]).sum::<f64>().sqrt();
            match trial {
                Some(t) if t.f < cur.f => {
                    let actual = cur.f - t.f;
                    let rho = actual / predicted.max(1e-300);
                    lambda *= (1.0 / 3.0f64).max(1.0 - (2.0 * rho - 1.0).powi(3));
                    nu = 2.0;
                    let f_old = cur.f;
                    cur = t;
                    if actual <= tol * f_old && predicted <= tol * f_old {
                        return done(cur, evals, Stop::Ftol);
                    }
                    if snorm <= tol * xnorm {
                        return done(cur, evals, Stop::Xtol);
                    }
                    break;
                }
                _ => {
                    if snorm <= tol * xnorm || predicted <= tol * 1e-2 * cur.f {
                        return done(cur, evals, Stop::NoFurtherDecrease);
                    }
                    lambda *= nu;
                    nu *= 2.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;

    #[test]
    fn agrees_with_full_lm() {
        let e = Expr::parse("l0 + (1/rho)^g * (a/n0^al + b/d^be + c)").unwrap();
        let mut rows = Vec::new();
        for (n0, rho) in [(1e8, 0.3), (3e8, 0.5), (1e9, 0.4)] {
            for j in 0..30 {
                rows.push([n0, 0.0, rho, 3.0, 1e7 * 1.25f64.powi(j), 0.0]);
            }
        }
        let truth = [0.5, 20.0, 0.2, 300.0, 0.3, 0.3];
        let y: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| e.eval(r, &truth) + 2e-3 * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        let batch = Batch::new(&e.tape, &rows);
        let linear = e.linear_mask();
        assert_eq!(linear, [false, true, false, true, false, true]);
        let x0 = [0.4, 1.0, 0.25, 1.0, 0.25, 0.0];
        let vp = fit(&batch, &y, &linear, &[Bound::FREE; 6], &x0, 1e-10, 500);
        assert!(vp.converged(), "{}", vp.stop);
        let full = super::super::lm::levenberg_marquardt(&batch, &y, &vp.x, 1e-12);
        assert!(vp.objective <= full.objective * (1.0 + 1e-6), "{} vs {}", vp.objective, full.objective);
        assert!(vp.evaluations < 40, "{} evaluations", vp.evaluations);
        // Bounds that the unbounded optimum violates: g ≤ 0.3 (truth 0.5) and b ≥ 0 hold.
        let mut bounds = [Bound::FREE; 6];
        bounds[0] = Bound { lo: -1.0, hi: 0.3 };
        bounds[3] = Bound { lo: 0.0, hi: f64::INFINITY };
        let b = fit(&batch, &y, &linear, &bounds, &x0, 1e-10, 500);
        assert!(b.converged(), "{}", b.stop);
        assert!(b.x[0] <= 0.3 && b.x[3] >= 0.0, "{:?}", b.x);
        assert_eq!(b.x[0], 0.3, "the exponent rests on its bound");
        assert!(b.objective >= vp.objective);
    }
}
