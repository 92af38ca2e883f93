//! The P² Law engine: everything that turns post-training loss curves into a fitted law, scores and plans.
//!
//! Pipeline: curve files ([`curves`]) → a law written in a small expression language ([`expr`], [`laws`];
//! [`lint`] warns of parameters named like misspelt variables) → fitting ([`fit`]) → metrics ([`metrics`])
//! on a fit or held-out split ([`holdout`]) → run-level bootstrap intervals, predictions and token-budget
//! plans ([`plan`]). Loss logs from other tools come in through [`import`]. This crate has no tensor
//! dependency: it compiles in seconds and can be used alone.
//!
//! Every observation is a [`Point`]: one row of a curve file, with the law's variables in a fixed order
//! ([`Var`]).

pub mod advise;
pub mod baselines;
pub mod bootstrap;
pub mod curves;
pub mod diagnose;
pub mod domain;
pub mod evaluate;
pub mod expr;
pub mod fit;
pub mod fit_file;
pub mod fit_run;
pub mod holdout;
pub mod import;
pub mod laws;
pub mod lint;
pub mod metrics;
pub mod plan;
pub mod synth;
pub mod var;
pub mod watch;

pub use baselines::{baselines, BaselineScore};
pub use bootstrap::{bootstrap, Bootstrap, BootstrapError, BootstrapOptions};
pub use curves::{
    read_curves, read_post_training_curves, write_curves_csv, CurveError, CurveFormat, Curves, Point,
    PostTraining, Run,
};
pub use diagnose::{Diagnosis, FitWarning, WarningKind};
pub use domain::Domain;
pub use evaluate::{evaluate, EvaluateError, Evaluation};
#[cfg(feature = "bench")]
pub use fit::least_squares_from_crate;
pub use fit::{
    fit, least_squares_from, start_grid, Fit, FitError, FitOptions, FitStats, Method, Objectives, Solution,
};
pub use fit_file::{FitFile, FitFileError, FitMetrics};
pub use fit_run::{fit_to_file, FitRun, FitRunError};
pub use holdout::{Holdout, HoldoutError, Split};
pub use laws::{predict, Bound, Law, LawError, ParamSpec};
pub use metrics::{Metrics, MetricsError};
pub use plan::{plan, plan_json, plan_with_intervals, Plan, PlanError, PlanIntervals, PlanQuery};
pub use var::{Var, VARS};
