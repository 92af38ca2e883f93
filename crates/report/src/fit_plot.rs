//! A fitted law against observed loss curves, as a figure to publish.
//!
//! A grid of panels, one per model size `n0` ([`fit_layout`](crate::fit_layout) says which run goes where).
//! Within a panel the colour is the run's pruning rate on a sequential colour map (one rate, one colour, in
//! every panel) and the marker is its method; a legend beside the grid lists both. x = tokens `d` (log scale,
//! the same in every panel), y = loss (each panel its own range).
//!
//! Each run's law is a line evaluated on a log-spaced grid of `d` with the run's other variables
//! (`n0, n, rho, l0`) from its first point: solid over the `d` the fit saw from that run (its fitted points'
//! range), dashed beyond, out to [`PlotOptions::extrapolate`] times the largest observed `d`. Fitted points
//! are filled markers; held-out points are hollow.
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
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fit_layout::Layout;
use crate::marker::{Marker, Shape};
use crate::save::{save, Figure};
use crate::{font, style, ReportError};

/// Size, resolution and reach of a plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotOptions {
    /// One panel's size in pixels (PNG) or SVG user units; the figure is as many panels as it needs, a
    /// title above them and the legend beside them.
    pub panel_width: u32,
    pub panel_height: u32,
    /// Points on each run's law line.
    pub grid_points: usize,
    /// The x axis, and the dashed law lines, reach this factor beyond the largest observed `d` (at least
    /// 1.25, the margin every axis gets).
    pub extrapolate: f64,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions { panel_width: 560, panel_height: 430, grid_points: 200, extrapolate: 3.0 }
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

/// [`plot_fit`] with explicit options.
pub fn plot_fit_with(
    curves: &Curves,
    held: &[bool],
    predict: &dyn Fn(&Point) -> f64,
    path: &Path,
    title: &str,
    opts: &PlotOptions,
) -> Result<(), ReportError> {
    let data = PlotData::new(curves, held, predict, path, opts)?;
    let geometry = Geometry::new(&data, opts);
    save(&FitFigure { data: &data, title, geometry: &geometry }, path, geometry.size)
}

/// Everything to draw, in plot coordinates (`log10 d`, loss), checked once.
struct PlotData {
    layout: Layout,
    /// By index in `curves.runs`; runs without points have none.
    runs: Vec<Option<RunSeries>>,
    /// The y range of each panel of `layout`.
    y_ranges: Vec<(f64, f64)>,
    /// `log10 d`, shared by every panel.
    x_range: (f64, f64),
    any_held: bool,
    /// Marker radius in pixels, smaller where points crowd.
    marker_size: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct RunSeries {
    fit: Vec<(f64, f64)>,
    held: Vec<(f64, f64)>,
    /// The law line in pieces: split where the prediction is not finite, where it leaves the fitted range
    /// and (once the panel's y range is known) where it leaves the panel.
    law: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
struct Piece {
    points: Vec<(f64, f64)>,
    /// Outside the `d` the fit saw from this run: drawn dashed.
    extrapolated: bool,
}

impl PlotData {
    fn new(
        curves: &Curves,
        held: &[bool],
        predict: &dyn Fn(&Point) -> f64,
        path: &Path,
        opts: &PlotOptions,
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
        let is_held = |i: usize| held.get(i).copied().unwrap_or(false);
        let (lo, hi) =
            curves.points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.d()), hi.max(p.d())));
        let x_range = ((lo / 1.25).log10(), (hi * opts.extrapolate.max(1.25)).log10());

