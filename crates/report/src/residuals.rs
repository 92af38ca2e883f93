//! Residuals (observed − predicted loss) against post-training tokens `d` (log scale), one series per group,
//! with the zero line: a law that fits leaves no trend in `d`.
//!
//! ```no_run
//! use p2law_report::{plot_residuals, Series};
//! let s = Series { name: "depth".into(), points: vec![(1e6, 0.004), (1e7, -0.002)] };
//! plot_residuals(&[s], "residuals.png".as_ref(), "p2 residuals").unwrap();
//! ```

use std::path::Path;

use crate::xy::{plot_xy, Reference, XyStyle};
use crate::{ReportError, Series};

/// Draws `(d, observed − predicted)` pairs to `path` (`.png` or `.svg`).
pub fn plot_residuals(series: &[Series], path: &Path, title: &str) -> Result<(), ReportError> {
    let style = XyStyle {
        title,
        x_desc: "tokens D (log scale)",
        y_desc: "observed − predicted loss",
        log_x: true,
        lines: false,
        reference: Reference::Zero,
    };
    plot_xy(series, &style, path)
}
