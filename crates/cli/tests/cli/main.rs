//! The `p2law` binary end to end, one module per subcommand area. One test crate, so the test build
//! links the tensor stack once instead of once per file.

mod common;
mod hardening;
mod import;
mod law;
mod prune;
mod report;
mod sweep;
mod train_bad_config;
mod train_resume;
