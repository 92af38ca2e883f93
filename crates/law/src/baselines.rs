//! Baselines for held-out scores: what a law's held-out error must beat before it means anything.
//!
//! A held-out error of 0.03 nats says nothing on its own when the loss moves by 0.03 nats over the held-out
//! window: "the loss stays where it was" scores as well. Each baseline predicts the held-out points of a
//! split ([`crate::Holdout`]) from what a practitioner would have without a law:
//!
//! | name | applies when | predicts a held-out point by |
//! |---|---|---|
//! | `last-value` | always | the run's last fitted loss, carried forward; for a run with no fitted point (size and rate holdouts), its own first point |
//! | `log-linear` | every held-out run has fitted points (`data:` holdouts) | a straight line in `ln d` through the run's fitted points (the carried value when it has one) |
//! | `nearest-run` | no held-out run has fitted points (size and rate holdouts) | the nearest fitted run's curve (by `|ln n0 − ln n0'| + |ln ρ − ln ρ'|`), interpolated in `ln d` (flat beyond its ends) and shifted to the held-out run's first point |
//!
//! The baselines that use a held-out run's first point are scored on all its points (the first one exactly
//! right), which favours them: a law that beats them beats them fairly.
//!
//! ```
//! use p2law_law::{baselines::baselines, Curves, Point, Run};
//! let pt = |d: f64, loss: f64| Point { run: 0, vars: [1e6, 8e5, 0.2, 3.0, d, loss] };
//! let curves = Curves {
//!     runs: vec![Run { name: "a".into(), n0: 1e6, rho: 0.2, l0: 3.0, ..Run::default() }],
//!     points: vec![pt(1.0, 4.0), pt(std::f64::consts::E, 3.8), pt(7.389056098930650, 3.6)],
//! };
//! let b = baselines(&curves, &[false, false, true]);
//! assert!((b["last-value"].rmse - 0.2).abs() < 1e-12); // 3.8 carried to a point at 3.6
//! assert!(b["log-linear"].rmse < 1e-12); // the line 4 − 0.2 ln d is exact
//! assert!(!b.contains_key("nearest-run"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::curves::Curves;

/// A baseline's held-out score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineScore {
    /// Root mean squared error on the held-out points.
    pub rmse: f64,
    /// Mean absolute error as a fraction of the loss.
    pub mape: f64,
}

pub const LAST_VALUE: &str = "last-value";
pub const LOG_LINEAR: &str = "log-linear";
pub const NEAREST_RUN: &str = "nearest-run";

