//! `p2law fit`'s whole computation in one call: fit the law on the fit side of an optional holdout, score
//! both sides, run the checks and the held-out baselines, refit on run-level bootstrap resamples, and record
//! the fitted domain, all into a [`FitFile`]. The command line (`p2law fit`) and the Python package
//! (`p2law.fit`) both call [`fit_to_file`], so a fit made from Python is the command's, to the bit.
//!
//! ```
//! use p2law_law::{fit_run::fit_to_file, synth, FitOptions, Holdout, Law};
//! let curves = synth::generate(&synth::SynthSpec { points_per_run: 10, ..Default::default() });
//! let law = Law::builtin("p2").unwrap();
//! let holdout = Holdout::parse("data:0.2").unwrap();
//! let opts = FitOptions { starts: 16, ..Default::default() };
//! let run = fit_to_file(&law, &curves, Some(("data:0.2", &holdout)), &opts, 0).unwrap();
//! assert_eq!(run.file.holdout.as_deref(), Some("data:0.2"));
//! assert_eq!(run.file.n_points, 12 * 8);
//! assert!(run.file.metrics.holdout.is_some() && run.file.bootstrap.is_none());
//! ```

use std::collections::BTreeMap;

use crate::bootstrap::{bootstrap, interval, BootstrapError, BootstrapOptions};
use crate::curves::{Curves, Point};
use crate::domain::Domain;
use crate::evaluate::{evaluate, EvaluateError, Evaluation};
use crate::fit::FitOptions;
use crate::fit_file::{BootstrapDraws, FitFile};
use crate::holdout::Holdout;
use crate::laws::Law;

/// Most bootstrap replicates one fit may ask for (each refits the law; 200 is the usual choice).
pub const MAX_BOOTSTRAP: usize = 100_000;

/// Coverage of the bootstrap intervals stored in the fit file.
pub const LEVEL: f64 = 0.95;

/// A fit as `p2law fit` makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRun {
    /// What `--out` writes and `--json` prints.
    pub file: FitFile,
    /// The fit itself (both objectives' solutions, the split).
    pub evaluation: Evaluation,
    /// Bootstrap replicates whose fit failed and were left out of the draws.
    pub failed_replicates: usize,
}

/// Why a fit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FitRunError {
    #[error("bootstrap: {0} replicates is more than {MAX_BOOTSTRAP}")]
    TooManyReplicates(usize),
    #[error(transparent)]
    Evaluate(#[from] EvaluateError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
}

/// Fits `law` to `curves` as `p2law fit` does. `holdout` is the spec as the user wrote it (stored in the
/// file) and its parsed form; `bootstrap` replicates (0 = none) refit with a quarter of `opts.starts` (at
/// least 16) from seed `opts.seed`.
pub fn fit_to_file(
    law: &Law,
    curves: &Curves,
    holdout: Option<(&str, &Holdout)>,
    opts: &FitOptions,
    bootstrap: usize,
) -> Result<FitRun, FitRunError> {
    if bootstrap > MAX_BOOTSTRAP {
        return Err(FitRunError::TooManyReplicates(bootstrap));
    }
    let evaluation = evaluate(law, curves, holdout.map(|(_, h)| h), opts)?;
    let fit_points = evaluation.fit_points(curves);
    let (draws, failed_replicates) = if bootstrap > 0 {
        let (draws, failed) = bootstrap_draws(law, fit_points, opts, bootstrap)?;
        (Some(draws), failed)
    } else {
        (None, 0)
    };
    let mut file = fit_file(law, &evaluation, fit_points, holdout.map(|(spec, _)| spec.to_string()), draws)?;
    file.baselines = evaluation.baselines.clone();
    let methods: Vec<String> = {
        let mut runs: Vec<usize> = fit_points.iter().map(|p| p.run).collect();
        runs.dedup();
        runs.iter().filter_map(|&r| curves.runs.get(r).and_then(|r| r.method.clone())).collect()
    };
    file.domain = Some(Domain::of(fit_points, &methods));
    Ok(FitRun { file, evaluation, failed_replicates })
}

