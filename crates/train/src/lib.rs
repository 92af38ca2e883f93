//! The training stage of p2law: pretrain a model from scratch, or post-train a (pruned) one, and record the
//! held-out loss curve the P² Law is fitted to.
//!
//! A tour, in the order a run uses it:
//! - [`config`]: `RUN.toml` → checked [`RunConfig`] (unknown keys, bad values rejected before training).
//! - [`device`]: `cpu` / `cuda:N`.
//! - [`sampler`]: the seeded, counter-based data order (micro-batch index → sequences), and the fixed
//!   held-out slice.
//! - [`trainer`]: the loop — forward/backward with gradient accumulation, [`masks`] on gradients,
//!   [`clip`], [`adamw`] at the rate of [`schedule`], masks on weights, evaluation, [`curve`] rows,
//!   [`checkpoint`]s, progress — and the [`store`] entry.
//!
//! The trainer talks to the model and the data through two small traits ([`LanguageModel`],
//! [`TokenSource`], in [`seams`]) so each piece is tested here with a tiny model; the `p2law train` command
//! plugs in `p2law-model` and `p2law-data`.

pub mod adamw;
pub mod alloc;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod curve;
pub mod device;
pub mod error;
pub mod eval;
pub mod fsio;
#[cfg(test)]
mod fuzz_tests;
pub mod masks;
pub mod meta;
pub mod rundir;
pub mod sampler;
pub mod schedule;
pub mod seams;
pub mod setup;
pub mod store;
pub mod trainer;

pub use config::{FileConfig, RunConfig};
pub use error::{parse_toml, Result, TomlError, TrainError};
pub use seams::{Data, LanguageModel, TokenSource};
