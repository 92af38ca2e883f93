//! Finding and reading the curves a report covers, and shipping copies of them with the report.
//!
//! `RUNS_DIR` may be: a single curve file (`.csv`, `.jsonl`); a tree of training runs, searched recursively for
//! the `curve.csv` each `p2law train` run writes; or, when the tree holds no `curve.csv`, a directory of curve
//! files (`*.csv`, `*.jsonl` directly inside it, e.g. what `p2law synth` writes). Unpruned runs (`rho` = 0,
//! pretraining curves) are set aside and counted; those labelled `control` feed the regime checks
//! ([`super::regime`]), as does the sweep's `twins.json` when the directory has one.
//!
//! The report ships the exact files it read in `curves/` beside `report.md` ([`ship`]), one per curve file,
//! named after the run directory (`runs/llama-64-depth-r0.25/curve.csv` → `curves/llama-64-depth-r0.25.csv`)
//! or the file, so `p2law report <report>/curves` reads the same curves in the same order and reproduces the
//! fits. Files are read in the order of those names, whichever folder they are read from. Every path the
//! report records is relative to the report directory.

use std::path::{Component, Path, PathBuf};

use p2law_law::{read_post_training_curves, Curves};
use serde::Serialize;

use super::regime::{read_twins, Twin, TWINS_FILE};
use super::BuildError;

/// The file name `p2law train` gives a run's curve.
pub const CURVE_FILE: &str = "curve.csv";
/// The folder beside `report.md` that holds the shipped curve files.
pub const SHIPPED_DIR: &str = "curves";

/// The curves read, and where from.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// What was read (a folder or a file), relative to the report directory once [`ship`]ped.
    pub source: PathBuf,
    /// Every curve file read, in reading order; relative to the report directory once shipped.
    pub files: Vec<PathBuf>,
    /// The shipped copy of each of `files` (`curves/<name>`), in the same order.
    pub shipped: Vec<PathBuf>,
    pub n_runs: usize,
    pub n_points: usize,
    /// Unpruned runs (`rho` = 0) left out of the fits.
    pub skipped_unpruned: Vec<String>,
    /// The sweep's record of rates that reached the same model as a lower rate, when the source has one;
    /// relative to the report directory once shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twins_file: Option<PathBuf>,
    #[serde(skip)]
    pub twins: Vec<Twin>,
    #[serde(skip)]
    pub curves: Curves,
    /// The unpruned runs' curves (controls among them).
    #[serde(skip)]
    pub unpruned_curves: Curves,
    /// The shipped file names, in reading order.
    #[serde(skip)]
    names: Vec<String>,
}

/// Finds the curve files under `source` and reads them.
pub fn load(source: &Path) -> Result<Inputs, BuildError> {
    let found = find_curve_files(source)?;
    let mut named: Vec<(String, PathBuf)> = shipped_names(source, &found).into_iter().zip(found).collect();
    named.sort();
    let (names, files): (Vec<String>, Vec<PathBuf>) = named.into_iter().unzip();
    let read = read_post_training_curves(&files, None)?;
    if read.curves.runs.is_empty() {
        return Err(BuildError::OnlyUnpruned { path: source.into(), skipped: read.unpruned.len() });
    }
    let twins_file = Some(source.join(TWINS_FILE)).filter(|p| source.is_dir() && p.is_file());
    let twins = match &twins_file {
        Some(path) => {
            read_twins(path).map_err(|message| BuildError::Twins { path: path.clone(), message })?
        }
        None => Vec::new(),
    };
    Ok(Inputs {
        source: source.into(),
        files,
        shipped: Vec::new(),
        n_runs: read.curves.runs.len(),
        n_points: read.curves.points.len(),
        skipped_unpruned: read.unpruned,
        twins_file,
        twins,
        curves: read.curves,
        unpruned_curves: read.unpruned_curves,
        names,
    })
}

