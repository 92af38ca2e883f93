//! The chart behind the report's point plots: named series of `(x, y)` on a linear or log `x` axis, drawn as
//! dots (optionally joined), with an optional reference line (`y = x`, or `y = 0`).
//!
//! A log `x` axis is drawn by plotting `log10 x` on a linear axis labelled with the original values (plotters'
//! own log axis labels only powers of ten, too few for a decade or two of tokens). Inputs are checked once: a non-finite value (or a non-positive `x` on a
//! log axis) is an error naming the series, never a silently missing dot.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

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

/// Chart size in pixels.
const SIZE: (u32, u32) = (1000, 700);

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
        let ((x0, x1), (y0, y1)) = (data.x_range, data.y_range);
        let mut chart = ChartBuilder::on(&root)
            .caption(st.title, (font::FAMILY, 24))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        let log_x = st.log_x;
        let x_label = move |x: &f64| {
            if log_x {
                style::count_label(10f64.powf(*x))
            } else {
                format!("{}", (x * 1e6).round() / 1e6)
            }
        };
        chart
            .configure_mesh()
            .x_desc(st.x_desc)
            .y_desc(st.y_desc)
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style((font::FAMILY, 16))
            .axis_desc_style((font::FAMILY, 18))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(e)?;
        let grey = RGBColor(120, 120, 120);
        match st.reference {
            Reference::Diagonal => {
                let (lo, hi) = (x0.max(y0), x1.min(y1));
                chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], grey.stroke_width(1))).map_err(e)?;
            }
            Reference::Zero => {
                chart
                    .draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], grey.stroke_width(1)))
                    .map_err(e)?;
            }
            Reference::None => {}
        }
        for (i, s) in data.series.iter().enumerate() {
            let c = style::colour(i);
            if st.lines {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2))).map_err(e)?;
            }
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(e)?
                .label(s.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            // Points of a predicted-against-observed chart run from lower left to upper right.
            .position(if st.reference == Reference::Diagonal {
                SeriesLabelPosition::UpperLeft
            } else {
                SeriesLabelPosition::UpperRight
            })
            .label_font((font::FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .margin(10)
            .draw()
            .map_err(e)?;
        root.present().map_err(e)
    }
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
    fn bad_values_and_empty_input_are_errors() {
        let s = [Series { name: "a".into(), points: vec![(0.0, 3.0)] }];
        let err = XyData::new(&s, &style(Reference::None, true), Path::new("x.png")).err().unwrap();
        assert!(matches!(err, ReportError::BadValue { .. }), "{err}");
        let err = XyData::new(&[], &style(Reference::None, false), Path::new("x.png")).err().unwrap();
        assert!(matches!(err, ReportError::Empty { .. }));
    }
}
