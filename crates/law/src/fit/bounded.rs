//! Bounds inside the fit: the linear parameters' closed-form solve under box constraints, and the
//! projected steps of the nonlinear ones.
//!
//! Variable projection (`fit::varpro`) solves the linear parameters of a law exactly for fixed nonlinear
//! ones. With bounds (`dc ≥ 0` in `p2`) that solve becomes a small box-constrained quadratic program
//!
//! ```text
//! minimise  q(θ) = ½ θᵀAθ − rᵀθ   subject to  lo ≤ θ ≤ hi        (A = GᵀG, k × k, k ≤ a handful)
//! ```
//!
//! solved exactly by enumerating which bounds are active: the minimum of a convex quadratic over a box is
//! the unconstrained minimum of `q` over the free coordinates for some assignment of the others to their
//! bounds, so the feasible candidate with the lowest `q` is the answer. When the unconstrained minimum is
//! already inside the box (the common case, and always for an unbounded law) it is returned as it is, so an
//! unbounded fit is the same computation as before bounds existed. Past [`MAX_ENUMERATED`] bounded
//! coordinates the `3^b` enumeration is replaced by projected Gauss–Seidel sweeps, which converge to the
//! same minimum for a positive-definite `A`.
//!
//! ```text
//! A = [[1, 0], [0, 1]], r = [1, -1], θ₂ ≥ 0  →  θ = [1, 0], θ₂ held at its bound
//! ```

use nalgebra::{DMatrix, DVector};

use super::start::pseudo_inverse;

/// Above this many bounded coordinates the active sets are not enumerated (3^8 = 6,561 solves).
const MAX_ENUMERATED: usize = 8;

/// The minimiser of a box-constrained quadratic.
pub(crate) struct BoxSolution {
    pub(crate) theta: DVector<f64>,
    /// `free[i]`: coordinate `i` is not held at a bound.
    pub(crate) free: Vec<bool>,
    /// Pseudo-inverse of `A` restricted to the free coordinates (rows and columns in their order).
    pub(crate) pinv_free: DMatrix<f64>,
}

/// Minimises `½ θᵀAθ − rᵀθ` over `lo ≤ θ ≤ hi` (`A` symmetric positive semi-definite, unit-scaled
/// columns work best). `None` when a pseudo-inverse fails (non-finite input).
pub(crate) fn box_quadratic(
    a: &DMatrix<f64>,
    r: &DVector<f64>,
    lo: &[f64],
    hi: &[f64],
) -> Option<BoxSolution> {
    let k = r.len();
    let all_free = vec![true; k];
    let pinv = if k > 0 { pseudo_inverse(a.clone())? } else { a.clone() };
    let theta = &pinv * r;
    if inside(&theta, lo, hi) {
        return Some(BoxSolution { theta, free: all_free, pinv_free: pinv });
    }
    let bounded: Vec<usize> = (0..k).filter(|&i| lo[i].is_finite() || hi[i].is_finite()).collect();
    let best = if bounded.len() <= MAX_ENUMERATED {
        enumerate(a, r, lo, hi, &bounded)
    } else {
        Some(gauss_seidel(a, r, lo, hi, theta))
    }?;
    // Clamp the rounding of a candidate that was feasible within tolerance.
    let theta = DVector::from_fn(k, |i, _| best.0[i].max(lo[i]).min(hi[i]));
    let free = best.1;
    let idx: Vec<usize> = (0..k).filter(|&i| free[i]).collect();
    let sub = DMatrix::from_fn(idx.len(), idx.len(), |u, v| a[(idx[u], idx[v])]);
    let pinv_free = if idx.is_empty() { sub } else { pseudo_inverse(sub)? };
    Some(BoxSolution { theta, free, pinv_free })
}

fn tolerance(v: f64) -> f64 {
    1e-10 * v.abs().max(1.0)
}

fn inside(theta: &DVector<f64>, lo: &[f64], hi: &[f64]) -> bool {
    theta.iter().zip(lo.iter().zip(hi)).all(|(&t, (&l, &h))| t >= l - tolerance(l) && t <= h + tolerance(h))
}

fn objective(a: &DMatrix<f64>, r: &DVector<f64>, theta: &DVector<f64>) -> f64 {
    0.5 * theta.dot(&(a * theta)) - r.dot(theta)
}

