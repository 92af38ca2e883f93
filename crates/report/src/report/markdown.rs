//! `report.md`: the [`Report`] for people — inputs, fit tables, protocols, plans, trends and figure links.

use std::fmt::Write;

use p2law_law::Metrics;

use super::fits::{LawScore, PROTOCOLS};
use super::regime::{Status, CONTROL_METHOD, DRIFT_FRACTION, NOISE_POINTS, NOISE_SIGMAS};
use super::trends::Verdict;
use super::Report;
use crate::text::num;

/// The markdown text of `report`.
pub fn render(r: &Report) -> String {
    let mut md = String::from("# P² Law report\n\n");
    summary(&mut md, r);
    regime(&mut md, r);
    inputs(&mut md, r);
    fits(&mut md, r);
    protocols(&mut md, r);
    plans(&mut md, r);
    trends(&mut md, r);
    figures(&mut md, r);
    md
}

/// The law with the lowest value of `key` among those scored, if any.
fn best_by(laws: &[LawScore], key: impl Fn(&Metrics) -> Option<f64>) -> Option<&LawScore> {
    laws.iter()
        .filter_map(|s| Some((key(s.fit.as_ref().or(s.holdout.as_ref())?)?, s)))
        .filter(|(v, _)| v.is_finite())
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, s)| s)
}

/// What the report says of `p2` on one group, from its fit's warnings and its held-out tests against the
/// baselines: a fit is called a description of the data only when it means what the law says (the loss
/// falls with `d`, levels off, stays above L0) and beats every baseline on every protocol that ran.
pub fn p2_verdict(r: &Report, group: &str) -> String {
    let Some(g) = r.fits.iter().find(|g| g.group == group) else { return "not fitted".into() };
    let Some(p2) = g.laws.iter().find(|s| s.law == "p2") else { return "not fitted".into() };
    if p2.fit.is_none() {
        return format!("p2 fit failed: {}", one_line(p2));
    }
    let mut unphysical: Vec<String> =
        p2.warnings.iter().filter(|w| w.kind.is_unphysical()).map(|w| w.kind.name().to_string()).collect();
    for w in p2.warnings.iter().filter(|w| w.kind == p2law_law::WarningKind::AtBound) {
        if w.message.starts_with("beta ") || w.message.starts_with("dc ") {
            unphysical.push(format!(
                "{} on its bound (no recovery with d)",
                &w.message[..w.message.find(' ').unwrap_or(0)]
            ));
        }
    }
    let tests: Vec<(&str, Option<bool>)> = r
        .protocols
        .iter()
        .filter(|p| p.group == group && p.skipped.is_none())
        .map(|p| (p.protocol.as_str(), p.laws.iter().find(|s| s.law == "p2").and_then(|s| s.beats_baselines)))
        .collect();
    let lost: Vec<String> =
        tests.iter().filter(|(_, b)| *b != Some(true)).map(|(spec, _)| format!("`{spec}`")).collect();
    let mut verdict = if !unphysical.is_empty() {
        format!("**not described by the law** ({})", unphysical.join(", "))
    } else if !lost.is_empty() {
        format!("fits, but a baseline predicts {} as well or better", lost.join(", "))
    } else if tests.is_empty() {
        "fits; no held-out test could run".into()
    } else {
        "described: beats every baseline on held-out data".into()
    };
    let trends: Vec<&str> = p2
        .warnings
        .iter()
        .filter_map(|w| match w.kind {
            p2law_law::WarningKind::RhoOrder => Some("rate order reversed"),
            p2law_law::WarningKind::N0Order => Some("size order reversed"),
            _ => None,
        })
        .collect();
    if !trends.is_empty() {
        verdict.push_str(&format!("; {}", trends.join(", ")));
    }
    verdict
}

