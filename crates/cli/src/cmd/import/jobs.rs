//! What `p2law import` reads: a list of [`Job`]s (one log → one run), from a single log, a folder of run
//! folders, or a manifest, with each run's variables merged from the manifest entry, the flags, the manifest's
//! `[defaults]` and `pruning.json`, in that order.
//!
//! Manifest (`runs.toml`; paths relative to its folder; every key but `name` and `log` optional):
//!
//! ```toml
//! [defaults]                       # any run key except name, log, pruned, source_run
//! tokens_per_step = 16384
//!
//! [[run]]
//! name = "llama-depth-0.25"
//! log = "out/llama-depth-0.25"     # a log file or run folder
//! pruned = "pruned/llama-depth-0.25"   # pruning.json: n0, rho, l0, method, n, target_rho
//!
//! [[run]]
//! name = "llama-nm-0.5"
//! log = "wandb_panel.csv"
//! source_run = "llama-nm-0.5"      # the run's name inside a multi-run log
//! n0 = 1.24e9
//! rho = 0.5
//! l0 = 2.31
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use p2law_law::import::{run_folders, ImportOptions, LogFormat, RunInfo};
use serde::Deserialize;

use super::Args;

/// One log to import as one run; an empty `info.name` is to be taken from the log.
#[derive(Debug)]
pub struct Job {
    pub log: PathBuf,
    pub format: Option<LogFormat>,
    pub info: RunInfo,
    pub opts: ImportOptions,
}

/// A run's settings from one place (a manifest entry, `[defaults]`, or the flags); `None` = not said there.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    name: Option<String>,
    log: Option<PathBuf>,
    pruned: Option<PathBuf>,
    source_run: Option<String>,
    format: Option<String>,
    n0: Option<f64>,
    rho: Option<f64>,
    l0: Option<f64>,
    n: Option<f64>,
    method: Option<String>,
    model: Option<String>,
    family: Option<String>,
    tokens_per_step: Option<f64>,
    #[serde(alias = "tag")]
    loss_column: Option<String>,
    tokens_column: Option<String>,
    step_column: Option<String>,
    regex: Option<String>,
}

impl Fields {
    /// `self`, with what it does not say taken from `other`.
    fn or(self, other: &Fields) -> Fields {
        let o = other.clone();
        Fields {
            name: self.name.or(o.name),
            log: self.log.or(o.log),
            pruned: self.pruned.or(o.pruned),
            source_run: self.source_run.or(o.source_run),
            format: self.format.or(o.format),
            n0: self.n0.or(o.n0),
            rho: self.rho.or(o.rho),
            l0: self.l0.or(o.l0),
            n: self.n.or(o.n),
            method: self.method.or(o.method),
            model: self.model.or(o.model),
            family: self.family.or(o.family),
            tokens_per_step: self.tokens_per_step.or(o.tokens_per_step),
            loss_column: self.loss_column.or(o.loss_column),
            tokens_column: self.tokens_column.or(o.tokens_column),
            step_column: self.step_column.or(o.step_column),
            regex: self.regex.or(o.regex),
        }
    }

