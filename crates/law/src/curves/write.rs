//! Writing curves as CSV (the curve-file schema of `docs/spec/formats.md`), atomically.
//!
//! Columns: `run, n0, n, rho, l0, d, loss`, then `method, model, family, rho_target` when any run has that
//! value, then any
//! extra per-point columns the caller passes (training adds `step, lr, …`). Numbers are written in Rust's
//! shortest round-trip form, so reading the file back gives bit-identical values.

use std::path::Path;

use p2law_formats::curve as col;

use super::{CurveError, Curves};
use crate::var::Var;

/// An extra per-point column: a name and one value per point of the curves being written.
#[derive(Debug, Clone, Copy)]
pub struct ExtraColumn<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
}

/// Writes `curves` to `path` as CSV.
pub fn write_curves_csv(path: &Path, curves: &Curves) -> Result<(), CurveError> {
    write_curves_csv_with(path, curves, &[])
}

/// Writes `curves` plus extra per-point columns. Each extra column must have one value per point; a NaN
/// value is written as an empty field.
pub fn write_curves_csv_with(
    path: &Path,
    curves: &Curves,
    extra: &[ExtraColumn<'_>],
) -> Result<(), CurveError> {
    let bytes =
        curves_csv_bytes(curves, extra).map_err(|source| CurveError::Write { path: path.into(), source })?;
    p2law_formats::write_atomic(path, &bytes)
        .map_err(|source| CurveError::Write { path: path.into(), source })
}

/// The CSV text [`write_curves_csv_with`] writes.
pub fn curves_csv_bytes(curves: &Curves, extra: &[ExtraColumn<'_>]) -> std::io::Result<Vec<u8>> {
    if let Some(bad) = extra.iter().find(|c| c.values.len() != curves.points.len()) {
        let msg = format!(
            "extra column `{}` has {} values for {} points",
            bad.name,
            bad.values.len(),
            curves.points.len()
        );
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg));
    }
    let has = [
        curves.runs.iter().any(|r| r.method.is_some()),
        curves.runs.iter().any(|r| r.model.is_some()),
        curves.runs.iter().any(|r| r.family.is_some()),
    ];
    let has_target = curves.runs.iter().any(|r| r.rho_target.is_some());
    let mut header: Vec<&str> = vec![col::RUN, col::N0, col::N, col::RHO, col::L0, col::D, col::LOSS];
    header.extend(col::LABELS.iter().zip(has).filter(|(_, h)| *h).map(|(n, _)| *n));
    if has_target {
        header.push(col::RHO_TARGET);
    }
    header.extend(extra.iter().map(|c| c.name));

    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header)?;
    for (i, p) in curves.points.iter().enumerate() {
        let run = curves.runs.get(p.run).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("point {i} names run {} of {}", p.run, curves.runs.len()),
            )
        })?;
        let mut row = vec![run.name.clone()];
        for v in [Var::N0, Var::N, Var::Rho, Var::L0, Var::D, Var::Loss] {
            row.push(p.get(v).to_string());
        }
        for (label, h) in [&run.method, &run.model, &run.family].into_iter().zip(has) {
            if h {
                row.push(label.clone().unwrap_or_default());
            }
        }
        if has_target {
            row.push(run.rho_target.map(|r| r.to_string()).unwrap_or_default());
        }
        for c in extra {
            let v = c.values[i];
            row.push(if v.is_nan() { String::new() } else { v.to_string() });
        }
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error())
}