/// The findings first: whether `p2` describes each group (its checks and its held-out tests against the
/// baselines), how well it fits the curves' shapes, which law is best, and which of the paper's trends
/// these data bear out.
fn summary(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "Held-out cells: p2's mape / the best baseline's mape (✓ when p2's held-out rmse beats every \
         baseline's). r2 (within): r2 of the curves' shapes, each run's mean removed — pooled r2 mostly \
         measures the gaps between runs.\n"
    );
    let _ = writeln!(
        md,
        "| group | runs | p2 r2 | p2 r2 (within) | p2 verdict | best law by huber | {} |",
        PROTOCOLS.map(|(spec, _)| format!("`{spec}`")).join(" | ")
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|{}", "---|".repeat(PROTOCOLS.len()));
    for g in &r.fits {
        let p2 = g.laws.iter().find(|s| s.law == "p2").and_then(|s| s.fit.as_ref());
        let best = best_by(&g.laws, |m| Some(m.huber)).map_or("none".to_string(), |s| s.law.clone());
        let held: Vec<String> = PROTOCOLS
            .iter()
            .map(|(spec, _)| {
                let p = r.protocols.iter().find(|p| p.group == g.group && p.protocol == *spec);
                let Some(p) = p.filter(|p| p.skipped.is_none()) else { return "not run".into() };
                let base = p.baselines.values().map(|b| b.mape).fold(f64::INFINITY, f64::min);
                match p.laws.iter().find(|s| s.law == "p2") {
                    Some(s) => s.holdout.as_ref().map_or("failed".into(), |m| {
                        let mark = if s.beats_baselines == Some(true) { "✓" } else { "✗" };
                        format!(
                            "{} / {} {mark}",
                            num(Some(m.mape), 3),
                            num(base.is_finite().then_some(base), 3)
                        )
                    }),
                    None => "not run".into(),
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            g.group,
            g.n_runs,
            num(p2.and_then(|m| m.r2), 4),
            num(p2.and_then(|m| m.r2_within), 4),
            p2_verdict(r, &g.group),
            best,
            held.join(" | ")
        );
    }
    md.push('\n');
    // The law's plateau sits above L0 (E ≥ 0 in the paper's fits): post-training recovers what pruning
    // cost. A run that ends below its L0 is still learning what pretraining did not teach the base.
    let curves = &r.inputs.curves;
    let below = curves
        .runs
        .iter()
        .zip(curves.points_by_run())
        .filter(|(run, idx)| idx.last().is_some_and(|&i| curves.points[i].loss() < run.l0))
        .count();
    if below > 0 {
        let _ = writeln!(
            md,
            "- {below} of {} runs end below their L0 (the unpruned model's loss): their base models were \
             still learning, so post-training there continues pretraining as much as it recovers from \
             pruning — outside the regime of the paper, whose bases were fully trained.",
            curves.runs.len()
        );
    }
    for t in &r.trends {
        let verdict = match t.verdict {
            Verdict::Holds => "agrees with the paper",
            Verdict::Partly => "agrees only in part with the paper",
            Verdict::DoesNotHold => "disagrees with the paper",
            Verdict::NotTestable => "cannot be tested on these runs",
        };
        let _ = writeln!(
            md,
            "- *{}*: {} here ({} of {} comparisons) — this {verdict}.",
            t.claim,
            t.verdict.text(),
            t.agreeing_pairs,
            t.pairs
        );
    }
    md.push('\n');
}

/// The regime checks (issue 16): the verdict, each check with its numbers, and a row per base model.
fn regime(md: &mut String, r: &Report) {
    let g = &r.regime;
    let _ = writeln!(md, "## Regime\n");
    let _ = writeln!(
        md,
        "Whether these runs are in the paper's regime — well-trained bases recovering from pruning — by four \
         checks; \"in regime\" only when all four hold. The control is each base post-trained unpruned exactly \
         like its pruned models (rho 0, method `{CONTROL_METHOD}`). Damage is read at each pruned run's first \
         evaluation. Evaluation noise: {NOISE_SIGMAS} × the residual standard deviation of the control's last \
         {NOISE_POINTS} evaluations about a straight line in ln d (the held-out tokens are the same at every \
         evaluation, so this is the jitter between two evaluations of a model post-training no longer \
         changes); without a control, the pruned runs' last evaluations pooled.\n"
    );
    match g.verdict.strip_prefix("not in regime") {
        Some(why) if !g.in_regime => {
            let _ = writeln!(md, "**Not in regime**{why}.\n");
        }
        _ => {
            let _ = writeln!(md, "**In regime**: all four checks hold.\n");
        }
    }
    let _ = writeln!(md, "| check | requirement | result | measured |\n|---|---|---|---|");
    for c in &g.checks {
        let mark = match c.status {
            Status::Holds => "✓ holds",
            Status::Fails => "✗ **fails**",
            Status::CannotRun => "**cannot run**",
        };
        let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(md, "| {} | {} | {mark} | {} |", c.name, cell(&c.requirement), cell(&c.detail));
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "| model | n0 | pruned runs | control: L0 → end | drift | smallest damage (run) | drift limit ({DRIFT_FRACTION} ×) | noise | runs below L0 | distinct rates |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for m in &g.models {
        let control = m
            .control
            .as_ref()
            .map_or("none".into(), |c| format!("{} → {}", num(Some(c.l0), 5), num(Some(c.end), 5)));
        let damage = m
            .smallest_damage
            .as_ref()
            .map_or("-".into(), |d| format!("{} ({})", num(Some(d.damage), 4), d.run));
        let below: Vec<String> = m
            .below_l0
            .iter()
            .map(|b| {
                let beyond = if b.beyond_noise == Some(true) { " **> noise**" } else { "" };
                format!("{} by {}{beyond}", b.run, num(Some(b.by), 3))
            })
            .collect();
        let rates: Vec<String> = m.distinct_rates.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {control} | {} | {damage} | {} | {} | {} | {} |",
            m.model,
            num(Some(m.n0), 3),
            m.pruned_runs,
            num(m.control.as_ref().map(|c| c.drift), 3),
            num(m.drift_limit, 3),
            num(m.noise, 3),
            if below.is_empty() { "none".into() } else { below.join(", ") },
            rates.join(", ")
        );
    }
    md.push('\n');
    let betas: Vec<String> = g
        .beta
        .iter()
        .map(|b| format!("{} {}", b.group, b.beta.map_or("failed".into(), |v| num(Some(v), 4))))
        .collect();
    let _ = writeln!(md, "Unbounded p2 beta per method: {}.\n", betas.join(", "));
    if !g.twins.is_empty() {
        let _ = writeln!(md, "Rates the sweep did not post-train (same model as a lower rate):\n");
        for t in &g.twins {
            let _ = writeln!(md, "- {} = {} (rho {})", t.run, t.same_as, num(Some(t.rho), 5));
        }
        md.push('\n');
    }
}

fn inputs(md: &mut String, r: &Report) {
    let i = &r.inputs;
    let _ = writeln!(md, "## Inputs\n");
    let _ = writeln!(
        md,
        "- source: `{}` ({} curve file(s)); the exact files read are shipped in `{}/` beside this report, so \
         `p2law report {}` reproduces its fits",
        i.source.display(),
        i.files.len(),
        super::inputs::SHIPPED_DIR,
        super::inputs::SHIPPED_DIR
    );
    if let Some(t) = &i.twins_file {
        let _ = writeln!(md, "- the sweep's record of rates that reached the same model: `{}`", t.display());
    }
    let _ = writeln!(md, "- {} pruned runs, {} points", i.n_runs, i.n_points);
    let skipped = &i.skipped_unpruned;
    if skipped.is_empty() {
        let _ = writeln!(md, "- no unpruned runs (rho = 0) to skip");
    } else {
        let _ = writeln!(md, "- skipped {} unpruned run(s) (rho = 0): {}", skipped.len(), skipped.join(", "));
    }
    let _ = writeln!(md, "- laws: {}; {} starts per fit, seed {}\n", r.laws.join(", "), r.starts, r.seed);
}

const METRIC_HEADER: &str = "| r2 | r2 (within) | huber | asd | asd_log | rmse | mape |";

fn metric_cells(m: &Metrics) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        num(m.r2, 5),
        num(m.r2_within, 4),
        num(Some(m.huber), 3),
        num(m.asd, 3),
        num(m.asd_log, 3),
        num(Some(m.rmse), 4),
        num(Some(m.mape), 3)
    )
}

