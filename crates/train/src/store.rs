//! The run store: a SQLite index of training runs, so a sweep can skip finished work and a report can find
//! every curve.
//!
//! One table, `runs`, keyed by run name:
//!
//! | column | meaning |
//! |---|---|
//! | `name` | run name (primary key), the curve's `run` column |
//! | `status` | `running`, `finished` or `failed` |
//! | `n0`, `rho`, `l0` | the law's run constants (as in the curve) |
//! | `method` | pruning method, NULL for an unpruned model |
//! | `dir` | the run directory (absolute) |
//! | `tokens`, `step` | progress at the last update |
//! | `updated` | Unix seconds of the last update |
//!
//! Several processes may share one store: SQLite serialises writers, and a busy timeout makes a writer wait
//! rather than fail.
//!
//! The layout's revision ([`p2law_formats::RUN_STORE`]) is kept in `PRAGMA user_version`, set when the store
//! is created and checked on every open: 0 (a store from before revisions were recorded) and the current
//! revision open, anything else is an error naming the file and saying what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use p2law_formats::RUN_STORE;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Result, TrainError};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Finished, RunStatus::Failed].into_iter().find(|r| r.as_str() == s)
    }
}

/// One row of the `runs` table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub name: String,
    pub status: RunStatus,
    pub n0: f64,
    pub rho: f64,
    pub l0: f64,
    pub method: Option<String>,
    pub dir: PathBuf,
    pub tokens: u64,
    pub step: u64,
}

/// An open run store.
pub struct RunStore {
    path: PathBuf,
    conn: Connection,
}