/// Refits on `replicates` run-level resamples (with a quarter of the main fit's starts, at least 16); also
/// returns how many replicate fits failed.
fn bootstrap_draws(
    law: &Law,
    points: &[Point],
    opts: &FitOptions,
    replicates: usize,
) -> Result<(BootstrapDraws, usize), BootstrapError> {
    let fit = FitOptions { starts: (opts.starts / 4).max(16), polish: 2, diagnose: false, ..opts.clone() };
    let b = bootstrap(law, points, &BootstrapOptions { replicates, seed: opts.seed, fit })?;
    let draws = BootstrapDraws { resamples: replicates, seed: opts.seed, level: LEVEL, draws: b.samples };
    Ok((draws, b.failed))
}

fn fit_file(
    law: &Law,
    ev: &Evaluation,
    fit_points: &[Point],
    holdout: Option<String>,
    bootstrap: Option<BootstrapDraws>,
) -> Result<FitFile, BootstrapError> {
    let by_name = |values: &dyn Fn(usize) -> [f64; 2]| -> BTreeMap<String, [f64; 2]> {
        law.params.iter().enumerate().map(|(i, p)| (p.name.clone(), values(i))).collect()
    };
    let intervals = match &bootstrap {
        Some(b) => {
            let mut out = BTreeMap::new();
            for (i, p) in law.params.iter().enumerate() {
                let column: Vec<f64> = b.draws.iter().map(|d| d[i]).collect();
                let (lo, hi) = interval(&column, b.level)?;
                out.insert(p.name.clone(), [lo, hi]);
            }
            Some(out)
        }
        None => None,
    };
    let fit = &ev.fit;
    let mut runs: Vec<usize> = fit_points.iter().map(|p| p.run).collect();
    runs.sort_unstable();
    runs.dedup();
    Ok(FitFile {
        format: Some(p2law_formats::FIT.tag()),
        p2law_version: Some(p2law_formats::P2LAW_VERSION.into()),
        law: law.name.clone(),
        expr: law.source.clone(),
        params: fit.names.iter().cloned().zip(fit.params.iter().copied()).collect(),
        param_order: fit.names.clone(),
        ranges: by_name(&|i| [law.params[i].lo, law.params[i].hi]),
        intervals,
        metrics: ev.metrics.clone(),
        n_points: fit_points.len(),
        n_runs: runs.len(),
        holdout,
        method: fit.method.name().to_string(),
        objective: fit.objective,
        bootstrap,
        bounds: FitFile::bounds_of(law),
        warnings: fit.warnings.clone(),
        condition: fit.condition,
        baselines: Default::default(),
        domain: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, SynthSpec};

    #[test]
    fn bootstrap_draws_and_intervals_are_stored() {
        let curves = generate(&SynthSpec { points_per_run: 8, ..Default::default() });
        let law = Law::builtin("p2").unwrap();
        let opts = FitOptions { starts: 16, ..Default::default() };
        let run = fit_to_file(&law, &curves, None, &opts, 4).unwrap();
        let b = run.file.bootstrap.as_ref().unwrap();
        assert_eq!((b.resamples, b.seed, b.level), (4, 0, LEVEL));
        assert_eq!(b.draws.len() + run.failed_replicates, 4);
        let intervals = run.file.intervals.as_ref().unwrap();
        assert_eq!(intervals.len(), law.params.len());
        assert!(intervals.values().all(|[lo, hi]| lo <= hi));
        assert_eq!(run.file.n_runs, curves.runs.len());
        assert!(run.file.domain.is_some());
    }

    #[test]
    fn too_many_replicates_fail_before_fitting() {
        let curves = generate(&SynthSpec { points_per_run: 4, ..Default::default() });
        let law = Law::builtin("p2").unwrap();
        let e = fit_to_file(&law, &curves, None, &FitOptions::default(), MAX_BOOTSTRAP + 1).unwrap_err();
        assert_eq!(e.to_string(), "bootstrap: 100001 replicates is more than 100000");
    }
}
