//! Claims on units of sweep work, so several `p2law sweep` processes can share one sweep directory.
//!
//! A claim is a file `<dir>/<name>.lock` created with `create_new` (atomic on every local file system)
//! holding the owner's process id; it is removed when the [`Claim`] drops. A lock whose process no
//! longer exists (the sweep was killed) is stale: the next sweep removes it and takes the work over,
//! resuming from the run's last checkpoint.

use std::fs::OpenOptions;
use std::io::Write;
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
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id())
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(Some(Claim { path }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                match owner {
                    Some(pid) if alive(pid) => return Ok(None),
                    // Stale (owner gone) or half-written by a process killed between create and write.
                    _ => {
                        let _ = std::fs::remove_file(&path);
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
    }
}
