//! The chart behind the report's point plots: named series of `(x, y)` on a linear or log `x` axis, drawn as
//! markers (optionally joined), with an optional reference line (`y = x`, or `y = 0`). Each series has its
//! own colour and marker pair ([`series_look`]): past ten series the colours repeat with another shape.
//!
//! A log `x` axis is drawn by plotting `log10 x` on a linear axis labelled with the original values (plotters'
//! own log axis labels only powers of ten, too few for a decade or two of tokens). Inputs are checked once: a non-finite value (or a non-positive `x` on a
//! log axis) is an error naming the series, never a silently missing dot.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::marker::{Marker, Shape, SHAPES};
use crate::save::{save, Figure};
use crate::{font, style, ReportError};

/// One named set of points, drawn in one colour.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line every chart of a kind carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reference {
    None,
    /// `y = x` (predicted against observed); both axes get the same range.
    Diagonal,
    /// `y = 0` (residuals).
    Zero,
}

/// How to draw a chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XyStyle<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub log_x: bool,
    /// Join each series' points (sorted by x) with a line.
    pub lines: bool,
    pub reference: Reference,
}

/// Colour, shape and fill of the `i`-th series: colours cycle through the palette, each cycle with the next
/// shape, then the same with hollow markers; distinct for the first `2 × 10 × 6 = 120` series.
pub(crate) fn series_look(i: usize) -> (RGBColor, Shape, bool) {
    let n = style::PALETTE.len();
    (style::colour(i), SHAPES[(i / n) % SHAPES.len()], (i / (n * SHAPES.len())) % 2 == 1)
}

/// Chart size in pixels.
const SIZE: (u32, u32) = (1100, 700);

/// Draws `series` to `path` (`.png` or `.svg`).
pub(crate) fn plot_xy(series: &[Series], style: &XyStyle<'_>, path: &Path) -> Result<(), ReportError> {
    let data = XyData::new(series, style, path)?;
    save(&XyFigure { data: &data, style }, path, SIZE)
}

struct XyData {
    /// Series in plot coordinates (`log10 x` on a log axis), sorted by x.
    series: Vec<Series>,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl XyData {
    fn new(series: &[Series], style: &XyStyle<'_>, path: &Path) -> Result<XyData, ReportError> {
        if series.iter().all(|s| s.points.is_empty()) {
            return Err(ReportError::Empty { path: path.into() });
        }
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut points = Vec::with_capacity(s.points.len());
            for &(x, y) in &s.points {
                let bad_x = !x.is_finite() || (style.log_x && x <= 0.0);
                if bad_x || !y.is_finite() {
                    return Err(ReportError::BadValue { path: path.into(), series: s.name.clone(), x, y });
                }
                points.push((if style.log_x { x.log10() } else { x }, y));
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.push(Series { name: s.name.clone(), points });
        }
        let all = || out.iter().flat_map(|s| s.points.iter().copied());
        let (mut x_range, mut y_range) = (span(all().map(|p| p.0)), span(all().map(|p| p.1)));
        if style.reference == Reference::Diagonal {
            let both = (x_range.0.min(y_range.0), x_range.1.max(y_range.1));
            (x_range, y_range) = (both, both);
        }
        if style.reference == Reference::Zero {
            y_range = (y_range.0.min(0.0), y_range.1.max(0.0));
        }
        Ok(XyData { series: out, x_range: pad(x_range), y_range: pad(y_range) })
    }
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Widens a range by 5 % each side (and a degenerate one to a visible width).
fn pad((lo, hi): (f64, f64)) -> (f64, f64) {
    let w = (hi - lo).max(1e-3 * lo.abs().max(hi.abs())).max(1e-9);
    (lo - 0.05 * w, hi + 0.05 * w)
}

struct XyFigure<'a> {
    data: &'a XyData,
    style: &'a XyStyle<'a>,
}

impl Figure for XyFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let (data, st) = (self.data, self.style);
        let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
        root.fill(&WHITE).map_err(e)?;
        let (top, root) = root.split_vertically(46);
        let centre =
            TextStyle::from((font::FAMILY, 24).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        top.draw_text(st.title, &centre, (top.dim_in_pixel().0 as i32 / 2, 27)).map_err(e)?;
        // The legend beside the chart, never over a point.
        let longest = data.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as u32;
        let legend_width = (longest * 9 + 60).clamp(120, 420);
        let (chart_area, legend_area) = root.split_horizontally(root.dim_in_pixel().0 - legend_width);
        let (x0, x1) = data.x_range;
        if st.log_x {
            // Plot coordinates are log10 x; plotters' log axis takes x itself, and ticks at 1, 2, 5 × 10^k.
            let (x0, x1) = (10f64.powf(x0), 10f64.powf(x1));
            let axis = (x0..x1).log_scale().with_key_points(style::log_ticks(x0, x1));
            draw_chart(&chart_area, data, st, axis, |x| 10f64.powf(x), &|x| style::round_count_label(*x))
        } else {
            let decimals = style::decimals_for(x1 - x0);
            draw_chart(&chart_area, data, st, x0..x1, |x| x, &|x| format!("{x:.decimals$}"))
        }
        .map_err(e)?;
        draw_legend(&legend_area, data, st.lines).map_err(e)?;
        root.present().map_err(e)
    }
}

