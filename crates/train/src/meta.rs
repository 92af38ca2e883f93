//! Run constants from `pruning.json` (docs/spec/formats.md): n0, rho, l0, method, n, target_rho.
//!
//! The pruning stage writes more fields (criterion, calibration set, kept indices…); only these five are
//! read here (`target_rho` becomes the curve's `rho_target`) and the rest are ignored. Counts may be a number or an object with a `non_embedding` entry
//! (`"n": {"non_embedding": 1.2e6, "total": 3.4e6}`), because the law's N is the non-embedding count.
//!
//! ```
//! let json = serde_json::json!({"method": "nm", "rho": 0.5, "n0": 1000, "l0": 4.5,
//!                               "n": {"non_embedding": 500, "total": 900}, "criterion": "wanda"});
//! let meta = p2law_train::meta::from_pruning_json(&json, std::path::Path::new("pruning.json")).unwrap();
//! assert_eq!((meta.n0, meta.rho, meta.l0, meta.n), (1000.0, 0.5, Some(4.5), Some(500.0)));
//! assert_eq!(meta.method.as_deref(), Some("nm"));
//! ```

use std::path::Path;

use serde_json::Value;

use crate::error::{Result, TrainError};
use crate::trainer::RunMeta;

/// Reads `<dir>/pruning.json` if the directory has one.
pub fn load_pruning_meta(dir: &Path) -> Result<Option<RunMeta>> {
    let path = dir.join("pruning.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| TrainError::Config {
        path: path.clone(),
        field: "(file)".into(),
        msg: format!("invalid JSON: {e}"),
    })?;
    from_pruning_json(&json, &path).map(Some)
}

/// The run constants of a parsed `pruning.json`; `path` names it in errors.
pub fn from_pruning_json(json: &Value, path: &Path) -> Result<RunMeta> {
    let bad = |field: &str, msg: &str| TrainError::Config {
        path: path.to_path_buf(),
        field: field.into(),
        msg: msg.into(),
    };
    let count = |field: &str| -> Result<Option<f64>> {
        match json.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(obj @ Value::Object(_)) => obj
                .get("non_embedding")
                .and_then(Value::as_f64)
                .map(Some)
                .ok_or_else(|| bad(field, "an object without a numeric `non_embedding`")),
            Some(_) => Err(bad(field, "expected a number or {\"non_embedding\": …}")),
        }
    };
    let n0 = count("n0")?.ok_or_else(|| bad("n0", "missing"))?;
    let rho = json.get("rho").and_then(Value::as_f64).ok_or_else(|| bad("rho", "missing or not a number"))?;
    if !(0.0..1.0).contains(&rho) {
        return Err(bad("rho", "must be in [0, 1)"));
    }
    let l0 = match json.get("l0") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| bad("l0", "not a number"))?),
    };
    let method = match json.get("method") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().ok_or_else(|| bad("method", "not a string"))?.to_string()),
    };
    let rho_target = match json.get("target_rho") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| bad("target_rho", "not a number"))?),
    };
    Ok(RunMeta { n0, rho, l0, method, n: count("n")?, rho_target, family: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_numbers_and_missing_optionals() {
        let m = from_pruning_json(&json!({"n0": 5e5, "rho": 0.25}), Path::new("p.json")).unwrap();
        assert_eq!(
            m,
            RunMeta { n0: 5e5, rho: 0.25, l0: None, method: None, n: None, rho_target: None, family: None }
        );
    }

    #[test]
    fn errors_name_the_field() {
        for (j, want) in [
            (json!({"rho": 0.5}), "`n0`: missing"),
            (json!({"n0": 1, "rho": 1.5}), "`rho`"),
            (json!({"n0": 1, "rho": 0.5, "l0": "x"}), "`l0`"),
            (json!({"n0": {"total": 3}, "rho": 0.5}), "non_embedding"),
        ] {
            let e = from_pruning_json(&j, Path::new("p.json")).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn directory_without_pruning_json_has_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_pruning_meta(dir.path()).unwrap().is_none());
    }
}
