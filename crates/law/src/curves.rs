//! Loss curves: the data every fit, metric and plan works on.
//!
//! A [`Curves`] holds [`Run`]s (one pruned model's post-training curve, sharing `n0`, `rho`, `l0`) and their
//! [`Point`]s (one measured loss each). Reading and validating curve files ([`read_curves`], submodules
//! `read` and `build`) and writing them ([`write_curves_csv`]) live beside these types.
//!
//! What a curve file's columns become: `run` → [`Run::name`]; `n0, rho, l0` → the run and every point's
//! `vars`; `n, d, loss` → the point's `vars` (`n` defaults to `n0 · (1 - rho)`); `method, model, family` → the
//! run's labels; `rho_target` → [`Run::rho_target`]. The other optional columns (`n0_total, split, step, lr`) and any unknown column are accepted
//! and not stored: the law does not use them.

mod build;
mod error;
mod read;
#[cfg(test)]
mod tests;
mod write;

pub use error::{CurveError, Duplicate, Inconsistent};
pub use read::{
    parse_curves, read_curves, read_post_training_curves, CurveFormat, PostTraining, REQUIRED_COLUMNS,
};
pub use write::{curves_csv_bytes, write_curves_csv, write_curves_csv_with, ExtraColumn};

use crate::var::Var;

/// One observation: a row of a curve file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Index of the point's run in [`Curves::runs`].
    pub run: usize,
    /// The law variables, indexed by [`Var`] (`vars[Var::D as usize]` is `d`).
    pub vars: [f64; 6],
}

impl Point {
    /// The value of one variable.
    pub fn get(&self, v: Var) -> f64 {
        self.vars[v as usize]
    }

    /// The observed loss.
    pub fn loss(&self) -> f64 {
        self.vars[Var::Loss as usize]
    }

    /// Post-training tokens seen.
    pub fn d(&self) -> f64 {
        self.vars[Var::D as usize]
    }
}

/// One run: a pruned model's post-training curve, its constants as the curve file carries them (the one
/// type of them, shared with training's curve writer).
pub use p2law_formats::CurveRun as Run;

/// A set of runs and their points. Points of a run need not be contiguous or sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curves {
    pub runs: Vec<Run>,
    pub points: Vec<Point>,
}

impl Curves {
    /// Point indices grouped by run (`result[r]` for `runs[r]`), each group sorted by `d` (ties keep file order).
    pub fn points_by_run(&self) -> Vec<Vec<usize>> {
        group_by_run(&self.points, self.runs.len())
    }

    /// The runs for which `keep` is true and their points, run indices renumbered; order is kept.
    pub fn select_runs(&self, keep: impl Fn(&Run) -> bool) -> Curves {
        let mut new_index = vec![None; self.runs.len()];
        let mut runs = Vec::new();
        for (i, run) in self.runs.iter().enumerate() {
            if keep(run) {
                new_index[i] = Some(runs.len());
                runs.push(run.clone());
            }
        }
        let points = self
            .points
            .iter()
            .filter_map(|p| new_index.get(p.run).copied().flatten().map(|run| Point { run, ..*p }))
            .collect();
        Curves { runs, points }
    }
}

/// Indices into `points` grouped by `Point::run` (`result[r]`, for `r < n_runs`; points naming a larger run index
/// are grouped too, growing the result), each group sorted by `d` with ties in input order.
pub fn group_by_run(points: &[Point], n_runs: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n_runs];
    for (i, p) in points.iter().enumerate() {
        if p.run >= groups.len() {
            groups.resize(p.run + 1, Vec::new());
        }
        groups[p.run].push(i);
    }
    for g in &mut groups {
        // Stable sort; `total_cmp` so a NaN (never present in validated curves) cannot panic.
        g.sort_by(|&a, &b| points[a].d().total_cmp(&points[b].d()));
    }
    groups
}