/// The axes, the reference line and the series, on an x axis `x_axis` whose values are `to_x` of the
/// plot coordinates.
fn draw_chart<DB: DrawingBackend, X>(
    area: &DrawingArea<DB, Shift>,
    data: &XyData,
    st: &XyStyle<'_>,
    x_axis: X,
    to_x: impl Fn(f64) -> f64,
    x_label: &dyn Fn(&f64) -> String,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let ((x0, x1), (y0, y1)) = (data.x_range, data.y_range);
    let mut chart = ChartBuilder::on(area)
        .margin_left(18)
        .margin_right(10)
        .margin_top(10)
        .margin_bottom(18)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(x_axis, y0..y1)?;
    let decimals = style::decimals_for(y1 - y0);
    chart
        .configure_mesh()
        .x_desc(st.x_desc)
        .y_desc(st.y_desc)
        .x_labels(8)
        .y_labels(8)
        .max_light_lines(1)
        .x_label_formatter(x_label)
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .label_style((font::FAMILY, 16))
        .axis_desc_style((font::FAMILY, 18))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    let grey = RGBColor(120, 120, 120);
    let at = |(x, y): (f64, f64)| (to_x(x), y);
    match st.reference {
        Reference::Diagonal => {
            let (lo, hi) = (x0.max(y0), x1.min(y1));
            chart.draw_series(LineSeries::new([at((lo, lo)), at((hi, hi))], grey.stroke_width(1)))?;
        }
        Reference::Zero => {
            chart.draw_series(LineSeries::new([at((x0, 0.0)), at((x1, 0.0))], grey.stroke_width(1)))?;
        }
        Reference::None => {}
    }
    if st.lines {
        for (i, s) in data.series.iter().enumerate() {
            let colour = series_look(i).0;
            chart.draw_series(LineSeries::new(s.points.iter().map(|&p| at(p)), colour.stroke_width(2)))?;
        }
    }
    for (i, s) in data.series.iter().enumerate() {
        let (colour, shape, hollow) = series_look(i);
        chart.draw_series(s.points.iter().map(|&p| Marker {
            at: at(p),
            shape,
            size: 4.0,
            colour,
            hollow,
        }))?;
    }
    Ok(())
}

/// One row per series: its line (when joined) and marker, and its name.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &XyData,
    lines: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let text = TextStyle::from((font::FAMILY, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (x, row, top) = (6, 22, 26);
    let bottom = top + row * data.series.len() as i32 - row / 2 + 8;
    let width = area.dim_in_pixel().0 as i32;
    area.draw(&Rectangle::new([(0, top - row / 2 - 6), (width - 10, bottom)], RGBColor(200, 200, 200)))?;
    for (i, s) in data.series.iter().enumerate() {
        let (colour, shape, hollow) = series_look(i);
        let y = top + row * i as i32;
        if lines {
            area.draw(&PathElement::new(vec![(x, y), (x + 26, y)], colour.stroke_width(2)))?;
        }
        area.draw(&Marker { at: (x + 13, y), shape, size: 4.0, colour, hollow })?;
        area.draw(&Text::new(s.name.as_str(), (x + 36, y), text.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(reference: Reference, log_x: bool) -> XyStyle<'static> {
        XyStyle { title: "t", x_desc: "x", y_desc: "y", log_x, lines: false, reference }
    }

    #[test]
    fn diagonal_charts_share_one_range_and_log_axes_take_log10() {
        let s = [Series { name: "a".into(), points: vec![(2.0, 3.0), (1.0, 5.0)] }];
        let d = XyData::new(&s, &style(Reference::Diagonal, false), Path::new("x.png")).unwrap();
        assert_eq!(d.x_range, d.y_range);
        assert!((d.x_range.0 - 0.8).abs() < 1e-12 && (d.x_range.1 - 5.2).abs() < 1e-12);
        let s = [Series { name: "a".into(), points: vec![(1e9, 3.0), (1e7, 5.0)] }];
        let d = XyData::new(&s, &style(Reference::Zero, true), Path::new("x.png")).unwrap();
        assert_eq!(d.series[0].points, [(7.0, 5.0), (9.0, 3.0)]);
        assert!(d.y_range.0 < 0.0, "the zero line is in view");
    }

    #[test]
    fn series_looks_do_not_repeat_past_ten_series() {
        let looks: std::collections::HashSet<(RGBColor, Shape, bool)> = (0..120).map(series_look).collect();
        assert_eq!(looks.len(), 120);
        assert_eq!(series_look(0).0, series_look(10).0, "the colour repeats…");
        assert_ne!(series_look(0).1, series_look(10).1, "…with another shape");
    }

    #[test]
    fn bad_values_and_empty_input_are_errors() {
        let s = [Series { name: "a".into(), points: vec![(0.0, 3.0)] }];
        let err = XyData::new(&s, &style(Reference::None, true), Path::new("x.png")).err().unwrap();
        assert!(matches!(err, ReportError::BadValue { .. }), "{err}");
        let err = XyData::new(&[], &style(Reference::None, false), Path::new("x.png")).err().unwrap();
        assert!(matches!(err, ReportError::Empty { .. }));
    }
}
