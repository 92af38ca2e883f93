//! A fitted law against observed loss curves.
//!
//! One colour per run. Observed points the law was fitted on are filled dots; held-out points are crosses.
//! The law is a line per run, evaluated on a log-spaced grid of `d` across that run's observed range, with the
//! run's other variables (`n0, n, rho, l0`) taken from its first point. x = tokens `d` (log scale), y = loss.
//!
//! ```no_run
//! use p2law_law::{Curves, Point};
//! # let curves = Curves::default();
//! let law = |p: &Point| p.get(p2law_law::Var::L0) + 10.0 * p.d().powf(-0.3);
//! let held = vec![false; curves.points.len()];
//! p2law_report::plot_fit(&curves, &held, &law, "fit.png".as_ref(), "P² law, data:0.2").unwrap();
//! ```

use std::path::Path;

use p2law_law::{Curves, Point, Var};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::save::{save, Figure};
use crate::{font, style, ReportError};

/// Size and resolution of a plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotOptions {
    /// Pixels (PNG) or SVG user units.
    pub width: u32,
    pub height: u32,
    /// Points on each run's law line.
    pub grid_points: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions { width: 1100, height: 720, grid_points: 200 }
    }
}

/// Plots `curves` with the law `predict` to `path` (`.png` or `.svg`) with default [`PlotOptions`].
/// `held[i]` marks `curves.points[i]` as held out; an empty slice means none is.
pub fn plot_fit(
    curves: &Curves,
    held: &[bool],
    predict: &dyn Fn(&Point) -> f64,
    path: &Path,
    title: &str,
) -> Result<(), ReportError> {
    plot_fit_with(curves, held, predict, path, title, &PlotOptions::default())
}

/// [`plot_fit`] with explicit size.
pub fn plot_fit_with(
    curves: &Curves,
    held: &[bool],
    predict: &dyn Fn(&Point) -> f64,
    path: &Path,
    title: &str,
    opts: &PlotOptions,
) -> Result<(), ReportError> {
    let data = PlotData::new(curves, held, predict, path, opts.grid_points)?;
    save(&FitFigure { data: &data, title }, path, (opts.width, opts.height))
}

struct FitFigure<'a> {
    data: &'a PlotData,
    title: &'a str,
}

impl Figure for FitFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        draw(root, self.data, self.title)
    }
}

