//! Turning rows of any curve format into a validated [`Curves`].
//!
//! The CSV and JSONL readers only split their input into rows and hand each row here as a lookup from column
//! name to [`Cell`]. This file owns the schema: which columns are required, what range each number must lie
//! in, that rows of one run (possibly spread over several files) agree on `n0`, `rho`, `l0` and labels, and
//! that no run has two rows at the same `d` (one point measured twice would count twice in every fit and
//! metric; it is almost always a log appended twice, or two runs sharing a name).

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use p2law_formats::curve as col;

use super::error::{Duplicate, Inconsistent};
use super::{CurveError, Curves, Point, Run};
use crate::var::Var;

/// One cell of a row, as the file format gave it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Column not present, empty CSV field, or JSON `null`.
    Absent,
    Text(Cow<'a, str>),
    Number(f64),
    /// A JSON value that is neither a string nor a number (bool, array, object).
    Other,
}

/// Where a row came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowAt<'a> {
    pub path: &'a Path,
    pub line: usize,
}

/// Relative tolerance for "the same value" of `n0`, `rho`, `l0` across rows of a run: values written by
/// different tools may differ in the last printed digit.
const SAME_REL_TOL: f64 = 1e-9;

/// Where a run was first seen, where each of its labels was first set, and where each of its `d` values was.
#[derive(Debug)]
struct RunSeen {
    index: usize,
    at: (PathBuf, usize),
    label_at: [Option<(PathBuf, usize)>; 3],
    /// `d` (as bits: validated values are finite and positive, so equal values have equal bits) → its row.
    d_at: HashMap<u64, (PathBuf, usize)>,
}

/// Accumulates rows from any number of files into one [`Curves`].
#[derive(Debug, Default)]
pub(crate) struct Builder {
    curves: Curves,
    seen: HashMap<String, RunSeen>,
    /// Set aside rows with `rho` = 0 (unpruned runs) instead of rejecting them.
    skip_unpruned: bool,
    /// Names of the runs set aside, in the order first seen.
    unpruned: Vec<String>,
    /// The rows set aside, read as curves of their own (`rho` = 0 allowed); a row that does not validate
    /// is left out of them, since pretraining curves were never held to the post-training schema.
    unpruned_rows: Option<Box<Builder>>,
    /// Accept `rho` = 0 (the builder of the rows set aside).
    zero_rho_ok: bool,
}

impl Builder {
    /// A builder that sets aside unpruned runs (`rho` = 0, e.g. pretraining curves) rather than failing on
    /// them; [`Builder::finish_with_unpruned`] says which runs those were.
    pub fn skipping_unpruned() -> Builder {
        Builder { skip_unpruned: true, ..Builder::default() }
    }

    pub fn finish(self) -> Curves {
        self.curves
    }

    /// The curves, the names of the unpruned runs set aside, and those runs' readable rows as curves.
    pub fn finish_with_unpruned(self) -> (Curves, Vec<String>, Curves) {
        let unpruned_curves = self.unpruned_rows.map(|b| b.finish()).unwrap_or_default();
        (self.curves, self.unpruned, unpruned_curves)
    }

