//! One module per subcommand, plus the pieces the law subcommands share.

// Law engine.
pub mod advise;
pub mod compare;
pub mod fit;
pub mod import;
mod lawargs;
pub mod plan;
pub mod predict;
pub mod report;
pub mod synth;
mod table;
pub mod watch;

// Model pipeline.
mod compute;
pub mod convert;
pub mod data;
pub mod eval;
pub mod info;
pub mod prune;
pub mod runs;
pub mod sweep;
pub mod train;

/// How the commands writing a model directory name their output flags in errors.
const OUT_FLAGS: p2law_model::staging::OutNames =
    p2law_model::staging::OutNames { out: "-o", overwrite: "--overwrite" };
