//! The report's figures, drawn with this crate's plots and named in [`FigureRef`]s (file names relative to the
//! report directory). Each is written twice, as `<name>.png` and `<name>.svg` (for papers and slides):
//! - `curves_<group>`: each method's loss curves with its fitted `p2` law over them, a panel per model size;
//! - `predicted_vs_observed`: held-out points of the three protocols, pooled `p2` fits;
//! - `residuals`: observed − predicted loss of the pooled `p2` fit against `d`, one series per method
//!   (per family and method when there are several families);
//! - `loss_vs_rho`, `loss_vs_n0`: each run's last evaluated loss against its rate / size.

use std::collections::BTreeMap;
use std::path::Path;

use p2law_law::{Law, Point};
use serde::Serialize;

use super::fits::{is_pooled, label_fn, Group};
use super::{BuildError, Report};
use crate::{plot_fit, plot_predicted_vs_observed, plot_residuals, plot_trend, style, ReportError, Series};

/// A figure written into the report directory.
#[derive(Debug, Clone, Serialize)]
pub struct FigureRef {
    pub kind: String,
    /// File name of the PNG inside the report directory.
    pub file: String,
    /// File name of the same figure as SVG, beside the PNG.
    pub svg: String,
    pub caption: String,
}

/// Draws one figure as `<stem>.png` and `<stem>.svg` in `dir`; returns the two file names.
fn png_and_svg(
    dir: &Path,
    stem: &str,
    draw: impl Fn(&Path) -> Result<(), ReportError>,
) -> Result<(String, String), ReportError> {
    let (png, svg) = (format!("{stem}.png"), format!("{stem}.svg"));
    draw(&dir.join(&png))?;
    draw(&dir.join(&svg))?;
    Ok((png, svg))
}

/// Draws every figure `report` can support into `dir`.
pub fn draw_all(
    report: &Report,
    groups: &[Group],
    p2: &Law,
    dir: &Path,
) -> Result<Vec<FigureRef>, BuildError> {
    let mut out = Vec::new();
    let mut add = |kind: &str, (file, svg): (String, String), caption: String| {
        out.push(FigureRef { kind: kind.into(), file, svg, caption })
    };
    let several = groups.len() > 1;
    for (group, fits) in groups.iter().zip(&report.fits) {
        if several && is_pooled(&group.name) {
            continue;
        }
        let Some(score) = fits.laws.iter().find(|s| s.law == p2.name && s.error.is_none()) else { continue };
        let predict = |p: &Point| p2.predict(&score.values, &p.vars);
        let title = format!("{}: loss curves and the fitted P² law", group.name);
        let files = png_and_svg(dir, &format!("curves_{}", slug(&group.name)), |path| {
            plot_fit(&group.curves, &[], &predict, path, &title)
        })?;
        add("curves", files, format!("Loss curves of method {} with the p2 law fitted to them", group.name));
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
        let files = png_and_svg(dir, "predicted_vs_observed", |path| {
            plot_predicted_vs_observed(&held, path, "held-out points: p2 prediction against observed")
        })?;
        add(
            "predicted_vs_observed",
            files,
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
        let files = png_and_svg(dir, "residuals", |path| {
            plot_residuals(&series, path, "residuals of the pooled p2 fit")
        })?;
        add("residuals", files, "Observed − predicted loss of the pooled p2 fit against tokens".into());
    }

    // Last evaluated loss of every run, grouped for the two trend plots; series by label, then by the
    // setting's value (the bits of a positive float order as the float does).
    let curves = &report.inputs.curves;
    type Groups = BTreeMap<(String, u64), (String, Vec<(f64, f64)>)>;
    let (mut vs_rho, mut vs_n0): (Groups, Groups) = (BTreeMap::new(), BTreeMap::new());
    for (run, idx) in curves.runs.iter().zip(curves.points_by_run()) {
        let Some(&last) = idx.last() else { continue };
        let loss = curves.points[last].loss();
        let m = label(run);
        let name = format!("{m}, N0 = {}", style::count_label(run.n0));
        vs_rho.entry((m.clone(), run.n0.to_bits())).or_insert((name, Vec::new())).1.push((run.rho, loss));
        // Models of one nominal rate together: whole layers make the achieved rate differ by model.
        let rate = run.rho_target.unwrap_or(run.rho);
        let name = format!("{m}, ρ = {}", style::short_number(rate, 3));
        vs_n0.entry((m, rate.to_bits())).or_insert((name, Vec::new())).1.push((run.n0, loss));
    }
    let series = |map: Groups| -> Vec<Series> {
        map.into_values().map(|(name, points)| Series { name, points }).collect()
    };
    let (vs_rho, vs_n0) = (series(vs_rho), series(vs_n0));
    let files = png_and_svg(dir, "loss_vs_rho", |path| {
        plot_trend(&vs_rho, path, "final loss against pruning rate", "pruning rate ρ", false)
    })?;
    add("loss_vs_rho", files, "Each run's last evaluated loss against its pruning rate".into());
    let files = png_and_svg(dir, "loss_vs_n0", |path| {
        plot_trend(&vs_n0, path, "final loss against model size", "N0 (log scale)", true)
    })?;
    add("loss_vs_n0", files, "Each run's last evaluated loss against its size before pruning".into());
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
