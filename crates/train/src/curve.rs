//! The run's loss curve, `curve.csv`, written one row per held-out evaluation as training goes.
//!
//! Columns (docs/spec/formats.md; names from [`p2law_formats::curve`]):
//! `run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s`,
//! then `method`, `n` and `rho_target` when the run knows them (from `pruning.json`) and `family` (the
//! model's `model_type`, so a report can group Llama and Qwen2 runs). `d` is post-training tokens seen,
//! `loss` equals `val_loss` (the law is fitted to held-out loss), `train_loss` is the mean training loss of
//! the steps since the previous row. Each row is fsynced when written, so a killed run keeps every row it
//! printed; on resume the rows after the checkpoint's step are dropped and training re-creates them.
//! Floats are written in Rust's shortest round-trip form, so equal curves are equal text.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use p2law_formats::curve::{self as col, CurveRun};

use crate::error::{Result, TrainError};
use crate::fsio;

/// One evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Training tokens seen.
    pub d: u64,
    pub step: u64,
    /// Learning rate of the last step before this evaluation.
    pub lr: f64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub tokens_per_s: f64,
}

/// The columns every training curve has: the law's, then [`col::TRAINING`].
const BASE: [&str; 11] = {
    let [run, n0, rho, l0, d, loss] = col::REQUIRED;
    let [step, lr, train_loss, val_loss, tokens_per_s] = col::TRAINING;
    [run, n0, rho, l0, d, loss, step, lr, train_loss, val_loss, tokens_per_s]
};

/// What every row of one run repeats: the run's constants, and its pruned size when known.
#[derive(Debug, Clone, PartialEq)]
struct RowConstants {
    run: CurveRun,
    n: Option<f64>,
}

/// Appends rows to a curve file.
pub struct CurveWriter {
    path: PathBuf,
    file: File,
    meta: RowConstants,
}

impl CurveWriter {
    /// Starts `path` with only the header (replacing any file there). `n`: the run's non-embedding
    /// parameters after pruning, when known. The run's `model` label is not written (training curves
    /// carry `family`).
    pub fn create(path: &Path, run: CurveRun, n: Option<f64>) -> Result<CurveWriter> {
        let meta = RowConstants { run, n };
        check_text(path, col::RUN, &meta.run.name)?;
        for (field, value) in [(col::METHOD, &meta.run.method), (col::FAMILY, &meta.run.family)] {
            if let Some(v) = value {
                check_text(path, field, v)?;
            }
        }
        fsio::write_atomic(path, format!("{}\n", header(&meta)).as_bytes())?;
        Self::open_append(path, meta)
    }

    /// Re-opens `path` for a resumed run: keeps the header and the rows with `step <= through_step`, drops
    /// later ones (written after the checkpoint the run resumes from), and appends from there. A file begun
    /// without the `rho_target` and `family` columns (by an older p2law) keeps its columns.
    pub fn resume(path: &Path, run: CurveRun, n: Option<f64>, through_step: u64) -> Result<CurveWriter> {
        let mut meta = RowConstants { run, n };
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        // A row cut short by a crash has no final newline: it was never complete, so it is not kept.
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut lines = complete.lines();
        let head = lines.next().unwrap_or_default();
        let older =
            RowConstants { run: CurveRun { rho_target: None, family: None, ..meta.run.clone() }, n: meta.n };
        if head != header(&meta) && head == header(&older) {
            meta = older;
        }
        if head != header(&meta) {
            return Err(TrainError::Curve {
                path: path.to_path_buf(),
                line: 1,
                msg: format!("header `{head}` differs from this run's `{}`", header(&meta)),
            });
        }
        let mut kept = format!("{head}\n");
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let step = line.split(',').nth(6).and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
                TrainError::Curve {
                    path: path.to_path_buf(),
                    line: i + 2,
                    msg: "no integer `step` in column 7".into(),
                }
            })?;
            if step <= through_step {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        fsio::write_atomic(path, kept.as_bytes())?;
        Self::open_append(path, meta)
    }

    fn open_append(path: &Path, meta: RowConstants) -> Result<CurveWriter> {
        let file = OpenOptions::new().append(true).open(path).map_err(TrainError::io(path))?;
        Ok(CurveWriter { path: path.to_path_buf(), file, meta })
    }

    /// Writes one row and flushes it to disk.
    pub fn append(&mut self, p: &CurvePoint) -> Result<()> {
        let (m, n) = (&self.meta.run, self.meta.n);
        let mut row = format!(
            "{},{},{},{},{},{},{},{},{},{},{}",
            m.name,
            m.n0,
            m.rho,
            m.l0,
            p.d,
            p.val_loss,
            p.step,
            p.lr,
            p.train_loss,
            p.val_loss,
            p.tokens_per_s
        );
        if let Some(method) = &m.method {
            row.push_str(&format!(",{method}"));
        }
        if let Some(n) = n {
            row.push_str(&format!(",{n}"));
        }
        if let Some(target) = m.rho_target {
            row.push_str(&format!(",{target}"));
        }
        if let Some(family) = &m.family {
            row.push_str(&format!(",{family}"));
        }
        row.push('\n');
        self.file.write_all(row.as_bytes()).map_err(TrainError::io(&self.path))?;
        self.file.sync_data().map_err(TrainError::io(&self.path))
    }
}

