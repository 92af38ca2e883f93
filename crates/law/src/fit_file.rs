//! `FIT.json`: a fitted law as `p2law fit --out` writes it and `predict` / `plan` read it
//! (`docs/spec/formats.md`).
//!
//! Besides the spec's keys (`law`, `expr`, `params`, `intervals`, `metrics`, `n_points`, `n_runs`) it keeps
//! what is needed to use the fit later: the parameter ranges and bounds (to rebuild the law as fitted), the
//! objective and method that won, the bootstrap parameter draws (so predictions and plans get intervals),
//! the checks' warnings and the Jacobian's condition number ([`crate::diagnose`]), the held-out baselines
//! beside the law's own held-out score ([`crate::baselines`]), and the fitted domain ([`Domain`]) that
//! `predict` and `plan` compare their questions with. Files written before a key existed read with it
//! empty (no bounds, no warnings, no domain). The file starts with `format` ([`p2law_formats::FIT`]) and
//! `p2law_version`; reading follows [`p2law_formats::version`]'s policy (no `format`, or this one).

use std::collections::BTreeMap;
use std::path::Path;

use p2law_formats::{FormatError, FIT};
use serde::{Deserialize, Serialize};

use crate::baselines::BaselineScore;
use crate::diagnose::FitWarning;
use crate::domain::Domain;
use crate::laws::{Bound, Law, LawError};
use crate::metrics::Metrics;

/// Metrics of the fit set and, with a holdout, of the held-out set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitMetrics {
    pub fit: Metrics,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub holdout: Option<Metrics>,
}

/// Bootstrap draws: one parameter vector (in `FitFile::params` order) per resample that converged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapDraws {
    pub resamples: usize,
    pub seed: u64,
    /// Coverage of the percentile intervals, e.g. 0.95.
    pub level: f64,
    pub draws: Vec<Vec<f64>>,
}

/// The contents of a `FIT.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitFile {
    /// [`FIT`]'s tag; `None` in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The p2law that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2law_version: Option<String>,
    pub law: String,
    pub expr: String,
    /// Fitted values by name (kept in the law's parameter order when read back through [`FitFile::values`]).
    pub params: BTreeMap<String, f64>,
    /// Parameter names in the law's order.
    pub param_order: Vec<String>,
    /// Start ranges `[lo, hi]` the fit used, by name.
    pub ranges: BTreeMap<String, [f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub intervals: Option<BTreeMap<String, [f64; 2]>>,
    pub metrics: FitMetrics,
    pub n_points: usize,
    pub n_runs: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub holdout: Option<String>,
    /// The objective whose solution was kept, and its value.
    pub method: String,
    pub objective: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bootstrap: Option<BootstrapDraws>,
    /// Bounds `[lo, hi]` the fit honoured, by name (`null` for an open side); parameters absent are free.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bounds: BTreeMap<String, [Option<f64>; 2]>,
    /// What the checks after the fit found.
    #[serde(default)]
    pub warnings: Vec<FitWarning>,
    /// Condition number of the Jacobian at the fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<f64>,
    /// With a holdout: the baselines' held-out scores, to compare with `metrics.holdout`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baselines: BTreeMap<String, BaselineScore>,
    /// The ranges of the fitted data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
}

