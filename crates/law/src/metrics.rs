//! Goodness-of-fit metrics on a set of points and a law's predictions for them (`docs/spec/law.md`).
//!
//! Input: points `p[i]` (observed loss `y[i] = p[i].loss()`, tokens `d[i]`, run `p[i].run`) and predictions
//! `ŷ[i]`, same length, same order. Output: [`Metrics`], serialised with exactly the keys
//! `r2, r2_within, huber, asd, asd_log, rmse, mape`.
//!
//! - `r2 = 1 - Σ(y-ŷ)² / Σ(y-ȳ)²`; `null` when all `y` are equal (the denominator is 0).
//! - `r2_within`: r2 of the curves' shapes: each run's mean is removed from its observed and from its
//!   predicted losses first, so `1 - Σ((y-ȳ_run) - (ŷ-ŷ̄_run))² / Σ(y-ȳ_run)²`. On pooled runs `r2` mostly
//!   measures the gaps between runs (a constant per run, with no `d` term at all, can reach 0.9); this one
//!   scores only how each curve falls with `d` (a constant per run scores 0). `null` when no run has two
//!   different losses.
//! - `huber` = mean of [`huber`]`(ln y - ln ŷ, 1e-3)`, the Chinchilla objective in log space.
//! - `asd` (average slope difference): points of each run sorted by `d`; for each consecutive pair
//!   `s = (y[j]-y[i])/(d[j]-d[i])` and `ŝ` likewise from `ŷ`; `asd` = mean `|ŝ - s|` over the pairs of all runs,
//!   `d` in tokens. `asd_log` is the same with `ln d` in place of `d` (scale-free: loss per e-fold of tokens).
//!   A run with fewer than two points contributes no pair, and a pair with equal `d` has no slope and is skipped;
//!   with no pair at all both are `null` (`None`), never a made-up 0.
//! - `rmse = sqrt(mean (y-ŷ)²)`; `mape = mean |ŷ-y|/y` as a fraction (0.01 = 1 %), not a percentage.
//!
//! ```
//! use p2law_law::{metrics::Metrics, Point};
//! let pt = |d: f64, loss: f64| Point { run: 0, vars: [1e9, 5e8, 0.5, 2.0, d, loss] };
//! let points = [pt(1.0, 3.0), pt(2.0, 2.5)];
//! let m = Metrics::compute(&points, &[3.0, 2.5]).unwrap();
//! assert_eq!((m.r2, m.rmse, m.asd), (Some(1.0), 0.0, Some(0.0)));
//! ```

use serde::Serialize;

use crate::curves::{group_by_run, Point};

/// The Huber threshold the spec uses for the log-space residual.
pub const HUBER_DELTA: f64 = 1e-3;

/// The scores of one set of predictions. `None` serialises as JSON `null` and means "undefined on these
/// points" (see the module docs for when).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Metrics {
    pub r2: Option<f64>,
    /// r2 of each curve's shape (run means removed); absent in files written before it existed.
    #[serde(default)]
    pub r2_within: Option<f64>,
    pub huber: f64,
    pub asd: Option<f64>,
    pub asd_log: Option<f64>,
    pub rmse: f64,
    pub mape: f64,
}

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("no points to score")]
    Empty,
    #[error("{points} points but {predictions} predictions")]
    LengthMismatch { points: usize, predictions: usize },
    #[error("prediction {index} (d = {d}) is {value}, not a finite number")]
    NonFinitePrediction { index: usize, d: f64, value: f64 },
    #[error("prediction {index} (d = {d}) is {value}; losses must be > 0 to take ln(prediction)")]
    NonPositivePrediction { index: usize, d: f64, value: f64 },
    #[error("point {index} (d = {d}) has loss {value}; observed losses must be finite and > 0")]
    BadLoss { index: usize, d: f64, value: f64 },
}

