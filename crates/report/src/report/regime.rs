//! Whether the runs are in the paper's regime (issue 16): well-trained bases recovering from pruning, not
//! post-training that merely continues pretraining. Four checks, per base model (runs grouped by family and
//! `n0`) where they concern one:
//!
//! 1. **control drift** — the unpruned control (a run with `rho` 0 and method [`CONTROL_METHOD`], which
//!    `p2law sweep` post-trains exactly like the pruned models when the recipe says `[prune] control = true`)
//!    moves by less than [`DRIFT_FRACTION`] of the smallest pruning damage of its model:
//!    `|L_control(end) − L0| < 0.1 · min over pruned runs (L_pruned(first) − L0)`. The damage is read at each
//!    pruned run's first evaluation (the curve has no point at `d` = 0), so it is the damage left after a few
//!    steps: smaller than at `d` = 0, which makes the check stricter, not looser.
//! 2. **β > 0** — `p2` fitted without its bounds ([`GroupFits::p2_unbounded`]) to each method's group has a
//!    positive `beta`: the data themselves fall with `d` and level off.
//! 3. **no run below L0** — no pruned run ends below its L0 by more than the evaluation noise of its model.
//!    The noise is [`NOISE_SIGMAS`] standard deviations of the jitter between evaluations: the residual
//!    standard deviation of the control's last [`NOISE_POINTS`] evaluations about a straight line in `ln d`
//!    (the held-out tokens are the same at every evaluation, so two evaluations of a model that post-training
//!    no longer changes differ only by this jitter). Without a control, the residuals of the pruned runs' last
//!    evaluations are pooled instead (an overestimate, since their curves still bend), and the report says so.
//! 4. **distinct rates** — every pruning rate is a distinct model: runs of one model and method at different
//!    target rates (`rho_target`) reach different `rho`, and the sweep recorded no rate that reached the same
//!    model as a lower one ([`TWINS_FILE`], written by `p2law sweep` beside the runs). Depth is where this
//!    bites: whole layers round the rates of a shallow model together.
//!
//! The runs are "in regime" only when all four hold; a check that cannot run (no control, no fit) is not
//! a pass.

use std::collections::BTreeMap;
use std::path::Path;

use p2law_law::Curves;
use serde::{Deserialize, Serialize};

use super::fits::{family_of, is_pooled, method_of, GroupFits};
use crate::text::num;

/// The method label of an unpruned control run (its `pruning.json`'s, see [`p2law_formats::CONTROL_METHOD`]).
pub use p2law_formats::CONTROL_METHOD;
/// The file of rates the sweep did not post-train because they reached the same model as a lower rate.
pub const TWINS_FILE: &str = "twins.json";
/// A control may drift by less than this fraction of its model's smallest pruning damage.
pub const DRIFT_FRACTION: f64 = 0.1;
/// Evaluations at the end of a curve the noise is estimated from.
pub const NOISE_POINTS: usize = 5;
/// The evaluation noise is this many standard deviations of the jitter.
pub const NOISE_SIGMAS: f64 = 2.0;

/// A rate the sweep did not post-train: it reached the same pruned model as a lower rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Twin {
    pub run: String,
    pub same_as: String,
    pub method: String,
    pub rho: f64,
}

#[derive(Serialize, Deserialize)]
struct TwinsFile {
    twins: Vec<Twin>,
}

/// Writes `dir/twins.json` (created or replaced, also when there are none).
pub fn write_twins(dir: &Path, twins: &[Twin]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&TwinsFile { twins: twins.to_vec() }).expect("twins serialise");
    p2law_formats::write_atomic(&dir.join(TWINS_FILE), (text + "\n").as_bytes())
}

/// Reads a twins file; `Err` holds the reason it cannot be read.
pub fn read_twins(path: &Path) -> Result<Vec<Twin>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: TwinsFile = serde_json::from_str(&text).map_err(|e| format!("invalid: {e}"))?;
    Ok(file.twins)
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Holds,
    Fails,
    CannotRun,
}

