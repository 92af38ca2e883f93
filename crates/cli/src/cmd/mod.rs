//! One module per subcommand.
pub mod import;
pub mod data;
pub mod convert;
pub mod eval;
pub mod info;