fn fits(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Fits on all points\n");
    for g in &r.fits {
        let _ = writeln!(md, "### {} ({} runs, {} points)\n", g.group, g.n_runs, g.n_points);
        let _ = writeln!(md, "| law {METRIC_HEADER}\n|---|---|---|---|---|---|---|---|");
        for s in &g.laws {
            match &s.fit {
                Some(m) => {
                    let _ = writeln!(md, "| {} {}", s.law, metric_cells(m));
                }
                None => {
                    let _ = writeln!(md, "| {} | fit failed: {} | | | | | | |", s.law, one_line(s));
                }
            }
        }
        if let Some(p2) = g.laws.iter().find(|s| s.law == "p2") {
            if let Some(p) = &p2.params {
                let params: Vec<String> =
                    p.iter().map(|(k, v)| format!("{k} = {}", num(Some(*v), 4))).collect();
                let cond = p2.condition.map(|c| format!(" (Jacobian condition number {})", num(Some(c), 3)));
                let _ = writeln!(md, "\np2 parameters: {}{}", params.join(", "), cond.unwrap_or_default());
            }
            for w in &p2.warnings {
                let _ = writeln!(md, "\n- p2 warning, {}: {}", w.kind.name(), w.message.replace('|', "/"));
            }
        }
        if let Some(u) = &g.p2_unbounded {
            match &u.params {
                Some(p) => {
                    let get = |k: &str| p.get(k).copied();
                    let (beta, dc) = (get("beta"), get("dc"));
                    let falls = matches!((beta, dc), (Some(b), Some(c)) if b > 0.0 && c > 0.0);
                    let _ = writeln!(
                        md,
                        "\nWithout bounds, p2 fits beta = {} and dc = {} (r2 {}): {}",
                        num(beta, 4),
                        num(dc, 4),
                        num(u.fit.as_ref().and_then(|m| m.r2), 4),
                        if falls {
                            "the data slope down and level off by themselves."
                        } else {
                            "left free, the law does not fall with d and level off on these data."
                        }
                    );
                }
                None => {
                    let _ = writeln!(md, "\nWithout bounds, the p2 fit failed: {}", one_line(u));
                }
            }
        }
        md.push('\n');
    }
}