/// Why a `FIT.json` could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum FitFileError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not a p2law fit file: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("{path}: {source}")]
    Law { path: String, source: LawError },
    #[error("{path}: cannot write: {source}")]
    Write { path: String, source: std::io::Error },
    /// A `format` this p2law does not read; the message names the file and says what to do.
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl FitFile {
    /// Reads and checks a fit file: every parameter of the law has a finite value.
    pub fn read(path: &Path) -> Result<FitFile, FitFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| FitFileError::Read { path: shown.clone(), source })?;
        FitFile::parse(&text, &shown)
    }

    /// Parses and checks a fit file's text as [`FitFile::read`] does; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<FitFile, FitFileError> {
        // Before the typed parse: a newer revision may not parse, and should be named as such.
        FIT.check_json(text, Path::new(shown))?;
        let shown = shown.to_string();
        let file: FitFile = serde_json::from_str(text)
            .map_err(|source| FitFileError::Parse { path: shown.clone(), source })?;
        let law = file.law().map_err(|source| FitFileError::Law { path: shown.clone(), source })?;
        let invalid = |problem: String| FitFileError::Invalid { path: shown.clone(), problem };
        if law.param_names() != file.param_order {
            return Err(invalid(format!(
                "param_order [{}] does not match the parameters of expr [{}]",
                file.param_order.join(", "),
                law.param_names().join(", ")
            )));
        }
        for name in &file.param_order {
            match file.params.get(name) {
                Some(v) if v.is_finite() => {}
                Some(v) => return Err(invalid(format!("params.{name} is {v}, not a finite number"))),
                None => return Err(invalid(format!("params has no value for '{name}'"))),
            }
        }
        if let Some(b) = &file.bootstrap {
            if let Some(bad) = b.draws.iter().position(|d| d.len() != file.param_order.len()) {
                return Err(invalid(format!(
                    "bootstrap.draws[{bad}] has {} values for {} parameters",
                    b.draws[bad].len(),
                    file.param_order.len()
                )));
            }
        }
        Ok(file)
    }

    /// The file's text, pretty-printed, as [`FitFile::write`] writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a fit file serialises")
    }

    /// Writes the file atomically, pretty-printed.
    pub fn write(&self, path: &Path) -> Result<(), FitFileError> {
        let text = self.to_json();
        p2law_formats::write_atomic(path, text.as_bytes())
            .map_err(|source| FitFileError::Write { path: path.display().to_string(), source })
    }

    /// The law, rebuilt from `expr` and `ranges` (a built-in name keeps its name).
    pub fn law(&self) -> Result<Law, LawError> {
        let ranges: Vec<String> =
            self.ranges.iter().map(|(name, [lo, hi])| format!("{name}={lo}:{hi}")).collect();
        let ranges: Vec<&str> = ranges.iter().map(String::as_str).collect();
        let mut law = Law::from_spec(&self.expr, &ranges)?;
        law.name = self.law.clone();
        let bounds: Vec<String> =
            self.bounds.iter().map(|(name, pair)| format!("{name}={}", Bound::from_pair(*pair))).collect();
        law.set_bounds(&bounds.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(law)
    }

    /// The bounds of `law` as [`FitFile::bounds`] stores them (free parameters left out).
    pub fn bounds_of(law: &Law) -> BTreeMap<String, [Option<f64>; 2]> {
        law.params
            .iter()
            .filter(|p| !p.bound.is_free())
            .map(|p| (p.name.clone(), p.bound.to_pair()))
            .collect()
    }

    /// Fitted values in the law's parameter order.
    pub fn values(&self) -> Vec<f64> {
        self.param_order.iter().map(|n| self.params[n]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_format_read_and_new_ones_carry_it() {
        // Written before `format` existed.
        let old = FitFile::parse(include_str!("../tests/fixtures/FIT.json"), "FIT.json").unwrap();
        assert_eq!((old.format.as_deref(), old.p2law_version.as_deref()), (None, None));
        let file = FitFile {
            format: Some(FIT.tag()),
            p2law_version: Some(p2law_formats::P2LAW_VERSION.into()),
            ..old
        };
        let text = file.to_json();
        assert!(text.starts_with("{\n  \"format\": \"p2law.fit/1\",\n  \"p2law_version\": "), "{text}");
        assert_eq!(FitFile::parse(&text, "FIT.json").unwrap(), file);
        let newer = text.replace("p2law.fit/1", "p2law.fit/2");
        let e = FitFile::parse(&newer, "out/FIT.json").unwrap_err().to_string();
        assert!(
            e.starts_with("out/FIT.json: `format`: \"p2law.fit/2\"") && e.contains("upgrade p2law"),
            "{e}"
        );
    }
}