/// The Huber function with threshold `delta`: `0.5 r²` for `|r| ≤ delta`, else `delta (|r| - 0.5 delta)`.
/// Quadratic near zero, linear in the tails, continuous with a continuous first derivative at `|r| = delta`.
pub fn huber(r: f64, delta: f64) -> f64 {
    let a = r.abs();
    if a <= delta {
        0.5 * r * r
    } else {
        delta * (a - 0.5 * delta)
    }
}

impl Metrics {
    /// Scores a law given as a closure, evaluated once per point.
    pub fn of(points: &[Point], predict: impl Fn(&Point) -> f64) -> Result<Metrics, MetricsError> {
        let predictions: Vec<f64> = points.iter().map(predict).collect();
        Metrics::compute(points, &predictions)
    }

    /// Scores `predictions` against `points` (same length and order).
    pub fn compute(points: &[Point], predictions: &[f64]) -> Result<Metrics, MetricsError> {
        check(points, predictions)?;
        let n = points.len() as f64;
        let y = |i: usize| points[i].loss();

        let mean_y = (0..points.len()).map(y).sum::<f64>() / n;
        let ss_res: f64 = predictions.iter().enumerate().map(|(i, p)| (y(i) - p).powi(2)).sum();
        let ss_tot: f64 = (0..points.len()).map(|i| (y(i) - mean_y).powi(2)).sum();
        let r2 = (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot);

        let huber =
            predictions.iter().enumerate().map(|(i, p)| huber(y(i).ln() - p.ln(), HUBER_DELTA)).sum::<f64>()
                / n;
        let rmse = (ss_res / n).sqrt();
        let mape = predictions.iter().enumerate().map(|(i, p)| (p - y(i)).abs() / y(i)).sum::<f64>() / n;

        Ok(Metrics {
            r2,
            r2_within: r2_within(points, predictions),
            huber,
            asd: average_slope_difference(points, predictions, |d| d),
            asd_log: average_slope_difference(points, predictions, f64::ln),
            rmse,
            mape,
        })
    }
}

fn check(points: &[Point], predictions: &[f64]) -> Result<(), MetricsError> {
    if points.is_empty() {
        return Err(MetricsError::Empty);
    }
    if points.len() != predictions.len() {
        return Err(MetricsError::LengthMismatch { points: points.len(), predictions: predictions.len() });
    }
    for (index, (p, &value)) in points.iter().zip(predictions).enumerate() {
        let d = p.d();
        if !(p.loss().is_finite() && p.loss() > 0.0) {
            return Err(MetricsError::BadLoss { index, d, value: p.loss() });
        }
        if !value.is_finite() {
            return Err(MetricsError::NonFinitePrediction { index, d, value });
        }
        if value <= 0.0 {
            return Err(MetricsError::NonPositivePrediction { index, d, value });
        }
    }
    Ok(())
}

/// r2 after removing each run's mean from the observed and the predicted losses (see the module docs).
fn r2_within(points: &[Point], predictions: &[f64]) -> Option<f64> {
    let n_runs = points.iter().map(|p| p.run + 1).max().unwrap_or(0);
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for group in group_by_run(points, n_runs) {
        if group.is_empty() {
            continue;
        }
        let k = group.len() as f64;
        let my = group.iter().map(|&i| points[i].loss()).sum::<f64>() / k;
        let mp = group.iter().map(|&i| predictions[i]).sum::<f64>() / k;
        for &i in &group {
            let (y, p) = (points[i].loss() - my, predictions[i] - mp);
            ss_res += (y - p) * (y - p);
            ss_tot += y * y;
        }
    }
    (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot)
}