    /// Validates one row and adds its point (and its run, the first time the run is named).
    pub fn push<'a>(&mut self, at: RowAt<'_>, get: impl Fn(&str) -> Cell<'a>) -> Result<(), CurveError> {
        self.push_row(at, &get)
    }

    /// [`Builder::push`] behind a trait object, so the builder of the rows set aside reuses it.
    fn push_row<'a>(&mut self, at: RowAt<'_>, get: &dyn Fn(&str) -> Cell<'a>) -> Result<(), CurveError> {
        let run_cell = get(col::RUN);
        if run_cell == Cell::Absent {
            return Err(missing(at, col::RUN));
        }
        let name = text(at, col::RUN, run_cell)?
            .ok_or_else(|| CurveError::EmptyRun { path: at.path.to_path_buf(), line: at.line })?;
        if self.skip_unpruned && optional(at, col::RHO, get(col::RHO), unit_from_zero)? == Some(0.0) {
            if !self.unpruned.contains(&name) {
                self.unpruned.push(name);
            }
            let side = self
                .unpruned_rows
                .get_or_insert_with(|| Box::new(Builder { zero_rho_ok: true, ..Builder::default() }));
            // Best effort, as documented on the field: the row's error is not this reader's concern.
            let _ = side.push_row(at, get);
            return Ok(());
        }
        let n0 = required(at, col::N0, &get, positive)?;
        let rho = required(at, col::RHO, &get, if self.zero_rho_ok { unit_from_zero } else { open_unit })?;
        let l0 = required(at, col::L0, &get, positive)?;
        let d = required(at, col::D, &get, positive)?;
        let loss = required(at, col::LOSS, &get, positive)?;
        // `n` defaults to the pruned size implied by the rate (docs/spec/law.md: rho = 1 - n/n0).
        let n = optional(at, col::N, get(col::N), positive)?.unwrap_or(n0 * (1.0 - rho));
        let labels = [
            text(at, col::METHOD, get(col::METHOD))?,
            text(at, col::MODEL, get(col::MODEL))?,
            text(at, col::FAMILY, get(col::FAMILY))?,
        ];
        let rho_target = optional(at, col::RHO_TARGET, get(col::RHO_TARGET), open_unit)?;
        let run = self.run_index(at, &name, n0, rho, l0, labels)?;
        self.check_new_d(at, &name, d)?;
        let target = &mut self.curves.runs[run].rho_target;
        *target = target.or(rho_target);
        let mut vars = [0.0; 6];
        vars[Var::N0 as usize] = n0;
        vars[Var::N as usize] = n;
        vars[Var::Rho as usize] = rho;
        vars[Var::L0 as usize] = l0;
        vars[Var::D as usize] = d;
        vars[Var::Loss as usize] = loss;
        self.curves.points.push(Point { run, vars });
        Ok(())
    }

    fn run_index(
        &mut self,
        at: RowAt<'_>,
        name: &str,
        n0: f64,
        rho: f64,
        l0: f64,
        labels: [Option<String>; 3],
    ) -> Result<usize, CurveError> {
        let Some(seen) = self.seen.get_mut(name) else {
            let index = self.curves.runs.len();
            let [method, model, family] = labels.clone();
            let run = Run { name: name.to_string(), n0, rho, l0, method, model, family, rho_target: None };
            self.curves.runs.push(run);
            let here = || Some((at.path.to_path_buf(), at.line));
            let label_at = [0, 1, 2].map(|i| labels[i].as_ref().and_then(|_| here()));
            let seen =
                RunSeen { index, at: (at.path.to_path_buf(), at.line), label_at, d_at: HashMap::new() };
            self.seen.insert(name.to_string(), seen);
            return Ok(index);
        };
        let run = &mut self.curves.runs[seen.index];
        for (column, old, new) in [(col::N0, run.n0, n0), (col::RHO, run.rho, rho), (col::L0, run.l0, l0)] {
            if (old - new).abs() > SAME_REL_TOL * old.abs().max(new.abs()) {
                let first = &seen.at;
                return Err(inconsistent(at, name, column, new.to_string(), first, old.to_string()));
            }
        }
        let slots = [&mut run.method, &mut run.model, &mut run.family];
        for (i, ((slot, new), column)) in slots.into_iter().zip(labels).zip(col::LABELS).enumerate() {
            let Some(new) = new else { continue };
            match slot {
                None => {
                    *slot = Some(new);
                    seen.label_at[i] = Some((at.path.to_path_buf(), at.line));
                }
                Some(old) if *old != new => {
                    let first = seen.label_at[i].as_ref().unwrap_or(&seen.at);
                    return Err(inconsistent(at, name, column, new, first, old.clone()));
                }
                Some(_) => {}
            }
        }
        Ok(seen.index)
    }

    /// Records that run `name` (already seen) has a row at `d`; an error naming both rows if it had one.
    fn check_new_d(&mut self, at: RowAt<'_>, name: &str, d: f64) -> Result<(), CurveError> {
        let seen = self.seen.get_mut(name).expect("run_index registered the run");
        match seen.d_at.entry(d.to_bits()) {
            Entry::Vacant(slot) => {
                slot.insert((at.path.to_path_buf(), at.line));
                Ok(())
            }
            Entry::Occupied(first) => {
                let (first_path, first_line) = first.get().clone();
                Err(CurveError::Duplicate(Box::new(Duplicate {
                    path: at.path.to_path_buf(),
                    line: at.line,
                    run: name.to_string(),
                    d,
                    first_path,
                    first_line,
                })))
            }
        }
    }
}

