//! Atomic file writes: a reader (or a resumed run) sees the old file or the complete new one, never half of
//! one, even if the process is killed mid-way.
//!
//! The bytes go to a temporary file in the destination's folder (same filesystem, so the rename is atomic)
//! under a fresh hidden name, `.<name>.<pid>-<n>.tmp`, created with `create_new` so two writers never share
//! one; the file is fsynced, renamed over the destination, and the folder is fsynced so the rename itself
//! survives a power cut. On any error the temporary file is removed and the destination is untouched. The
//! destination's folder must exist: callers that want it created create it.
//!
//! Three ways in: [`write_atomic`] for bytes already in memory, [`AtomicFile`] to stream a large file
//! (a token shard) through a buffer, and [`write_atomic_with`] for a library that writes a file by name
//! (safetensors, the PNG encoder); its temporary name keeps the destination's extension, since such
//! libraries may choose the format by it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically, creating or replacing it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (tmp, mut file) = reserve(path, false)?;
    let result = file.write_all(bytes).and_then(|()| install(file, &tmp, path));
    discard_on_error(result, &tmp)
}

/// Writes `path` atomically through `write`, which is given the temporary file's path and writes the whole
/// file there (the file exists, empty, when it is called; `write` may replace it). Errors of `write` come back
/// as they are; an I/O error of the fsync or rename is turned into `E` by `io`.
pub fn write_atomic_with<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    io: impl FnOnce(io::Error) -> E,
) -> Result<(), E> {
    let tmp = match reserve(path, true) {
        Ok((tmp, _file)) => tmp,
        Err(e) => return Err(io(e)),
    };
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let result = File::open(&tmp).and_then(|file| install(file, &tmp, path));
    discard_on_error(result, &tmp).map_err(io)
}

/// A file being written: invisible at its destination until [`AtomicFile::commit`]; dropped uncommitted, it
/// is removed. Writes go through a 1 MiB buffer.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dest` (its folder must exist).
    pub fn create(dest: impl AsRef<Path>) -> io::Result<AtomicFile> {
        let dest = dest.as_ref().to_path_buf();
        let (tmp, file) = reserve(&dest, false)?;
        Ok(AtomicFile { tmp, dest, out: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// Flushes, fsyncs and renames into place.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self.out.take().expect("AtomicFile used after commit");
        let result = out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| install(file, &self.tmp, &self.dest));
        discard_on_error(result, &self.tmp)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("AtomicFile used after commit").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("AtomicFile used after commit").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: leave nothing behind.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Flushes a folder's entries (new names, renames) to disk. A filesystem that refuses to fsync folders
/// (some network and FUSE filesystems answer "invalid argument") is not an error.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Ok(()),
        other => other,
    }
}

/// Flushes one file's contents to disk (for files a library wrote in place).
pub fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path).and_then(|f| f.sync_all())
}

/// The folder `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates a fresh temporary file beside `dest`: `.<name>.<pid>-<n>.tmp`, plus `.<ext>` when
/// `keep_extension` and `dest` has one.
fn reserve(dest: &Path, keep_extension: bool) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: destination has no file name", dest.display()),
        )
    })?;
    let ext = match dest.extension() {
        Some(e) if keep_extension => format!(".{}", e.to_string_lossy()),
        _ => String::new(),
    };
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp =
            parent(dest).join(format!(".{}.{}-{n}.tmp{ext}", name.to_string_lossy(), std::process::id()));
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // Another process with the same pid on another machine (a shared filesystem): another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Fsyncs `file` (the temporary `tmp`), renames it onto `dest` and fsyncs the folder.
fn install(file: File, tmp: &Path, dest: &Path) -> io::Result<()> {
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, dest)?;
    sync_dir(parent(dest))
}

/// Removes `tmp` when `result` is an error (best effort: the original error is what matters).
fn discard_on_error(result: io::Result<()>, tmp: &Path) -> io::Result<()> {
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let names: std::collections::BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.into_iter().collect()
    }

    #[test]
    fn replaces_an_existing_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first version").unwrap();
        write_atomic(&path, b"2nd").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2nd");
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[test]
    fn a_missing_folder_is_an_error_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("no/such/dir/x"), b"x").is_err());
        assert!(AtomicFile::create(dir.path().join("no/x")).is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn streamed_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.bin");
        write_atomic(&dest, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half").unwrap();
            // Dropped without a commit: the old file stays, the temporary goes.
        }
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["x.bin"]);
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"old", "not visible before the commit");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(names(dir.path()), ["x.bin"]);
    }

    #[test]
    fn writer_by_name_gets_the_extension_and_its_errors_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("fig.png");
        let mut seen = None;
        write_atomic_with(
            &dest,
            |tmp: &Path| {
                seen = Some(tmp.to_path_buf());
                std::fs::write(tmp, b"png")
            },
            |e| e,
        )
        .unwrap();
        let seen = seen.unwrap();
        assert_eq!(seen.extension().unwrap(), "png");
        assert_eq!(seen.parent(), Some(dir.path()));
        assert_eq!(std::fs::read(&dest).unwrap(), b"png");
        let err = write_atomic_with(&dest, |_: &Path| Err("encoder failed"), |_| "io").unwrap_err();
        assert_eq!(err, "encoder failed");
        assert_eq!(std::fs::read(&dest).unwrap(), b"png", "a failed write leaves the old file");
        assert_eq!(names(dir.path()), ["fig.png"]);
    }

    #[test]
    fn concurrent_writers_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.txt");
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || write_atomic(path, format!("writer {i}").as_bytes()).unwrap());
            }
        });
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("writer "));
        assert_eq!(names(dir.path()), ["shared.txt"]);
    }
}
