//! Predicted against observed loss, one series per group (e.g. per generalization protocol), with the line
//! `y = x` a perfect prediction would lie on.
//!
//! ```no_run
//! use p2law_report::{plot_predicted_vs_observed, Series};
//! let s = Series { name: "largest-n0".into(), points: vec![(2.91, 2.93), (2.85, 2.84)] };
//! plot_predicted_vs_observed(&[s], "scatter.png".as_ref(), "held-out points").unwrap();
//! ```

use std::path::Path;

use crate::xy::{plot_xy, Reference, XyStyle};
use crate::{ReportError, Series};

/// Draws `(observed, predicted)` pairs to `path` (`.png` or `.svg`).
pub fn plot_predicted_vs_observed(series: &[Series], path: &Path, title: &str) -> Result<(), ReportError> {
    let style = XyStyle {
        title,
        x_desc: "observed loss",
        y_desc: "predicted loss",
        log_x: false,
        lines: false,
        reference: Reference::Diagonal,
    };
    plot_xy(series, &style, path)
}