fn protocols(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Generalization protocols\n");
    for (spec, what) in PROTOCOLS {
        let _ = writeln!(md, "- `{spec}`: {what}");
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "Baselines (what a law must beat): `last-value` carries each run's last fitted loss forward (a \
         held-out run's own first point when it has none); `log-linear` extends a straight line in ln d \
         through each run's fitted points; `nearest-run` shifts the nearest fitted run's curve (by size and \
         rate) to the held-out run's first point.\n"
    );
    for g in &r.fits {
        let _ = writeln!(md, "### {}\n", g.group);
        let runs: Vec<_> = r.protocols.iter().filter(|p| p.group == g.group).collect();
        for p in runs.iter().filter(|p| p.skipped.is_some()) {
            let _ = writeln!(md, "- `{}` not run: {}", p.protocol, p.skipped.as_deref().unwrap_or_default());
        }
        let rows: Vec<String> = runs
            .iter()
            .filter(|p| p.skipped.is_none())
            .flat_map(|p| {
                let laws = p.laws.iter().map(|s| match &s.holdout {
                    Some(m) => format!(
                        "| `{}` | {} | {} | {} | {} | {} |",
                        p.protocol,
                        s.law,
                        num(Some(m.mape), 3),
                        num(m.r2, 4),
                        num(Some(m.rmse), 3),
                        match s.beats_baselines {
                            Some(true) => "yes",
                            Some(false) => "**no**",
                            None => "",
                        }
                    ),
                    None => format!("| `{}` | {} | failed: {} | | | |", p.protocol, s.law, one_line(s)),
                });
                let baselines = p.baselines.iter().map(|(name, b)| {
                    format!(
                        "| `{}` | *baseline: {name}* | {} | | {} | |",
                        p.protocol,
                        num(Some(b.mape), 3),
                        num(Some(b.rmse), 3)
                    )
                });
                laws.chain(baselines).collect::<Vec<_>>()
            })
            .collect();
        if !rows.is_empty() {
            if runs.iter().any(|p| p.skipped.is_some()) {
                md.push('\n');
            }
            let _ = writeln!(
                md,
                "| protocol | law | held-out mape | held-out r2 | held-out rmse | beats every baseline |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|\n{}", rows.join("\n"));
        }
        md.push('\n');
    }
}

