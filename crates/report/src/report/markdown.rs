//! `report.md`: the [`Report`] for people — inputs, fit tables, protocols, plans, trends and figure links.

use std::fmt::Write;

use p2law_law::Metrics;

use super::fits::{LawScore, PROTOCOLS};
use super::trends::Verdict;
use super::Report;
use crate::text::num;

/// The markdown text of `report`.
pub fn render(r: &Report) -> String {
    let mut md = String::from("# P² Law report\n\n");
    summary(&mut md, r);
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

/// The findings first: how well `p2` fits each group and whether it is the best law there, how well it
/// predicts held-out data, and which of the paper's trends these data bear out.
fn summary(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "## Summary
"
    );
    let _ = writeln!(
        md,
        "| group | runs | p2 r2 | p2 asd | best law by huber | p2 held-out mape: {} |",
        PROTOCOLS.map(|(spec, _)| format!("`{spec}`")).join(" | ")
    );
    let _ = writeln!(md, "|---|---|---|---|---|{}", "---|".repeat(PROTOCOLS.len()));
    for g in &r.fits {
        let p2 = g.laws.iter().find(|s| s.law == "p2").and_then(|s| s.fit.as_ref());
        let best = best_by(&g.laws, |m| Some(m.huber)).map_or("none".to_string(), |s| s.law.clone());
        let held: Vec<String> = PROTOCOLS
            .iter()
            .map(|(spec, _)| {
                let p = r.protocols.iter().find(|p| p.group == g.group && p.protocol == *spec);
                match p.and_then(|p| p.laws.iter().find(|s| s.law == "p2")) {
                    Some(s) => s.holdout.as_ref().map_or("failed".into(), |m| num(Some(m.mape), 3)),
                    None => "not run".into(),
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            g.group,
            g.n_runs,
            num(p2.and_then(|m| m.r2), 4),
            num(p2.and_then(|m| m.asd), 3),
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

fn inputs(md: &mut String, r: &Report) {
    let i = &r.inputs;
    let _ = writeln!(md, "## Inputs\n");
    let _ = writeln!(md, "- source: `{}` ({} curve file(s))", i.source.display(), i.files.len());
    let _ = writeln!(md, "- {} pruned runs, {} points", i.n_runs, i.n_points);
    let skipped = &i.skipped_unpruned;
    if skipped.is_empty() {
        let _ = writeln!(md, "- no unpruned runs (rho = 0) to skip");
    } else {
        let _ = writeln!(md, "- skipped {} unpruned run(s) (rho = 0): {}", skipped.len(), skipped.join(", "));
    }
    let _ = writeln!(md, "- laws: {}; {} starts per fit, seed {}\n", r.laws.join(", "), r.starts, r.seed);
}

const METRIC_HEADER: &str = "| r2 | huber | asd | asd_log | rmse | mape |";

fn metric_cells(m: &Metrics) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} |",
        num(m.r2, 5),
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
        let _ = writeln!(md, "| law {METRIC_HEADER}\n|---|---|---|---|---|---|---|");
        for s in &g.laws {
            match &s.fit {
                Some(m) => {
                    let _ = writeln!(md, "| {} {}", s.law, metric_cells(m));
                }
                None => {
                    let _ = writeln!(md, "| {} | fit failed: {} | | | | | |", s.law, one_line(s));
                }
            }
        }
        if let Some(p) = g.laws.iter().find(|s| s.law == "p2").and_then(|s| s.params.as_ref()) {
            let params: Vec<String> = p.iter().map(|(k, v)| format!("{k} = {}", num(Some(*v), 4))).collect();
            let _ = writeln!(md, "\np2 parameters: {}", params.join(", "));
            let mut unidentified = Vec::new();
            if g.distinct_rho < 2 {
                unidentified.push("`gamma` (one pruning rate: it only rescales `nc`, `dc`, `e`)");
            }
            if g.distinct_n0 < 2 {
                unidentified.push("`delta` and `alpha` (one model size)");
            }
            if !unidentified.is_empty() {
                let _ = writeln!(
                    md,
                    "\nNot identifiable from these runs, so their values (and those they trade against) are \
                     arbitrary; the fitted curves are not: {}.",
                    unidentified.join("; ")
                );
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
                p.laws.iter().map(|s| match &s.holdout {
                    Some(m) => format!(
                        "| `{}` | {} | {} | {} | {} |",
                        p.protocol,
                        s.law,
                        num(Some(m.mape), 3),
                        num(m.r2, 4),
                        num(Some(m.rmse), 3)
                    ),
                    None => format!("| `{}` | {} | failed: {} | | |", p.protocol, s.law, one_line(s)),
                })
            })
            .collect();
        if !rows.is_empty() {
            if runs.iter().any(|p| p.skipped.is_some()) {
                md.push('\n');
            }
            let _ = writeln!(md, "| protocol | law | held-out mape | held-out r2 | held-out rmse |");
            let _ = writeln!(md, "|---|---|---|---|---|\n{}", rows.join("\n"));
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
