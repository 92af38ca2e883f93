//! Output folders built under a temporary name and moved into place only when complete.
//!
//! A [`Staging`] folder lives beside its target as `<prefix><pid>-<n>/` and is owned through a lock file
//! `<prefix><pid>-<n>.lock` next to it, held (`flock`) for the folder's whole life. The process id only
//! makes the name unique; whether the owner is alive is decided by the lock alone, which the operating
//! system releases when the process ends however it ends (kill -9 included). So [`remove_stale`] can remove
//! the leftovers of dead processes on the next start without guessing from process ids: a lock it can
//! take belongs to nobody, and a folder with the prefix but no lock file is an orphan (the lock file is
//! created before its folder and removed after it).
//!
//! [`Staging::commit`] renames the folder onto the target. Replacing an existing target moves the old one
//! aside first (`<prefix><pid>-<n>.old`, under the same lock), renames the new one in, then deletes the old,
//! so the target is always either the complete old folder or the complete new one, never a mix. A staging
//! folder dropped without a commit (an error on the way) is deleted with its lock file.
//!
//! [`OutDir`] ([`outdir`]) is what the commands writing a model directory use on top: the output checked
//! against the inputs before any work, then staged and committed.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub mod outdir;

pub use outdir::{OutDir, OutDirError, OutNames};

/// A folder being built beside its final place; see the module docs.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held for the folder's life; the lock goes with the handle.
    lock: Option<File>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Staging {
    /// Creates an empty staging folder `parent/<prefix><pid>-<n>` (and `parent`, if missing).
    pub fn create(parent: &Path, prefix: &str) -> io::Result<Staging> {
        std::fs::create_dir_all(parent).map_err(|e| at(parent, e))?;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}{}-{n}", std::process::id());
            let dir = parent.join(&name);
            let lock_path = parent.join(format!("{name}.lock"));
            let lock = match File::options().write(true).create_new(true).open(&lock_path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(at(&lock_path, e)),
            };
            match lock.try_lock() {
                Ok(()) => {}
                // Another process's `remove_stale` took the fresh lock and will delete the file: use another name.
                Err(std::fs::TryLockError::WouldBlock) => continue,
                // A filesystem without locks: the folder works, but `remove_stale` will never remove it.
                Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    let _ = std::fs::remove_file(&lock_path);
                    return Err(at(&lock_path, e));
                }
            }
            // Between creating and locking the file, a `remove_stale` may have taken it as stale and
            // deleted it; then this lock guards nothing.
            if !lock_path.exists() {
                continue;
            }
            if let Err(e) = std::fs::create_dir(&dir) {
                let _ = std::fs::remove_file(&lock_path);
                return Err(at(&dir, e));
            }
            return Ok(Staging { dir, lock_path, lock: Some(lock) });
        }
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves the folder to `target`. An existing `target` is an error unless `replace`, in which case it is
    /// swapped out as described in the module docs.
    pub fn commit(mut self, target: &Path, replace: bool) -> io::Result<()> {
        let exists = std::fs::symlink_metadata(target).is_ok();
        if exists && !replace {
            return Err(at(target, io::Error::new(io::ErrorKind::AlreadyExists, "already exists")));
        }
        if !exists {
            std::fs::rename(&self.dir, target).map_err(|e| at(target, e))?;
        } else {
            let old = self.old();
            std::fs::rename(target, &old).map_err(|e| at(target, e))?;
            if let Err(e) = std::fs::rename(&self.dir, target) {
                // Put the old one back: the target keeps its complete old contents.
                let _ = std::fs::rename(&old, target);
                return Err(at(target, e));
            }
            // The swap is done; an old folder that cannot be deleted now is left to `remove_stale`.
            let _ = remove_path(&old);
        }
        // Best effort: the swap is done; an error here cannot undo it.
        let _ = p2law_formats::sync_dir(
            target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")),
        );
        self.release();
        Ok(())
    }

    /// Deletes the lock file, then lets the lock go. While an `.old` folder is left (a swap that could
    /// not be finished or undone), the lock file stays, so `remove_stale` later restores or removes it.
    fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            if std::fs::symlink_metadata(self.old()).is_err() {
                let _ = std::fs::remove_file(&self.lock_path);
            }
            drop(lock);
        }
    }

    fn old(&self) -> PathBuf {
        self.dir.with_file_name(format!("{}.old", name_of(&self.dir)))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.lock.is_some() {
            // Not committed: the folder is garbage. Removed before its lock file, so a folder never outlives
            // the lock that says it is in use.
            let _ = remove_path(&self.dir);
            self.release();
        }
    }
}

