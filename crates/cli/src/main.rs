//! `p2law`: one binary, one subcommand per pipeline stage (`../shared/spec/cli.md`).
//!
//! Each subcommand lives in `cmd/<name>.rs` as an `Args` struct (clap) and a `run(args) -> anyhow::Result<()>`.
//! `main` only parses, dispatches and turns an error into one line on stderr and a non-zero exit code.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "p2law", version, about = "Scaling laws for post-training after pruning (the P² Law)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {}
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        // One line: the chain of causes, outermost first.
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
