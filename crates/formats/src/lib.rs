//! The bottom crate of p2law: file formats and small utilities every stage shares, with no tensor
//! dependency (serde, serde_json and thiserror only).
//!
//! - [`atomic`]: crash-safe writes (temporary file beside the target, fsync, rename, fsync the folder), as
//!   whole byte strings ([`write_atomic`]), streamed ([`AtomicFile`]) or through a library that writes by
//!   file name ([`write_atomic_with`]);
//! - [`rng`]: [`SplitMix64`], the seeded generator behind weight initialisation, data order, calibration
//!   windows and the law's multi-start and bootstrap, fixed forever so a seed means the same numbers.
//!
//! The files themselves are described in `docs/spec/formats.md`.

pub mod atomic;
pub mod rng;

pub use atomic::{sync_dir, sync_file, write_atomic, write_atomic_with, AtomicFile};
pub use rng::SplitMix64;
