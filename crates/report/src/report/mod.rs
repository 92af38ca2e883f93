//! `p2law report`: everything the law engine says about a directory of post-training runs, in one place.
//!
//! Input: a runs directory (or curve file; see [`inputs`]). Output, in a directory: `report.md` (for people),
//! `report.json` (the same [`Report`], for programs) and the figures (PNG and SVG). Steps:
//! 1. group runs by pruning method, plus all methods pooled ([`fits::groups`]);
//! 2. fit `p2` and every rival built-in law to each group and score them (r2, huber, asd, asd_log, rmse, mape);
//! 3. the paper's generalization protocols per group — `data:0.2`, `largest-n0`, `highest-rho` — held-out
//!    scores, or why a protocol cannot run on a group;
//! 4. a token-budget plan per run from the pooled `p2` fit ([`plans`]);
//! 5. the paper's trends checked on the data ([`trends`]);
//! 6. whether the runs are in the paper's regime ([`regime`]: control drift, β > 0, no run below L0, distinct
//!    rates), from the unpruned controls the fits leave out;
//! 7. figures ([`figures`]) and the two files, written atomically, beside `curves/`: copies of the exact curve
//!    files read ([`inputs::ship`]). Every path the report names is relative to its directory.
//!
//! A law that fails to fit a group is reported as such; only unreadable input or an unwritable output
//! directory is an error.

pub mod figures;
pub mod fits;
pub mod inputs;
pub mod markdown;
pub mod plans;
pub mod regime;
pub mod trends;

use std::path::{Path, PathBuf};

use p2law_law::{CurveError, FitOptions, Law};
use serde::Serialize;

pub use figures::FigureRef;
pub use fits::{GroupFits, LawScore, ProtocolResult};
pub use inputs::Inputs;
pub use plans::{PlanOverrides, PlanSettings, RunPlan};
pub use regime::Regime;
pub use trends::{Trend, Verdict};

/// How to build a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Multi-start grid size of every fit (the report makes many fits; fewer starts than `p2law fit`).
    pub starts: usize,
    pub seed: u64,
    /// Plan thresholds given by the user; the others are derived from the data ([`PlanSettings::for_data`]).
    pub plan: PlanOverrides,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { starts: 64, seed: 0, plan: PlanOverrides::default() }
    }
}

/// Everything the report says; `report.json` is this, serialised.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`p2law_formats::REPORT`]'s tag.
    pub format: String,
    /// The p2law that wrote the report.
    pub p2law_version: String,
    pub inputs: Inputs,
    pub laws: Vec<String>,
    pub starts: usize,
    pub seed: u64,
    pub fits: Vec<GroupFits>,
    pub protocols: Vec<ProtocolResult>,
    pub plan_settings: PlanSettings,
    /// Which group's `p2` fit the plans use.
    pub plan_group: String,
    pub plans: Vec<RunPlan>,
    pub trends: Vec<Trend>,
    pub regime: Regime,
    pub figures: Vec<FigureRef>,
}

/// Why no report.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: no curve files found (looked for curve.csv in run directories, then *.csv / *.jsonl)", path.display())]
    NoCurves { path: PathBuf },
    #[error("{}: all {skipped} runs are unpruned (rho = 0); a report needs post-training curves of pruned models", path.display())]
    OnlyUnpruned { path: PathBuf, skipped: usize },
    #[error(transparent)]
    Curves(#[from] CurveError),
    #[error("{}: cannot create the report directory: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{}: cannot read the sweep's twins: {message}", path.display())]
    Twins { path: PathBuf, message: String },
    #[error(transparent)]
    Plot(#[from] crate::ReportError),
}

/// Reads `source`, analyses it and writes `report.md`, `report.json`, the figures and `curves/` into
/// `out_dir` (created if missing).
pub fn generate(source: &Path, out_dir: &Path, opts: &ReportOptions) -> Result<Report, BuildError> {
    let mut inputs = inputs::load(source)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| BuildError::CreateDir { path: out_dir.into(), source: e })?;
    inputs::ship(&mut inputs, out_dir)?;
    let laws: Vec<Law> =
        Law::builtin_names().into_iter().map(|n| Law::builtin(n).expect("built-in laws parse")).collect();
    let p2 = Law::builtin("p2").expect("the p2 built-in parses");
    let fit_opts = FitOptions { starts: opts.starts.max(1), seed: opts.seed, ..FitOptions::default() };

    let groups = fits::groups(&inputs.curves);
    let fits: Vec<GroupFits> = groups.iter().map(|g| fits::fit_group(&laws, g, &fit_opts)).collect();
    let protocols: Vec<ProtocolResult> = groups
        .iter()
        .flat_map(|g| fits::PROTOCOLS.iter().map(|(spec, _)| fits::run_protocol(&laws, g, spec, &fit_opts)))
        .collect();

    let pooled = fits.last().expect("at least one group");
    let max_d = inputs.curves.points.iter().map(|p| p.d()).fold(0.0, f64::max);
    let plan_settings = opts.plan.apply(PlanSettings::for_data(max_d));
    let plans = match pooled.laws.iter().find(|s| s.law == p2.name && s.error.is_none()) {
        Some(p2_fit) => plans::plan_runs(&p2, &p2_fit.values, &inputs.curves, &plan_settings),
        None => Vec::new(),
    };
    let trends = trends::check_trends(&inputs.curves);
    let regime = regime::check(&inputs.curves, &inputs.unpruned_curves, &fits, &inputs.twins);

    let mut report = Report {
        format: p2law_formats::REPORT.tag(),
        p2law_version: p2law_formats::P2LAW_VERSION.into(),
        laws: laws.iter().map(|l| l.name.clone()).collect(),
        starts: fit_opts.starts,
        seed: opts.seed,
        plan_group: pooled.group.clone(),
        inputs,
        fits,
        protocols,
        plan_settings,
        plans,
        trends,
        regime,
        figures: Vec::new(),
    };
    report.figures = figures::draw_all(&report, &groups, &p2, out_dir)?;

    let write = |name: &str, bytes: &[u8]| {
        let path = out_dir.join(name);
        p2law_formats::write_atomic(&path, bytes).map_err(|source| BuildError::Write { path, source })
    };
    write("report.json", report_json(&report).as_bytes())?;
    write("report.md", markdown::render(&report).as_bytes())?;
    Ok(report)
}

/// `report.json`'s text.
pub fn report_json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).expect("the report serialises") + "\n"
}