        let groups = curves.points_by_run();
        let mut runs = Vec::with_capacity(groups.len());
        for group in &groups {
            let Some(&first) = group.first() else {
                runs.push(None);
                continue;
            };
            let xy = |i: &usize| (curves.points[*i].d().log10(), curves.points[*i].loss());
            let fit: Vec<(f64, f64)> = group.iter().filter(|&&i| !is_held(i)).map(xy).collect();
            let fitted = fit.first().zip(fit.last()).map(|(a, b)| (a.0, b.0));
            let law = law_pieces(&curves.points[first], x_range, fitted, opts.grid_points.max(2), predict);
            runs.push(Some(RunSeries {
                held: group.iter().filter(|&&i| is_held(i)).map(xy).collect(),
                fit,
                law,
            }));
        }
        let shown: Vec<bool> = runs.iter().map(Option::is_some).collect();
        let layout = Layout::new(curves, &shown);
        let y_ranges: Vec<(f64, f64)> =
            layout.panels.iter().map(|p| y_range(p.runs.iter().filter_map(|&r| runs[r].as_ref()))).collect();
        for (panel, &(y0, y1)) in layout.panels.iter().zip(&y_ranges) {
            for &r in &panel.runs {
                let Some(run) = runs[r].as_mut() else { continue };
                run.law = std::mem::take(&mut run.law)
                    .into_iter()
                    .flat_map(|piece| {
                        clip_y(&piece.points, y0, y1)
                            .into_iter()
                            .map(move |points| Piece { points, extrapolated: piece.extrapolated })
                    })
                    .collect();
            }
        }
        let any_held = runs.iter().flatten().any(|r| !r.held.is_empty());
        let marker_size = marker_size(&runs, x_range, opts.panel_width);
        Ok(PlotData { layout, runs, y_ranges, x_range, any_held, marker_size })
    }
}

/// The law on `n` log-spaced `d` across `x_range` (`log10 d`), other variables from `base`, in pieces:
/// solid across `fitted` (`log10 d` of the run's first and last fitted points, whose ends are grid points
/// too), extrapolated elsewhere, and broken where the prediction is not finite.
fn law_pieces(
    base: &Point,
    (a, b): (f64, f64),
    fitted: Option<(f64, f64)>,
    n: usize,
    predict: &dyn Fn(&Point) -> f64,
) -> Vec<Piece> {
    let mut xs: Vec<f64> = (0..n).map(|k| a + (b - a) * k as f64 / (n - 1) as f64).collect();
    if let Some((lo, hi)) = fitted {
        xs.extend([lo, hi]);
        xs.sort_by(f64::total_cmp);
        xs.dedup();
    }
    let points: Vec<Option<(f64, f64)>> = xs
        .iter()
        .map(|&x| {
            let mut p = *base;
            p.vars[Var::D as usize] = 10f64.powf(x);
            let y = predict(&p);
            y.is_finite().then_some((x, y))
        })
        .collect();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut joined = false;
    for w in points.windows(2) {
        let (Some(p), Some(q)) = (w[0], w[1]) else {
            joined = false;
            continue;
        };
        // The grid holds the fitted range's ends, so every segment is wholly inside it or outside.
        let mid = 0.5 * (p.0 + q.0);
        let extrapolated = fitted.is_none_or(|(lo, hi)| mid < lo || mid > hi);
        match pieces.last_mut() {
            Some(last) if joined && last.extrapolated == extrapolated => last.points.push(q),
            _ => pieces.push(Piece { points: vec![p, q], extrapolated }),
        }
        joined = true;
    }
    pieces
}

/// The parts of the polyline `points` with `y0 <= y <= y1`, cut where it crosses those bounds (plotters
/// would otherwise clamp what lies outside the panel onto its edge).
fn clip_y(points: &[(f64, f64)], y0: f64, y1: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |p: (f64, f64)| p.1 >= y0 && p.1 <= y1;
    let at = |p: (f64, f64), q: (f64, f64), y: f64| (p.0 + (q.0 - p.0) * (y - p.1) / (q.1 - p.1), y);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    if let Some(&p) = points.first().filter(|&&p| inside(p)) {
        current.push(p);
    }
    for w in points.windows(2) {
        let (p, q) = (w[0], w[1]);
        // The segment's part inside, as parameters t in [0, 1] along p → q.
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        if p.1 != q.1 {
            let (ta, tb) = ((y0 - p.1) / (q.1 - p.1), (y1 - p.1) / (q.1 - p.1));
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
        } else if !inside(p) {
            t0 = 1.0;
            t1 = 0.0;
        }
        if t0 > t1 {
            continue;
        }
        let point = |t: f64| {
            if t <= 0.0 {
                p
            } else if t >= 1.0 {
                q
            } else {
                at(p, q, p.1 + t * (q.1 - p.1))
            }
        };
        if t0 > 0.0 || current.is_empty() {
            if current.len() > 1 {
                out.push(std::mem::take(&mut current));
            }
            current = vec![point(t0)];
        }
        current.push(point(t1));
        if t1 < 1.0 {
            out.push(std::mem::take(&mut current));
        }
    }
    if current.len() > 1 {
        out.push(current);
    }
    out
}

