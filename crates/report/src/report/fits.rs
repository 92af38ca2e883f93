//! Fits and generalization protocols: every built-in law on every group of runs (one group per pruning
//! method, plus all methods pooled; per architecture family first when the runs name several), scored on
//! all points and on the paper's three held-out splits.

use std::collections::BTreeMap;

use p2law_law::{evaluate, BaselineScore, Curves, FitOptions, FitWarning, Holdout, Law, Metrics};
use serde::Serialize;

/// Group name for runs without a `method` label.
pub const UNLABELLED: &str = "all";
/// Group name for all methods together (only present when there are several methods).
pub const POOLED: &str = "pooled";

/// The generalization protocols, in the order reported.
pub const PROTOCOLS: [(&str, &str); 3] = [
    ("data:0.2", "fit the first 80 % of each curve, predict the last 20 %"),
    ("largest-n0", "fit the smaller models, predict the largest"),
    ("highest-rho", "fit the lower pruning rates, predict the highest"),
];

/// Runs fitted together.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub curves: Curves,
}

/// The groups of `curves`: one per method (runs without one in [`UNLABELLED`]), then [`POOLED`] when there is
/// more than one. With a single method its group is also the pooled one (last in the list either way).
/// When the runs name several families (Llama and Qwen2, say), each family gets its own method groups and
/// pooled group, named `family/method` and `family/pooled`, before the pooled group of everything.
pub fn groups(curves: &Curves) -> Vec<Group> {
    let families = families(curves);
    if families.len() < 2 {
        return method_groups(curves, "");
    }
    let mut groups: Vec<Group> = families
        .iter()
        .flat_map(|f| {
            let own = curves.select_runs(|r| family_of(r) == *f);
            method_groups(&own, &format!("{f}/"))
        })
        .collect();
    groups.push(Group { name: POOLED.into(), curves: curves.clone() });
    groups
}

/// One group per method of `curves`, then their pooled group when there are several; names get `prefix`.
fn method_groups(curves: &Curves, prefix: &str) -> Vec<Group> {
    let mut names: Vec<String> = curves.runs.iter().map(method_of).collect();
    names.sort();
    names.dedup();
    let mut groups: Vec<Group> = names
        .iter()
        .map(|name| Group {
            name: format!("{prefix}{name}"),
            curves: curves.select_runs(|r| method_of(r) == *name),
        })
        .collect();
    if groups.len() > 1 {
        groups.push(Group { name: format!("{prefix}{POOLED}"), curves: curves.clone() });
    }
    groups
}

/// A run's method, or [`UNLABELLED`].
pub fn method_of(run: &p2law_law::Run) -> String {
    run.method.clone().unwrap_or_else(|| UNLABELLED.into())
}

/// A run's architecture family, or `""` when the curve names none.
pub fn family_of(run: &p2law_law::Run) -> String {
    run.family.clone().unwrap_or_default()
}

/// The distinct families of `curves`, sorted (`""` for runs without one).
pub fn families(curves: &Curves) -> Vec<String> {
    let mut names: Vec<String> = curves.runs.iter().map(family_of).collect();
    names.sort();
    names.dedup();
    names
}

/// How a run is labelled in series and settings: its method, prefixed by its family when there are several.
pub fn label_fn(curves: &Curves) -> impl Fn(&p2law_law::Run) -> String {
    let several = families(curves).len() > 1;
    move |r| if several { format!("{}/{}", family_of(r), method_of(r)) } else { method_of(r) }
}

/// Whether `name` is a pooled group (of everything or of one family).
pub fn is_pooled(name: &str) -> bool {
    name == POOLED || name.ends_with(&format!("/{POOLED}"))
}