/// Every assignment of the bounded coordinates to {free, at lo, at hi}; the feasible one with the lowest
/// objective, with its free mask.
fn enumerate(
    a: &DMatrix<f64>,
    r: &DVector<f64>,
    lo: &[f64],
    hi: &[f64],
    bounded: &[usize],
) -> Option<(DVector<f64>, Vec<bool>)> {
    let k = r.len();
    let combos = 3usize.pow(bounded.len() as u32);
    let mut best: Option<(f64, DVector<f64>, Vec<bool>)> = None;
    'combo: for c in 0..combos {
        let mut theta = DVector::zeros(k);
        let mut free = vec![true; k];
        let mut rest = c;
        for &i in bounded {
            let state = rest % 3;
            rest /= 3;
            let at = match state {
                0 => continue,
                1 => lo[i],
                _ => hi[i],
            };
            if !at.is_finite() {
                continue 'combo;
            }
            theta[i] = at;
            free[i] = false;
        }
        let idx: Vec<usize> = (0..k).filter(|&i| free[i]).collect();
        if !idx.is_empty() {
            let sub = DMatrix::from_fn(idx.len(), idx.len(), |u, v| a[(idx[u], idx[v])]);
            let rhs = DVector::from_fn(idx.len(), |u, _| {
                r[idx[u]] - (0..k).filter(|&j| !free[j]).map(|j| a[(idx[u], j)] * theta[j]).sum::<f64>()
            });
            let solved = pseudo_inverse(sub)? * rhs;
            for (u, &i) in idx.iter().enumerate() {
                theta[i] = solved[u];
            }
        }
        if !inside(&theta, lo, hi) {
            continue;
        }
        let q = objective(a, r, &theta);
        if q.is_finite() && best.as_ref().is_none_or(|b| q < b.0) {
            best = Some((q, theta, free));
        }
    }
    best.map(|(_, theta, free)| (theta, free))
}

/// Projected Gauss–Seidel from `theta` (clamped first); coordinates that end at a bound are not free.
fn gauss_seidel(
    a: &DMatrix<f64>,
    r: &DVector<f64>,
    lo: &[f64],
    hi: &[f64],
    mut theta: DVector<f64>,
) -> (DVector<f64>, Vec<bool>) {
    let k = r.len();
    for i in 0..k {
        theta[i] = theta[i].max(lo[i]).min(hi[i]);
    }
    for _ in 0..10_000 {
        let mut change = 0.0f64;
        for i in 0..k {
            if a[(i, i)] <= 0.0 {
                continue;
            }
            let s: f64 = (0..k).filter(|&j| j != i).map(|j| a[(i, j)] * theta[j]).sum();
            let new = ((r[i] - s) / a[(i, i)]).max(lo[i]).min(hi[i]);
            change = change.max((new - theta[i]).abs() / theta[i].abs().max(1.0));
            theta[i] = new;
        }
        if change < 1e-14 {
            break;
        }
    }
    let free = (0..k).map(|i| theta[i] != lo[i] && theta[i] != hi[i]).collect();
    (theta, free)
}

