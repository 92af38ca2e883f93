//! `p2law._native`: the P² Law engine (`p2law-law`) for Python, the native half of the `p2law` package
//! (`python/p2law/`, built into one abi3 wheel by maturin; `docs/spec/python.md`).
//!
//! The module is thin on purpose. It takes and returns plain values (strings, floats, lists of floats, JSON
//! text) and two opaque handles, [`PyCurves`] and [`PyFit`]; the Python side (`p2law/__init__.py`) turns
//! them into numpy arrays, pandas frames, dicts and warnings. Every computation is the one the command line
//! runs: a fit is [`p2law_law::fit_to_file`] with the command's defaults, a prediction and a plan are
//! `p2law predict` / `p2law plan` on the same [`FitFile`], a comparison is `p2law compare`'s loop.
//!
//! Errors: every failure is a `p2law.P2LawError` whose message is the command line's (the error and its
//! causes, joined by `: `). Panics never cross into Python: each entry point runs under `catch_unwind` and a
//! panic becomes a `P2LawError` naming it as a bug. Fits run with the GIL released.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use p2law_law::bootstrap::interval;
use p2law_law::curves::{curves_csv_bytes, parse_curves, read_curves, CurveFormat};
use p2law_law::plan::{plan, plan_with_intervals, PlanQuery};
use p2law_law::{Curves, FitFile, FitOptions, Holdout, Law};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::json;

create_exception!(
    _native,
    P2LawError,
    PyException,
    "A p2law failure: bad curves, a law that does not parse, a fit that fails, a bad fit file or question. \
     The message is the p2law command line's."
);

/// A failure, already rendered as the command line renders it.
struct Failure(String);

type Res<T> = Result<T, Failure>;

/// The error and its causes joined by `: ` (as the command line's `error: …` line), leaving out a cause
/// whose text the message already ends with.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.ends_with(&text) {
            msg = format!("{msg}: {text}");
        }
        cause = c.source();
    }
    msg
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(chain(&e))
    }
}

fn fail<T>(msg: impl Display) -> Res<T> {
    Err(Failure(msg.to_string()))
}

/// Runs `f`, turning a failure into a `P2LawError` and a panic into one that says it is a bug.
fn guard<T>(f: impl FnOnce() -> Res<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Failure(msg))) => Err(P2LawError::new_err(msg)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(P2LawError::new_err(format!("internal error (a bug in p2law, please report it): {what}")))
        }
    }
}

/// Loss curves: runs and their points, read and checked as every p2law command reads them.
#[pyclass(frozen, module = "p2law._native", name = "Curves")]
struct PyCurves {
    inner: Curves,
}

#[pymethods]
impl PyCurves {
    /// Number of points (rows).
    fn __len__(&self) -> usize {
        self.inner.points.len()
    }

    #[getter]
    fn n_points(&self) -> usize {
        self.inner.points.len()
    }

    #[getter]
    fn n_runs(&self) -> usize {
        self.inner.runs.len()
    }

    /// The runs as a JSON list of `{"name", "n0", "rho", "l0", "method", "model", "family", "rho_target"}`.
    fn runs_json(&self) -> String {
        let runs: Vec<serde_json::Value> = self
            .inner
            .runs
            .iter()
            .map(|r| {
                json!({"name": r.name, "n0": r.n0, "rho": r.rho, "l0": r.l0, "method": r.method,
                       "model": r.model, "family": r.family, "rho_target": r.rho_target})
            })
            .collect();
        serde_json::Value::Array(runs).to_string()
    }

    /// The curves as CSV text (`run,n0,n,rho,l0,d,loss` and the labels), as `p2law synth` writes them.
    fn to_csv(&self) -> PyResult<String> {
        guard(|| {
            let bytes = curves_csv_bytes(&self.inner, &[])?;
            Ok(String::from_utf8(bytes)?)
        })
    }

    fn __repr__(&self) -> String {
        format!("Curves({} runs, {} points)", self.inner.runs.len(), self.inner.points.len())
    }
}

/// A fitted law: the contents of a `FIT.json` and the law rebuilt from it.
#[pyclass(frozen, module = "p2law._native", name = "NativeFit")]
struct PyFit {
    file: FitFile,
    law: Law,
}

