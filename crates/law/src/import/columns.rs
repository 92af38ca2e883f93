//! Which field is the loss, which counts tokens, which counts steps.
//!
//! Names match case-insensitively with `/`, `-`, `.` and spaces read as `_`, so `eval/loss` (the HF Trainer's
//! name in TensorBoard and W&B), `Eval_Loss` and `eval_loss` are one name. Given names (`--loss-column`, `--tag`,
//! …) match exactly first, then the same way. The reported column is the log's own spelling.

use std::collections::BTreeSet;
use std::path::Path;

use super::records::Record;
use super::{no_tokens, ImportError, ImportOptions};

/// Loss columns in order of preference: held-out first.
pub const LOSS_COLUMNS: [&str; 10] = [
    "eval_loss",
    "val_loss",
    "validation_loss",
    "valid_loss",
    "lm_loss_validation",
    "test_loss",
    "loss",
    "train_loss",
    "training_loss",
    "lm_loss",
];
/// Columns that count tokens directly, in order of preference.
pub const TOKEN_COLUMNS: [&str; 8] = [
    "num_input_tokens_seen",
    "train_num_input_tokens_seen",
    "tokens",
    "tokens_seen",
    "num_tokens",
    "total_tokens",
    "consumed_tokens",
    "d",
];
/// Columns that count optimizer steps, in order of preference. W&B's `_step` counts `wandb.log` calls (equal
/// to the trainer's step only when the script passed `step=`), so it comes last.
pub const STEP_COLUMNS: [&str; 7] =
    ["step", "global_step", "train_global_step", "steps", "iter", "iteration", "_step"];

/// A column name in the form the lists above use.
pub(crate) fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if matches!(c, '/' | '-' | '.' | ' ') { '_' } else { c.to_ascii_lowercase() })
        .collect()
}

/// The chosen loss, tokens and step columns, as the log spells them.
#[derive(Debug)]
pub(crate) struct Columns {
    pub loss: String,
    pub tokens: Option<String>,
    pub step: Option<String>,
}

impl Columns {
    pub fn choose(records: &[Record], path: &Path, opts: &ImportOptions) -> Result<Columns, ImportError> {
        let keys: BTreeSet<&str> = records.iter().flat_map(|r| r.fields.keys().map(String::as_str)).collect();
        let find = |name: &str| -> Option<String> {
            if keys.contains(name) {
                return Some(name.to_string());
            }
            let want = normalize(name);
            keys.iter().find(|k| normalize(k) == want).map(|k| k.to_string())
        };
        let first = |candidates: &[&str]| candidates.iter().find_map(|c| find(c));
        let loss = match &opts.loss_column {
            Some(c) => {
                find(c).ok_or_else(|| ImportError::NoLossColumn { path: path.into(), tried: vec![c.clone()] })
            }
            None => first(&LOSS_COLUMNS).ok_or_else(|| ImportError::NoLossColumn {
                path: path.into(),
                tried: LOSS_COLUMNS.map(String::from).to_vec(),
            }),
        }?;
        let given = |c: &Option<String>| -> Result<Option<String>, ImportError> {
            match c {
                None => Ok(None),
                Some(c) => find(c)
                    .map(Some)
                    .ok_or_else(|| no_tokens(path, format!("no record has the column `{c}`"))),
            }
        };
        let (tokens_given, step_given) = (given(&opts.tokens_column)?, given(&opts.step_column)?);
        // A tokens column given or found wins; the step column is still read to fill gaps and to keep steps.
        let tokens = match (tokens_given, &step_given) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => first(&TOKEN_COLUMNS),
        };
        let step = step_given.or_else(|| first(&STEP_COLUMNS));
        if tokens.is_none() && (step.is_none() || opts.tokens_per_step.is_none()) {
            let reason = match step {
                Some(s) => format!(
                    "no tokens column ({}); pass --tokens-per-step (batch × sequence length × accumulation × ranks) to use column `{s}`",
                    TOKEN_COLUMNS.join(", ")
                ),
                None => format!(
                    "no tokens column ({}) and no step column ({})",
                    TOKEN_COLUMNS.join(", "),
                    STEP_COLUMNS.join(", ")
                ),
            };
            return Err(no_tokens(path, reason));
        }
        Ok(Columns { loss, tokens, step })
    }

    pub fn tokens_from_column(&self) -> &str {
        self.tokens.as_deref().or(self.step.as_deref()).unwrap_or("d")
    }

    pub fn describe_tokens(&self, tokens_per_step: Option<f64>) -> String {
        match (&self.tokens, &self.step, tokens_per_step) {
            (Some(t), _, _) => t.clone(),
            (None, Some(s), Some(tps)) => format!("{s} × {tps}"),
            _ => String::new(),
        }
    }
}
