//! A measured quantity against one variable, one joined series per setting of the others: final loss against
//! the pruning rate (one line per method and `n0`), or against `n0` (log scale; one line per method and rate).
//!
//! ```no_run
//! use p2law_report::{plot_trend, Series};
//! let s = Series { name: "n0=1e8".into(), points: vec![(0.2, 3.1), (0.5, 3.4)] };
//! plot_trend(&[s], "loss_vs_rho.png".as_ref(), "final loss against rho", "pruning rate rho", false).unwrap();
//! ```

use std::path::Path;

use crate::xy::{plot_xy, Reference, XyStyle};
use crate::{ReportError, Series};

/// Draws each series as dots joined in order of `x`; `log_x` for a count axis such as `n0`.
pub fn plot_trend(
    series: &[Series],
    path: &Path,
    title: &str,
    x_desc: &str,
    log_x: bool,
) -> Result<(), ReportError> {
    let style =
        XyStyle { title, x_desc, y_desc: "final loss", log_x, lines: true, reference: Reference::None };
    plot_xy(series, &style, path)
}