/// Removes what dead processes left under `parent` with names starting with `prefix`: staging folders whose
/// lock is free, their `.old` folders, their lock files, and folders with the prefix but no lock file (older
/// versions of this program named temporary folders with the prefix and no lock). When `target` is given and
/// missing while a dead process's `.old` copy of it exists (it died between moving the old target aside and
/// moving the new one in), the old copy is put back. Returns the paths removed.
pub fn remove_stale(parent: &Path, prefix: &str, target: Option<&Path>) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(at(parent, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| at(parent, e))?.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            names.push(name);
        }
    }
    names.sort();
    let mut removed = Vec::new();
    for name in &names {
        let Some(base) = name.strip_suffix(".lock") else { continue };
        let lock_path = parent.join(name);
        let lock = match File::options().write(true).open(&lock_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(at(&lock_path, e)),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => continue,
            // Without locks nobody can tell a live folder from a dead one: keep it.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(at(&lock_path, e)),
        }
        let dir = parent.join(base);
        let old = parent.join(format!("{base}.old"));
        if let Some(target) = target {
            if old.exists() && std::fs::symlink_metadata(target).is_err() {
                std::fs::rename(&old, target).map_err(|e| at(target, e))?;
            }
        }
        for path in [&dir, &old] {
            if std::fs::symlink_metadata(path).is_ok() {
                remove_path(path).map_err(|e| at(path, e))?;
                removed.push(path.clone());
            }
        }
        std::fs::remove_file(&lock_path).map_err(|e| at(&lock_path, e))?;
        removed.push(lock_path);
    }
    // Folders (and `.old` folders) whose lock file is gone: orphans.
    for name in &names {
        if name.ends_with(".lock") {
            continue;
        }
        let base = name.strip_suffix(".old").unwrap_or(name);
        if names.iter().any(|n| n.strip_suffix(".lock") == Some(base)) {
            continue;
        }
        let path = parent.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            _ => continue,
        }
        // Re-check: the owner may have created its lock file after the listing (a new staging folder's lock
        // file always exists before the folder, so a folder seen without one is not being created).
        if parent.join(format!("{base}.lock")).exists() {
            continue;
        }
        remove_path(&path).map_err(|e| at(&path, e))?;
        removed.push(path);
    }
    Ok(removed)
}

fn name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn remove_path(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// An I/O error whose message names `path` (io::Error carries no path of its own).
fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_moves_into_place_and_leaves_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let s = Staging::create(tmp.path(), ".out.partial-").unwrap();
        std::fs::write(s.path().join("a"), "new").unwrap();
        s.commit(&target, false).unwrap();
        assert_eq!(names(tmp.path()), ["out"]);
        assert_eq!(std::fs::read_to_string(target.join("a")).unwrap(), "new");
    }

    #[test]
    fn replace_swaps_whole_folders_and_refuses_without_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old-only"), "old").unwrap();
        let s = Staging::create(tmp.path(), ".out.partial-").unwrap();
        std::fs::write(s.path().join("a"), "new").unwrap();
        let err = s.commit(&target, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // The refused staging folder was dropped: nothing but the untouched target is left.
        assert_eq!(names(tmp.path()), ["out"]);
        assert_eq!(names(&target), ["old-only"]);
        let s = Staging::create(tmp.path(), ".out.partial-").unwrap();
        std::fs::write(s.path().join("a"), "new").unwrap();
        s.commit(&target, true).unwrap();
        assert_eq!(names(tmp.path()), ["out"]);
        assert_eq!(names(&target), ["a"], "no file of the old folder survives");
    }

    #[test]
    fn dropped_staging_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Staging::create(tmp.path(), ".x.partial-").unwrap();
        std::fs::write(s.path().join("half"), "written").unwrap();
        drop(s);
        assert!(names(tmp.path()).is_empty());
    }

    #[test]
    fn stale_leftovers_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        // A dead process's folder: its lock file exists but nobody holds the lock.
        std::fs::create_dir(p.join(".out.partial-999999-0")).unwrap();
        std::fs::write(p.join(".out.partial-999999-0/x"), "x").unwrap();
        std::fs::write(p.join(".out.partial-999999-0.lock"), "").unwrap();
        // An older version's folder: no lock file at all.
        std::fs::create_dir(p.join(".out.partial-12345")).unwrap();
        // A live one (this process holds its lock), and an unrelated folder.
        let live = Staging::create(p, ".out.partial-").unwrap();
        std::fs::create_dir(p.join("keep")).unwrap();
        let removed = remove_stale(p, ".out.partial-", None).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        let left = names(p);
        assert!(left.contains(&"keep".to_string()) && live.path().exists(), "{left:?}");
        assert_eq!(left.len(), 3, "{left:?}");
    }

    #[test]
    fn a_dead_swap_is_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        // Died after moving the old target aside, before moving the new one in.
        std::fs::create_dir(p.join(".out.partial-999999-3.old")).unwrap();
        std::fs::write(p.join(".out.partial-999999-3.old/model"), "old").unwrap();
        std::fs::create_dir(p.join(".out.partial-999999-3")).unwrap();
        std::fs::write(p.join(".out.partial-999999-3.lock"), "").unwrap();
        remove_stale(p, ".out.partial-", Some(&p.join("out"))).unwrap();
        assert_eq!(names(p), ["out"]);
        assert_eq!(std::fs::read_to_string(p.join("out/model")).unwrap(), "old");
    }

    #[test]
    fn lock_is_held_by_another_process_until_it_exits() {
        // flock locks belong to open file descriptions, so a second handle in this process conflicts with
        // the first just as another process would.
        let tmp = tempfile::tempdir().unwrap();
        let s = Staging::create(tmp.path(), ".o.partial-").unwrap();
        let lock = s.lock_path.clone();
        let other = File::options().write(true).open(&lock).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(s);
        assert!(!lock.exists());
    }
}