fn inconsistent(
    at: RowAt<'_>,
    run: &str,
    column: &'static str,
    value: String,
    first: &(PathBuf, usize),
    first_value: String,
) -> CurveError {
    CurveError::Inconsistent(Box::new(Inconsistent {
        path: at.path.to_path_buf(),
        line: at.line,
        run: run.to_string(),
        column,
        value,
        first_path: first.0.clone(),
        first_line: first.1,
        first_value,
    }))
}

fn missing(at: RowAt<'_>, column: &'static str) -> CurveError {
    CurveError::MissingColumn { path: at.path.to_path_buf(), line: at.line, column }
}

/// A range check: `Some(description)` of the allowed range when `v` is outside it.
type RangeCheck = fn(f64) -> Option<&'static str>;

fn positive(v: f64) -> Option<&'static str> {
    (v <= 0.0).then_some("> 0")
}

fn open_unit(v: f64) -> Option<&'static str> {
    (v <= 0.0 || v >= 1.0).then_some("in (0, 1)")
}

fn unit_from_zero(v: f64) -> Option<&'static str> {
    (!(0.0..1.0).contains(&v)).then_some("in [0, 1)")
}

fn required<'a>(
    at: RowAt<'_>,
    column: &'static str,
    get: &impl Fn(&str) -> Cell<'a>,
    check: RangeCheck,
) -> Result<f64, CurveError> {
    let cell = get(column);
    if cell == Cell::Absent {
        return Err(missing(at, column));
    }
    // An empty field in a required column reads as a bad number, not as "absent".
    let empty = || CurveError::NotANumber {
        path: at.path.to_path_buf(),
        line: at.line,
        column: column.to_string(),
        value: String::new(),
    };
    optional(at, column, cell, check)?.ok_or_else(empty)
}

/// A number column; an empty field or `null` is `None`.
fn optional(
    at: RowAt<'_>,
    column: &'static str,
    cell: Cell<'_>,
    check: RangeCheck,
) -> Result<Option<f64>, CurveError> {
    let value = match cell {
        Cell::Absent => return Ok(None),
        Cell::Text(s) if s.trim().is_empty() => return Ok(None),
        Cell::Number(v) => v,
        Cell::Text(s) => s.trim().parse::<f64>().map_err(|_| CurveError::NotANumber {
            path: at.path.to_path_buf(),
            line: at.line,
            column: column.to_string(),
            value: s.to_string(),
        })?,
        Cell::Other => return Err(wrong_type(at, column, "a number")),
    };
    if !value.is_finite() {
        return Err(CurveError::NotFinite {
            path: at.path.to_path_buf(),
            line: at.line,
            column: column.into(),
            value,
        });
    }
    if let Some(expected) = check(value) {
        return Err(CurveError::OutOfRange {
            path: at.path.to_path_buf(),
            line: at.line,
            column,
            value,
            expected,
        });
    }
    Ok(Some(value))
}

/// A text column; numbers are accepted and printed (a run named `7` in JSON is the run "7").
fn text(at: RowAt<'_>, column: &'static str, cell: Cell<'_>) -> Result<Option<String>, CurveError> {
    match cell {
        Cell::Absent => Ok(None),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => Ok(Some(s.trim().to_string())),
        Cell::Number(v) => Ok(Some(v.to_string())),
        Cell::Other => Err(wrong_type(at, column, "a string")),
    }
}

fn wrong_type(at: RowAt<'_>, column: &str, expected: &'static str) -> CurveError {
    CurveError::WrongType { path: at.path.to_path_buf(), line: at.line, column: column.to_string(), expected }
}
