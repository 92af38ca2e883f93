//! The checked output folder of a command that writes a model directory (`p2law prune`, `p2law convert`,
//! a sweep's pruning): refused before any work when it exists (unless replacing it is allowed) or when it
//! is, or holds, an input; built as a [`Staging`] folder beside the target, whose leftovers from dead
//! processes are removed first, and moved into place only once complete.

use std::io;
use std::path::{Path, PathBuf};

use super::{remove_stale, Staging};

/// How [`OutDir::check`]'s errors name the output and the switch that allows replacing it: a command
/// line's `-o` and `--overwrite`, or a library's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutNames {
    pub out: &'static str,
    pub overwrite: &'static str,
}

/// Why an output folder cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// Refused before any work: it exists, is or holds an input, or is no folder name.
    #[error("{name} {}: {problem}", out.display())]
    Refused { name: &'static str, out: PathBuf, problem: String },
    #[error("removing stale temporary folders: {0}")]
    Stale(io::Error),
    /// Creating the staging folder or moving it into place (the message names the path).
    #[error("{0}")]
    Io(io::Error),
}

/// The checked output folder of one command.
#[derive(Debug)]
pub struct OutDir {
    pub target: PathBuf,
    parent: PathBuf,
    prefix: String,
    overwrite: bool,
}

impl OutDir {
    /// Checks `out` against the inputs, before any work; `inputs` are (name, path), the names as errors
    /// give them (a flag, a field).
    pub fn check(
        out: &Path,
        overwrite: bool,
        inputs: &[(&str, &Path)],
        names: OutNames,
    ) -> Result<OutDir, OutDirError> {
        let refused =
            |problem: String| OutDirError::Refused { name: names.out, out: out.to_path_buf(), problem };
        let Some(name) = out.file_name() else { return Err(refused("not a directory name".into())) };
        let parent =
            out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let full_out = absolute(out);
        for (input_name, input) in inputs {
            let full_in = absolute(input);
            if full_in == full_out {
                return Err(refused(format!("is the input {input_name}; choose another output")));
            }
            if full_in.starts_with(&full_out) && overwrite {
                return Err(refused(format!(
                    "holds the input {input_name} {}, which {} would delete; choose another output",
                    input.display(),
                    names.overwrite
                )));
            }
        }
        match std::fs::symlink_metadata(out) {
            Ok(_) if !overwrite => {
                Err(refused(format!("already exists; choose another output or pass {}", names.overwrite)))
            }
            Ok(m) if !m.is_dir() => Err(refused("exists and is not a directory".into())),
            _ => {
                let prefix = format!(".{}.partial-", name.to_string_lossy());
                Ok(OutDir { target: out.to_path_buf(), parent, prefix, overwrite })
            }
        }
    }

    /// Removes leftovers of dead processes for this target, then creates the staging folder.
    pub fn stage(&self) -> Result<Staging, OutDirError> {
        remove_stale(&self.parent, &self.prefix, Some(&self.target)).map_err(OutDirError::Stale)?;
        Staging::create(&self.parent, &self.prefix).map_err(OutDirError::Io)
    }

    /// Moves the complete staging folder into place.
    pub fn commit(&self, staged: Staging) -> Result<(), OutDirError> {
        staged.commit(&self.target, self.overwrite).map_err(OutDirError::Io)
    }
}

/// `path` made absolute and, where it exists, with symbolic links resolved (the longest existing ancestor
/// is canonicalized and the rest appended), so two spellings of one place compare equal.
fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            return rest.iter().rev().fold(c, |p: PathBuf, n| p.join(n));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: OutNames = OutNames { out: "-o", overwrite: "--overwrite" };

    #[test]
    fn output_naming_or_holding_an_input_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("m");
        std::fs::create_dir(&model).unwrap();
        let inside = model.join("calib.bin");
        let check = |out: &Path, overwrite, inputs: &[(&str, &Path)]| {
            OutDir::check(out, overwrite, inputs, FLAGS).err().unwrap().to_string()
        };
        let err = check(&model.join("../m"), true, &[("--model", &model)]);
        assert!(err.starts_with("-o ") && err.contains("is the input --model"), "{err}");
        let err = check(&model, true, &[("--calib", &inside)]);
        assert!(err.contains("holds the input --calib") && err.contains("--overwrite would delete"), "{err}");
        let err = check(&model, false, &[]);
        assert!(err.contains("already exists") && err.contains("pass --overwrite"), "{err}");
        assert!(OutDir::check(&tmp.path().join("new"), false, &[("--model", &model)], FLAGS).is_ok());
        assert!(OutDir::check(Path::new(".."), false, &[], FLAGS).is_err());
    }

    #[test]
    fn a_checked_output_is_built_aside_and_moved_in_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let out = OutDir::check(&target, false, &[], FLAGS).unwrap();
        let staged = out.stage().unwrap();
        std::fs::write(staged.path().join("a"), "x").unwrap();
        assert!(!target.exists());
        out.commit(staged).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("a")).unwrap(), "x");
    }
}