impl Status {
    pub fn text(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Fails => "fails",
            Status::CannotRun => "cannot run",
        }
    }

    /// Fails if any fails, else cannot run if any cannot, else holds.
    fn all(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().fold(Status::Holds, |acc, s| match (acc, s) {
            (Status::Fails, _) | (_, Status::Fails) => Status::Fails,
            (Status::CannotRun, _) | (_, Status::CannotRun) => Status::CannotRun,
            _ => Status::Holds,
        })
    }
}

/// One of the four checks over all models.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `control_drift`, `beta_positive`, `no_run_below_l0` or `distinct_rates`.
    pub name: String,
    pub requirement: String,
    pub status: Status,
    /// What was measured, with the numbers of every failure.
    pub detail: String,
}

/// The control of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ControlRun {
    pub run: String,
    pub l0: f64,
    /// Loss at the control's last evaluation.
    pub end: f64,
    /// `|end − l0|`.
    pub drift: f64,
}

/// The least-damaged pruned run of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    pub run: String,
    pub l0: f64,
    /// Loss at the run's first evaluation.
    pub first: f64,
    /// `first − l0`.
    pub damage: f64,
}

/// A pruned run that ends below its L0.
#[derive(Debug, Clone, Serialize)]
pub struct BelowL0 {
    pub run: String,
    pub l0: f64,
    pub end: f64,
    /// `l0 − end`, positive.
    pub by: f64,
    /// Whether `by` exceeds the model's evaluation noise (unknown without a noise estimate).
    pub beyond_noise: Option<bool>,
}

/// Two runs of one model and method that aim at different rates but reach the same `rho`.
#[derive(Debug, Clone, Serialize)]
pub struct SameModel {
    pub runs: [String; 2],
    pub method: String,
    pub rho: f64,
}

/// Everything the checks found about one base model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRegime {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub n0: f64,
    pub pruned_runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smallest_damage: Option<Damage>,
    /// `DRIFT_FRACTION · smallest_damage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_limit: Option<f64>,
    pub drift_status: Status,
    /// The evaluation noise (`NOISE_SIGMAS` standard deviations), when it could be estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// How the noise was estimated.
    pub noise_from: String,
    pub below_l0: Vec<BelowL0>,
    pub below_status: Status,
    /// Distinct achieved rates per method (`method → count`).
    pub distinct_rates: BTreeMap<String, usize>,
    pub same_model: Vec<SameModel>,
}