/// A marker radius that leaves a gap between a run's neighbouring points: 0.3 of their typical (median)
/// distance in pixels, between 2.5 and 4.
fn marker_size(runs: &[Option<RunSeries>], (x0, x1): (f64, f64), panel_width: u32) -> f64 {
    // The y labels and margins take about 100 pixels of a panel's width.
    let pixels_per_decade = panel_width.saturating_sub(100).max(100) as f64 / (x1 - x0).max(1e-9);
    let mut gaps: Vec<f64> = Vec::new();
    for run in runs.iter().flatten() {
        let mut xs: Vec<f64> = run.fit.iter().chain(&run.held).map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        gaps.extend(xs.windows(2).map(|w| w[1] - w[0]));
    }
    gaps.sort_by(f64::total_cmp);
    match gaps.get(gaps.len() / 2) {
        Some(&gap) => (0.3 * gap * pixels_per_decade).clamp(2.5, 4.0),
        None => 4.0,
    }
}

/// A panel's y range: its observed losses, widened to show the law lines but by no more than a quarter of
/// the observed span each way (so one wild prediction cannot flatten the data into a line), plus 5 %.
fn y_range<'a>(runs: impl Iterator<Item = &'a RunSeries> + Clone) -> (f64, f64) {
    let observed = runs.clone().flat_map(|r| r.fit.iter().chain(&r.held)).map(|p| p.1);
    let (y0, y1) = observed.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let span = (y1 - y0).max(1e-3 * y1.abs()).max(1e-9);
    let (mut ly0, mut ly1) = (y0, y1);
    for &(_, y) in runs.flat_map(|r| r.law.iter().flat_map(|p| &p.points)) {
        (ly0, ly1) = (ly0.min(y), ly1.max(y));
    }
    (ly0.max(y0 - 0.25 * span) - 0.05 * span, ly1.min(y1 + 0.25 * span) + 0.05 * span)
}

/// Where things go, in pixels.
struct Geometry {
    size: (u32, u32),
    cols: usize,
    rows: usize,
    title_height: u32,
    grid_width: u32,
    legend_width: u32,
}

const TITLE_FONT: u32 = 26;
const PANEL_TITLE_FONT: u32 = 20;
const LABEL_FONT: u32 = 16;
const AXIS_FONT: u32 = 18;
const LEGEND_FONT: u32 = 16;
const LEGEND_HEADER_FONT: u32 = 17;
const LEGEND_ROW: i32 = 24;
const LEGEND_GAP: i32 = 14;

impl Geometry {
    fn new(data: &PlotData, opts: &PlotOptions) -> Geometry {
        let n = data.layout.panels.len().max(1);
        let cols = match n {
            1..=3 => n,
            4 => 2,
            5..=9 => 3,
            _ => 4,
        };
        let rows = n.div_ceil(cols);
        let labels = legend(data);
        let longest = labels.iter().map(|e| e.text().chars().count()).max().unwrap_or(0) as u32;
        // DejaVu Sans at 16 px averages under 9 px a character; 62 px for the swatch and margins.
        let legend_width = (longest * 9 + 62).max(170);
        let legend_height = labels.iter().map(LegendEntry::height).sum::<i32>() as u32 + 40;
        let title_height = 46;
        let grid_width = cols as u32 * opts.panel_width;
        let body = (rows as u32 * opts.panel_height).max(legend_height);
        Geometry {
            size: (grid_width + legend_width, title_height + body),
            cols,
            rows,
            title_height,
            grid_width,
            legend_width,
        }
    }
}