/// Every baseline that applies to the split `is_held` (one flag per `curves.points`), by name.
pub fn baselines(curves: &Curves, is_held: &[bool]) -> BTreeMap<String, BaselineScore> {
    let groups = curves.points_by_run();
    let fitted: Vec<Vec<usize>> =
        groups.iter().map(|g| g.iter().copied().filter(|&i| !is_held[i]).collect()).collect();
    let held_runs: Vec<usize> =
        (0..groups.len()).filter(|&r| groups[r].iter().any(|&i| is_held[i])).collect();
    let mut out = BTreeMap::new();
    if held_runs.is_empty() {
        return out;
    }
    let loss = |i: usize| curves.points[i].loss();
    let ln_d = |i: usize| curves.points[i].d().ln();
    // The value each held-out run starts from: its last fitted loss, or its own first point.
    let anchor = |r: usize| fitted[r].last().map_or_else(|| loss(groups[r][0]), |&i| loss(i));
    let mut score = |name: &str, predict: &dyn Fn(usize, usize) -> f64| {
        let (mut se, mut ape, mut n) = (0.0, 0.0, 0usize);
        for &r in &held_runs {
            for &i in groups[r].iter().filter(|&&i| is_held[i]) {
                let e = predict(r, i) - loss(i);
                se += e * e;
                ape += e.abs() / loss(i);
                n += 1;
            }
        }
        out.insert(name.to_string(), BaselineScore { rmse: (se / n as f64).sqrt(), mape: ape / n as f64 });
    };
    score(LAST_VALUE, &|r, _| anchor(r));
    if held_runs.iter().all(|&r| !fitted[r].is_empty()) {
        let lines: Vec<Option<(f64, f64)>> = fitted.iter().map(|f| line(f, &ln_d, &loss)).collect();
        score(LOG_LINEAR, &|r, i| lines[r].map_or_else(|| anchor(r), |(a, b)| a + b * ln_d(i)));
    }
    let donors: Vec<usize> = (0..groups.len()).filter(|&r| !fitted[r].is_empty()).collect();
    if held_runs.iter().all(|&r| fitted[r].is_empty()) && !donors.is_empty() {
        let runs = &curves.runs;
        let nearest: BTreeMap<usize, usize> = held_runs
            .iter()
            .map(|&r| {
                let dist = |o: usize| {
                    (runs[r].n0.ln() - runs[o].n0.ln()).abs() + (runs[r].rho.ln() - runs[o].rho.ln()).abs()
                };
                let best =
                    donors.iter().copied().min_by(|&a, &b| dist(a).total_cmp(&dist(b)).then(a.cmp(&b)));
                (r, best.expect("donors is not empty"))
            })
            .collect();
        let curve_at = |o: usize, x: f64| {
            let pts: Vec<(f64, f64)> = fitted[o].iter().map(|&i| (ln_d(i), loss(i))).collect();
            interpolate(&pts, x)
        };
        score(NEAREST_RUN, &|r, i| {
            let (o, first) = (nearest[&r], groups[r][0]);
            curve_at(o, ln_d(i)) + loss(first) - curve_at(o, ln_d(first))
        });
    }
    out
}

/// Least-squares line `loss = a + b·x` through the points `idx`; `None` with fewer than two distinct `x`.
fn line(idx: &[usize], x: &dyn Fn(usize) -> f64, y: &dyn Fn(usize) -> f64) -> Option<(f64, f64)> {
    let n = idx.len() as f64;
    let mx = idx.iter().map(|&i| x(i)).sum::<f64>() / n;
    let my = idx.iter().map(|&i| y(i)).sum::<f64>() / n;
    let sxx: f64 = idx.iter().map(|&i| (x(i) - mx).powi(2)).sum();
    let sxy: f64 = idx.iter().map(|&i| (x(i) - mx) * (y(i) - my)).sum();
    (idx.len() >= 2 && sxx > 0.0).then(|| {
        let b = sxy / sxx;
        (my - b * mx, b)
    })
}

