//! The journal of a sweep: under `journal/`, one JSON record per unit a process ran — unit, kind, host,
//! process, Slurm job, start time, and, once it ends, its outcome, seconds and whether it resumed. Written
//! when the unit starts and rewritten when it ends, so a unit killed mid-way (preempted, cancelled) leaves a
//! record without an end.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::Unit;
use crate::SweepError;

/// One process's record of one unit.
pub struct Journal {
    path: PathBuf,
    record: serde_json::Value,
}

impl Journal {
    /// Writes the record of `unit`, started at `started`, in `dir`.
    pub fn start(dir: &Path, unit: &Unit, started: SystemTime) -> Result<Journal, SweepError> {
        std::fs::create_dir_all(dir).map_err(SweepError::io("creating", dir))?;
        let host = hostname();
        let ms = started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let slurm = std::env::var("SLURM_ARRAY_JOB_ID")
            .ok()
            .map(|j| format!("{j}_{}", std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_default()))
            .or_else(|| std::env::var("SLURM_JOB_ID").ok());
        let file = format!("{}.{host}.{}.{ms}.json", unit.id.replace(':', "_"), std::process::id());
        let record = serde_json::json!({
            "unit": unit.id, "kind": unit.kind.name(), "host": host, "pid": std::process::id(),
            "slurm_job": slurm, "started_unix_ms": ms as u64, "outcome": null, "resumed": null, "seconds": null,
        });
        let journal = Journal { path: dir.join(file), record };
        journal.write()?;
        Ok(journal)
    }

    /// Rewrites the record with how the unit ended (`ran` or `unreachable`).
    pub fn finish(mut self, outcome: &str, resumed: bool, seconds: f64) -> Result<(), SweepError> {
        self.record["outcome"] = outcome.into();
        self.record["resumed"] = resumed.into();
        self.record["seconds"] = ((seconds * 1000.0).round() / 1000.0).into();
        self.write()
    }

    fn write(&self) -> Result<(), SweepError> {
        p2law_formats::write_atomic(&self.path, format!("{}\n", self.record).as_bytes())
            .map_err(SweepError::io("writing", &self.path))
    }
}

/// This machine's name (where a unit ran).
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String =
        name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;

    #[test]
    fn a_record_is_written_at_the_start_and_completed_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let unit = Unit {
            id: "prune:a-depth-r0.25".into(),
            kind: Kind::Prune,
            model: "a".into(),
            run: "a-depth-r0.25".into(),
            method: Some("depth".into()),
            rate: Some(0.25),
            inputs: vec![],
            outputs: vec![],
            deps: vec![],
            claim: "prune-a-depth-r0.25".into(),
        };
        let journal = Journal::start(tmp.path(), &unit, SystemTime::now()).unwrap();
        let read = || {
            let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
            assert_eq!(files.len(), 1, "{files:?}");
            assert!(files[0].file_name().unwrap().to_str().unwrap().starts_with("prune_a-depth-r0.25."));
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
        };
        let started = read();
        assert_eq!((started["kind"].as_str(), started["outcome"].is_null()), (Some("prune"), true));
        journal.finish("ran", false, 1.23456).unwrap();
        let ended = read();
        assert_eq!((ended["outcome"].as_str(), ended["seconds"].as_f64()), (Some("ran"), Some(1.235)));
    }
}
