//! The common shape every reader produces — [`Series`] of [`Record`]s, each record a map from field name to
//! value with a location for error messages — and the two JSON readers (`trainer_state.json`, JSON Lines).
//! Column choice and validation happen in `columns.rs` and the parent module.

use std::collections::HashMap;
use std::path::Path;

use super::ImportError;

/// A field value as the log gave it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Number(f64),
    Text(String),
    /// JSON bool, array or object.
    Other,
}

/// One log entry: a CSV row, a JSON line, or one element of `log_history`.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// "line 7" or "log_history[3]".
    pub at: String,
    pub fields: HashMap<String, Field>,
}

/// The records of one run; `name` is the run's name when the log holds several (a W&B panel export).
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: Option<String>,
    pub records: Vec<Record>,
}

impl Series {
    pub fn one(records: Vec<Record>) -> Vec<Series> {
        vec![Series { name: None, records }]
    }
}

fn from_json(value: serde_json::Value) -> Field {
    match value {
        serde_json::Value::Number(n) => n.as_f64().map_or(Field::Other, Field::Number),
        serde_json::Value::String(s) => Field::Text(s),
        _ => Field::Other,
    }
}

pub(crate) fn text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError::Parse {
            path: path.into(),
            at: format!("line {line}"),
            message: "not valid UTF-8".into(),
        }
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// `trainer_state.json`: the entries of its `log_history` array. JSON `null` fields are left out.
pub(crate) fn trainer_state(bytes: &[u8], path: &Path) -> Result<Vec<Record>, ImportError> {
    let parse = |at: &str, message: String| ImportError::Parse { path: path.into(), at: at.into(), message };
    let state: serde_json::Value = serde_json::from_str(text(bytes, path)?)
        .map_err(|e| parse(&format!("line {}", e.line()), e.to_string()))?;
    let Some(history) = state.get("log_history").and_then(|h| h.as_array()) else {
        return Err(parse(
            "top level",
            "no `log_history` array; is this a Hugging Face trainer_state.json?".into(),
        ));
    };
    history
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = format!("log_history[{i}]");
            let Some(object) = entry.as_object() else {
                return Err(parse(&at, "entry is not a JSON object".into()));
            };
            let fields = object
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), from_json(v.clone())))
                .collect();
            Ok(Record { at, fields })
        })
        .collect()
}

/// JSON Lines: one object per non-blank line. JSON `null` fields are left out (a logger's "not measured").
pub(crate) fn jsonl(bytes: &[u8], path: &Path) -> Result<Vec<Record>, ImportError> {
    let mut records = Vec::new();
    for (i, line) in text(bytes, path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", i + 1);
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| ImportError::Parse { path: path.into(), at: at.clone(), message: e.to_string() })?;
        let fields =
            object.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, from_json(v))).collect();
        records.push(Record { at, fields });
    }
    Ok(records)
}
