//! The bottom crate of p2law: file formats and small utilities every stage shares, with no tensor
//! dependency (serde, serde_json, thiserror and memmap2 only).
//!
//! - [`atomic`]: crash-safe writes (temporary file beside the target, fsync, rename, fsync the folder), as
//!   whole byte strings ([`write_atomic`]), streamed ([`AtomicFile`]) or through a library that writes by
//!   file name ([`write_atomic_with`]);
//! - [`rng`]: [`SplitMix64`], the seeded generator behind weight initialisation, data order, calibration
//!   windows and the law's multi-start and bootstrap, fixed forever so a seed means the same numbers;
//! - [`version`]: the `format` and `p2law_version` fields of the files p2law writes (and the run store's
//!   `user_version`), and the policy for reading them ([`Format::check`]);
//! - [`pruning`]: [`PruningRecord`], the `pruning.json` a pruned model directory carries;
//! - [`curve`]: the curve file's column names and [`CurveRun`], a run's constants in it;
//! - [`shard`]: the token shard (`*.bin` of `p2law data build`), written and read memory-mapped;
//! - [`heartbeat`]: a stderr line every period around a long step, for logs in files.
//!
//! The files themselves are described in `docs/spec/formats.md`.

pub mod atomic;
pub mod curve;
pub mod heartbeat;
pub mod pruning;
pub mod rng;
pub mod shard;
pub mod version;

use std::path::PathBuf;

pub use atomic::{sync_dir, sync_file, write_atomic, write_atomic_with, AtomicFile};
pub use curve::CurveRun;
pub use pruning::{CalibrationSet, Count, EvalSlice, PruningRecord, CONTROL_METHOD, L0_GIVEN, L0_MEASURED};
pub use rng::SplitMix64;
pub use version::{Format, FIT, P2LAW_VERSION, PRUNING, REPORT, RUN_STORE};

/// Why a file p2law reads could not be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    /// A field is missing, of the wrong type, out of range, or names a format this p2law does not read.
    #[error("{}: `{field}`: {problem}", path.display())]
    Field { path: PathBuf, field: String, problem: String },
}