/// A projected Levenberg–Marquardt step: solves `(A + λD) s = g` for the step `x − s`, holding at their
/// bound the coordinates that sit on one and that the step would push out, then clips the rest into the
/// box. `a` is `m × m` row-major; returns `false` when the damped system is not positive definite.
#[allow(clippy::too_many_arguments)]
pub(crate) fn projected_step(
    a: &[f64],
    g: &[f64],
    damping: &[f64],
    x: &[f64],
    lo: &[f64],
    hi: &[f64],
    chol: &mut [f64],
    step: &mut [f64],
) -> bool {
    let m = g.len();
    let mut held = vec![false; m];
    for _ in 0..=m {
        let mut rhs = g.to_vec();
        for j in 0..m {
            for c in 0..m {
                chol[j * m + c] = if held[j] || held[c] {
                    if j == c {
                        1.0
                    } else {
                        0.0
                    }
                } else {
                    a[j * m + c] + if j == c { damping[j] } else { 0.0 }
                };
            }
            if held[j] {
                rhs[j] = 0.0;
            }
        }
        if !super::lm::cholesky_solve(chol, &rhs, step, m) {
            return false;
        }
        let mut more = false;
        for j in 0..m {
            let next = x[j] - step[j];
            let at_lo = (x[j] - lo[j]).abs() <= tolerance(lo[j]) && next < lo[j];
            let at_hi = (x[j] - hi[j]).abs() <= tolerance(hi[j]) && next > hi[j];
            if !held[j] && (at_lo || at_hi) {
                held[j] = true;
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    for j in 0..m {
        let next = (x[j] - step[j]).max(lo[j]).min(hi[j]);
        step[j] = x[j] - next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(a: &[f64], r: &[f64], lo: &[f64], hi: &[f64]) -> BoxSolution {
        let k = r.len();
        box_quadratic(&DMatrix::from_row_slice(k, k, a), &DVector::from_row_slice(r), lo, hi).unwrap()
    }

    #[test]
    fn inside_the_box_is_the_unconstrained_minimum() {
        let s = solve(&[2.0, 0.5, 0.5, 1.0], &[1.0, 1.0], &[-10.0, -10.0], &[10.0, 10.0]);
        // [[2, .5], [.5, 1]]⁻¹ [1, 1] = [1/3.5 · 0.5, 1/3.5 · 1.5]
        assert!((s.theta[0] - 0.5 / 1.75).abs() < 1e-12 && (s.theta[1] - 1.5 / 1.75).abs() < 1e-12);
        assert_eq!(s.free, [true, true]);
    }

    #[test]
    fn an_active_bound_holds_its_coordinate_and_the_rest_reoptimise() {
        // Unconstrained minimum [1, -1]; with θ₂ ≥ 0 and coupling 0.5 the others move: θ₁ = r₁ / a₁₁.
        let s = solve(&[1.0, 0.5, 0.5, 1.0], &[0.5, -0.5], &[f64::NEG_INFINITY, 0.0], &[f64::INFINITY; 2]);
        assert_eq!(s.free, [true, false]);
        assert!((s.theta[0] - 0.5).abs() < 1e-12 && s.theta[1] == 0.0, "{:?}", s.theta);
        // The hand check: the KKT multiplier of θ₂ ≥ 0 is a₂₁θ₁ − r₂ = 0.25 + 0.5 ≥ 0.
        assert_eq!(s.pinv_free.shape(), (1, 1));
    }

    #[test]
    fn enumeration_and_gauss_seidel_agree() {
        // A random-ish positive-definite 4×4 with every coordinate in [0, 0.3].
        let m = DMatrix::from_row_slice(
            4,
            4,
            &[3.0, 1.0, 0.2, 0.1, 1.0, 2.0, 0.3, 0.0, 0.2, 0.3, 1.5, 0.4, 0.1, 0.0, 0.4, 1.0],
        );
        let r = DVector::from_row_slice(&[1.0, -2.0, 3.0, 0.5]);
        let (lo, hi) = ([0.0; 4], [0.3; 4]);
        let bounded: Vec<usize> = (0..4).collect();
        let (e, _) = enumerate(&m, &r, &lo, &hi, &bounded).unwrap();
        let (g, _) = gauss_seidel(&m, &r, &lo, &hi, DVector::zeros(4));
        assert!((&e - &g).norm() < 1e-9, "{e} vs {g}");
        assert!(objective(&m, &r, &e) <= objective(&m, &r, &DVector::from_element(4, 0.15)));
    }

    #[test]
    fn projected_steps_stay_in_the_box_and_hold_pushing_coordinates() {
        let (a, g) = ([1.0, 0.0, 0.0, 1.0], [1.0, -1.0]); // step s = g: x − s moves x₁ down, x₂ up
        let (mut chol, mut step) = ([0.0; 4], [0.0; 2]);
        let x = [0.0, 0.5];
        assert!(projected_step(&a, &g, &[0.0; 2], &x, &[0.0, 0.0], &[1.0, 1.0], &mut chol, &mut step));
        assert_eq!(step[0], 0.0, "x₁ sits on its lower bound and the step pushes it out");
        assert!((x[1] - step[1] - 1.0).abs() < 1e-15, "x₂ clipped at its upper bound");
    }
}
