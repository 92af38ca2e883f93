//! Which layout a file has and which p2law wrote it: the `format` and `p2law_version` fields.
//!
//! Every JSON file p2law writes for another stage (`pruning.json`, `FIT.json`, `report.json`) starts with
//! `"format": "<kind>/<revision>"` (e.g. `"p2law.pruning/1"`) and `"p2law_version"`, the version of the p2law
//! that wrote it; the run store (SQLite) keeps the revision in `PRAGMA user_version`. The policy for
//! readers ([`Format::check`], [`Format::check_revision`]):
//!
//! - no `format` (or `user_version` 0): a file written before the fields existed, read as it always was;
//! - this build's tag: read;
//! - anything else (a newer revision, another kind of p2law file, a value that is no tag) is an error that
//!   names the file, the field, what was found and what this p2law reads, and says what to do.
//!
//! A revision is bumped when a change would make an older reader misread the file (a field changes meaning
//! or type); adding a field that old readers ignore is not such a change.

use std::path::Path;

use serde::Deserialize;

use crate::FormatError;

/// The version of p2law this crate belongs to (every p2law crate shares the workspace's version): the
/// `p2law_version` written into files, and the reader's version in error messages.
pub const P2LAW_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A kind of file and the revision of its layout that this build writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// `p2law.<kind>`.
    pub name: &'static str,
    pub revision: u32,
}

/// `pruning.json` of a pruned model directory ([`crate::PruningRecord`]).
pub const PRUNING: Format = Format { name: "p2law.pruning", revision: 1 };
/// `FIT.json`, a fitted law.
pub const FIT: Format = Format { name: "p2law.fit", revision: 1 };
/// `report.json` of a report directory.
pub const REPORT: Format = Format { name: "p2law.report", revision: 1 };
/// The run store's SQLite file (the revision is its `PRAGMA user_version`).
pub const RUN_STORE: Format = Format { name: "p2law.runs", revision: 1 };

impl Format {
    /// The value of a file's `format` field: `name/revision`.
    pub fn tag(self) -> String {
        format!("{}/{}", self.name, self.revision)
    }

    /// Checks the `format` field `found` of the file at `path` (see the module docs for the policy).
    pub fn check(self, found: Option<&str>, path: &Path) -> Result<(), FormatError> {
        let Some(found) = found else { return Ok(()) };
        if found == self.tag() {
            return Ok(());
        }
        let problem = match found.rsplit_once('/').map(|(name, rev)| (name, rev.parse::<u32>())) {
            Some((name, Ok(rev))) if name == self.name && rev > self.revision => format!(
                "{found:?} is a newer revision than this p2law ({P2LAW_VERSION}) reads ({:?}, or files without \
                 `format`): upgrade p2law to read this file",
                self.tag()
            ),
            Some((name, Ok(_))) if name != self.name && name.starts_with("p2law.") => format!(
                "{found:?} is another kind of p2law file, not {}: check the path",
                self.name
            ),
            _ => format!(
                "{found:?} is not a format this p2law ({P2LAW_VERSION}) knows; it reads {:?} (or files without \
                 `format`): was the file written by p2law, and not edited since?",
                self.tag()
            ),
        };
        Err(FormatError::Field { path: path.to_path_buf(), field: "format".into(), problem })
    }

    /// Checks the `format` field of a JSON file's text, before the text is parsed as this format: a newer
    /// revision may not parse, and its error should say so rather than name some other field. Text that is
    /// not a JSON object with a string (or no) `format` passes; the full parse reports what is wrong.
    pub fn check_json(self, text: &str, path: &Path) -> Result<(), FormatError> {
        #[derive(Deserialize)]
        struct Stamp {
            #[serde(default)]
            format: Option<String>,
        }
        match serde_json::from_str::<Stamp>(text) {
            Ok(stamp) => self.check(stamp.format.as_deref(), path),
            Err(_) => Ok(()),
        }
    }

    /// Checks a stored revision number (`field` names where it is kept, e.g. `PRAGMA user_version`): 0 is a
    /// file from before revisions were recorded, `self.revision` this build's; anything else is an error
    /// whose message ends with `remedy`.
    pub fn check_revision(
        self,
        found: i64,
        field: &str,
        path: &Path,
        remedy: &str,
    ) -> Result<(), FormatError> {
        if found == 0 || found == i64::from(self.revision) {
            return Ok(());
        }
        let relation = if found > i64::from(self.revision) { "newer than" } else { "not" };
        Err(FormatError::Field {
            path: path.to_path_buf(),
            field: field.into(),
            problem: format!(
                "{found} is {relation} the revision of {} this p2law ({P2LAW_VERSION}) reads ({}, or 0 from \
                 before revisions were recorded): {remedy}",
                self.name, self.revision
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_current_formats_are_read() {
        let p = Path::new("d/pruning.json");
        assert_eq!(PRUNING.tag(), "p2law.pruning/1");
        PRUNING.check(None, p).unwrap();
        PRUNING.check(Some("p2law.pruning/1"), p).unwrap();
        RUN_STORE.check_revision(0, "PRAGMA user_version", p, "x").unwrap();
        RUN_STORE.check_revision(1, "PRAGMA user_version", p, "x").unwrap();
    }

    #[test]
    fn unknown_formats_name_the_file_the_field_and_what_to_do() {
        let p = Path::new("d/pruning.json");
        let err = |found| PRUNING.check(Some(found), p).unwrap_err().to_string();
        let newer = err("p2law.pruning/2");
        assert!(newer.starts_with("d/pruning.json: `format`: \"p2law.pruning/2\""), "{newer}");
        assert!(newer.contains("newer") && newer.contains("upgrade p2law"), "{newer}");
        let other = err("p2law.fit/1");
        assert!(other.contains("another kind of p2law file, not p2law.pruning"), "{other}");
        for junk in ["pruning", "p2law.pruning/x", "p2law.pruning/0", "other.tool/1"] {
            let e = err(junk);
            assert!(e.starts_with("d/pruning.json: `format`: ") && e.contains("\"p2law.pruning/1\""), "{e}");
        }
        let fit = |text: &str| FIT.check_json(text, Path::new("FIT.json"));
        fit(r#"{"law": "p2"}"#).unwrap();
        fit(r#"{"format": "p2law.fit/1", "law": "p2"}"#).unwrap();
        fit("not json: the full parse says so").unwrap();
        let e = fit(r#"{"format": "p2law.fit/2", "law": {"a new": "shape"}}"#).unwrap_err().to_string();
        assert!(e.starts_with("FIT.json: `format`: \"p2law.fit/2\" is a newer revision"), "{e}");
        let store =
            RUN_STORE.check_revision(7, "PRAGMA user_version", Path::new("runs.sqlite"), "rebuild it");
        let store = store.unwrap_err().to_string();
        assert!(
            store.starts_with("runs.sqlite: `PRAGMA user_version`: 7 is newer than")
                && store.ends_with("rebuild it"),
            "{store}"
        );
    }
}
