//! Run constants from `pruning.json` (docs/spec/formats.md): n0, rho, l0, method, n, target_rho.
//!
//! The file is read as a [`PruningRecord`] (`p2law-formats`, which also writes it); only these fields are
//! used here (`target_rho` becomes the curve's `rho_target`), and `n0` is required. Counts may be a number or
//! an object with a `non_embedding` entry (`"n": {"non_embedding": 1.2e6, "total": 3.4e6}`), because the
//! law's N is the non-embedding count.
//!
//! ```
//! use p2law_formats::PruningRecord;
//! let json = serde_json::json!({"method": "nm", "rho": 0.5, "n0": 1000, "l0": 4.5,
//!                               "n": {"non_embedding": 500, "total": 900}, "criterion": "wanda"});
//! let path = std::path::Path::new("pruning.json");
//! let meta = p2law_train::meta::from_record(&PruningRecord::from_value(&json, path).unwrap(), path).unwrap();
//! assert_eq!((meta.n0, meta.rho, meta.l0, meta.n), (1000.0, 0.5, Some(4.5), Some(500.0)));
//! assert_eq!(meta.method.as_deref(), Some("nm"));
//! ```

use std::path::Path;

use p2law_formats::PruningRecord;

use crate::error::{Result, TrainError};
use crate::trainer::RunMeta;

/// Reads `<dir>/pruning.json` if the directory has one.
pub fn load_pruning_meta(dir: &Path) -> Result<Option<RunMeta>> {
    let path = dir.join("pruning.json");
    if !path.exists() {
        return Ok(None);
    }
    from_record(&PruningRecord::read(&path)?, &path).map(Some)
}

/// The run constants of a `pruning.json` read from `path` (which names it in errors).
pub fn from_record(record: &PruningRecord, path: &Path) -> Result<RunMeta> {
    let n0 = record.n0.ok_or_else(|| TrainError::Config {
        path: path.to_path_buf(),
        field: "n0".into(),
        msg: "missing".into(),
    })?;
    Ok(RunMeta {
        n0: n0.non_embedding,
        rho: record.rho,
        l0: record.l0,
        method: record.method.clone(),
        n: record.n.map(|c| c.non_embedding),
        rho_target: record.target_rho,
        family: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn from_pruning_json(json: &Value, path: &Path) -> Result<RunMeta> {
        from_record(&PruningRecord::from_value(json, path)?, path)
    }

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
            (json!({"n0": 1, "rho": 0.5, "format": "p2law.pruning/2"}), "`format`"),
        ] {
            let e = from_pruning_json(&j, Path::new("p.json")).unwrap_err().to_string();
            assert!(e.starts_with("p.json: ") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn directory_without_pruning_json_has_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_pruning_meta(dir.path()).unwrap().is_none());
    }
}
