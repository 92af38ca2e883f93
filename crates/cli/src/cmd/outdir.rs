//! Output directories of `convert` and `prune`: refused when they exist (unless `--overwrite`) or when they
//! are, or hold, an input; built under a locked temporary name beside the target
//! ([`p2law_model::staging`]), whose leftovers from dead processes are removed first, and moved into place
//! only once complete.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use p2law_model::staging::{self, Staging};

/// The checked output directory of one command.
pub struct OutDir {
    pub target: PathBuf,
    parent: PathBuf,
    prefix: String,
    overwrite: bool,
}

impl OutDir {
    /// Checks `out` (given as `-o`) against the inputs, before any work. `inputs` are (flag, path).
    pub fn check(out: &Path, overwrite: bool, inputs: &[(&str, &Path)]) -> anyhow::Result<OutDir> {
        let Some(name) = out.file_name() else { bail!("-o {}: not a directory name", out.display()) };
        let parent =
            out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let full_out = absolute(out);
        for (flag, input) in inputs {
            let full_in = absolute(input);
            if full_in == full_out {
                bail!("-o {}: is the input {flag}; choose another output", out.display());
            }
            if full_in.starts_with(&full_out) && overwrite {
                bail!(
                    "-o {}: holds the input {flag} {}, which --overwrite would delete; choose another output",
                    out.display(),
                    input.display()
                );
            }
        }
        match std::fs::symlink_metadata(out) {
            Ok(_) if !overwrite => {
                bail!("-o {}: already exists; choose another output or pass --overwrite", out.display())
            }
            Ok(m) if !m.is_dir() => bail!("-o {}: exists and is not a directory", out.display()),
            _ => {}
        }
        let prefix = format!(".{}.partial-", name.to_string_lossy());
        Ok(OutDir { target: out.to_path_buf(), parent, prefix, overwrite })
    }

    /// Removes leftovers of dead processes for this target, then creates the staging folder.
    pub fn stage(&self) -> anyhow::Result<Staging> {
        staging::remove_stale(&self.parent, &self.prefix, Some(&self.target))
            .context("removing stale temporary folders")?;
        Ok(Staging::create(&self.parent, &self.prefix)?)
    }

    /// Moves the complete staging folder into place.
    pub fn commit(&self, staged: Staging) -> anyhow::Result<()> {
        Ok(staged.commit(&self.target, self.overwrite)?)
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

    #[test]
    fn output_naming_or_holding_an_input_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("m");
        std::fs::create_dir(&model).unwrap();
        let inside = model.join("calib.bin");
        let err = OutDir::check(&model.join("../m"), true, &[("--model", &model)]).err().unwrap().to_string();
        assert!(err.contains("is the input --model"), "{err}");
        let err = OutDir::check(&model, true, &[("--calib", &inside)]).err().unwrap().to_string();
        assert!(err.contains("holds the input --calib"), "{err}");
        let err = OutDir::check(&model, false, &[]).err().unwrap().to_string();
        assert!(err.contains("already exists") && err.contains("--overwrite"), "{err}");
        assert!(OutDir::check(&tmp.path().join("new"), false, &[("--model", &model)]).is_ok());
        assert!(OutDir::check(Path::new(".."), false, &[]).is_err());
    }
}