fn plans(md: &mut String, r: &Report) {
    let s = &r.plan_settings;
    let _ = writeln!(md, "## Token-budget plans\n");
    if r.plans.is_empty() {
        let _ = writeln!(md, "No plans: the p2 law could not be fitted to the {} group.\n", r.plan_group);
        return;
    }
    let _ = writeln!(
        md,
        "From the p2 fit of the {} group. `d (gain)`: tokens after which the next {} tokens lower the loss by \
         less than {}; `d (plateau)`: tokens after which the loss is within {} of its plateau.\n",
        r.plan_group,
        num(Some(s.per), 3),
        s.min_gain,
        s.within
    );
    let _ = writeln!(
        md,
        "| run | n0 | rho | l0 | observed d | observed loss | plateau loss | d (gain) | d (plateau) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for p in &r.plans {
        let tail = match &p.error {
            Some(e) => format!("no plan: {} | | |", e.replace('|', "/")),
            None => {
                format!("{} | {} | {} |", num(p.plateau_loss, 5), num(p.d_min_gain, 3), num(p.d_within, 3))
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {tail}",
            p.run,
            num(Some(p.n0), 3),
            p.rho,
            num(Some(p.l0), 4),
            num(Some(p.observed_d), 3),
            num(Some(p.observed_loss), 4)
        );
    }
    md.push('\n');
}

fn trends(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Trends the paper claims\n");
    for (k, t) in r.trends.iter().enumerate() {
        let _ = writeln!(
            md,
            "{}. **{}: {}** ({} of {} comparisons agree). Measure: {}.",
            k + 1,
            t.claim,
            t.verdict.text(),
            t.agreeing_pairs,
            t.pairs,
            t.measure
        );
        for c in &t.comparisons {
            let values: Vec<String> = c
                .values
                .iter()
                .map(|(x, v)| format!("{} → {}", num(Some(*x), 3), num(Some(*v), 4)))
                .collect();
            let at = c.at_d.map(|d| format!(" at d = {}", num(Some(d), 3))).unwrap_or_default();
            let _ = writeln!(
                md,
                "   - {}{at}: {} ({}/{})",
                c.setting,
                values.join(", "),
                c.agreeing_pairs,
                c.pairs
            );
        }
    }
    md.push('\n');
}

fn figures(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Figures\n");
    for f in &r.figures {
        let _ = writeln!(
            md,
            "- [{}]({}) ([SVG]({})): {}\n\n  ![{}]({})\n",
            f.file, f.file, f.svg, f.caption, f.kind, f.file
        );
    }
}

fn one_line(s: &LawScore) -> String {
    s.error.as_deref().unwrap_or("unknown error").replace(['|', '\n'], " ")
}