/// One law's result on one group (and split).
#[derive(Debug, Clone, Serialize)]
pub struct LawScore {
    pub law: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<Metrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Metrics>,
    /// Why the fit or scoring failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the law engine's checks found on the fit ([`p2law_law::diagnose`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FitWarning>,
    /// Condition number of the fit's Jacobian.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<f64>,
    /// In a protocol: whether the held-out rmse is below every baseline's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beats_baselines: Option<bool>,
    /// Parameter values in the law's order (for predictions).
    #[serde(skip)]
    pub values: Vec<f64>,
    /// `(observed, predicted)` loss of the held-out points.
    #[serde(skip)]
    pub held: Vec<(f64, f64)>,
}

/// Every law fitted to one group, on all its points.
#[derive(Debug, Clone, Serialize)]
pub struct GroupFits {
    pub group: String,
    pub n_runs: usize,
    pub n_points: usize,
    /// Distinct pruning rates and model sizes among the runs (within 1 %): with one rate, `gamma` is not
    /// identifiable (it only rescales `nc`, `dc`, `e`); with one size, neither are `delta` and `alpha`.
    pub distinct_rho: usize,
    pub distinct_n0: usize,
    pub laws: Vec<LawScore>,
    /// `p2` fitted without its bounds: what the data say by themselves (β > 0 means they fall with `d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2_unbounded: Option<LawScore>,
}

/// Every law on one protocol's split of one group, or why the protocol could not run.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolResult {
    pub group: String,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub laws: Vec<LawScore>,
    /// Held-out scores of the baselines that apply to this split ([`p2law_law::baselines`]).
    pub baselines: BTreeMap<String, BaselineScore>,
}

/// Fits every law in `laws` to `group` with an optional holdout; failures are recorded, not raised.
pub fn score_laws(
    laws: &[Law],
    group: &Group,
    holdout: Option<&Holdout>,
    opts: &FitOptions,
) -> Vec<LawScore> {
    laws.iter()
        .map(|law| match evaluate(law, &group.curves, holdout, opts) {
            Ok(ev) => {
                let held = ev
                    .held_points()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| (p.loss(), law.predict(&ev.fit.params, &p.vars)))
                    .collect();
                let best = ev.baselines.values().map(|b| b.rmse).fold(f64::INFINITY, f64::min);
                LawScore {
                    law: law.name.clone(),
                    params: Some(ev.fit.names.iter().cloned().zip(ev.fit.params.iter().copied()).collect()),
                    fit: Some(ev.metrics.fit),
                    holdout: ev.metrics.holdout,
                    error: None,
                    warnings: ev.fit.warnings.clone(),
                    condition: ev.fit.condition,
                    beats_baselines: ev.metrics.holdout.filter(|_| best.is_finite()).map(|m| m.rmse < best),
                    values: ev.fit.params.clone(),
                    held,
                }
            }
            Err(e) => LawScore {
                law: law.name.clone(),
                params: None,
                fit: None,
                holdout: None,
                error: Some(e.to_string()),
                warnings: Vec::new(),
                condition: None,
                beats_baselines: None,
                values: Vec::new(),
                held: Vec::new(),
            },
        })
        .collect()
}

/// Every law on all of `group`'s points.
pub fn fit_group(laws: &[Law], group: &Group, opts: &FitOptions) -> GroupFits {
    GroupFits {
        group: group.name.clone(),
        n_runs: group.curves.runs.len(),
        n_points: group.curves.points.len(),
        // Rates 0.2498 and 0.2499 (one layer of two models) do not identify a rate exponent.
        distinct_rho: distinct(group, |r| r.rho, 1e-2),
        distinct_n0: distinct(group, |r| r.n0, 1e-2),
        laws: score_laws(laws, group, None, opts),
        p2_unbounded: Law::builtin("p2")
            .ok()
            .filter(|_| laws.iter().any(|l| l.name == "p2" && l.is_bounded()))
            .and_then(|p2| score_laws(&[p2.unbounded()], group, None, opts).pop()),
    }
}