struct FitFigure<'a> {
    data: &'a PlotData,
    title: &'a str,
    geometry: &'a Geometry,
}

impl Figure for FitFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let (data, g) = (self.data, self.geometry);
        let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
        root.fill(&WHITE).map_err(e)?;
        let (top, body) = root.split_vertically(g.title_height);
        let centre = Pos::new(HPos::Center, VPos::Center);
        let title_style = TextStyle::from((font::FAMILY, TITLE_FONT).into_font()).pos(centre);
        top.draw_text(self.title, &title_style, (g.size.0 as i32 / 2, g.title_height as i32 / 2 + 4))
            .map_err(e)?;
        let (grid, legend_area) = body.split_horizontally(g.grid_width);
        let cells = grid.split_evenly((g.rows, g.cols));
        for ((panel, cell), &y_range) in data.layout.panels.iter().zip(&cells).zip(&data.y_ranges) {
            draw_panel(cell, data, panel, y_range).map_err(e)?;
        }
        draw_legend(&legend_area, data, g.legend_width).map_err(e)?;
        root.present().map_err(e)
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    data: &PlotData,
    panel: &crate::fit_layout::Panel,
    (y0, y1): (f64, f64),
) -> DrawResult<DB> {
    // Plot coordinates are log10 d; plotters' log axis takes d itself.
    let (x0, x1) = (10f64.powf(data.x_range.0), 10f64.powf(data.x_range.1));
    let d = |&(x, y): &(f64, f64)| (10f64.powf(x), y);
    let mut chart = ChartBuilder::on(cell)
        .caption(&panel.title, (font::FAMILY, PANEL_TITLE_FONT))
        .margin_top(8)
        .margin_left(10)
        .margin_right(18)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(68)
        .build_cartesian_2d((x0..x1).log_scale().with_key_points(style::log_ticks(x0, x1)), y0..y1)?;
    let decimals = style::decimals_for(y1 - y0);
    chart
        .configure_mesh()
        .x_desc("tokens D (log scale)")
        .y_desc("loss")
        .y_labels(8)
        .max_light_lines(1)
        .x_label_formatter(&|x| style::round_count_label(*x))
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .label_style((font::FAMILY, LABEL_FONT))
        .axis_desc_style((font::FAMILY, AXIS_FONT))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    let runs: Vec<(usize, &RunSeries)> =
        panel.runs.iter().filter_map(|&r| data.runs[r].as_ref().map(|s| (r, s))).collect();
    // Lines first, markers over them.
    for &(r, run) in &runs {
        let c = data.layout.colour(r);
        for piece in &run.law {
            let points = piece.points.iter().map(d);
            if piece.extrapolated {
                chart.draw_series(DashedLineSeries::new(points, 7, 5, c.stroke_width(2)))?;
            } else {
                chart.draw_series(LineSeries::new(points, c.stroke_width(2)))?;
            }
        }
    }
    for &(r, run) in &runs {
        let (colour, shape) = (data.layout.colour(r), data.layout.shape(r));
        let marker =
            |hollow: bool| move |at: (f64, f64)| Marker { at, shape, size: data.marker_size, colour, hollow };
        chart.draw_series(run.fit.iter().map(d).map(marker(false)))?;
        chart.draw_series(run.held.iter().map(d).map(marker(true)))?;
    }
    Ok(())
}

/// One row of the legend.
enum LegendEntry {
    Header(String),
    /// A pruning rate: its colour as a line with a marker.
    Rate {
        colour: RGBColor,
        text: String,
    },
    /// A method: its marker, in grey.
    Method {
        shape: Shape,
        text: String,
    },
    Line {
        dashed: bool,
        text: String,
    },
    Point {
        hollow: bool,
        text: String,
    },
}