impl PyFit {
    fn new(file: FitFile) -> Res<PyFit> {
        let law = file.law()?;
        Ok(PyFit { file, law })
    }

    /// The domain messages of one question (as `p2law predict` prints them), appended to `out` once each.
    fn outside(&self, n0: f64, rho: f64, ds: &[f64], out: &mut Vec<String>) {
        let Some(domain) = &self.file.domain else { return };
        let mut msgs = domain.outside(n0, rho, None);
        msgs.extend(ds.iter().flat_map(|&d| domain.outside(domain.n0[0], domain.rho[0], Some(d))));
        for m in msgs {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
}

/// The checks of `p2law predict`/`plan` on a pruned model (`n0 > 0`, `0 < rho < 1`, `l0 > 0`).
fn check_model(n0: f64, rho: f64, l0: f64) -> Res<()> {
    if !(n0.is_finite() && n0 > 0.0) {
        return fail(format!("n0 = {n0} must be a positive parameter count"));
    }
    if !(rho > 0.0 && rho < 1.0) {
        return fail(format!("rho = {rho} must be strictly between 0 and 1"));
    }
    if !(l0.is_finite() && l0 > 0.0) {
        return fail(format!("l0 = {l0} must be a positive loss"));
    }
    Ok(())
}

/// Predictions: losses, the bootstrap interval's bounds when the fit has draws, and the messages about
/// questions outside the fitted domain.
type Predictions = (Vec<f64>, Option<Vec<f64>>, Option<Vec<f64>>, Vec<String>);

#[pymethods]
impl PyFit {
    /// The fit file's text, exactly as `p2law fit --out` writes it.
    fn to_json(&self) -> String {
        self.file.to_json()
    }

    /// Reads a fit file's text (as `p2law predict --fit` reads a file; `name` stands for the file in
    /// errors).
    #[staticmethod]
    #[pyo3(signature = (text, name = "<json>"))]
    fn from_json(text: &str, name: &str) -> PyResult<PyFit> {
        guard(|| PyFit::new(FitFile::parse(text, name)?))
    }

    /// Reads a `FIT.json` file.
    #[staticmethod]
    fn read(path: PathBuf) -> PyResult<PyFit> {
        guard(|| PyFit::new(FitFile::read(&path)?))
    }

    /// Writes the fit file atomically, as `p2law fit --out` does.
    fn write(&self, path: PathBuf) -> PyResult<()> {
        guard(|| Ok(self.file.write(&path)?))
    }

    /// `p2law predict` on equally long lists (the Python side broadcasts): the loss at each
    /// `(n0[i], rho[i], l0[i], d[i])`, with `n = n0 · (1 − rho)`.
    fn predict(&self, n0: Vec<f64>, rho: Vec<f64>, l0: Vec<f64>, d: Vec<f64>) -> PyResult<Predictions> {
        guard(|| {
            let n = d.len();
            if n0.len() != n || rho.len() != n || l0.len() != n {
                return fail(format!(
                    "predict: n0, rho, l0 and d have {}, {}, {} and {} values",
                    n0.len(),
                    rho.len(),
                    l0.len(),
                    n
                ));
            }
            let params = self.file.values();
            let (mut loss, mut lo, mut hi, mut outside) = (Vec::with_capacity(n), vec![], vec![], vec![]);
            for i in 0..n {
                check_model(n0[i], rho[i], l0[i])?;
                if !(d[i].is_finite() && d[i] > 0.0) {
                    return fail(format!("d = {} must be a positive number of tokens", d[i]));
                }
                self.outside(n0[i], rho[i], &[d[i]], &mut outside);
                let vars = [n0[i], n0[i] * (1.0 - rho[i]), rho[i], l0[i], d[i], 0.0];
                let value = self.law.predict(&params, &vars);
                if !value.is_finite() {
                    return fail(format!("the law predicts {value} at d = {}: not a finite loss", d[i]));
                }
                loss.push(value);
                if let Some(b) = &self.file.bootstrap {
                    let draws: Vec<f64> = b
                        .draws
                        .iter()
                        .map(|p| self.law.predict(p, &vars))
                        .filter(|v| v.is_finite())
                        .collect();
                    let (l, h) = interval(&draws, b.level)?;
                    lo.push(l);
                    hi.push(h);
                }
            }
            let has = self.file.bootstrap.is_some();
            Ok((loss, has.then_some(lo), has.then_some(hi), outside))
        })
    }

    /// `p2law plan --json`'s object, as JSON text.
    fn plan(&self, n0: f64, rho: f64, l0: f64, min_gain: f64, per: f64, within: f64) -> PyResult<String> {
        guard(|| {
            check_model(n0, rho, l0)?;
            let params = self.file.values();
            let q = PlanQuery { min_gain, per, within, ..PlanQuery::new(n0, rho, l0) };
            let (point, intervals) = match &self.file.bootstrap {
                Some(b) => {
                    let (p, i) = plan_with_intervals(&self.law, &params, &b.draws, &q, b.level)?;
                    (p, Some(i))
                }
                None => (plan(&self.law, &params, &q)?, None),
            };
            let mut outside = Vec::new();
            self.outside(n0, rho, &[point.d_min_gain, point.d_within], &mut outside);
            let out = p2law_law::plan_json(&point, intervals.as_ref(), &q, &outside);
            Ok(out.to_string())
        })
    }

    fn __repr__(&self) -> String {
        format!("NativeFit(law={:?}, {} params)", self.file.law, self.file.param_order.len())
    }
}

/// The built-in law names (`p2`, …), for telling a name from an expression.
#[pyfunction]
fn builtin_laws() -> Vec<&'static str> {
    Law::builtin_names()
}

/// Reads and merges curve files (`format`: `csv` or `jsonl` for every file, else from the extension).
#[pyfunction]
#[pyo3(signature = (paths, format = None))]
fn read_curve_files(py: Python<'_>, paths: Vec<PathBuf>, format: Option<String>) -> PyResult<PyCurves> {
    py.detach(|| {
        guard(|| {
            let format = format.map(|f| f.parse::<CurveFormat>()).transpose().map_err(Failure)?;
            Ok(PyCurves { inner: read_curves(&paths, format)? })
        })
    })
}

/// Parses curve text (CSV with a header); `name` stands for the file in errors.
#[pyfunction]
#[pyo3(signature = (text, name = "<dataframe>"))]
fn parse_curve_csv(text: &str, name: &str) -> PyResult<PyCurves> {
    guard(|| Ok(PyCurves { inner: parse_curves(text, CurveFormat::Csv, Path::new(name))? }))
}

/// The law a fit or comparison asks for, as `p2law fit --law/--law-expr/--param/--bound/--unbounded`
/// resolves it; the lint warnings of an expression are returned.
fn resolve_law(
    law: Option<&str>,
    expr: Option<&str>,
    ranges: &[String],
    bounds: &[String],
    unbounded: bool,
) -> Res<(Law, Vec<String>)> {
    let (mut law, lint) = match (law, expr) {
        (Some(_), Some(_)) => return fail("give a built-in law or an expression, not both"),
        (None, Some(expr)) => {
            let ranges: Vec<&str> = ranges.iter().map(String::as_str).collect();
            let law = Law::from_spec(expr, &ranges)?;
            let lint = law.lint();
            (law, lint)
        }
        (law, None) => {
            if !ranges.is_empty() {
                return fail("parameter ranges are for a law given as an expression");
            }
            (Law::builtin(law.unwrap_or("p2"))?, Vec::new())
        }
    };
    let bounds: Vec<&str> = bounds.iter().map(String::as_str).collect();
    law.set_bounds(&bounds)?;
    Ok((if unbounded { law.unbounded() } else { law }, lint))
}

fn fit_options(starts: usize, seed: u64) -> Res<FitOptions> {
    if starts < 1 {
        return fail("starts must be at least 1");
    }
    Ok(FitOptions { starts, seed, ..FitOptions::default() })
}

fn parse_holdout(spec: Option<&str>) -> Res<Option<Holdout>> {
    spec.map(|s| Holdout::parse(s).map_err(|e| Failure(format!("invalid holdout: {}", chain(&e)))))
        .transpose()
}

/// `p2law fit`: returns the fit, the expression's lint warnings and the number of failed bootstrap
/// replicates.
#[pyfunction]
#[pyo3(signature = (curves, law = None, expr = None, ranges = Vec::new(), bounds = Vec::new(), holdout = None,
                    bootstrap = 0, starts = 256, seed = 0, unbounded = false))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    curves: PyRef<'_, PyCurves>,
    law: Option<String>,
    expr: Option<String>,
    ranges: Vec<String>,
    bounds: Vec<String>,
    holdout: Option<String>,
    bootstrap: usize,
    starts: usize,
    seed: u64,
    unbounded: bool,
) -> PyResult<(PyFit, Vec<String>, usize)> {
    let curves = &curves.inner;
    py.detach(|| {
        guard(|| {
            let (law, lint) = resolve_law(law.as_deref(), expr.as_deref(), &ranges, &bounds, unbounded)?;
            let opts = fit_options(starts, seed)?;
            let parsed = parse_holdout(holdout.as_deref())?;
            let spec = holdout.as_deref().zip(parsed.as_ref());
            let run = p2law_law::fit_to_file(&law, curves, spec, &opts, bootstrap)?;
            Ok((PyFit { file: run.file, law }, lint, run.failed_replicates))
        })
    })
}

