//! `p2law`: one binary, one subcommand per pipeline stage (`docs/spec/cli.md`).
//!
//! Each subcommand lives in `cmd/<name>.rs` as an `Args` struct (clap) and a `run(args) -> anyhow::Result<()>`.
//! `main` only parses, dispatches and turns an error into one line on stderr and a non-zero exit code.

mod cmd;
#[cfg(test)]
mod fuzz_tests;

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
    if !verbose() {
        // No input should panic (the fuzz targets check the readers); should one still, say so on one line.
        std::panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            eprintln!("error: internal error (a bug, please report it): {}{at}", without_backtrace(&msg));
        }));
    }
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        eprintln!("error: {}", error_line(&err, verbose()));
        std::process::exit(1);
    }
}

/// `RUST_LOG` asks for debug output (`debug` or `trace`, globally or for any target).
fn verbose() -> bool {
    std::env::var("RUST_LOG").is_ok_and(|v| v.contains("debug") || v.contains("trace"))
}

/// The error as one line: the chain of causes, outermost first, each cause left out when the text so far
/// already ends with it (an error that prints its source, e.g. `path: {source}`, would otherwise repeat
/// it). Backtraces (candle appends one to its errors when `RUST_BACKTRACE` is set) are dropped, a TOML
/// error's excerpt of the file becomes `line L, column C: message`, and any other line breaks become
/// spaces. With `verbose`, every cause is kept whole.
fn error_line(err: &anyhow::Error, verbose: bool) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<toml::de::Error>() {
            // "TOML parse error at line 3, column 7\n  |\n3 | …\n  |   ^\nmessage" → "line 3, column 7: message".
            Some(e) if !verbose => {
                let full = e.to_string();
                let at = full
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("TOML parse error at "))
                    .map(str::to_owned);
                let message = e.message().trim().replace('\n', "; ");
                match at {
                    Some(at) => format!("{at}: {message}"),
                    None => message,
                }
            }
            _ if verbose => cause.to_string(),
            _ => without_backtrace(&cause.to_string()),
        };
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// `text` up to a backtrace (`stack backtrace:` or a frame line `  12: path::to::fn`), its lines joined by
/// spaces.
fn without_backtrace(text: &str) -> String {
    let is_frame = |line: &str| {
        line == "stack backtrace:"
            || line
                .split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let lines: Vec<&str> =
        text.lines().map(str::trim).take_while(|l| !is_frame(l)).filter(|l| !l.is_empty()).collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(String, std::io::Error);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn causes_are_not_repeated_and_lines_are_cut() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let err =
            anyhow::Error::new(Wrap("/data/out/model.safetensors".into(), io)).context("saving the model");
        let line = error_line(&err, false);
        assert_eq!(line, "saving the model: /data/out/model.safetensors: No space left on device");
        let err =
            anyhow::anyhow!("tensor w: shape mismatch\n   0: candle_core::error::Error::bt\n   1: main");
        assert_eq!(error_line(&err, false), "tensor w: shape mismatch");
        assert!(error_line(&err, true).contains("Error::bt"));
        let err = anyhow::anyhow!("name \"a\nb\": use letters").context("RUN.toml");
        assert_eq!(error_line(&err, false), "RUN.toml: name \"a b\": use letters");
    }

    #[test]
    fn toml_errors_become_one_line() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let e = toml::from_str::<T>("a = 1\nb = [\n").unwrap_err();
        let err = anyhow::Error::new(e).context("recipes/x.toml: invalid recipe");
        let line = error_line(&err, false);
        assert!(
            line.starts_with("recipes/x.toml: invalid recipe: line 2, column") && !line.contains('\n'),
            "{line}"
        );
    }
}
