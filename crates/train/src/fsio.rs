//! Crash-safe file writes for the training stage: [`p2law_formats::atomic`] with the destination's folder
//! created first and errors that name the path.
//!
//! A reader (or a resumed run) therefore sees either the old file or the complete new one, never a torn
//! write, even if the process is killed mid-way.

use std::path::Path;

use crate::error::{Result, TrainError};

/// Writes `bytes` to `path` atomically, creating its folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    }
    p2law_formats::write_atomic(path, bytes).map_err(TrainError::io(path))
}

/// Flushes a folder's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    p2law_formats::sync_dir(dir).map_err(TrainError::io(dir))
}

/// Flushes one file's contents to disk (for files written by other libraries).
pub fn sync_file(path: &Path) -> Result<()> {
    p2law_formats::sync_file(path).map_err(TrainError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_folder_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.txt");
        write_atomic(&p, b"first version").unwrap();
        write_atomic(&p, b"2nd").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"2nd");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
