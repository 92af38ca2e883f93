//! Loss curves: the data every fit, metric and plan works on.
//!
//! A [`Curves`] holds [`Run`]s (one pruned model's post-training curve, sharing `n0`, `rho`, `l0`) and their
//! [`Point`]s (one measured loss each). Reading and validating curve files lives beside these types.

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

/// One run: a pruned model's post-training curve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Run {
    pub name: String,
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    /// Pruning method, when the curve file names one (`method` column).
    pub method: Option<String>,
    /// Model or family labels, when given.
    pub model: Option<String>,
    pub family: Option<String>,
}

/// A set of runs and their points. Points of a run need not be contiguous or sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curves {
    pub runs: Vec<Run>,
    pub points: Vec<Point>,
}