fn header(meta: &RowConstants) -> String {
    let run = &meta.run;
    let mut cols: Vec<&str> = BASE.to_vec();
    for (name, present) in [
        (col::METHOD, run.method.is_some()),
        (col::N, meta.n.is_some()),
        (col::RHO_TARGET, run.rho_target.is_some()),
        (col::FAMILY, run.family.is_some()),
    ] {
        if present {
            cols.push(name);
        }
    }
    cols.join(",")
}

fn check_text(path: &Path, field: &str, value: &str) -> Result<()> {
    col::check_label(value).map_err(|problem| TrainError::Curve {
        path: path.to_path_buf(),
        line: 0,
        msg: format!("{field} {problem}"),
    })
}

/// Reads the evaluation points of a curve file written by [`CurveWriter`] (for resume checks and tests).
pub fn read_points(path: &Path) -> Result<Vec<CurvePoint>> {
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let bad = |msg: String| TrainError::Curve { path: path.to_path_buf(), line: i + 1, msg };
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < BASE.len() {
            return Err(bad(format!("{} columns, expected at least {}", cells.len(), BASE.len())));
        }
        let num = |col: usize| -> Result<f64> {
            cells[col]
                .parse::<f64>()
                .map_err(|_| bad(format!("`{}` is `{}`, not a number", BASE[col], cells[col])))
        };
        out.push(CurvePoint {
            d: num(4)? as u64,
            step: num(6)? as u64,
            lr: num(7)?,
            train_loss: num(8)?,
            val_loss: num(9)?,
            tokens_per_s: num(10)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(method: Option<&str>) -> CurveRun {
        CurveRun {
            name: "r1".into(),
            n0: 1000.0,
            rho: 0.5,
            l0: 4.25,
            method: method.map(Into::into),
            ..CurveRun::default()
        }
    }

    fn point(step: u64) -> CurvePoint {
        CurvePoint { d: step * 100, step, lr: 0.001, train_loss: 3.5, val_loss: 3.25, tokens_per_s: 12.5 }
    }

    #[test]
    fn writes_schema_rows_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.csv");
        let mut w = CurveWriter::create(&path, meta(Some("nm")), None).unwrap();
        w.append(&point(1)).unwrap();
        w.append(&point(2)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s,method");
        assert_eq!(lines[1], "r1,1000,0.5,4.25,100,3.25,1,0.001,3.5,3.25,12.5,nm");
        assert_eq!(read_points(&path).unwrap(), vec![point(1), point(2)]);
    }

    #[test]
    fn resume_drops_rows_after_the_checkpoint_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.csv");
        let mut w = CurveWriter::create(&path, meta(None), None).unwrap();
        for s in 1..=3 {
            w.append(&point(s)).unwrap();
        }
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"r1,1000,0.5,4.25,400,3.1").unwrap();
        let mut w = CurveWriter::resume(&path, meta(None), None, 2).unwrap();
        w.append(&point(3)).unwrap();
        assert_eq!(read_points(&path).unwrap(), vec![point(1), point(2), point(3)]);
        // A different run's header is refused rather than mixed in.
        let err = CurveWriter::resume(&path, meta(Some("depth")), None, 2).err().unwrap().to_string();
        assert!(err.contains("header"), "{err}");
        // A curve begun without `family` keeps its columns when a newer writer resumes it.
        let newer = CurveRun { rho_target: Some(0.5), family: Some("qwen2".into()), ..meta(None) };
        let mut w = CurveWriter::resume(&path, newer.clone(), None, 3).unwrap();
        w.append(&point(4)).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("qwen2"));
        let fresh = dir.path().join("fresh.csv");
        CurveWriter::create(&fresh, newer, None).unwrap().append(&point(1)).unwrap();
        let text = std::fs::read_to_string(&fresh).unwrap();
        assert!(text.starts_with(
            "run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s,rho_target,family\n"
        ));
        assert!(text.ends_with(",12.5,0.5,qwen2\n"), "{text}");
    }

    #[test]
    fn names_with_commas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = CurveRun { name: "a,b".into(), ..meta(None) };
        let err = CurveWriter::create(&dir.path().join("c.csv"), m, None).err().unwrap().to_string();
        assert!(err.contains("without commas"), "{err}");
    }
}