impl RunStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<RunStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        }
        let err = |source| TrainError::Store { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        // Checked and created under one write lock, so two processes opening a new store agree.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let revision: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        RUN_STORE.check_revision(
            revision,
            "PRAGMA user_version",
            path,
            "upgrade p2law, or rebuild the store from the run folders with `p2law runs STORE --rebuild DIR`",
        )?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs')",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if !exists {
            tx.execute_batch(&format!(
                "CREATE TABLE runs (
                    name TEXT PRIMARY KEY,
                    status TEXT NOT NULL,
                    n0 REAL NOT NULL,
                    rho REAL NOT NULL,
                    l0 REAL NOT NULL,
                    method TEXT,
                    dir TEXT NOT NULL,
                    tokens INTEGER NOT NULL DEFAULT 0,
                    step INTEGER NOT NULL DEFAULT 0,
                    updated INTEGER NOT NULL
                );
                PRAGMA user_version = {};",
                RUN_STORE.revision
            ))
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(RunStore { path: path.to_path_buf(), conn })
    }

    fn err(&self) -> impl FnOnce(rusqlite::Error) -> TrainError + '_ {
        move |source| TrainError::Store { path: self.path.clone(), source }
    }

    /// Inserts or replaces the record of `r.name`. The run constants must be finite numbers (SQLite would
    /// store NaN as NULL and refuse it with a message about a constraint).
    pub fn upsert(&self, r: &RunRecord) -> Result<()> {
        for (key, v) in [("n0", r.n0), ("rho", r.rho), ("l0", r.l0)] {
            if !v.is_finite() {
                return Err(TrainError::NonFinite { what: format!("run {}: {key}", r.name), value: v });
            }
        }
        self.conn
            .execute(
                "INSERT INTO runs (name, status, n0, rho, l0, method, dir, tokens, step, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(name) DO UPDATE SET status = excluded.status, n0 = excluded.n0,
                   rho = excluded.rho, l0 = excluded.l0, method = excluded.method, dir = excluded.dir,
                   tokens = excluded.tokens, step = excluded.step, updated = excluded.updated",
                params![
                    r.name,
                    r.status.as_str(),
                    r.n0,
                    r.rho,
                    r.l0,
                    r.method,
                    r.dir.to_string_lossy(),
                    r.tokens as i64,
                    r.step as i64,
                    now()
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Updates status and progress of an existing run.
    pub fn set_progress(&self, name: &str, status: RunStatus, tokens: u64, step: u64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, tokens = ?3, step = ?4, updated = ?5 WHERE name = ?1",
                params![name, status.as_str(), tokens as i64, step as i64, now()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The record of one run, if the store has it.
    pub fn get(&self, name: &str) -> Result<Option<RunRecord>> {
        self.conn
            .query_row(
                "SELECT name, status, n0, rho, l0, method, dir, tokens, step FROM runs WHERE name = ?1",
                params![name],
                row_to_record,
            )
            .optional()
            .map_err(self.err())
    }

    /// Every run, by name.
    pub fn list(&self) -> Result<Vec<RunRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, status, n0, rho, l0, method, dir, tokens, step FROM runs ORDER BY name")
            .map_err(self.err())?;
        let rows = stmt.query_map([], row_to_record).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// Whether `name` finished (a sweep skips it).
    pub fn is_finished(&self, name: &str) -> Result<bool> {
        Ok(self.get(name)?.is_some_and(|r| r.status == RunStatus::Finished))
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(1)?;
    Ok(RunRecord {
        name: row.get(0)?,
        status: RunStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("status `{status}`").into(),
            )
        })?,
        n0: row.get(2)?,
        rho: row.get(3)?,
        l0: row.get(4)?,
        method: row.get(5)?,
        dir: PathBuf::from(row.get::<_, String>(6)?),
        tokens: row.get::<_, i64>(7)? as u64,
        step: row.get::<_, i64>(8)? as u64,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> RunRecord {
        RunRecord {
            name: name.into(),
            status: RunStatus::Running,
            n0: 1.5e6,
            rho: 0.25,
            l0: 5.5,
            method: Some("width".into()),
            dir: PathBuf::from("/runs/a"),
            tokens: 0,
            step: 0,
        }
    }

    #[test]
    fn upsert_progress_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.sqlite");
        {
            let s = RunStore::open(&path).unwrap();
            s.upsert(&record("b")).unwrap();
            s.upsert(&RunRecord { method: None, ..record("a") }).unwrap();
            s.set_progress("b", RunStatus::Finished, 4096, 8).unwrap();
            assert!(s.is_finished("b").unwrap());
            assert!(!s.is_finished("a").unwrap());
            assert!(!s.is_finished("zzz").unwrap());
        }
        let s = RunStore::open(&path).unwrap();
        let all = s.list().unwrap();
        assert_eq!(all.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(all[0].method, None);
        assert_eq!(all[1], RunRecord { status: RunStatus::Finished, tokens: 4096, step: 8, ..record("b") });
        // Re-registering a run replaces it rather than duplicating it.
        s.upsert(&record("b")).unwrap();
        assert_eq!(s.list().unwrap().len(), 2);
    }

    #[test]
    fn the_revision_is_set_on_creation_and_checked_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.sqlite");
        RunStore::open(&path).unwrap().upsert(&record("a")).unwrap();
        let version = |path: &Path| -> i64 {
            Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(version(&path), i64::from(RUN_STORE.revision));
        // A store from before revisions were recorded (user_version 0) opens, and keeps its rows.
        let old = dir.path().join("old.sqlite");
        Connection::open(&old)
            .unwrap()
            .execute_batch(
                "CREATE TABLE runs (name TEXT PRIMARY KEY, status TEXT NOT NULL, n0 REAL NOT NULL,
                 rho REAL NOT NULL, l0 REAL NOT NULL, method TEXT, dir TEXT NOT NULL,
                 tokens INTEGER NOT NULL DEFAULT 0, step INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL);
                 INSERT INTO runs VALUES ('x', 'finished', 1.0, 0.5, 2.0, NULL, '/r/x', 8, 1, 0);",
            )
            .unwrap();
        assert_eq!(RunStore::open(&old).unwrap().list().unwrap()[0].name, "x");
        assert_eq!(version(&old), 0);
        // A newer store is refused, untouched.
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
        let err = RunStore::open(&path).err().unwrap().to_string();
        assert!(err.starts_with(&format!("{}: `PRAGMA user_version`: 99 is newer", path.display())), "{err}");
        assert!(err.contains("--rebuild"), "{err}");
        assert_eq!(version(&path), 99);
    }

    #[test]
    fn nan_constants_are_named_not_a_constraint_failure() {
        let dir = tempfile::tempdir().unwrap();
        let s = RunStore::open(&dir.path().join("runs.sqlite")).unwrap();
        let err = s.upsert(&RunRecord { l0: f64::NAN, ..record("a") }).unwrap_err().to_string();
        assert!(err.contains("run a: l0 is NaN") && !err.contains("constraint"), "{err}");
        assert!(s.list().unwrap().is_empty());
    }
}
