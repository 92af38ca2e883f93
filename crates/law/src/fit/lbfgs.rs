//! L-BFGS (limited-memory quasi-Newton) minimisation with a backtracking Armijo line search.
//!
//! Own implementation rather than `argmin`: the objective here is cheap (microseconds per point set) and
//! called from hundreds of parallel starts, so a small allocation-free loop over `Vec<f64>` suffices; the
//! bench in `bench/fit_vs_scipy` measures it against SciPy's L-BFGS-B. Stops when the relative decrease of
//! the objective over an iteration falls below `ftol`, the largest gradient component below `gtol`, or no
//! step along the steepest-descent direction decreases the objective any more (stalled, which the Huber
//! objective's kinks make common and which is a local minimum to working precision).

/// Why the minimiser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Gradient,
    Ftol,
    Stalled,
    MaxIter,
    /// The objective is not finite at the start.
    BadStart,
}

impl Stop {
    pub(crate) fn converged(self) -> bool {
        matches!(self, Stop::Gradient | Stop::Ftol | Stop::Stalled)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsOptions {
    pub(crate) memory: usize,
    pub(crate) max_iter: usize,
    pub(crate) ftol: f64,
    pub(crate) gtol: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions { memory: 10, max_iter: 2000, ftol: 1e-9, gtol: 1e-10 }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LbfgsResult {
    pub(crate) x: Vec<f64>,
    pub(crate) f: f64,
    pub(crate) iterations: usize,
    pub(crate) evaluations: usize,
    pub(crate) stop: Stop,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` (which returns the value and writes the gradient) from `x0`.
pub(crate) fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: &[f64],
    opts: &LbfgsOptions,
) -> LbfgsResult {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut evaluations = 1;
    let result = |x: Vec<f64>, f: f64, iterations, evaluations, stop| LbfgsResult {
        x,
        f,
        iterations,
        evaluations,
        stop,
    };
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return result(x, fx, 0, evaluations, Stop::BadStart);
    }
    // History of (s, y, 1/(y·s)), oldest first.
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
    let (mut xn, mut gn, mut d) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut alpha_buf = vec![0.0; opts.memory];
    for iter in 0..opts.max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= opts.gtol {
            return result(x, fx, iter, evaluations, Stop::Gradient);
        }
        // Two-loop recursion: d = -H g.
        d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
        for (k, (s, y, rho)) in hist.iter().enumerate().rev() {
            alpha_buf[k] = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(d, y)| *d -= alpha_buf[k] * y);
        }
        if let Some((s, y, _)) = hist.back() {
            let scale = dot(s, y) / dot(y, y);
            d.iter_mut().for_each(|d| *d *= scale);
        } else {
            // First step: a unit move along the largest gradient component, whatever the objective's scale.
            let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            d.iter_mut().for_each(|d| *d /= gmax.max(1e-300));
        }
        for (k, (s, y, rho)) in hist.iter().enumerate() {
            let beta = rho * dot(y, &d);
            d.iter_mut().zip(s).for_each(|(d, s)| *d += (alpha_buf[k] - beta) * s);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            hist.clear();
            let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g / gmax);
            slope = dot(&g, &d);
        }
        // Backtracking line search (Armijo), halving with a safeguarded quadratic fit.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            xn.iter_mut().zip(x.iter().zip(&d)).for_each(|(xn, (x, d))| *xn = x + step * d);
            let fnew = f(&xn, &mut gn);
            evaluations += 1;
            if fnew.is_finite() && fnew <= fx + 1e-4 * step * slope {
                accepted = Some(fnew);
                break;
            }
            let quad = if fnew.is_finite() {
                -slope * step * step / (2.0 * (fnew - fx - slope * step))
            } else {
                0.0
            };
            step = quad.clamp(0.1 * step, 0.5 * step);
        }
        let Some(fnew) = accepted else {
            if hist.is_empty() {
                return result(x, fx, iter, evaluations, Stop::Stalled);
            }
            hist.clear();
            continue;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            if hist.len() == opts.memory {
                hist.pop_front();
            }
            hist.push_back((s, y, 1.0 / sy));
        }
        let decrease = fx - fnew;
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut g, &mut gn);
        fx = fnew;
        if decrease <= opts.ftol * fx.abs().max(fnew.abs()) {
            return result(x, fx, iter + 1, evaluations, Stop::Ftol);
        }
    }
    result(x, fx, opts.max_iter, evaluations, Stop::MaxIter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let rosen = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let r = minimize(rosen, &[-1.2, 1.0], &LbfgsOptions::default());
        assert!(r.stop.converged(), "{:?}", r.stop);
        assert!((r.x[0] - 1.0).abs() < 1e-4 && (r.x[1] - 1.0).abs() < 1e-4, "{:?}", r.x);
    }

    #[test]
    fn reports_a_non_finite_start() {
        let r = minimize(|_, _| f64::NAN, &[0.0], &LbfgsOptions::default());
        assert_eq!(r.stop, Stop::BadStart);
    }
}
