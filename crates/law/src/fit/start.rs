//! Starting points: a grid over the law's nonlinear parameters, each completed by solving the linear
//! parameters in closed form (variable projection).
//!
//! With `m` nonlinear parameters and a budget of `starts`, the grid has `k` levels per parameter for the
//! largest `k` with `k^m ≤ starts` (levels at the centres of `k` equal cells of the parameter's range, in
//! log space when the range spans ≥ 100× with a positive low end); any remaining budget is filled with
//! seeded uniform draws from the ranges. Ranges are first clipped to the parameters' bounds, so every start
//! is feasible. Linear parameters (see `expr::linear`) then get the least-squares solution for the loss
//! given the nonlinear ones, within their bounds (`fit::bounded`): `pred = c + G θ_lin`, where the columns
//! of `G` are the exact Jacobian columns (the law is affine in them) and `c = pred - G θ_lin`.

use nalgebra::{DMatrix, DVector};
use p2law_formats::SplitMix64;

use crate::expr::batch::{Batch, Workspace};
use crate::laws::{Bound, Law};

/// Starting points before the linear solve: `starts` rows of `law.params.len()` values. Linear parameters
/// sit at their range centres.
pub(crate) fn grid(law: &Law, linear: &[bool], starts: usize, seed: u64) -> Vec<Vec<f64>> {
    let specs = &law.params;
    let nonlinear: Vec<usize> = (0..specs.len()).filter(|&i| !linear[i]).collect();
    let m = nonlinear.len();
    let starts = starts.max(1);
    let mut k = 1usize;
    while m > 0 && (k + 1).checked_pow(m as u32).is_some_and(|c| c <= starts) {
        k += 1;
    }
    let total = if m == 0 { 1 } else { k.pow(m as u32) };
    let range: Vec<(f64, f64)> = specs.iter().map(|p| p.start_range()).collect();
    let level = |i: usize, j: usize| {
        let (lo, hi) = range[i];
        let t = (j as f64 + 0.5) / k as f64;
        if lo > 0.0 && hi / lo >= 100.0 {
            (lo.ln() + t * (hi / lo).ln()).exp()
        } else {
            lo + t * (hi - lo)
        }
    };
    let centre: Vec<f64> = range.iter().map(|(lo, hi)| 0.5 * (lo + hi)).collect();
    let mut out = Vec::with_capacity(starts);
    for c in 0..total {
        let mut x = centre.clone();
        let mut rest = c;
        for &i in &nonlinear {
            x[i] = level(i, rest % k);
            rest /= k;
        }
        out.push(x);
    }
    let mut rng = SplitMix64::new(seed);
    while m > 0 && out.len() < starts {
        let mut x = centre.clone();
        for &i in &nonlinear {
            x[i] = range[i].0 + rng.uniform() * (range[i].1 - range[i].0);
        }
        out.push(x);
    }
    out
}

/// Replaces the linear parameters of `x` by their least-squares values for targets `y` within `bounds`.
/// Returns the half sum of squared residuals afterwards (infinite when the prediction is not finite).
pub(crate) fn solve_linear(
    batch: &Batch,
    ws: &mut Workspace,
    linear: &[bool],
    bounds: &[Bound],
    y: &[f64],
    x: &mut [f64],
    pred: &mut [f64],
) -> f64 {
    let np = x.len();
    let lin: Vec<usize> = (0..np).filter(|&i| linear[i]).collect();
    let sse = |pred: &[f64]| 0.5 * pred.iter().zip(y).map(|(p, y)| (p - y) * (p - y)).sum::<f64>();
    if lin.is_empty() {
        batch.values(x, ws, pred);
        return finite_or_inf(sse(pred));
    }
    // The law is affine in the linear parameters: pred = c + G θ, G their Jacobian columns. From
    // A = JᵀJ and b = Jᵀ(y − pred): GᵀG = A_LL and Gᵀ(y − c) = b_L + A_LL θ.
    batch.linearize(x, ws, pred);
    let (mut a, mut b) = (vec![0.0; np * np], vec![0.0; np]);
    batch.gram(ws, y, pred, &mut a, &mut b);
    let k = lin.len();
    // Normal equations on unit-norm columns, solved by SVD so collinear columns (a law whose terms cannot
    // be told apart on this data) give the minimum-norm solution instead of a blow-up.
    let norms: Vec<f64> = lin.iter().map(|&i| a[i * np + i].sqrt()).collect();
    if norms.iter().any(|n| n.is_nan() || *n <= 1e-150) {
        return f64::INFINITY; // a linear term vanishes on all the data
    }
    let ata = DMatrix::from_fn(k, k, |r, c| a[lin[r] * np + lin[c]] / (norms[r] * norms[c]));
    let atb = DVector::from_fn(k, |r, _| {
        (b[lin[r]] + lin.iter().map(|&j| a[lin[r] * np + j] * x[j]).sum::<f64>()) / norms[r]
    });
    if !ata.iter().chain(atb.iter()).all(|v| v.is_finite()) {
        return f64::INFINITY;
    }
    // In unit-norm coordinates θ' = θ · norm, so the bounds scale alike (norms are positive).
    let lo: Vec<f64> = lin.iter().zip(&norms).map(|(&i, n)| bounds[i].lo * n).collect();
    let hi: Vec<f64> = lin.iter().zip(&norms).map(|(&i, n)| bounds[i].hi * n).collect();
    let Some(sol) = super::bounded::box_quadratic(&ata, &atb, &lo, &hi) else { return f64::INFINITY };
    for (a, &i) in lin.iter().enumerate() {
        x[i] = bounds[i].clamp(sol.theta[a] / norms[a]);
    }
    batch.values(x, ws, pred);
    finite_or_inf(sse(pred))
}