    fn from_args(a: &Args) -> Fields {
        Fields {
            name: a.run.clone(),
            log: None,
            pruned: a.pruned.clone(),
            source_run: a.source_run.clone(),
            format: a.format.map(|f| f.name().to_string()),
            n0: a.n0,
            rho: a.rho,
            l0: a.l0,
            n: a.n,
            method: a.method.clone(),
            model: a.model.clone(),
            family: a.family.clone(),
            tokens_per_step: a.tokens_per_step,
            loss_column: a.loss_column.clone(),
            tokens_column: a.tokens_column.clone(),
            step_column: a.step_column.clone(),
            regex: a.regex.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    defaults: Fields,
    run: Vec<Fields>,
}

/// How to tell the user to supply a missing value.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Flags,
    /// A run of a folder of runs, and its folder.
    Folder(&'a Path),
    Manifest(&'a Path),
}

impl Mode<'_> {
    fn ask(self, key: &str) -> String {
        match self {
            Mode::Flags => {
                format!("pass --{} or --pruned DIR (a folder with pruning.json)", key.replace('_', "-"))
            }
            Mode::Folder(dir) => {
                format!(
                    "no pruning.json in {} gives it; add one, or pass --{} for every run",
                    dir.display(),
                    key.replace('_', "-")
                )
            }
            Mode::Manifest(p) => {
                format!("set `{key}` or `pruned` (a folder with pruning.json) in {}", p.display())
            }
        }
    }
}

/// The jobs `args` ask for; see the module docs.
pub fn jobs(args: &Args) -> anyhow::Result<Vec<Job>> {
    let flags = Fields::from_args(args);
    let one_run = [
        ("--run", args.run.is_some()),
        ("--pruned", args.pruned.is_some()),
        ("--source-run", args.source_run.is_some()),
    ];
    let one_run = one_run.into_iter().find(|(_, given)| *given).map(|(flag, _)| flag);
    if let Some(manifest) = &args.manifest {
        if let Some(flag) = one_run {
            bail!("{flag} names one run; with --manifest, set it in the run's [[run]] table");
        }
        return from_manifest(manifest, &flags);
    }
    let file = args.file.as_ref().expect("clap requires FILE without --manifest");
    let Some(folders) = run_folders(file)? else {
        // One log. Its name: --run, --source-run, --pruned's folder, the run folder's; the run folder's own
        // pruning.json is read unless --pruned names another.
        let folder_name = file.is_dir().then(|| file_name(file));
        let own =
            Fields { pruned: file.is_dir().then(|| file.clone()), name: folder_name, ..Fields::default() };
        let pruned_name = Fields { name: args.pruned.as_deref().map(file_name), ..Fields::default() };
        let source_name = Fields { name: args.source_run.clone(), ..Fields::default() };
        let fields = flags.or(&source_name).or(&pruned_name).or(&own);
        return Ok(vec![job(file.clone(), fields, Mode::Flags)?]);
    };
    if let Some(flag) = one_run {
        bail!(
            "{}: a folder of run folders takes each run's name and pruning.json from its folder; {flag} names one run (use --manifest to map runs by hand)",
            file.display()
        );
    }
    folders
        .into_iter()
        .map(|(name, dir)| {
            let own = Fields { name: Some(name), pruned: Some(dir.clone()), ..Fields::default() };
            job(dir.clone(), flags.clone().or(&own), Mode::Folder(&dir))
        })
        .collect()
}

fn from_manifest(path: &Path, flags: &Fields) -> anyhow::Result<Vec<Job>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Manifest = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().replace('\n', " ").trim()))?;
    let d = &manifest.defaults;
    if d.name.is_some() || d.log.is_some() || d.pruned.is_some() || d.source_run.is_some() {
        bail!(
            "{}: [defaults] cannot set name, log, pruned or source_run (they belong to one run)",
            path.display()
        );
    }
    if manifest.run.is_empty() {
        bail!("{}: no [[run]] tables", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    manifest
        .run
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = || {
                format!("{}: run {} ({})", path.display(), i + 1, entry.name.as_deref().unwrap_or("no name"))
            };
            let Some(log) = entry.log.clone() else { bail!("{}: no `log`", at()) };
            if entry.name.is_none() {
                bail!("{}: no `name`", at());
            }
            let mut fields = entry.clone().or(flags).or(d);
            fields.pruned = fields.pruned.map(|p| base.join(p));
            job(base.join(log), fields, Mode::Manifest(path)).with_context(at)
        })
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A job from merged fields, filling gaps from `pruning.json`.
fn job(log: PathBuf, f: Fields, mode: Mode<'_>) -> anyhow::Result<Job> {
    if let Some(dir) = f.pruned.clone() {
        let meta = p2law_train::meta::load_pruning_meta(&dir)?;
        match meta {
            Some(m) => {
                let from_file = Fields {
                    n0: Some(m.n0),
                    rho: Some(m.rho),
                    l0: m.l0,
                    n: m.n,
                    method: m.method,
                    family: m.family,
                    ..Fields::default()
                };
                return finish(log, f.or(&from_file), m.rho_target, mode);
            }
            // A run folder without pruning.json is fine when the flags give the values; --pruned must have one.
            None if log != dir => bail!("{}: no pruning.json in it", dir.display()),
            None => {}
        }
    }
    finish(log, f, None, mode)
}

fn finish(log: PathBuf, f: Fields, rho_target: Option<f64>, mode: Mode<'_>) -> anyhow::Result<Job> {
    // No name yet: `run` takes the one the log gives (a W&B panel export of one run), or asks for --run.
    let name = f.name.unwrap_or_default();
    let need = |value: Option<f64>, key: &str| {
        value.with_context(|| {
            let who = if name.is_empty() { log.display().to_string() } else { format!("run `{name}`") };
            format!("{who}: no {key}; {}", mode.ask(key))
        })
    };
    let info = RunInfo {
        n0: need(f.n0, "n0")?,
        rho: need(f.rho, "rho")?,
        l0: need(f.l0, "l0")?,
        n: f.n,
        method: f.method,
        model: f.model,
        family: f.family,
        rho_target: rho_target.filter(|t| *t > 0.0 && *t < 1.0),
        name,
    };
    let format = f.format.map(|s| s.parse::<LogFormat>()).transpose().map_err(anyhow::Error::msg)?;
    let opts = ImportOptions {
        tokens_per_step: f.tokens_per_step,
        loss_column: f.loss_column,
        tokens_column: f.tokens_column,
        step_column: f.step_column,
        source_run: f.source_run,
        regex: f.regex,
    };
    Ok(Job { log, format, info, opts })
}
