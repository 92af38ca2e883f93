//! The report's figures, drawn with this crate's plots and named in [`FigureRef`]s (file names relative to the
//! report directory):
//! - `curves_<group>.png`: each method's loss curves with its fitted `p2` law over them;
//! - `predicted_vs_observed.png`: held-out points of the three protocols, pooled `p2` fits;
//! - `residuals.png`: observed − predicted loss of the pooled `p2` fit against `d`, one colour per method
//!   (per family and method when there are several families);
//! - `loss_vs_rho.png`, `loss_vs_n0.png`: each run's last evaluated loss against its rate / size.

use std::collections::BTreeMap;
use std::path::Path;

use p2law_law::{Law, Point};
use serde::Serialize;

use super::fits::{is_pooled, label_fn, Group};
use super::{BuildError, Report};
use crate::{plot_fit, plot_predicted_vs_observed, plot_residuals, plot_trend, Series};

/// A figure written into the report directory.
#[derive(Debug, Clone, Serialize)]
pub struct FigureRef {
    pub kind: String,
    /// File name inside the report directory.
    pub file: String,
    pub caption: String,
}

/// Draws every figure `report` can support into `dir`.
pub fn draw_all(
    report: &Report,
    groups: &[Group],
    p2: &Law,
    dir: &Path,
) -> Result<Vec<FigureRef>, BuildError> {
    let mut out = Vec::new();
    let mut add =
        |kind: &str, file: String, caption: String| out.push(FigureRef { kind: kind.into(), file, caption });
    let several = groups.len() > 1;
    for (group, fits) in groups.iter().zip(&report.fits) {
        if several && is_pooled(&group.name) {
            continue;
        }
        let Some(score) = fits.laws.iter().find(|s| s.law == p2.name && s.error.is_none()) else { continue };
        let file = format!("curves_{}.png", slug(&group.name));
        let predict = |p: &Point| p2.predict(&score.values, &p.vars);
        let title = format!("{}: loss curves and the fitted P² law", group.name);
        plot_fit(&group.curves, &[], &predict, &dir.join(&file), &title)?;
        add("curves", file, format!("Loss curves of method {} with the p2 law fitted to them", group.name));
    }

    let pooled = groups.last().expect("at least one group");
    let held: Vec<Series> = report
        .protocols
        .iter()
        .filter(|r| r.group == pooled.name)
        .filter_map(|r| {
            let s = r.laws.iter().find(|s| s.law == p2.name && s.error.is_none())?;
            (!s.held.is_empty()).then(|| Series { name: r.protocol.clone(), points: s.held.clone() })
        })
        .collect();
    if !held.is_empty() {
        let file = "predicted_vs_observed.png".to_string();
        plot_predicted_vs_observed(
            &held,
            &dir.join(&file),
            "held-out points: p2 prediction against observed",
        )?;
        add(
            "predicted_vs_observed",
            file,
            format!("Held-out points of each protocol ({} group), p2 fitted without them", pooled.name),
        );
    }

    let pooled_fit =
        report.fits.last().and_then(|f| f.laws.iter().find(|s| s.law == p2.name && s.error.is_none()));
    let label = label_fn(&report.inputs.curves);
    if let Some(score) = pooled_fit {
        let mut by_method: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for p in &pooled.curves.points {
            let resid = p.loss() - p2.predict(&score.values, &p.vars);
            by_method.entry(label(&pooled.curves.runs[p.run])).or_default().push((p.d(), resid));
        }
        let series: Vec<Series> =
            by_method.into_iter().map(|(name, points)| Series { name, points }).collect();
        let file = "residuals.png".to_string();
        plot_residuals(&series, &dir.join(&file), "residuals of the pooled p2 fit")?;
        add("residuals", file, "Observed − predicted loss of the pooled p2 fit against tokens".into());
    }

    // Last evaluated loss of every run, grouped for the two trend plots.
    let curves = &report.inputs.curves;
    let mut vs_rho: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut vs_n0: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (run, idx) in curves.runs.iter().zip(curves.points_by_run()) {
        let Some(&last) = idx.last() else { continue };
        let loss = curves.points[last].loss();
        let m = label(run);
        vs_rho.entry(format!("{m} n0={:e}", run.n0)).or_default().push((run.rho, loss));
        // Models of one nominal rate together: whole layers make the achieved rate differ by model.
        vs_n0
            .entry(format!("{m} rho={}", run.rho_target.unwrap_or(run.rho)))
            .or_default()
            .push((run.n0, loss));
    }
    let series = |map: BTreeMap<String, Vec<(f64, f64)>>| -> Vec<Series> {
        map.into_iter().map(|(name, points)| Series { name, points }).collect()
    };
    let file = "loss_vs_rho.png".to_string();
    plot_trend(
        &series(vs_rho),
        &dir.join(&file),
        "final loss against pruning rate",
        "pruning rate rho",
        false,
    )?;
    add("loss_vs_rho", file, "Each run's last evaluated loss against its pruning rate".into());
    let file = "loss_vs_n0.png".to_string();
    plot_trend(&series(vs_n0), &dir.join(&file), "final loss against model size", "n0 (log scale)", true)?;
    add("loss_vs_n0", file, "Each run's last evaluated loss against its size before pruning".into());
    Ok(out)
}

/// A file-name-safe form of a group name.
fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_file_safe() {
        assert_eq!(super::slug("n:m 2/4"), "n_m_2_4");
    }
}
