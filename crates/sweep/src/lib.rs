//! `p2law-sweep`: a recipe in, the P² Law's curves and report out — the library behind `p2law sweep`
//! (the CLI only parses its flags, prints, and supplies a [`Reporter`]).
//!
//! A guided tour, in the order a sweep uses it:
//! - [`recipe`]: the recipe (TOML) read and checked whole — names, the pruning grid (each method's request
//!   parsed as the pruning units will parse it), `[pretrain]` and `[posttrain]` resolved as `p2law train`
//!   will — so a typo fails in a second, before any work;
//! - [`plan`]: the recipe as a typed graph of units (pretrain → prune, measuring L0 → post-train → report),
//!   each unit's status read from the sweep folder;
//! - [`claim`]: lock-file claims, so several processes, on any nodes sharing the folder, run disjoint units;
//! - [`run`]: the runner — a unit claimed, run ([`p2law_train`] for training, [`p2law_prune::job`] for
//!   pruning and the unpruned control, [`p2law_report`] for the report) and recorded in the [`journal`];
//! - [`slurm`]: the units still to do submitted as one Slurm job array per dependency level.
//!
//! Layout of the sweep directory (`out` in the recipe):
//! ```text
//! configs/<run>.toml     every generated RUN.toml (rerunnable with `p2law train --config`)
//! base/<model>/          pretraining runs (curve.csv, checkpoints/, final/)
//! pruned/<model>-<method>-<rate>/   pruned models (HF dir + pruning.json [+ masks])
//! pruned/<model>-<method>-<rate>.unreachable   a rate the model's granularity cannot reach (the reason)
//! pruned/<model>-control/           with `[prune] control = true`: the base as is, pruning.json with rho 0
//! runs/<model>-<method>-<rate>/     post-training runs: the curves the law is fitted to
//! runs/<model>-control/             the unpruned control, post-trained exactly like the pruned models
//! runs/twins.json        rates that reached the same model as a lower rate (not post-trained)
//! runs.sqlite            the run store of every training run
//! claims/                lock files of work in progress
//! journal/               one JSON record per unit a process ran (unit, host, Slurm job, seconds, resumed)
//! slurm/<stamp>/         with `--slurm`: the sbatch scripts, their logs and the submitted job ids
//! report/                `p2law report runs/` at the end
//! ```
//! A unit is done when its output exists (`final/` of a run, `pruning.json` of a pruned model), so rerunning
//! skips it. A killed sweep loses only the work in progress: a run resumes from its last checkpoint, a
//! pruning (written under a temporary name, renamed at the end) starts over. A worker runs whatever unit is
//! ready and unclaimed and, when none is but others are running elsewhere, waits for them instead of giving
//! up their dependants. L0 of a pretrained base is measured on the held-out slice its post-training runs
//! evaluate on.

pub mod claim;
mod error;
pub mod journal;
pub mod plan;
pub mod recipe;
pub mod run;
pub mod slurm;
#[cfg(test)]
mod testing;
mod units;

pub use error::SweepError;
pub use plan::{Plan, Status, Unit};
pub use recipe::{Recipe, RecipeError};
pub use run::{Ran, Reporter, Sweep, Tally};
