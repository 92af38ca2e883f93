//! `p2law-prune`: the model-independent pruning algorithms of p2law, on candle tensors.
//!
//! A guided tour, in pipeline order:
//! - [`calib`] accumulates a linear layer's calibration inputs (per-feature norms, Gram matrix `XᵀX`);
//! - [`criterion`] sparsifies one weight `(out, in)`: [`criterion::Magnitude`], [`criterion::Wanda`],
//!   [`criterion::SparseGpt`], unstructured or N:M ([`nm`]), returning the new weight and its `u8` mask;
//! - [`nm`] also picks which layers to make N:M-sparse when the target rate is below the pattern's;
//! - [`depth`] measures Block Influence and chooses whole layers to remove;
//! - [`width`] scores FFN channels, attention heads / KV groups and hidden channels (Minitron) and picks
//!   the channels to keep;
//! - [`mask`] and [`masks_io`] hold masks and read/write `masks.safetensors`;
//! - [`rate`] turns what was removed into the achieved non-embedding rate `rho`;
//! - [`apply`] drives all of the above on a whole [`p2law_model::Model`] with a calibration set, and parses
//!   a request from text ([`apply::parse`]);
//! - [`job`] prunes a model directory into a new one (calibration and held-out shards, L0 and the pruned
//!   loss, `pruning.json`, the output written whole): the library behind `p2law prune` and a sweep's
//!   pruning units.
//!
//! Everything validates its arguments first and reports problems as [`PruneError`]. Ties between equal
//! scores are broken by index (lower index pruned first), identically in `scripts/prune_reference.py`,
//! whose fixtures `tests/reference.rs` compares against.

pub mod apply;
pub mod calib;
pub mod criterion;
pub mod depth;
pub mod error;
pub mod job;
mod linalg;
pub mod mask;
pub mod masks_io;
mod matrix;
pub mod nm;
pub mod rate;
pub mod width;

pub use calib::{InputStats, StatsNeed};
pub use criterion::{by_name, Criterion, Pruned, Sparsity};
pub use error::{PruneError, Result};
pub use mask::MaskSet;
pub use nm::{check_nm, NmPattern};