/// Mean `|ŝ - s|` over consecutive pairs (by `d`) within each run, slopes taken against `x(d)`.
fn average_slope_difference(points: &[Point], predictions: &[f64], x: impl Fn(f64) -> f64) -> Option<f64> {
    let n_runs = points.iter().map(|p| p.run + 1).max().unwrap_or(0);
    let (mut sum, mut pairs) = (0.0, 0usize);
    for group in group_by_run(points, n_runs) {
        for w in group.windows(2) {
            let (i, j) = (w[0], w[1]);
            let dx = x(points[j].d()) - x(points[i].d());
            if dx == 0.0 {
                continue;
            }
            let s = (points[j].loss() - points[i].loss()) / dx;
            let s_hat = (predictions[j] - predictions[i]) / dx;
            sum += (s_hat - s).abs();
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(run: usize, d: f64, loss: f64) -> Point {
        Point { run, vars: [1e9, 5e8, 0.5, 2.0, d, loss] }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-300), "{a} != {b}");
    }

    #[test]
    fn huber_branches_and_threshold() {
        // |r| ≤ δ: 0.5 r² → 0.5 · (5e-4)² = 1.25e-7.
        close(huber(5e-4, 1e-3), 1.25e-7);
        close(huber(-5e-4, 1e-3), 1.25e-7);
        // |r| > δ: δ (|r| - δ/2) → 1e-3 · (0.01 - 5e-4) = 9.5e-6.
        close(huber(-0.01, 1e-3), 9.5e-6);
        // Both branches meet at |r| = δ: 0.5 δ² = δ (δ - δ/2) = 5e-7.
        close(huber(1e-3, 1e-3), 5e-7);
        // Just past the threshold the linear branch adds only δ·1e-15 = 1e-18: no jump.
        assert!((huber(1e-3 + 1e-15, 1e-3) - 5e-7).abs() < 2e-18);
        assert_eq!(huber(0.0, 1e-3), 0.0);
    }

    /// Two runs; run 0 has points listed out of order in d, run 1 has a single point.
    fn example() -> (Vec<Point>, Vec<f64>) {
        let points = vec![pt(0, 3.0, 2.0), pt(0, 1.0, 4.0), pt(0, 2.0, 3.0), pt(1, 5.0, 1.0)];
        let preds = vec![2.5, 4.0, 3.0, 1.0];
        (points, preds)
    }

    #[test]
    fn r2_rmse_mape_by_hand() {
        let (points, preds) = example();
        let m = Metrics::compute(&points, &preds).unwrap();
        // The closure form gives the same numbers (prediction = observed, except 2.5 for the first point).
        let by_fn = Metrics::of(&points, |p| if p.d() == 3.0 { 2.5 } else { p.loss() }).unwrap();
        assert_eq!(by_fn, m);
        // y = [2, 4, 3, 1], ŷ = [2.5, 4, 3, 1]; ȳ = 10/4 = 2.5.
        // Σ(y-ŷ)² = 0.25; Σ(y-ȳ)² = 0.25 + 2.25 + 0.25 + 2.25 = 5; r2 = 1 - 0.25/5 = 0.95.
        close(m.r2.unwrap(), 0.95);
        // rmse = sqrt(0.25 / 4) = 0.25.
        close(m.rmse, 0.25);
        // mape = (0.5/2 + 0 + 0 + 0) / 4 = 0.0625.
        close(m.mape, 0.0625);
    }

    #[test]
    fn huber_metric_by_hand() {
        let (points, preds) = example();
        let m = Metrics::compute(&points, &preds).unwrap();
        // Only point 0 has a residual: r = ln 2 - ln 2.5 = ln 0.8 ≈ -0.22314, |r| > δ,
        // huber = δ(|r| - δ/2) = 1e-3 · (0.22314355 - 5e-4); mean over 4 points.
        let r = (0.8f64).ln().abs();
        close(m.huber, 1e-3 * (r - 5e-4) / 4.0);
    }

    #[test]
    fn asd_by_hand() {
        let (points, preds) = example();
        let m = Metrics::compute(&points, &preds).unwrap();
        // Run 0 sorted by d: (1, 4), (2, 3), (3, 2); predictions at those d: 4, 3, 2.5.
        // Pair 1→2: s = (3-4)/1 = -1, ŝ = (3-4)/1 = -1, |ŝ-s| = 0.
        // Pair 2→3: s = (2-3)/1 = -1, ŝ = (2.5-3)/1 = -0.5, |ŝ-s| = 0.5.
        // Run 1 has one point: no pair. asd = (0 + 0.5) / 2 = 0.25.
        close(m.asd.unwrap(), 0.25);
        // Against ln d: pair 1→2 still differs by 0; pair 2→3: dx = ln 3 - ln 2 = ln 1.5,
        // s = -1/ln 1.5, ŝ = -0.5/ln 1.5, |ŝ-s| = 0.5/ln 1.5. asd_log = (0.5/ln 1.5) / 2.
        close(m.asd_log.unwrap(), 0.25 / 1.5f64.ln());
    }

    #[test]
    fn asd_skips_equal_d_and_is_none_without_pairs() {
        // Two points at the same d: no slope. One point per run: no pair.
        let points = vec![pt(0, 1.0, 3.0), pt(0, 1.0, 3.1), pt(1, 2.0, 2.0)];
        let m = Metrics::compute(&points, &[3.0, 3.0, 2.0]).unwrap();
        assert_eq!((m.asd, m.asd_log), (None, None));
        let json = serde_json::to_value(m).unwrap();
        assert!(json["asd"].is_null() && json["asd_log"].is_null());
    }

    #[test]
    fn r2_is_none_for_constant_losses() {
        let points = vec![pt(0, 1.0, 3.0), pt(0, 2.0, 3.0)];
        let m = Metrics::compute(&points, &[3.0, 3.1]).unwrap();
        assert_eq!(m.r2, None);
        // rmse = sqrt((0 + 0.01)/2) = sqrt(0.005).
        close(m.rmse, 0.005f64.sqrt());
    }

    #[test]
    fn json_keys_are_exactly_the_specs() {
        let (points, preds) = example();
        let json = serde_json::to_value(Metrics::compute(&points, &preds).unwrap()).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["asd", "asd_log", "huber", "mape", "r2", "r2_within", "rmse"]);
    }

    #[test]
    fn r2_within_scores_only_the_shapes() {
        let (points, preds) = example();
        let m = Metrics::compute(&points, &preds).unwrap();
        // Run 0: y = [2, 4, 3] (mean 3), ŷ = [2.5, 4, 3] (mean 19/6). Centred: y = [-1, 1, 0],
        // ŷ = [-2/3, 5/6, -1/6]; residuals [-1/3, 1/6, 1/6]: Σ² = 1/9 + 1/36 + 1/36 = 1/6. Σy² = 2.
        // Run 1 (one point) adds 0 to both. r2_within = 1 - (1/6)/2 = 11/12.
        close(m.r2_within.unwrap(), 11.0 / 12.0);
        // A constant per run (each run's mean) explains every gap and no shape: r2_within = 0.
        let means = [3.0, 3.0, 3.0, 1.0];
        let c = Metrics::compute(&points, &means).unwrap();
        close(c.r2_within.unwrap(), 0.0);
        assert!(c.r2.unwrap() > 0.5, "while the pooled r2 looks good: {:?}", c.r2);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (points, preds) = example();
        assert_eq!(Metrics::compute(&[], &[]), Err(MetricsError::Empty));
        assert!(matches!(Metrics::compute(&points, &preds[..3]), Err(MetricsError::LengthMismatch { .. })));
        let nan = [2.5, f64::NAN, 3.0, 1.0];
        assert!(matches!(
            Metrics::compute(&points, &nan),
            Err(MetricsError::NonFinitePrediction { index: 1, .. })
        ));
        let neg = [2.5, 4.0, -3.0, 1.0];
        assert!(matches!(
            Metrics::compute(&points, &neg),
            Err(MetricsError::NonPositivePrediction { index: 2, .. })
        ));
        let mut bad = points.clone();
        bad[3].vars[5] = 0.0;
        assert!(matches!(Metrics::compute(&bad, &preds), Err(MetricsError::BadLoss { index: 3, .. })));
    }
}