/// The unbounded `p2` fit of one method's group.
#[derive(Debug, Clone, Serialize)]
pub struct BetaFit {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The regime section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Regime {
    pub in_regime: bool,
    /// One line: `in regime: all four checks hold`, or `not in regime — fails: …; cannot run: …`.
    pub verdict: String,
    pub checks: Vec<Check>,
    pub models: Vec<ModelRegime>,
    pub beta: Vec<BetaFit>,
    pub twins: Vec<Twin>,
}

/// A run's points as `(d, loss)`, sorted by `d`.
fn points(curves: &Curves) -> Vec<Vec<(f64, f64)>> {
    curves
        .points_by_run()
        .iter()
        .map(|idx| idx.iter().map(|&i| (curves.points[i].d(), curves.points[i].loss())).collect())
        .collect()
}

/// Sum of squared residuals about the least-squares line of `loss` on `ln d` over the last `NOISE_POINTS`
/// points, and its degrees of freedom; `None` with fewer than 3 points.
fn late_residuals(pts: &[(f64, f64)]) -> Option<(f64, usize)> {
    let tail = &pts[pts.len().saturating_sub(NOISE_POINTS)..];
    if tail.len() < 3 {
        return None;
    }
    let n = tail.len() as f64;
    let xs: Vec<f64> = tail.iter().map(|p| p.0.ln()).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, tail.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(tail).map(|(x, p)| (x - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let ss = xs.iter().zip(tail).map(|(x, p)| (p.1 - my - slope * (x - mx)).powi(2)).sum();
    Some((ss, tail.len() - 2))
}

/// `NOISE_SIGMAS` times the pooled residual standard deviation of `runs`' late evaluations.
fn noise_of<'a>(runs: impl IntoIterator<Item = &'a [(f64, f64)]>) -> Option<f64> {
    let (ss, dof) = runs
        .into_iter()
        .filter_map(late_residuals)
        .fold((0.0, 0usize), |(s, d), (ss, dof)| (s + ss, d + dof));
    (dof > 0).then(|| NOISE_SIGMAS * (ss / dof as f64).sqrt())
}

/// Relative equality of two rates (the sweep compares them exactly; the curve's text round-trips them).
fn same_rate(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// One base model's runs: indices into the pruned and the control curves.
struct ModelRuns {
    family: String,
    n0: f64,
    pruned: Vec<usize>,
    controls: Vec<usize>,
}

/// Runs grouped by family and `n0`, sorted by family then `n0`.
fn models(pruned: &Curves, controls: &Curves) -> Vec<ModelRuns> {
    let mut out: Vec<ModelRuns> = Vec::new();
    let mut add = |family: String, n0: f64, run: usize, control: bool| {
        let i = match out.iter().position(|m| m.family == family && same_rate(m.n0, n0)) {
            Some(i) => i,
            None => {
                out.push(ModelRuns { family, n0, pruned: Vec::new(), controls: Vec::new() });
                out.len() - 1
            }
        };
        if control { &mut out[i].controls } else { &mut out[i].pruned }.push(run);
    };
    for (i, r) in pruned.runs.iter().enumerate() {
        add(family_of(r), r.n0, i, false);
    }
    for (i, r) in controls.runs.iter().enumerate() {
        add(family_of(r), r.n0, i, true);
    }
    out.sort_by(|a, b| a.family.cmp(&b.family).then(a.n0.total_cmp(&b.n0)));
    out
}

/// A model's name: its runs' `model` label, else its control's name without `-control`, else the part of
/// its run names before `-<method>`, else `n0 <n0>`.
fn model_name(m: &ModelRuns, pruned: &Curves, controls: &Curves) -> String {
    let runs = m.pruned.iter().map(|&i| &pruned.runs[i]).chain(m.controls.iter().map(|&i| &controls.runs[i]));
    let mut labels: Vec<&str> = runs.filter_map(|r| r.model.as_deref()).collect();
    labels.dedup();
    if let [one] = labels[..] {
        return one.to_string();
    }
    let control_suffix = format!("-{CONTROL_METHOD}");
    if let Some(name) = m.controls.iter().find_map(|&i| controls.runs[i].name.strip_suffix(&control_suffix)) {
        return name.to_string();
    }
    let mut stems: Vec<&str> = m
        .pruned
        .iter()
        .map(|&i| {
            let r = &pruned.runs[i];
            r.name.rfind(&format!("-{}", method_of(r))).map_or(r.name.as_str(), |at| &r.name[..at])
        })
        .collect();
    stems.dedup();
    match stems[..] {
        [one] if !one.is_empty() => one.to_string(),
        _ => format!("n0 {}", num(Some(m.n0), 3)),
    }
}

/// Runs the four checks. `pruned` are the runs the law is fitted to, `unpruned` the runs with `rho` 0 (of
/// which only those labelled [`CONTROL_METHOD`] count), `fits` the report's groups, `twins` what the sweep
/// recorded.
pub fn check(pruned: &Curves, unpruned: &Curves, fits: &[GroupFits], twins: &[Twin]) -> Regime {
    let controls = unpruned.select_runs(|r| r.method.as_deref() == Some(CONTROL_METHOD));
    let (pruned_pts, control_pts) = (points(pruned), points(&controls));
    let mut models_out = Vec::new();
    for m in models(pruned, &controls) {
        let name = model_name(&m, pruned, &controls);
        // 1. Control drift against the smallest damage.
        let control = m.controls.first().and_then(|&i| {
            let r = &controls.runs[i];
            let end = control_pts[i].last()?.1;
            Some(ControlRun { run: r.name.clone(), l0: r.l0, end, drift: (end - r.l0).abs() })
        });
        let smallest_damage = m
            .pruned
            .iter()
            .filter_map(|&i| {
                let r = &pruned.runs[i];
                let first = pruned_pts[i].first()?.1;
                Some(Damage { run: r.name.clone(), l0: r.l0, first, damage: first - r.l0 })
            })
            .min_by(|a, b| a.damage.total_cmp(&b.damage));
        let drift_limit = smallest_damage.as_ref().map(|d| DRIFT_FRACTION * d.damage);
        let drift_status = match (&control, drift_limit) {
            (Some(c), Some(limit)) if c.drift < limit => Status::Holds,
            (Some(_), Some(_)) => Status::Fails,
            _ => Status::CannotRun,
        };
        // 3. Runs ending below L0, against the noise.
        let (noise, noise_from) = match m
            .controls
            .first()
            .and_then(|&i| noise_of([control_pts[i].as_slice()]).map(|n| (n, &controls.runs[i].name)))
        {
            Some((n, run)) => (Some(n), format!("control {run}, last {NOISE_POINTS} evaluations")),
            None => match noise_of(m.pruned.iter().map(|&i| pruned_pts[i].as_slice())) {
                Some(n) => {
                    (Some(n), format!("no usable control: pruned runs' last {NOISE_POINTS} evaluations"))
                }
                None => (None, "not estimable (fewer than 3 evaluations per run)".into()),
            },
        };
        let below_l0: Vec<BelowL0> = m
            .pruned
            .iter()
            .filter_map(|&i| {
                let r = &pruned.runs[i];
                let end = pruned_pts[i].last()?.1;
                (end < r.l0).then(|| BelowL0 {
                    run: r.name.clone(),
                    l0: r.l0,
                    end,
                    by: r.l0 - end,
                    beyond_noise: noise.map(|n| r.l0 - end > n),
                })
            })
            .collect();
        let below_status = Status::all(below_l0.iter().map(|b| match b.beyond_noise {
            Some(true) => Status::Fails,
            Some(false) => Status::Holds,
            None => Status::CannotRun,
        }));
        // 4. Distinct target rates reach distinct models.
        let mut distinct_rates = BTreeMap::new();
        let mut same_model = Vec::new();
        let mut methods: Vec<String> = m.pruned.iter().map(|&i| method_of(&pruned.runs[i])).collect();
        methods.sort();
        methods.dedup();
        for method in methods {
            let runs: Vec<_> =
                m.pruned.iter().map(|&i| &pruned.runs[i]).filter(|r| method_of(r) == method).collect();
            let mut rhos: Vec<f64> = runs.iter().map(|r| r.rho).collect();
            rhos.sort_by(f64::total_cmp);
            rhos.dedup_by(|a, b| same_rate(*a, *b));
            distinct_rates.insert(method.clone(), rhos.len());
            for (k, a) in runs.iter().enumerate() {
                for b in &runs[k + 1..] {
                    let targets_differ = match (a.rho_target, b.rho_target) {
                        (Some(x), Some(y)) => !same_rate(x, y),
                        _ => true,
                    };
                    if targets_differ && same_rate(a.rho, b.rho) {
                        same_model.push(SameModel {
                            runs: [a.name.clone(), b.name.clone()],
                            method: method.clone(),
                            rho: a.rho,
                        });
                    }
                }
            }
        }
        models_out.push(ModelRegime {
            model: name,
            family: (!m.family.is_empty()).then(|| m.family.clone()),
            n0: m.n0,
            pruned_runs: m.pruned.len(),
            control,
            smallest_damage,
            drift_limit,
            drift_status,
            noise,
            noise_from,
            below_l0,
            below_status,
            distinct_rates,
            same_model,
        });
    }
    let beta: Vec<BetaFit> = fits
        .iter()
        .filter(|g| !is_pooled(&g.group))
        .map(|g| {
            let u = g.p2_unbounded.as_ref();
            BetaFit {
                group: g.group.clone(),
                beta: u.and_then(|u| u.params.as_ref()).and_then(|p| p.get("beta").copied()),
                error: match u {
                    None => Some("no unbounded p2 fit".into()),
                    Some(u) => u.error.clone(),
                },
            }
        })
        .collect();
    let checks = vec![
        drift_check(&models_out),
        beta_check(&beta),
        below_check(&models_out),
        distinct_check(&models_out, twins),
    ];
    let in_regime = checks.iter().all(|c| c.status == Status::Holds);
    let names = |status: Status| -> Vec<&str> {
        checks.iter().filter(|c| c.status == status).map(|c| c.name.as_str()).collect()
    };
    let verdict = if in_regime {
        "in regime: all four checks hold".to_string()
    } else {
        let mut parts = Vec::new();
        for (status, what) in [(Status::Fails, "fails"), (Status::CannotRun, "cannot run")] {
            if !names(status).is_empty() {
                parts.push(format!("{what}: {}", names(status).join(", ")));
            }
        }
        format!("not in regime — {}", parts.join("; "))
    };
    Regime { in_regime, verdict, checks, models: models_out, beta, twins: twins.to_vec() }
}

fn n(x: f64) -> String {
    num(Some(x), 4)
}

fn drift_check(models: &[ModelRegime]) -> Check {
    let requirement = format!(
        "|L_control(end) − L0| < {DRIFT_FRACTION} × the smallest pruning damage (L_pruned(first evaluation) − \
         L0) of the model"
    );
    let name = "control_drift".to_string();
    if models.iter().all(|m| m.control.is_none()) {
        return Check {
            name,
            requirement,
            status: Status::CannotRun,
            detail: format!(
                "no control runs (rho 0, method `{CONTROL_METHOD}`; `[prune] control = true` in a sweep \
                 recipe): the control check cannot run"
            ),
        };
    }
    let lines: Vec<String> = models
        .iter()
        .map(|m| match (&m.control, &m.smallest_damage, m.drift_limit) {
            (None, _, _) => format!("{}: no control", m.model),
            (Some(c), None, _) => {
                format!("{}: drift {} but no pruned run to compare with", m.model, n(c.drift))
            }
            (Some(c), Some(d), Some(limit)) => format!(
                "{}: drift {} {} {} = {DRIFT_FRACTION} × damage {} ({}){}",
                m.model,
                n(c.drift),
                if m.drift_status == Status::Holds { "<" } else { "≥" },
                n(limit),
                n(d.damage),
                d.run,
                if d.damage <= 0.0 { " (no damage: no drift is small enough)" } else { "" }
            ),
            (Some(_), Some(_), None) => unreachable!("a damage always gives a limit"),
        })
        .collect();
    Check {
        name,
        requirement,
        status: Status::all(models.iter().map(|m| m.drift_status)),
        detail: lines.join("; "),
    }
}

fn beta_check(beta: &[BetaFit]) -> Check {
    let requirement = "p2 fitted without bounds to each method has beta > 0".to_string();
    let name = "beta_positive".to_string();
    if beta.is_empty() {
        return Check { name, requirement, status: Status::CannotRun, detail: "no method group".into() };
    }
    let ok = |b: &BetaFit| b.beta.is_some_and(|v| v > 0.0);
    let lines: Vec<String> = beta
        .iter()
        .map(|b| match (b.beta, &b.error) {
            (Some(v), _) => format!("{}: beta {}", b.group, n(v)),
            (None, Some(e)) => format!("{}: unbounded fit failed ({})", b.group, e.replace(['\n', '|'], " ")),
            (None, None) => format!("{}: no beta", b.group),
        })
        .collect();
    let status = if beta.iter().all(ok) { Status::Holds } else { Status::Fails };
    Check { name, requirement, status, detail: lines.join("; ") }
}

fn below_check(models: &[ModelRegime]) -> Check {
    let requirement = format!(
        "no pruned run ends below its L0 by more than the evaluation noise ({NOISE_SIGMAS} × the residual \
         standard deviation of the control's last {NOISE_POINTS} evaluations about a line in ln d)"
    );
    let mut lines = Vec::new();
    for m in models {
        let noise = m.noise.map_or("unknown".into(), n);
        if m.below_l0.is_empty() {
            lines.push(format!("{}: no run ends below L0 (noise {noise})", m.model));
            continue;
        }
        let runs: Vec<String> = m
            .below_l0
            .iter()
            .map(|b| {
                let mark = match b.beyond_noise {
                    Some(true) => " > noise",
                    Some(false) => " ≤ noise",
                    None => "",
                };
                format!("{} by {}{mark}", b.run, n(b.by))
            })
            .collect();
        lines.push(format!("{}: noise {noise}; below L0: {}", m.model, runs.join(", ")));
    }
    Check {
        name: "no_run_below_l0".into(),
        requirement,
        status: Status::all(models.iter().map(|m| m.below_status)),
        detail: lines.join("; "),
    }
}

fn distinct_check(models: &[ModelRegime], twins: &[Twin]) -> Check {
    let requirement =
        "every pruning rate is a distinct model (depth above all: whole layers round rates together)"
            .to_string();
    let mut lines: Vec<String> = models
        .iter()
        .map(|m| {
            let counts: Vec<String> = m.distinct_rates.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let mut line = format!("{}: distinct rates {}", m.model, counts.join(", "));
            for s in &m.same_model {
                line.push_str(&format!(
                    "; {} and {} both reach rho {}",
                    s.runs[0],
                    s.runs[1],
                    num(Some(s.rho), 5)
                ));
            }
            line
        })
        .collect();
    for t in twins {
        lines.push(format!(
            "{} reached the same model as {} (rho {}) and was not post-trained",
            t.run,
            t.same_as,
            num(Some(t.rho), 5)
        ));
    }
    let fails = !twins.is_empty() || models.iter().any(|m| !m.same_model.is_empty());
    Check {
        name: "distinct_rates".into(),
        requirement,
        status: if fails { Status::Fails } else { Status::Holds },
        detail: lines.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fits::LawScore;
    use p2law_law::read_post_training_curves;

    const HEADER: &str = "run,n0,rho,l0,d,loss,method,rho_target";

    /// One run's rows: `(d, loss)` pairs.
    fn rows(run: &str, n0: f64, rho: f64, l0: f64, method: &str, target: f64, pts: &[(f64, f64)]) -> String {
        let target = if rho == 0.0 { String::new() } else { target.to_string() };
        pts.iter().map(|(d, l)| format!("{run},{n0},{rho},{l0},{d},{l},{method},{target}\n")).collect()
    }

    /// A pruned run that recovers from `first` towards `end`.
    fn recovering(first: f64, end: f64) -> Vec<(f64, f64)> {
        (0..8).map(|k| (1000.0 * 2f64.powi(k), end + (first - end) * 0.5f64.powi(k))).collect()
    }

    /// A control near `l0` with alternating jitter of `jitter`.
    fn control(l0: f64, jitter: f64) -> Vec<(f64, f64)> {
        (0..8).map(|k| (1000.0 * 2f64.powi(k), l0 + if k % 2 == 0 { jitter } else { -jitter })).collect()
    }

    /// Two models (n0 1e5, 4e5), depth at 0.25/0.35 and nm at 0.25, each with a control: all checks hold.
    fn good() -> String {
        let mut text = format!("{HEADER}\n");
        for (model, n0, l0) in [("s", 1e5, 4.0), ("m", 4e5, 3.5)] {
            text += &rows(&format!("{model}-control"), n0, 0.0, l0, "control", 0.0, &control(l0, 0.001));
            for (method, target, rho, damage) in
                [("depth", 0.25, 0.24, 0.5), ("depth", 0.35, 0.33, 0.8), ("nm", 0.25, 0.25, 0.2)]
            {
                let run = format!("{model}-{method}-r{target}");
                text += &rows(&run, n0, rho, l0, method, target, &recovering(l0 + damage, l0 + damage / 5.0));
            }
        }
        text
    }

    fn read(text: &str) -> (Curves, Curves) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, text).unwrap();
        let read = read_post_training_curves(&[&path], None).unwrap();
        (read.curves, read.unpruned_curves)
    }

    fn fit(group: &str, beta: Option<f64>) -> GroupFits {
        let score = LawScore {
            law: "p2".into(),
            params: beta.map(|b| [("beta".to_string(), b)].into_iter().collect()),
            fit: None,
            holdout: None,
            error: beta.is_none().then(|| "did not converge".to_string()),
            warnings: Vec::new(),
            condition: None,
            beats_baselines: None,
            values: Vec::new(),
            held: Vec::new(),
        };
        GroupFits {
            group: group.into(),
            n_runs: 0,
            n_points: 0,
            distinct_rho: 0,
            distinct_n0: 0,
            laws: Vec::new(),
            p2_unbounded: Some(score),
        }
    }

    fn good_fits() -> Vec<GroupFits> {
        vec![fit("depth", Some(0.4)), fit("nm", Some(0.3)), fit("pooled", Some(-1.0))]
    }

    fn status(r: &Regime, name: &str) -> Status {
        r.checks.iter().find(|c| c.name == name).unwrap().status
    }

    #[test]
    fn all_checks_hold_on_recovering_runs_with_steady_controls() {
        let (pruned, unpruned) = read(&good());
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert!(r.in_regime, "{r:#?}");
        assert_eq!(r.verdict, "in regime: all four checks hold");
        assert_eq!(r.models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(), ["s", "m"]);
        let s = &r.models[0];
        assert_eq!((s.pruned_runs, s.control.as_ref().unwrap().run.as_str()), (3, "s-control"));
        // The smallest damage is nm's, read at its first evaluation: 0.2.
        let d = s.smallest_damage.as_ref().unwrap();
        assert_eq!(d.run, "s-nm-r0.25");
        assert!((d.damage - 0.2).abs() < 1e-12 && (s.drift_limit.unwrap() - 0.02).abs() < 1e-12);
        assert!((s.control.as_ref().unwrap().drift - 0.001).abs() < 1e-12);
        // Alternating ±0.001 about a flat line: a residual sd a little above 0.001, the noise twice that.
        let noise = s.noise.unwrap();
        assert!(noise > 0.002 && noise < 0.003, "{noise}");
        assert!(s.noise_from.starts_with("control s-control"));
        assert_eq!(s.distinct_rates["depth"], 2);
        // The pooled group's beta does not count.
        assert_eq!(r.beta.len(), 2);
    }

    #[test]
    fn a_drifting_control_fails_the_drift_check_with_its_numbers() {
        // The control of `m` falls by 0.05, more than 10 % of m's smallest damage (0.2).
        let text =
            good().replace("m-control,400000,0,3.5,128000,3.499", "m-control,400000,0,3.5,128000,3.449");
        assert_ne!(text, good());
        let (pruned, unpruned) = read(&text);
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert!(!r.in_regime);
        assert_eq!(status(&r, "control_drift"), Status::Fails);
        let detail = &r.checks[0].detail;
        assert!(detail.contains("m: drift 0.05100 ≥ 0.02000"), "{detail}");
        assert!(r.verdict.contains("fails: control_drift"), "{}", r.verdict);
    }

    #[test]
    fn without_controls_the_drift_check_cannot_run() {
        let text: String =
            good().lines().filter(|l| !l.contains("-control")).map(|l| format!("{l}\n")).collect();
        let (pruned, unpruned) = read(&text);
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert_eq!(status(&r, "control_drift"), Status::CannotRun);
        assert!(r.checks[0].detail.contains("the control check cannot run"));
        assert!(r.verdict.contains("cannot run: control_drift"), "{}", r.verdict);
        // The noise then comes from the pruned runs.
        assert!(r.models[0].noise_from.starts_with("no usable control"));
        // An unpruned run without the control label (a pretraining curve) is not a control.
        let text = text + &rows("pre", 1e5, 0.0, 9.0, "pretrain", 0.0, &control(4.0, 0.0));
        let (pruned, unpruned) = read(&text);
        assert_eq!(unpruned.runs.len(), 1);
        assert_eq!(status(&check(&pruned, &unpruned, &good_fits(), &[]), "control_drift"), Status::CannotRun);
    }

    #[test]
    fn a_negative_or_failed_unbounded_beta_fails() {
        let (pruned, unpruned) = read(&good());
        let fits = vec![fit("depth", Some(-0.2)), fit("nm", Some(0.3))];
        let r = check(&pruned, &unpruned, &fits, &[]);
        assert_eq!(status(&r, "beta_positive"), Status::Fails);
        assert!(r.checks[1].detail.contains("depth: beta -0.2000"), "{}", r.checks[1].detail);
        let fits = vec![fit("depth", Some(0.4)), fit("nm", None)];
        let r = check(&pruned, &unpruned, &fits, &[]);
        assert_eq!(status(&r, "beta_positive"), Status::Fails);
        assert!(r.checks[1].detail.contains("nm: unbounded fit failed (did not converge)"));
    }

    #[test]
    fn a_run_ending_below_l0_beyond_the_noise_fails() {
        // s's nm run recovers to 0.1 below its L0 (4.0): far beyond a noise of about 0.0025.
        let mut text = format!("{HEADER}\n");
        for line in good().lines().skip(1).filter(|l| !l.starts_with("s-nm")) {
            text += &format!("{line}\n");
        }
        text += &rows("s-nm-r0.25", 1e5, 0.25, 4.0, "nm", 0.25, &recovering(4.2, 3.9));
        let (pruned, unpruned) = read(&text);
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert_eq!(status(&r, "no_run_below_l0"), Status::Fails);
        let b = &r.models[0].below_l0[0];
        assert_eq!(b.run, "s-nm-r0.25");
        assert!((b.by - 0.0977).abs() < 1e-4 && b.beyond_noise == Some(true), "{b:?}");
        assert!(r.checks[2].detail.contains("s-nm-r0.25 by 0.09766 > noise"), "{}", r.checks[2].detail);
        // Below by less than the noise is no failure.
        let text = text.replace(&rows("s-nm-r0.25", 1e5, 0.25, 4.0, "nm", 0.25, &recovering(4.2, 3.9)), "")
            + &rows("s-nm-r0.25", 1e5, 0.25, 4.0, "nm", 0.25, &recovering(4.2, 3.998));
        let (pruned, unpruned) = read(&text);
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert_eq!(r.models[0].below_l0[0].beyond_noise, Some(false));
        assert_eq!(status(&r, "no_run_below_l0"), Status::Holds);
    }

    #[test]
    fn two_depth_rates_reaching_one_model_fail_and_so_do_recorded_twins() {
        // m's depth at 0.35 reaches the rho of its 0.25.
        let text = good().replace("m-depth-r0.35,400000,0.33,", "m-depth-r0.35,400000,0.24,");
        let (pruned, unpruned) = read(&text);
        let r = check(&pruned, &unpruned, &good_fits(), &[]);
        assert_eq!(status(&r, "distinct_rates"), Status::Fails);
        assert_eq!(
            r.models[1].same_model[0].runs,
            ["m-depth-r0.25".to_string(), "m-depth-r0.35".to_string()]
        );
        assert!(r.checks[3].detail.contains("m-depth-r0.25 and m-depth-r0.35 both reach rho 0.24000"));
        // A twin the sweep skipped fails the check too, though no curve shows it.
        let (pruned, unpruned) = read(&good());
        let twin = Twin {
            run: "s-depth-r0.45".into(),
            same_as: "s-depth-r0.35".into(),
            method: "depth".into(),
            rho: 0.33,
        };
        let r = check(&pruned, &unpruned, &good_fits(), std::slice::from_ref(&twin));
        assert_eq!(status(&r, "distinct_rates"), Status::Fails);
        assert!(r.checks[3].detail.contains("s-depth-r0.45 reached the same model as s-depth-r0.35"));
        assert_eq!(r.twins, [twin]);
    }

    #[test]
    fn twins_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let twins = vec![Twin { run: "a".into(), same_as: "b".into(), method: "depth".into(), rho: 0.25 }];
        write_twins(dir.path(), &twins).unwrap();
        assert_eq!(read_twins(&dir.path().join(TWINS_FILE)).unwrap(), twins);
        std::fs::write(dir.path().join(TWINS_FILE), "{}").unwrap();
        assert!(read_twins(&dir.path().join(TWINS_FILE)).unwrap_err().contains("invalid"));
    }
}
