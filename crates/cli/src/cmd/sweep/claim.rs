//! Claims on units of sweep work, so several `p2law sweep` processes can share one sweep directory.
//!
//! A claim is a file `<dir>/<name>.lock` holding the owner's process id, made by hard-linking a file
//! already written (atomic on every local file system, and never seen empty); it is removed when the
//! [`Claim`] drops. A lock whose process no
//! longer exists (the sweep was killed) is stale: the next sweep removes it and takes the work over,
//! resuming from the run's last checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Held work; the lock file goes away on drop.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` is alive (Linux: `/proc/<pid>`; elsewhere every lock is assumed live).
fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Claims `name` in `dir`, or returns `None` when a live process holds it.
pub fn try_claim(dir: &Path, name: &str) -> anyhow::Result<Option<Claim>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    // The lock appears with its owner already written: the process id goes into a file of our own, which
    // is then hard-linked to the lock's name (atomic, and it fails when the lock exists). Creating the lock
    // and then writing it left a moment in which a second sweep read an empty lock, took it for one left
    // by a killed process, and claimed the same work.
    let pid = std::process::id();
    let mine = dir.join(format!("{name}.lock.{pid}"));
    std::fs::write(&mine, format!("{pid}\n")).with_context(|| format!("writing {}", mine.display()))?;
    let result = link_claim(&mine, &path);
    let _ = std::fs::remove_file(&mine);
    result
}

fn link_claim(mine: &Path, path: &Path) -> anyhow::Result<Option<Claim>> {
    for _ in 0..2 {
        match std::fs::hard_link(mine, path) {
            Ok(()) => return Ok(Some(Claim { path: path.to_path_buf() })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                match owner {
                    Some(pid) if alive(pid) => return Ok(None),
                    // Stale: its owner is gone (or the file is damaged).
                    _ => {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_waits_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_claim(dir.path(), "run").unwrap().unwrap();
        assert!(try_claim(dir.path(), "run").unwrap().is_none(), "held by this live process");
        drop(first);
        assert!(try_claim(dir.path(), "run").unwrap().is_some());
        // A lock left by a process that no longer exists.
        std::fs::write(dir.path().join("old.lock"), "4000000000\n").unwrap();
        assert!(try_claim(dir.path(), "old").unwrap().is_some());
        // The lock holds our id from the moment it exists, and no temporary file is left behind.
        let _held = try_claim(dir.path(), "new").unwrap().unwrap();
        let text = std::fs::read_to_string(dir.path().join("new.lock")).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