/// Everything to draw, in plot coordinates, checked once.
struct PlotData {
    runs: Vec<RunSeries>,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

struct RunSeries {
    name: String,
    colour: RGBColor,
    fit: Vec<(f64, f64)>,
    held: Vec<(f64, f64)>,
    /// The law line, split where the prediction is not finite.
    law: Vec<Vec<(f64, f64)>>,
}

impl PlotData {
    fn new(
        curves: &Curves,
        held: &[bool],
        predict: &dyn Fn(&Point) -> f64,
        path: &Path,
        grid_points: usize,
    ) -> Result<PlotData, ReportError> {
        if curves.points.is_empty() {
            return Err(ReportError::Empty { path: path.into() });
        }
        if !held.is_empty() && held.len() != curves.points.len() {
            return Err(ReportError::HeldLength {
                path: path.into(),
                got: held.len(),
                points: curves.points.len(),
            });
        }
        for (index, p) in curves.points.iter().enumerate() {
            let ok = |v: f64| v.is_finite() && v > 0.0;
            if !ok(p.d()) || !ok(p.loss()) {
                return Err(ReportError::BadPoint { path: path.into(), index, d: p.d(), loss: p.loss() });
            }
        }
        let mut runs = Vec::new();
        for (r, group) in curves.points_by_run().into_iter().enumerate() {
            let Some(&first) = group.first() else { continue };
            let is_held = |i: usize| held.get(i).copied().unwrap_or(false);
            let xy = |i: &usize| (curves.points[*i].d(), curves.points[*i].loss());
            let (lo, hi) = (curves.points[group[0]].d(), curves.points[group[group.len() - 1]].d());
            let law = law_line(&curves.points[first], lo, hi, grid_points.max(2), predict);
            runs.push(RunSeries {
                name: curves.runs.get(r).map_or_else(|| format!("run {r}"), |run| run.name.clone()),
                colour: style::colour(runs.len()),
                fit: group.iter().filter(|&&i| !is_held(i)).map(xy).collect(),
                held: group.iter().filter(|&&i| is_held(i)).map(xy).collect(),
                law,
            });
        }
        let (x_range, y_range) = ranges(&runs);
        Ok(PlotData { runs, x_range, y_range })
    }
}

/// The law on `n` log-spaced `d` in `[lo, hi]`, other variables from `base`.
fn law_line(
    base: &Point,
    lo: f64,
    hi: f64,
    n: usize,
    predict: &dyn Fn(&Point) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    let (a, b) = (lo.ln(), hi.ln());
    let mut segments = vec![Vec::new()];
    for k in 0..n {
        let d = (a + (b - a) * k as f64 / (n - 1) as f64).exp();
        let mut p = *base;
        p.vars[Var::D as usize] = d;
        let y = predict(&p);
        match segments.last_mut() {
            Some(seg) if y.is_finite() => seg.push((d, y)),
            Some(seg) if !seg.is_empty() => segments.push(Vec::new()),
            _ => {}
        }
    }
    segments.retain(|s| !s.is_empty());
    segments
}

/// Axis ranges: x spans the observed tokens with a margin (log scale); y spans the observed losses, widened
/// to show the law lines but by no more than a quarter of the observed span each way, so one wild
/// prediction cannot flatten the data into a line.
fn ranges(runs: &[RunSeries]) -> ((f64, f64), (f64, f64)) {
    let observed = runs.iter().flat_map(|r| r.fit.iter().chain(&r.held));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in observed {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let span = (y1 - y0).max(1e-3 * y1.abs()).max(1e-9);
    let (mut ly0, mut ly1) = (y0, y1);
    for &(_, y) in runs.iter().flat_map(|r| r.law.iter().flatten()) {
        (ly0, ly1) = (ly0.min(y), ly1.max(y));
    }
    let y0 = ly0.max(y0 - 0.25 * span) - 0.05 * span;
    let y1 = ly1.min(y1 + 0.25 * span) + 0.05 * span;
    // A factor of 1.25 on each side in log space, so end points are not on the frame.
    ((x0 / 1.25, x1 * 1.25), (y0, y1))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    data: &PlotData,
    title: &str,
) -> Result<(), String> {
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (x0, x1) = data.x_range;
    let (y0, y1) = data.y_range;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (font::FAMILY, 26))
        .margin(18)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale().with_key_points(style::log_ticks(x0, x1)), y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("tokens D (log scale)")
        .y_desc("loss")
        .y_labels(8)
        .max_light_lines(4)
        .x_label_formatter(&|x| style::count_label(*x))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((font::FAMILY, 16))
        .axis_desc_style((font::FAMILY, 18))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(e)?;
    for run in &data.runs {
        let c = run.colour;
        for (k, seg) in run.law.iter().enumerate() {
            let series =
                chart.draw_series(LineSeries::new(seg.iter().copied(), c.stroke_width(2))).map_err(e)?;
            if k == 0 {
                series.label(run.name.as_str()).legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(-2, 0), (20, 0)], c.stroke_width(2))
                        + Circle::new((9, 0), 4, c.filled())
                });
            }
        }
        chart.draw_series(run.fit.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(e)?;
        chart.draw_series(run.held.iter().map(|&p| Cross::new(p, 5, c.stroke_width(2)))).map_err(e)?;
    }
    if data.runs.iter().any(|r| !r.held.is_empty()) {
        // A legend-only entry explaining the marker; drawn with no data points.
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(e)?
            .label("held out")
            .legend(|(x, y)| Cross::new((x + 9, y), 5, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((font::FAMILY, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .margin(12)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_range_follows_data_not_a_wild_law() {
        let run = |law: Vec<(f64, f64)>| RunSeries {
            name: "r".into(),
            colour: style::PALETTE[0],
            fit: vec![(1e8, 3.0), (1e9, 2.0)],
            held: vec![],
            law: vec![law],
        };
        // Observed span 1.0; the law reaching 100 widens the top by at most 0.25, plus a 0.05 margin.
        let ((x0, x1), (y0, y1)) = ranges(&[run(vec![(1e8, 100.0), (1e9, 2.0)])]);
        assert!((x0 - 8e7).abs() < 1.0 && (x1 - 1.25e9).abs() < 1.0);
        assert!((y1 - 3.3).abs() < 1e-12 && (y0 - 1.95).abs() < 1e-12, "{y0} {y1}");
        // A law inside the data leaves just the 5 % margins.
        let (_, (y0, y1)) = ranges(&[run(vec![(1e8, 2.9), (1e9, 2.1)])]);
        assert!((y1 - 3.05).abs() < 1e-12 && (y0 - 1.95).abs() < 1e-12, "{y0} {y1}");
    }

    #[test]
    fn law_line_is_log_spaced_and_split_at_non_finite() {
        let base = Point { run: 0, vars: [1e9, 5e8, 0.5, 2.0, 1.0, 3.0] };
        let line = law_line(&base, 1.0, 100.0, 3, &|p| p.d());
        assert_eq!(line.len(), 1);
        let xs: Vec<f64> = line[0].iter().map(|q| q.0).collect();
        assert!((xs[1] - 10.0).abs() < 1e-12 && (xs[2] - 100.0).abs() < 1e-9, "{xs:?}");
        // NaN in the middle of five points splits the line in two.
        let split =
            law_line(&base, 1.0, 1e4, 5, &|p| if (p.d() - 100.0).abs() < 1e-6 { f64::NAN } else { 1.0 });
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    }
}
