//! Predicted loss against post-training tokens, one line per method with its interval as a shaded band
//! (`p2law advise --plot`): how the methods compare at every budget, not only the one asked about.
//!
//! ```no_run
//! use p2law_report::bands::{plot_bands, Band};
//! let b = Band { name: "depth".into(), points: vec![(1e8, 3.3, 3.4, 3.5), (1e9, 3.1, 3.2, 3.3)] };
//! plot_bands(&[b], Some(5e8), "advise.png".as_ref(), "rho 0.35").unwrap();
//! ```

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::save::{save, Figure};
use crate::style;
use crate::ReportError;

/// One method's predictions: `(d, lo, loss, hi)` by increasing `d` (`lo = hi = loss` without an interval).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

struct Bands<'a> {
    bands: &'a [Band],
    budget: Option<f64>,
    title: &'a str,
}

impl Figure for Bands<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let all = self.bands.iter().flat_map(|b| &b.points);
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
        for &(d, lo, _, hi) in all {
            (x0, x1, y0, y1) = (x0.min(d), x1.max(d), y0.min(lo), y1.max(hi));
        }
        if !(x0 > 0.0 && x1 > x0 && y1 >= y0 && y0.is_finite()) {
            return Err("no finite predictions to draw".into());
        }
        let pad = ((y1 - y0) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((x0..x1).log_scale(), (y0 - pad)..(y1 + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("post-training tokens D")
            .y_desc("predicted loss")
            .x_label_formatter(&|x| style::count_label(*x))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, b) in self.bands.iter().enumerate() {
            let colour = style::colour(i);
            let mut outline: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.1)).collect();
            outline.extend(b.points.iter().rev().map(|p| (p.0, p.3)));
            chart
                .draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.18))))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(LineSeries::new(b.points.iter().map(|p| (p.0, p.2)), colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(b.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        if let Some(d) = self.budget.filter(|d| *d >= x0 && *d <= x1) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(d, y0 - pad), (d, y1 + pad)],
                    BLACK.mix(0.5).stroke_width(1),
                )))
                .map_err(|e| err(&e))?
                .label("budget")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.5)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    }
}

/// Draws `bands` to `path` (`.png` or `.svg`), with a vertical line at `budget`.
pub fn plot_bands(bands: &[Band], budget: Option<f64>, path: &Path, title: &str) -> Result<(), ReportError> {
    save(&Bands { bands, budget, title }, path, (900, 560))
}