/// Pseudo-inverse of a small symmetric matrix, cutting singular values below 1e-13 of the largest; `None`
/// when the matrix is not finite or the SVD does not converge (nalgebra's plain `svd` would loop forever).
pub(crate) fn pseudo_inverse(m: DMatrix<f64>) -> Option<DMatrix<f64>> {
    if !m.iter().all(|v| v.is_finite()) {
        return None;
    }
    let svd = nalgebra::linalg::SVD::try_new(m, true, true, f64::EPSILON, 500)?;
    let smax = svd.singular_values.max();
    svd.pseudo_inverse(smax * 1e-13).ok()
}

fn finite_or_inf(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_nonlinear_parameters_and_fills_the_budget() {
        let law = Law::builtin("p2").unwrap();
        let linear = law.expr.linear_mask();
        let g = grid(&law, &linear, 300, 1);
        assert_eq!(g.len(), 300); // 4^4 = 256 grid points + 44 seeded draws
        let gammas: std::collections::BTreeSet<u64> = g[..256].iter().map(|x| x[0].to_bits()).collect();
        assert_eq!(gammas.len(), 4);
        assert_eq!(g, grid(&law, &linear, 300, 1));
        assert!(g.iter().all(|x| x[2] == 5e3)); // nc (linear) at its range centre
    }

    #[test]
    fn linear_solve_recovers_exact_coefficients() {
        let law = Law::from_spec("a + b/d^c", &[]).unwrap();
        let rows: Vec<[f64; 6]> = (1..20).map(|i| [0.0, 0.0, 0.0, 0.0, i as f64 * 10.0, 0.0]).collect();
        let y: Vec<f64> = rows.iter().map(|r| 2.0 + 30.0 / r[4].powf(0.4)).collect();
        let batch = Batch::new(&law.expr.tape, &rows);
        let mut ws = batch.workspace();
        let mut x = vec![0.0, 0.0, 0.4];
        let mut pred = vec![0.0; rows.len()];
        let free = [Bound::FREE; 3];
        let sse = solve_linear(&batch, &mut ws, &law.expr.linear_mask(), &free, &y, &mut x, &mut pred);
        assert!(sse < 1e-20, "{sse}");
        assert!((x[0] - 2.0).abs() < 1e-9 && (x[1] - 30.0).abs() < 1e-8, "{x:?}");
        // The same data with b ≤ 10: b sits on its bound, a is the best constant given it.
        let bounded = [Bound::FREE, Bound { lo: 0.0, hi: 10.0 }, Bound::FREE];
        let mut x = vec![0.0, 0.0, 0.4];
        solve_linear(&batch, &mut ws, &law.expr.linear_mask(), &bounded, &y, &mut x, &mut pred);
        let mean = y.iter().zip(&rows).map(|(y, r)| y - 10.0 / r[4].powf(0.4)).sum::<f64>() / y.len() as f64;
        assert!(x[1] == 10.0 && (x[0] - mean).abs() < 1e-9, "{x:?}");
    }
}
