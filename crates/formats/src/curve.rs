//! The curve file (`curve.csv`, docs/spec/formats.md): one measured loss per row, its run's constants
//! repeated on every row. The column names are spelled here once, and [`CurveRun`] is the one type of a
//! run's constants: training's streaming writer (`p2law_train::curve`) and the law's reader and writer
//! (`p2law_law::curves`) both use them.
//!
//! ```
//! use p2law_formats::curve::{self, CurveRun};
//! assert_eq!(curve::REQUIRED, ["run", "n0", "rho", "l0", "d", "loss"]);
//! let run = CurveRun { name: "llama-s-depth-r0.25".into(), n0: 3e5, rho: 0.25, l0: 5.1, ..Default::default() };
//! assert!(curve::check_label(&run.name).is_ok());
//! assert!(curve::check_label("a,b").is_err());
//! ```

/// The run's name (one curve per name).
pub const RUN: &str = "run";
/// Non-embedding parameters of the unpruned model, the law's N0.
pub const N0: &str = "n0";
/// Non-embedding parameters after pruning (optional; `n0 · (1 − rho)` when absent).
pub const N: &str = "n";
/// The achieved pruning rate ρ.
pub const RHO: &str = "rho";
/// The unpruned model's held-out loss, the law's L0.
pub const L0: &str = "l0";
/// Post-training tokens seen, the law's D.
pub const D: &str = "d";
/// The loss the law is fitted to (held-out).
pub const LOSS: &str = "loss";
/// Pruning method label (optional).
pub const METHOD: &str = "method";
/// Model label (optional).
pub const MODEL: &str = "model";
/// Architecture family, `config.json`'s `model_type` (optional).
pub const FAMILY: &str = "family";
/// The rate the pruning aimed at (optional).
pub const RHO_TARGET: &str = "rho_target";

/// The columns every curve file has.
pub const REQUIRED: [&str; 6] = [RUN, N0, RHO, L0, D, LOSS];
/// The optional text labels of a run, in the order the law's writer puts them.
pub const LABELS: [&str; 3] = [METHOD, MODEL, FAMILY];
/// The per-row columns training adds after `loss`: optimizer step, learning rate of the last step, mean
/// training loss since the previous row, held-out loss (equal to `loss`), throughput.
pub const TRAINING: [&str; 5] = ["step", "lr", "train_loss", "val_loss", "tokens_per_s"];

/// A run's constants as a curve file carries them (every row of the run repeats them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurveRun {
    /// The `run` column.
    pub name: String,
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    /// Pruning method, when known (`method` column).
    pub method: Option<String>,
    /// Model label, when given (`model` column).
    pub model: Option<String>,
    /// Architecture family (`llama`, `qwen2`), when known (`family` column).
    pub family: Option<String>,
    /// The rate the pruning aimed at (`rho_target` column), when known: whole layers or channels make the
    /// achieved `rho` differ by model, so runs of one nominal rate are compared by this.
    pub rho_target: Option<f64>,
}

/// Checks a text cell p2law writes unquoted (a run name or label): non-empty, without commas, quotes or
/// line breaks. The error says what is wrong with `value`.
pub fn check_label(value: &str) -> Result<(), String> {
    if value.is_empty() || value.contains([',', '"', '\n', '\r']) {
        return Err(format!("`{value}` must be non-empty without commas, quotes or newlines"));
    }
    Ok(())
}