/// Copies the curve files (and the twins file) into `out_dir/curves/`, replacing what was there, and makes
/// every path in `inputs` relative to `out_dir`. When the source already is that folder, nothing is copied.
pub fn ship(inputs: &mut Inputs, out_dir: &Path) -> Result<(), BuildError> {
    let dest = out_dir.join(SHIPPED_DIR);
    let already = dest.is_dir() && resolved(&inputs.source) == resolved(&dest);
    if !already {
        let tmp = out_dir.join(format!(".{SHIPPED_DIR}.partial-{}", std::process::id()));
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Write { path, source }
        };
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(write_err(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(write_err(&tmp))?;
        let copies = inputs.files.iter().zip(&inputs.names).map(|(f, n)| (f.clone(), n.clone()));
        let twins = inputs.twins_file.iter().map(|f| (f.clone(), TWINS_FILE.to_string()));
        for (from, name) in copies.chain(twins) {
            std::fs::copy(&from, tmp.join(&name))
                .map_err(|e| BuildError::Read { path: from.clone(), source: e })?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(write_err(&dest))?;
        }
        std::fs::rename(&tmp, &dest).map_err(write_err(&dest))?;
    }
    inputs.source = relative_to(&inputs.source, out_dir);
    inputs.files = inputs.files.iter().map(|f| relative_to(f, out_dir)).collect();
    inputs.twins_file = inputs.twins_file.as_ref().map(|f| relative_to(f, out_dir));
    inputs.shipped = inputs.names.iter().map(|n| Path::new(SHIPPED_DIR).join(n)).collect();
    Ok(())
}

/// The shipped name of each of `files` (found under `source`): a run's `curve.csv` is named after its
/// directory (nested directories joined by `__`), any other file keeps its name; names are made unique with
/// `-2`, `-3`…, and none is `curve.csv` (a folder holding one would be read as a run tree).
fn shipped_names(source: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for f in files {
        let rel = f.strip_prefix(source).unwrap_or(f);
        let mut parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let run_curve = f.file_name().is_some_and(|n| n == CURVE_FILE);
        if run_curve {
            parts.pop();
        }
        if parts.is_empty() {
            // The source is this file or this run directory.
            let own = if run_curve { resolved(f).parent().map(Path::to_path_buf) } else { Some(resolved(f)) };
            parts.push(
                own.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or("run".into()),
            );
        }
        let mut stem = parts.join("__");
        let ext = if run_curve {
            "csv".to_string()
        } else {
            let e = ext(Path::new(&stem)).unwrap_or_default();
            stem.truncate(stem.len() - e.len() - if e.is_empty() { 0 } else { 1 });
            e
        };
        let dotted = if ext.is_empty() { String::new() } else { format!(".{ext}") };
        let mut name = format!("{stem}{dotted}");
        let mut k = 1;
        while name == CURVE_FILE || names.contains(&name) {
            k += 1;
            name = format!("{stem}-{k}{dotted}");
        }
        names.push(name);
    }
    names
}

/// `path` as an absolute path with symbolic links resolved when it exists, else lexically normalised.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the directory `base` (`..` where it lies outside), `.` for `base` itself.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (p, b) = (resolved(path), resolved(base));
    let (pc, bc): (Vec<_>, Vec<_>) = (p.components().collect(), b.components().collect());
    let common = pc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
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
        assert_eq!(inputs.unpruned_curves.runs.len(), 1);
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

    #[test]
    fn relative_paths_climb_out_of_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let (runs, report) = (dir.path().join("sweep/runs/a"), dir.path().join("sweep/report"));
        std::fs::create_dir_all(&runs).unwrap();
        std::fs::create_dir_all(&report).unwrap();
        assert_eq!(relative_to(&runs.join("curve.csv"), &report), Path::new("../runs/a/curve.csv"));
        assert_eq!(relative_to(&report.join("curves"), &report), Path::new("curves"));
        assert_eq!(relative_to(&report, &report), Path::new("."));
        // Lexically, for paths that do not exist.
        assert_eq!(relative_to(Path::new("/x/y/../z"), Path::new("/x/w")), Path::new("../z"));
    }

    #[test]
    fn shipped_names_follow_the_runs_and_stay_unique() {
        let src = Path::new("/s/runs");
        let files: Vec<PathBuf> = [
            "a-depth-r0.25/curve.csv",
            "b/c/curve.csv",
            "loose.jsonl",
            "a-depth-r0.25.csv",
            "curve/curve.csv",
        ]
        .iter()
        .map(|f| src.join(f))
        .collect();
        let names = shipped_names(src, &files);
        assert_eq!(
            names,
            ["a-depth-r0.25.csv", "b__c.csv", "loose.jsonl", "a-depth-r0.25-2.csv", "curve-2.csv"]
        );
        // A source that is the run directory itself, or the file itself.
        assert_eq!(shipped_names(Path::new("/s/runs/x"), &[PathBuf::from("/s/runs/x/curve.csv")]), ["x.csv"]);
        assert_eq!(shipped_names(Path::new("/s/f.csv"), &[PathBuf::from("/s/f.csv")]), ["f.csv"]);
    }
}
