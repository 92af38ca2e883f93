//! A folder of `.txt` files: one document per file, found recursively, read in sorted path order.
//!
//! Document ids are the paths relative to the folder (`a/b.txt`). Files must be UTF-8.

use std::path::{Path, PathBuf};

use super::{decode_utf8, has_content, Document, Loaded, SourceFile};
use crate::error::{DataError, Result};

/// Reads every `.txt` file under `dir`.
pub fn load(dir: &Path) -> Result<Loaded> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(DataError::BadInput {
            path: dir.to_path_buf(),
            problem: "no .txt files in this folder".into(),
        });
    }
    let mut out = Loaded::default();
    for path in files {
        let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
        let text = decode_utf8(&path, bytes)?;
        out.files.push(SourceFile::describe(&path)?);
        if has_content(&text) {
            let id = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.documents.push(Document { id, text });
        }
    }
    if out.documents.is_empty() {
        return Err(DataError::Empty { what: dir.display().to_string() });
    }
    Ok(out)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        let path = entry.map_err(DataError::io(dir))?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_files_in_order_and_skips_blank_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.txt"), "second").unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "third").unwrap();
        std::fs::write(dir.path().join("a.txt"), "first").unwrap();
        std::fs::write(dir.path().join("blank.txt"), " \n\t").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let loaded = load(dir.path()).unwrap();
        let ids: Vec<_> = loaded.documents.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a.txt", "b.txt", "sub/a.txt"]);
        assert_eq!(loaded.files.len(), 4);
    }

    #[test]
    fn empty_folder_and_blank_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("no .txt files"));
        std::fs::write(dir.path().join("a.txt"), "\n\n").unwrap();
        assert!(matches!(load(dir.path()).unwrap_err(), DataError::Empty { .. }));
    }

    #[test]
    fn non_utf8_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("latin1.txt"), b"Ant. C\xe6sar, my Lord").unwrap();
        let msg = load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("latin1.txt: not UTF-8 (invalid byte at offset 6, line 1)"), "{msg}");
    }
}
