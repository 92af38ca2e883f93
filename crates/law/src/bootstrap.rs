//! Run-level bootstrap: resample whole runs with replacement (points within a run are correlated, so
//! resampling points would understate uncertainty), refit each replicate, and read percentile intervals
//! off the replicates' parameters and predictions.
//!
//! Replicate `b` draws its runs from seed stream `(seed, b)`, so results do not depend on the thread count
//! or the order replicates finish in. Replicates whose fit fails (e.g. a resample holding too few distinct
//! runs to identify the law) are counted and left out; more than half failing is an error.

use p2law_formats::SplitMix64;
use rayon::prelude::*;

use crate::curves::Point;
use crate::fit::{fit, FitError, FitOptions};
use crate::laws::Law;

/// Bootstrap settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    /// Number of replicates `B`.
    pub replicates: usize,
    pub seed: u64,
    /// How each replicate is fitted (fewer starts than a main fit keep `B` refits affordable).
    pub fit: FitOptions,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            replicates: 200,
            seed: 0,
            fit: FitOptions { starts: 64, polish: 2, diagnose: false, ..Default::default() },
        }
    }
}

/// The replicates' fitted parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    pub names: Vec<String>,
    /// One parameter vector per successful replicate, in replicate order.
    pub samples: Vec<Vec<f64>>,
    /// Replicates whose fit failed.
    pub failed: usize,
}

/// Why a bootstrap could not be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    #[error("bootstrap needs at least 2 runs to resample; the data has {0}")]
    TooFewRuns(usize),
    #[error("bootstrap needs at least 1 replicate")]
    NoReplicates,
    #[error("bootstrap: {failed} of {total} replicate fits failed (first: {first}); the law is not identifiable from resampled runs")]
    TooManyFailures { failed: usize, total: usize, first: FitError },
    #[error("interval level {0} is not in (0, 1)")]
    BadLevel(f64),
}

/// Refits `law` on `opts.replicates` run-level resamples of `points`.
pub fn bootstrap(law: &Law, points: &[Point], opts: &BootstrapOptions) -> Result<Bootstrap, BootstrapError> {
    let mut runs: Vec<usize> = points.iter().map(|p| p.run).collect();
    runs.sort_unstable();
    runs.dedup();
    if runs.len() < 2 {
        return Err(BootstrapError::TooFewRuns(runs.len()));
    }
    if opts.replicates == 0 {
        return Err(BootstrapError::NoReplicates);
    }
    let by_run: Vec<Vec<Point>> =
        runs.iter().map(|r| points.iter().filter(|p| p.run == *r).copied().collect()).collect();
    let results: Vec<Result<Vec<f64>, FitError>> = (0..opts.replicates)
        .into_par_iter()
        .map(|b| {
            let mut rng = SplitMix64::stream(opts.seed, b as u64);
            let sample: Vec<Point> = (0..runs.len())
                .flat_map(|_| by_run[rng.below(runs.len() as u64) as usize].iter().copied())
                .collect();
            fit(law, &sample, &opts.fit).map(|f| f.params)
        })
        .collect();
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(p) => samples.push(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.len() * 2 > opts.replicates {
        return Err(BootstrapError::TooManyFailures {
            failed: errors.len(),
            total: opts.replicates,
            first: errors.swap_remove(0),
        });
    }
    Ok(Bootstrap {
        names: law.param_names().iter().map(|s| s.to_string()).collect(),
        samples,
        failed: errors.len(),
    })
}

/// The `q` quantile (0 ≤ q ≤ 1) of `values` by linear interpolation between order statistics (NumPy's
/// default); NaN for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < v.len() {
        v[i] + frac * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// The central `level` interval `(lo, hi)` of `values`.
pub fn interval(values: &[f64], level: f64) -> Result<(f64, f64), BootstrapError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(BootstrapError::BadLevel(level));
    }
    let tail = 0.5 * (1.0 - level);
    Ok((percentile(values, tail), percentile(values, 1.0 - tail)))
}

impl Bootstrap {
    /// Central `level` intervals for every parameter, in parameter order.
    pub fn param_intervals(&self, level: f64) -> Result<Vec<(f64, f64)>, BootstrapError> {
        (0..self.names.len())
            .map(|j| interval(&self.samples.iter().map(|s| s[j]).collect::<Vec<_>>(), level))
            .collect()
    }

    /// Central `level` interval of the law's prediction at one row of variables.
    pub fn prediction_interval(
        &self,
        law: &Law,
        vars: &[f64; 6],
        level: f64,
    ) -> Result<(f64, f64), BootstrapError> {
        let preds: Vec<f64> =
            self.samples.iter().map(|s| law.predict(s, vars)).filter(|p| p.is_finite()).collect();
        interval(&preds, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [25, 50, 90]) = [1.75, 2.5, 3.7]
        let v = [4.0, 1.0, 3.0, 2.0];
        assert!((percentile(&v, 0.25) - 1.75).abs() < 1e-12);
        assert!((percentile(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((percentile(&v, 0.9) - 3.7).abs() < 1e-12);
        assert!(interval(&v, 1.5).is_err());
    }
}
