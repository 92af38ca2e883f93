//! Many imports into one [`Curves`]: runs keep their order of first appearance, a run may come from several
//! logs (their run info must agree), and no run may have two points at the same `d` — the error names both
//! sources, as the curve reader would later but without saying which logs they came from.

use std::collections::HashMap;

use super::{describe, ImportError, Imported};
use crate::curves::{Curves, Point};

/// Accumulates [`Imported`] runs; see the module docs.
#[derive(Debug, Default)]
pub struct Batch {
    curves: Curves,
    /// Step of each point (NaN where unknown).
    steps: Vec<f64>,
    any_steps: bool,
    /// Run name → (index in `curves.runs`, the source that first gave it).
    runs: HashMap<String, (usize, String)>,
    /// (run index, `d` bits) → where that point came from.
    d_at: HashMap<(usize, u64), String>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds one imported run.
    pub fn add(&mut self, got: &Imported) -> Result<(), ImportError> {
        let source = got.source.display().to_string();
        let incoming = &got.curves.runs[0];
        let run = match self.runs.get(&incoming.name) {
            Some((index, first)) => {
                check_same(&self.curves.runs[*index], incoming, first, &source)?;
                *index
            }
            None => {
                self.curves.runs.push(incoming.clone());
                let index = self.curves.runs.len() - 1;
                self.runs.insert(incoming.name.clone(), (index, source.clone()));
                index
            }
        };
        // Check every point before adding any, so a failed add leaves the batch as it was.
        for (p, at) in got.curves.points.iter().zip(&got.at) {
            if let Some(first) = self.d_at.get(&(run, p.d().to_bits())) {
                return Err(ImportError::Duplicate {
                    run: incoming.name.clone(),
                    d: p.d(),
                    first: first.clone(),
                    second: describe(&got.source, at),
                });
            }
        }
        for (i, (p, at)) in got.curves.points.iter().zip(&got.at).enumerate() {
            self.d_at.insert((run, p.d().to_bits()), describe(&got.source, at));
            self.curves.points.push(Point { run, vars: p.vars });
            self.steps.push(got.steps.as_ref().map_or(f64::NAN, |s| s[i]));
        }
        self.any_steps |= got.steps.is_some();
        Ok(())
    }

    pub fn curves(&self) -> &Curves {
        &self.curves
    }

    /// The curves, and the step of each point when any log had steps (NaN where one did not).
    pub fn finish(self) -> (Curves, Option<Vec<f64>>) {
        (self.curves, self.any_steps.then_some(self.steps))
    }
}

fn check_same(
    have: &crate::curves::Run,
    new: &crate::curves::Run,
    first: &str,
    second: &str,
) -> Result<(), ImportError> {
    let differ = |field: &'static str, a: String, b: String| ImportError::Inconsistent {
        run: have.name.clone(),
        field,
        first: format!("{a} from {first}"),
        second: format!("{b} from {second}"),
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    for (field, a, b) in [("n0", have.n0, new.n0), ("rho", have.rho, new.rho), ("l0", have.l0, new.l0)] {
        if !close(a, b) {
            return Err(differ(field, a.to_string(), b.to_string()));
        }
    }
    let labels = [
        ("method", &have.method, &new.method),
        ("model", &have.model, &new.model),
        ("family", &have.family, &new.family),
    ];
    for (field, a, b) in labels {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                return Err(differ(field, format!("{a:?}"), format!("{b:?}")));
            }
        }
    }
    Ok(())
}