/// Every law on one protocol of `group`, unless the group cannot support it.
pub fn run_protocol(laws: &[Law], group: &Group, spec: &str, opts: &FitOptions) -> ProtocolResult {
    let result = |skipped, laws, baselines| ProtocolResult {
        group: group.name.clone(),
        protocol: spec.to_string(),
        skipped,
        laws,
        baselines,
    };
    if let Some(reason) = cannot_run(group, spec) {
        return result(Some(reason), Vec::new(), BTreeMap::new());
    }
    let holdout = Holdout::parse(spec).expect("the protocol specs parse");
    let baselines = holdout
        .split(&group.curves)
        .map(|s| p2law_law::baselines(&group.curves, &s.is_held))
        .unwrap_or_default();
    result(None, score_laws(laws, group, Some(&holdout), opts), baselines)
}

/// How many distinct values `value` takes over the group's runs, counting those within a relative `tol`
/// of each other as one.
fn distinct(group: &Group, value: fn(&p2law_law::Run) -> f64, tol: f64) -> usize {
    let mut xs: Vec<f64> = group.curves.runs.iter().map(value).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() <= tol * b.abs());
    xs.len()
}

/// Why `spec` cannot split `group`, if it cannot.
fn cannot_run(group: &Group, spec: &str) -> Option<String> {
    match spec {
        "largest-n0" if distinct(group, |r| r.n0, 1e-6) < 2 => {
            Some("only one model size (n0) in this group: nothing smaller to fit on".into())
        }
        "highest-rho" if distinct(group, |r| r.rho, 1e-6) < 2 => {
            Some("only one pruning rate in this group: nothing lower to fit on".into())
        }
        _ => match Holdout::parse(spec).and_then(|h| h.split(&group.curves)) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2law_law::synth::{generate, SynthSpec};

    #[test]
    fn groups_per_method_then_pooled() {
        let spec =
            SynthSpec { methods: vec!["b".into(), "a".into()], points_per_run: 3, ..Default::default() };
        let g = groups(&generate(&spec));
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["a", "b", POOLED]);
        assert_eq!((g[0].curves.runs.len(), g[2].curves.runs.len()), (12, 24));
        let one = groups(&generate(&SynthSpec { points_per_run: 3, ..Default::default() }));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, UNLABELLED);
    }

    #[test]
    fn several_families_group_per_family_first() {
        let spec =
            SynthSpec { methods: vec!["b".into(), "a".into()], points_per_run: 3, ..Default::default() };
        let mut curves = generate(&spec);
        for (i, r) in curves.runs.iter_mut().enumerate() {
            r.family = Some(if i % 2 == 0 { "llama" } else { "qwen2" }.into());
        }
        let g = groups(&curves);
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            ["llama/a", "llama/b", "llama/pooled", "qwen2/a", "qwen2/b", "qwen2/pooled", POOLED]
        );
        assert_eq!((g[0].curves.runs.len(), g[2].curves.runs.len(), g[6].curves.runs.len()), (6, 12, 24));
        assert!(g[0].curves.runs.iter().all(|r| r.family.as_deref() == Some("llama")));
        assert!(is_pooled("qwen2/pooled") && is_pooled(POOLED) && !is_pooled("qwen2/a"));
        let label = label_fn(&curves);
        assert_eq!(label(&curves.runs[1]), format!("qwen2/{}", method_of(&curves.runs[1])));
    }

    #[test]
    fn protocols_that_cannot_split_say_why() {
        let spec = SynthSpec { n0s: vec![1e8], points_per_run: 6, ..Default::default() };
        let group = groups(&generate(&spec)).remove(0);
        let laws = [Law::builtin("p2-pruned-size").unwrap()];
        let opts = FitOptions { starts: 8, ..Default::default() };
        let r = run_protocol(&laws, &group, "largest-n0", &opts);
        assert!(r.skipped.as_deref().unwrap().contains("one model size"), "{:?}", r.skipped);
        assert!(r.laws.is_empty());
        let r = run_protocol(&laws, &group, "highest-rho", &opts);
        assert!(r.skipped.is_none());
        let s = &r.laws[0];
        assert!(s.error.is_none(), "{:?}", s.error);
        assert_eq!(s.held.len(), 6, "one run at the highest rate, 6 points");
        assert!(s.holdout.is_some());
    }
}