/// Piecewise-linear interpolation through `pts` (sorted by x), flat beyond the ends.
fn interpolate(pts: &[(f64, f64)], x: f64) -> f64 {
    let (first, last) = (pts[0], pts[pts.len() - 1]);
    if x <= first.0 {
        return first.1;
    }
    if x >= last.0 {
        return last.1;
    }
    let j = pts.partition_point(|p| p.0 <= x).clamp(1, pts.len() - 1);
    let (a, b) = (pts[j - 1], pts[j]);
    if b.0 == a.0 {
        return b.1;
    }
    a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curves::{Point, Run};

    fn run(name: &str, n0: f64, rho: f64) -> Run {
        Run { name: name.into(), n0, rho, l0: 3.0, ..Run::default() }
    }

    fn pt(run: usize, n0: f64, rho: f64, d: f64, loss: f64) -> Point {
        Point { run, vars: [n0, n0 * (1.0 - rho), rho, 3.0, d, loss] }
    }

    #[test]
    fn size_holdout_uses_first_points_and_the_nearest_run() {
        // Fitted: a small model at rho 0.2 and 0.4; held out: the large model at rho 0.25.
        // Curves at d = 1, 10, 100.
        let curves = Curves {
            runs: vec![run("s2", 1e6, 0.2), run("s4", 1e6, 0.4), run("big", 4e6, 0.25)],
            points: vec![
                pt(0, 1e6, 0.2, 1.0, 4.0),
                pt(0, 1e6, 0.2, 10.0, 3.6),
                pt(0, 1e6, 0.2, 100.0, 3.4),
                pt(1, 1e6, 0.4, 1.0, 5.0),
                pt(1, 1e6, 0.4, 10.0, 4.0),
                pt(1, 1e6, 0.4, 100.0, 3.5),
                pt(2, 4e6, 0.25, 1.0, 3.5),
                pt(2, 4e6, 0.25, 10.0, 3.2),
                pt(2, 4e6, 0.25, 100.0, 3.0),
            ],
        };
        let held: Vec<bool> = (0..9).map(|i| i >= 6).collect();
        let b = baselines(&curves, &held);
        // last-value: 3.5 for every held point; errors 0, 0.3, 0.5: rmse = sqrt((0.09 + 0.25) / 3).
        assert!((b[LAST_VALUE].rmse - (0.34f64 / 3.0).sqrt()).abs() < 1e-12);
        // mape = (0 + 0.3/3.2 + 0.5/3.0) / 3.
        assert!((b[LAST_VALUE].mape - (0.3 / 3.2 + 0.5 / 3.0) / 3.0).abs() < 1e-12);
        // nearest run: |ln 4| + |ln(0.25/0.2)| = 1.386 + 0.223 against 1.386 + |ln(0.25/0.4)| = 1.386 + 0.47:
        // s2. Its curve shifted to 3.5 at d = 1 (−0.5): 3.5, 3.1, 2.9; errors 0, −0.1, −0.1.
        assert!((b[NEAREST_RUN].rmse - (0.02f64 / 3.0).sqrt()).abs() < 1e-12, "{:?}", b[NEAREST_RUN]);
        assert!(!b.contains_key(LOG_LINEAR), "held-out runs have no fitted points");
    }

    #[test]
    fn data_holdout_fits_a_line_per_run() {
        // One run, loss = 5 − 0.1 ln d at d = e^0..e^4; the last point held out, plus noise on fitted points
        // that averages out: the line through (0, 5.05), (1, 4.85), (2, 4.85), (3, 4.65) is 5.02 − 0.12 x.
        let e = std::f64::consts::E;
        let ys = [5.05, 4.85, 4.85, 4.65, 4.6];
        let curves = Curves {
            runs: vec![run("a", 1e6, 0.2)],
            points: ys.iter().enumerate().map(|(k, &y)| pt(0, 1e6, 0.2, e.powi(k as i32), y)).collect(),
        };
        let held = [false, false, false, false, true];
        let b = baselines(&curves, &held);
        // x̄ = 1.5, ȳ = 4.85; sxy = (−1.5)(0.2) + (−0.5)(0) + (0.5)(0) + (1.5)(−0.2) = −0.6; sxx = 5;
        // b = −0.12, a = 4.85 + 0.18 = 5.03; at x = 4: 4.55; error 0.05.
        assert!((b[LOG_LINEAR].rmse - 0.05).abs() < 1e-9, "{:?}", b[LOG_LINEAR]);
        assert!((b[LAST_VALUE].rmse - 0.05).abs() < 1e-9, "4.65 carried to 4.6");
        assert!(!b.contains_key(NEAREST_RUN));
    }

    #[test]
    fn interpolation_is_flat_beyond_the_ends() {
        let pts = [(0.0, 1.0), (1.0, 3.0), (3.0, 4.0)];
        assert_eq!(interpolate(&pts, -1.0), 1.0);
        assert_eq!(interpolate(&pts, 0.5), 2.0);
        assert_eq!(interpolate(&pts, 2.0), 3.5);
        assert_eq!(interpolate(&pts, 9.0), 4.0);
    }
}