impl LegendEntry {
    fn text(&self) -> &str {
        match self {
            LegendEntry::Header(t) => t,
            LegendEntry::Rate { text, .. }
            | LegendEntry::Method { text, .. }
            | LegendEntry::Line { text, .. }
            | LegendEntry::Point { text, .. } => text,
        }
    }

    fn height(&self) -> i32 {
        match self {
            LegendEntry::Header(_) => LEGEND_ROW + LEGEND_GAP,
            _ => LEGEND_ROW,
        }
    }
}

/// The legend's rows: rates, methods (when there are several), the law's two line styles, the two point
/// styles (when some points are held out).
fn legend(data: &PlotData) -> Vec<LegendEntry> {
    let l = &data.layout;
    let mut out = vec![LegendEntry::Header(
        if l.targets { "pruning rate ρ (target)" } else { "pruning rate ρ" }.into(),
    )];
    for level in 0..l.rates.len() {
        let text = format!("ρ = {}", style::short_number(l.rates.value(level), 3));
        out.push(LegendEntry::Rate { colour: l.rate_colour(level), text });
    }
    if l.methods.len() > 1 {
        out.push(LegendEntry::Header("method".into()));
        for (m, name) in l.methods.iter().enumerate() {
            out.push(LegendEntry::Method { shape: l.method_shape(m), text: name.clone() });
        }
    }
    out.push(LegendEntry::Header("fitted law".into()));
    out.push(LegendEntry::Line { dashed: false, text: "over the fitted D".into() });
    out.push(LegendEntry::Line { dashed: true, text: "extrapolated".into() });
    if data.any_held {
        out.push(LegendEntry::Header("observed loss".into()));
        out.push(LegendEntry::Point { hollow: false, text: "fitted".into() });
        out.push(LegendEntry::Point { hollow: true, text: "held out".into() });
    }
    out
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &PlotData,
    width: u32,
) -> DrawResult<DB> {
    let grey = RGBColor(90, 90, 90);
    let left = Pos::new(HPos::Left, VPos::Center);
    let text = TextStyle::from((font::FAMILY, LEGEND_FONT).into_font()).pos(left);
    let header = TextStyle::from((font::FAMILY, LEGEND_HEADER_FONT).into_font()).pos(left);
    let (x, swatch, label) = (8, 30, 42);
    let mut y = 30;
    let entries = legend(data);
    let bottom = y + entries.iter().map(LegendEntry::height).sum::<i32>() - LEGEND_ROW / 2;
    area.draw(&Rectangle::new([(2, 12), (width as i32 - 10, bottom)], RGBColor(200, 200, 200)))?;
    let marker = |at, shape, colour, hollow| Marker { at, shape, size: 4.5, colour, hollow };
    for (k, entry) in entries.iter().enumerate() {
        match entry {
            LegendEntry::Header(t) => {
                // Space above every header but the first.
                if k > 0 {
                    y += LEGEND_GAP;
                }
                area.draw(&Text::new(t.as_str(), (x, y), header.clone()))?;
            }
            LegendEntry::Rate { colour, text: t } => {
                area.draw(&PathElement::new(vec![(x, y), (x + swatch, y)], colour.stroke_width(3)))?;
                area.draw(&marker((x + swatch / 2, y), Shape::Circle, *colour, false))?;
                area.draw(&Text::new(t.as_str(), (x + label, y), text.clone()))?;
            }
            LegendEntry::Method { shape, text: t } => {
                area.draw(&marker((x + swatch / 2, y), *shape, grey, false))?;
                area.draw(&Text::new(t.as_str(), (x + label, y), text.clone()))?;
            }
            LegendEntry::Line { dashed, text: t } => {
                let ends = [(x, y), (x + swatch, y)];
                if *dashed {
                    area.draw(&DashedPathElement::new(ends, 7, 5, grey.stroke_width(2)))?;
                } else {
                    area.draw(&PathElement::new(ends.to_vec(), grey.stroke_width(2)))?;
                }
                area.draw(&Text::new(t.as_str(), (x + label, y), text.clone()))?;
            }
            LegendEntry::Point { hollow, text: t } => {
                area.draw(&marker((x + swatch / 2, y), Shape::Circle, grey, *hollow))?;
                area.draw(&Text::new(t.as_str(), (x + label, y), text.clone()))?;
            }
        }
        y += LEGEND_ROW;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fit: Vec<(f64, f64)>, law: Vec<(f64, f64)>) -> RunSeries {
        RunSeries { fit, held: vec![], law: vec![Piece { points: law, extrapolated: false }] }
    }

    #[test]
    fn y_range_follows_data_not_a_wild_law() {
        // Observed span 1.0; the law reaching 100 widens the top by at most 0.25, plus a 0.05 margin.
        let r = run(vec![(8.0, 3.0), (9.0, 2.0)], vec![(8.0, 100.0), (9.0, 2.0)]);
        let (y0, y1) = y_range([&r].into_iter());
        assert!((y1 - 3.3).abs() < 1e-12 && (y0 - 1.95).abs() < 1e-12, "{y0} {y1}");
        // A law inside the data leaves just the 5 % margins.
        let r = run(vec![(8.0, 3.0), (9.0, 2.0)], vec![(8.0, 2.9), (9.0, 2.1)]);
        let (y0, y1) = y_range([&r].into_iter());
        assert!((y1 - 3.05).abs() < 1e-12 && (y0 - 1.95).abs() < 1e-12, "{y0} {y1}");
    }

    #[test]
    fn law_is_solid_over_the_fitted_range_and_dashed_beyond() {
        let base = Point { run: 0, vars: [1e9, 5e8, 0.5, 2.0, 1.0, 3.0] };
        // x from 0 to 4 (d = 1 to 1e4) in 5 points; fitted from log10 d = 1.5 to 2.5.
        let pieces = law_pieces(&base, (0.0, 4.0), Some((1.5, 2.5)), 5, &|p| p.d().log10());
        let shape: Vec<(bool, Vec<f64>)> =
            pieces.iter().map(|p| (p.extrapolated, p.points.iter().map(|q| q.0).collect())).collect();
        assert_eq!(
            shape,
            [(true, vec![0.0, 1.0, 1.5]), (false, vec![1.5, 2.0, 2.5]), (true, vec![2.5, 3.0, 4.0])]
        );
        for piece in &pieces {
            assert!(piece.points.iter().all(|&(x, y)| (x - y).abs() < 1e-12), "evaluated at d = 10^x");
        }
        // No fitted points (all held out): dashed all the way.
        let all_out = law_pieces(&base, (0.0, 4.0), None, 5, &|_| 1.0);
        assert_eq!(all_out.len(), 1);
        assert!(all_out[0].extrapolated && all_out[0].points.len() == 5);
        // NaN in the middle of five points splits the line in two.
        let split = law_pieces(&base, (0.0, 4.0), None, 5, &|p| {
            if (p.d() - 100.0).abs() < 1e-6 {
                f64::NAN
            } else {
                1.0
            }
        });
        assert_eq!(split.iter().map(|p| p.points.len()).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn lines_are_cut_at_the_panel_edges() {
        // Up from below the panel, across it, out of the top, back in and out of the bottom.
        let line = [(0.0, -1.0), (1.0, 1.0), (2.0, 3.0), (3.0, 1.0), (4.0, 1.0), (5.0, -1.0)];
        let parts = clip_y(&line, 0.0, 2.0);
        assert_eq!(
            parts,
            [vec![(0.5, 0.0), (1.0, 1.0), (1.5, 2.0)], vec![(2.5, 2.0), (3.0, 1.0), (4.0, 1.0), (4.5, 0.0)]]
        );
        assert_eq!(clip_y(&[(0.0, 1.0), (1.0, 1.5)], 0.0, 2.0), [vec![(0.0, 1.0), (1.0, 1.5)]]);
        assert!(clip_y(&[(0.0, 5.0), (1.0, 6.0)], 0.0, 2.0).is_empty());
    }
}
