//! `p2law`: one binary, one subcommand per pipeline stage (`docs/spec/cli.md`).
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
enum Command {
    /// Fit a law to loss curves and score it (optionally on held-out points, with bootstrap intervals).
    Fit(cmd::fit::Args),
    /// Fit several laws to the same curves and compare their scores.
    Compare(cmd::compare::Args),
    /// Predict post-training loss from a fitted law.
    Predict(cmd::predict::Args),
    /// Plan a post-training token budget from a fitted law.
    Plan(cmd::plan::Args),
    /// Which pruning method and rate for a target size and token budget (one fitted law per method).
    Advise(cmd::advise::Args),
    /// Follow a running post-training curve and forecast its final and plateau loss.
    Watch(cmd::watch::Args),
    /// Fit, compare, test and plan on a directory of runs; write report.md, report.json and figures.
    Report(cmd::report::Args),
    /// Write synthetic P² Law curves (known parameters plus noise).
    Synth(cmd::synth::Args),
    /// Convert a GGUF file (Llama, Qwen2) to a Hugging Face directory.
    Convert(cmd::convert::Args),
    /// Mean token cross-entropy and perplexity of a model over a token stream.
    Eval(cmd::eval::Args),
    /// Architecture and parameter counts of a model directory.
    Info(cmd::info::Args),
    /// Fetch the public-domain corpus, train or load a tokenizer, pack token shards.
    Data(cmd::data::Args),
    /// Import loss logs (HF trainer state, TensorBoard, W&B CSV, JSONL, Megatron, torchtune, regex) as curves.
    Import(cmd::import::Args),
    /// Prune a model (depth, width, N:M, unstructured) and write a loadable HF directory.
    Prune(cmd::prune::Args),
    /// Run a recipe: pretrain the base family, prune every way, post-train, report (resumable).
    Sweep(cmd::sweep::Args),
    /// List and filter the runs of a run store; rebuild it from the run folders.
    Runs(cmd::runs::Args),
    /// Pretrain or post-train a (pruned) model as RUN.toml says; resumable, writes the loss curve.
    Train(cmd::train::Args),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Fit(args) => cmd::fit::run(args),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Advise(args) => cmd::advise::run(args),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Synth(args) => cmd::synth::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Info(args) => cmd::info::run(args),
        Command::Data(args) => cmd::data::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Prune(args) => cmd::prune::run(args),
        Command::Sweep(args) => cmd::sweep::run(args),
        Command::Runs(args) => cmd::runs::run(args),
        Command::Train(args) => cmd::train::run(args),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs in files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        // One line: the chain of causes, outermost first.
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
