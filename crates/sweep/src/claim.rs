//! Claims on units of sweep work, so several `p2law sweep` processes can share one sweep directory.
//!
//! A claim is an exclusive advisory lock (`flock`) on the file `<dir>/<name>.lock`, which also holds the
//! owner's process id for people reading the folder. The kernel drops the lock when its process exits,
//! killed or not, so a lock left by a killed sweep is free for the next one, which takes the work over and
//! resumes the run from its last checkpoint. There is no "is the owner alive?" guess: two sweeps that
//! both find a dead sweep's lock cannot both take it (the id-in-a-file scheme this replaces could hand the
//! same work to both). The owner removes the file when the [`Claim`] drops, while still holding the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SweepError;

/// Held work; the lock file goes away on drop.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    /// Holds the lock until it closes, after the file is removed.
    _file: File,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Removed while locked: whoever opens the name afterwards makes a new file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Claims `name` in `dir`, or returns `None` when another process (or another claim) holds it.
pub fn try_claim(dir: &Path, name: &str) -> Result<Option<Claim>, SweepError> {
    std::fs::create_dir_all(dir).map_err(SweepError::io("creating", dir))?;
    let path = dir.join(format!("{name}.lock"));
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(SweepError::io("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(SweepError::io("locking", &path)(e)),
        }
        // The previous owner may have removed the file between our open and our lock: then the lock is on
        // a file no longer in the folder, and the name is free for anyone. Only a lock on the file the
        // name still refers to counts; otherwise try again with a fresh open.
        if names_this_file(&path, &file) {
            file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id())).ok();
            return Ok(Some(Claim { path, _file: file }));
        }
    }
}

/// Claims `name`, waiting (polling every `poll`) while another process holds it, at most `wait`; `None`
/// when it is still held then.
pub fn claim_waiting(
    dir: &Path,
    name: &str,
    wait: std::time::Duration,
    poll: std::time::Duration,
) -> Result<Option<Claim>, SweepError> {
    let start = std::time::Instant::now();
    loop {
        if let Some(claim) = try_claim(dir, name)? {
            return Ok(Some(claim));
        }
        if start.elapsed() >= wait {
            return Ok(None);
        }
        std::thread::sleep(poll.min(wait.saturating_sub(start.elapsed())).max(Duration::from_millis(10)));
    }
}

/// Whether a process holds the claim `name` now. Reads the lock without taking the name over: a file
/// nobody holds is left as it is (its owner, if any, removes it).
pub fn is_held(dir: &Path, name: &str) -> Result<bool, SweepError> {
    let path = dir.join(format!("{name}.lock"));
    let file = match OpenOptions::new().read(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(SweepError::io("opening", &path)(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(SweepError::io("probing", &path)(e)),
    }
}

/// Whether `path` still refers to the open `file`.
fn names_this_file(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_waits_and_locks_of_exited_owners_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_claim(dir.path(), "run").unwrap().unwrap();
        assert!(try_claim(dir.path(), "run").unwrap().is_none(), "held by the first claim");
        let text = std::fs::read_to_string(dir.path().join("run.lock")).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string(), "the lock names its owner");
        drop(first);
        assert!(!dir.path().join("run.lock").exists(), "removed on release");
        assert!(try_claim(dir.path(), "run").unwrap().is_some());
        // A lock file left by a killed process: nobody holds its lock.
        std::fs::write(dir.path().join("old.lock"), "4000000000\n").unwrap();
        let taken = try_claim(dir.path(), "old").unwrap().unwrap();
        assert!(try_claim(dir.path(), "old").unwrap().is_none());
        drop(taken);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn probing_sees_held_claims_and_waiting_takes_a_released_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_held(dir.path(), "run").unwrap());
        let first = try_claim(dir.path(), "run").unwrap().unwrap();
        assert!(is_held(dir.path(), "run").unwrap());
        let short = Duration::from_millis(50);
        assert!(claim_waiting(dir.path(), "run", short, Duration::from_millis(10)).unwrap().is_none());
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            claim_waiting(&path, "run", Duration::from_secs(20), Duration::from_millis(10)).unwrap().is_some()
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        assert!(waiter.join().unwrap(), "the waiter takes the claim once it is released");
        assert!(!is_held(dir.path(), "run").unwrap());
    }

    #[test]
    fn a_lock_on_a_removed_file_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        // Someone opened the name, then the owner removed the file: that handle's lock is worthless.
        let orphan = OpenOptions::new().write(true).create(true).truncate(false).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        orphan.try_lock().unwrap();
        assert!(!names_this_file(&path, &orphan));
        let claim = try_claim(dir.path(), "run").unwrap();
        assert!(claim.is_some(), "the name is free even though the orphan is locked");
    }
}
