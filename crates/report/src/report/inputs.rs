//! Finding and reading the curves a report covers.
//!
//! `RUNS_DIR` may be: a single curve file (`.csv`, `.jsonl`); a tree of training runs, searched recursively for
//! the `curve.csv` each `p2law train` run writes; or, when the tree holds no `curve.csv`, a directory of curve
//! files (`*.csv`, `*.jsonl` directly inside it, e.g. what `p2law synth` writes). Unpruned runs (`rho` = 0,
//! pretraining curves) are set aside and counted.

use std::path::{Path, PathBuf};

use p2law_law::{read_post_training_curves, Curves};
use serde::Serialize;

use super::BuildError;

/// The file name `p2law train` gives a run's curve.
pub const CURVE_FILE: &str = "curve.csv";

/// The curves read, and where from.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    pub source: PathBuf,
    pub files: Vec<PathBuf>,
    pub n_runs: usize,
    pub n_points: usize,
    /// Unpruned runs (`rho` = 0) left out.
    pub skipped_unpruned: Vec<String>,
    #[serde(skip)]
    pub curves: Curves,
}

/// Finds the curve files under `source` and reads them.
pub fn load(source: &Path) -> Result<Inputs, BuildError> {
    let files = find_curve_files(source)?;
    let read = read_post_training_curves(&files, None)?;
    if read.curves.runs.is_empty() {
        return Err(BuildError::OnlyUnpruned { path: source.into(), skipped: read.unpruned.len() });
    }
    Ok(Inputs {
        source: source.into(),
        files,
        n_runs: read.curves.runs.len(),
        n_points: read.curves.points.len(),
        skipped_unpruned: read.unpruned,
        curves: read.curves,
    })
}

/// The curve files `source` stands for, sorted.
pub fn find_curve_files(source: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let meta = std::fs::metadata(source).map_err(|e| BuildError::Read { path: source.into(), source: e })?;
    if meta.is_file() {
        return Ok(vec![source.into()]);
    }
    let mut found = Vec::new();
    walk(source, &mut found)?;
    if found.is_empty() {
        found = list(source)?
            .into_iter()
            .filter(|p| p.is_file() && matches!(ext(p).as_deref(), Some("csv" | "jsonl")))
            .collect();
    }
    if found.is_empty() {
        return Err(BuildError::NoCurves { path: source.into() });
    }
    found.sort();
    Ok(found)
}

/// Every `curve.csv` under `dir`, recursively (symbolic links to directories are not followed).
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), BuildError> {
    for path in list(dir)? {
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|e| BuildError::Read { path: path.clone(), source: e })?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if path.file_name().is_some_and(|n| n == CURVE_FILE) {
            found.push(path);
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let read_err = |e| BuildError::Read { path: dir.into(), source: e };
    std::fs::read_dir(dir).map_err(read_err)?.map(|entry| entry.map(|e| e.path()).map_err(read_err)).collect()
}

fn ext(p: &Path) -> Option<String> {
    p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "run,n0,rho,l0,d,loss\n";

    #[test]
    fn finds_run_curves_recursively_before_loose_files() {
        let dir = tempfile::tempdir().unwrap();
        for run in ["a", "b/c"] {
            std::fs::create_dir_all(dir.path().join(run)).unwrap();
            std::fs::write(dir.path().join(run).join(CURVE_FILE), HEADER).unwrap();
        }
        std::fs::write(dir.path().join("loose.csv"), HEADER).unwrap();
        let files = find_curve_files(dir.path()).unwrap();
        assert_eq!(files, [dir.path().join("a/curve.csv"), dir.path().join("b/c/curve.csv")]);
    }

    #[test]
    fn falls_back_to_curve_files_in_the_directory_and_skips_unpruned_runs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.csv"), format!("{HEADER}a,1e6,0.5,3,10,3.5\npre,1e6,0,3,10,3\n"))
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a curve").unwrap();
        let inputs = load(dir.path()).unwrap();
        assert_eq!(inputs.files, [dir.path().join("x.csv")]);
        assert_eq!((inputs.n_runs, inputs.skipped_unpruned.clone()), (1, vec!["pre".to_string()]));
    }

    #[test]
    fn empty_or_missing_input_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()) && err.contains("no curve"), "{err}");
        let missing = dir.path().join("nope");
        let err = load(&missing).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        std::fs::write(dir.path().join("p.csv"), format!("{HEADER}pre,1e6,0,3,10,3\n")).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("unpruned"), "{err}");
    }
}
