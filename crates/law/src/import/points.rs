//! Records to points: the chosen columns of each record become one point of the run, with the run's
//! variables; records without a loss or at `d = 0` are skipped and counted, a repeated `d` is an error naming
//! both records, and bad values name their record and column.

use std::collections::HashMap;
use std::path::Path;

use super::columns::Columns;
use super::records::{Field, Record, Series};
use super::{describe, no_tokens, ImportError, ImportOptions, Imported, LogFormat, RunInfo};
use crate::curves::{Curves, Point, Run};
use crate::var::Var;

pub(crate) fn import_series(
    series: &Series,
    path: &Path,
    format: LogFormat,
    run: &RunInfo,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let records = &series.records;
    check_run(run)?;
    if let Some(t) = opts.tokens_per_step.filter(|t| !(t.is_finite() && *t > 0.0)) {
        let value = t.to_string();
        return Err(ImportError::BadRunInfo { field: "tokens per step", value, expected: "finite and > 0" });
    }
    let cols = Columns::choose(records, path, opts)?;
    let (mut points, mut steps, mut at, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut d_at: HashMap<u64, &str> = HashMap::new();
    let n = run.n.unwrap_or(run.n0 * (1.0 - run.rho));
    for record in records {
        let Some(loss) = number(record, &cols.loss, path)? else {
            skipped += 1;
            continue;
        };
        let step = cols.step.as_deref().map(|c| number(record, c, path)).transpose()?.flatten();
        let tokens = match cols.tokens.as_deref().map(|c| number(record, c, path)).transpose()?.flatten() {
            Some(t) => t,
            None => match (step, opts.tokens_per_step) {
                (Some(s), Some(tps)) => s * tps,
                _ => {
                    let reason =
                        format!("{} has a loss but no tokens, and no step with --tokens-per-step", record.at);
                    return Err(no_tokens(path, reason));
                }
            },
        };
        if tokens == 0.0 {
            skipped += 1;
            continue;
        }
        if tokens < 0.0 {
            return Err(bad(path, record, cols.tokens_from_column(), tokens.to_string(), "tokens count ≥ 0"));
        }
        if loss <= 0.0 {
            return Err(bad(path, record, &cols.loss, loss.to_string(), "loss > 0"));
        }
        if let Some(first) = d_at.insert(tokens.to_bits(), &record.at) {
            let (first, second) = (describe(path, first), describe(path, &record.at));
            return Err(ImportError::Duplicate { run: run.name.clone(), d: tokens, first, second });
        }
        let mut vars = [0.0; 6];
        vars[Var::N0 as usize] = run.n0;
        vars[Var::N as usize] = n;
        vars[Var::Rho as usize] = run.rho;
        vars[Var::L0 as usize] = run.l0;
        vars[Var::D as usize] = tokens;
        vars[Var::Loss as usize] = loss;
        points.push(Point { run: 0, vars });
        steps.push(step.unwrap_or(f64::NAN));
        at.push(record.at.clone());
    }
    if points.is_empty() {
        return Err(ImportError::NoRows { path: path.into(), loss_column: cols.loss });
    }
    let r = Run {
        name: run.name.clone(),
        n0: run.n0,
        rho: run.rho,
        l0: run.l0,
        method: run.method.clone(),
        model: run.model.clone(),
        family: run.family.clone(),
        rho_target: run.rho_target,
    };
    Ok(Imported {
        curves: Curves { runs: vec![r], points },
        steps: cols.step.is_some().then_some(steps),
        at,
        source: path.into(),
        format,
        source_run: series.name.clone(),
        tokens_from: cols.describe_tokens(opts.tokens_per_step),
        loss_column: cols.loss,
        skipped,
    })
}

/// A finite number from a record's column; `None` when the record lacks it.
fn number(record: &Record, column: &str, path: &Path) -> Result<Option<f64>, ImportError> {
    let value = match record.fields.get(column) {
        None => return Ok(None),
        Some(Field::Number(v)) => *v,
        Some(Field::Text(s)) => {
            s.trim().parse::<f64>().map_err(|_| bad(path, record, column, format!("{s:?}"), "number"))?
        }
        Some(Field::Other) => return Err(bad(path, record, column, "a non-number".into(), "number")),
    };
    if !value.is_finite() {
        return Err(bad(path, record, column, value.to_string(), "finite number"));
    }
    Ok(Some(value))
}

fn bad(path: &Path, record: &Record, column: &str, value: String, expected: &'static str) -> ImportError {
    ImportError::BadValue { path: path.into(), at: record.at.clone(), column: column.into(), value, expected }
}

fn check_run(run: &RunInfo) -> Result<(), ImportError> {
    let bad = |field, value: f64, expected| {
        Err(ImportError::BadRunInfo { field, value: value.to_string(), expected })
    };
    if run.name.trim().is_empty() {
        return Err(ImportError::BadRunInfo {
            field: "name",
            value: "empty".into(),
            expected: "a non-empty name",
        });
    }
    if !(run.n0.is_finite() && run.n0 > 0.0) {
        return bad("n0", run.n0, "finite and > 0");
    }
    if !(run.rho > 0.0 && run.rho < 1.0) {
        return bad("rho", run.rho, "in (0, 1)");
    }
    if !(run.l0.is_finite() && run.l0 > 0.0) {
        return bad("l0", run.l0, "finite and > 0");
    }
    if let Some(n) = run.n.filter(|n| !(n.is_finite() && *n > 0.0)) {
        return bad("n", n, "finite and > 0");
    }
    if let Some(t) = run.rho_target.filter(|t| !(*t > 0.0 && *t < 1.0)) {
        return bad("rho_target", t, "in (0, 1)");
    }
    Ok(())
}