/// `p2law compare --json`'s object as JSON text: the built-ins `laws`, then `expr` (named `custom`),
/// fitted to the same points.
#[pyfunction]
#[pyo3(signature = (curves, laws, expr = None, ranges = Vec::new(), holdout = None, starts = 256, seed = 0,
                    unbounded = false))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    curves: PyRef<'_, PyCurves>,
    laws: Vec<String>,
    expr: Option<String>,
    ranges: Vec<String>,
    holdout: Option<String>,
    starts: usize,
    seed: u64,
    unbounded: bool,
) -> PyResult<(String, Vec<String>)> {
    let curves = &curves.inner;
    py.detach(|| {
        guard(|| {
            // Every law resolved before any fitting, so a typo fails at once.
            let mut resolved: Vec<Law> = Vec::new();
            for name in &laws {
                resolved.push(Law::builtin(name.trim())?);
            }
            let mut lint = Vec::new();
            if let Some(expr) = &expr {
                let (law, warnings) = resolve_law(None, Some(expr), &ranges, &[], false)?;
                resolved.push(law);
                lint = warnings;
            } else if !ranges.is_empty() {
                return fail("parameter ranges are for a law given as an expression");
            }
            let resolved: Vec<Law> =
                resolved.into_iter().map(|l| if unbounded { l.unbounded() } else { l }).collect();
            let opts = fit_options(starts, seed)?;
            let parsed = parse_holdout(holdout.as_deref())?;
            let mut rows = Vec::with_capacity(resolved.len());
            let mut baselines = BTreeMap::new();
            for law in &resolved {
                let ev = p2law_law::evaluate(law, curves, parsed.as_ref(), &opts)?;
                baselines = ev.baselines;
                let params: BTreeMap<String, f64> =
                    ev.fit.names.iter().cloned().zip(ev.fit.params.iter().copied()).collect();
                rows.push(json!({
                    "law": law.name,
                    "expr": law.source,
                    "n_params": law.params.len(),
                    "params": params,
                    "metrics": ev.metrics,
                    "warnings": ev.fit.warnings,
                }));
            }
            let out = json!({
                "holdout": holdout,
                "n_points": curves.points.len(),
                "n_runs": curves.runs.len(),
                "laws": rows,
                "baselines": baselines,
            });
            Ok((out.to_string(), lint))
        })
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("P2LawError", m.py().get_type::<P2LawError>())?;
    m.add_class::<PyCurves>()?;
    m.add_class::<PyFit>()?;
    m.add_function(wrap_pyfunction!(builtin_laws, m)?)?;
    m.add_function(wrap_pyfunction!(read_curve_files, m)?)?;
    m.add_function(wrap_pyfunction!(parse_curve_csv, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    Ok(())
}
