//! Plots and reports for p2law: a fitted law drawn over the loss curves it was fitted to, point charts
//! (predicted against observed, residuals, trends), and the `p2law report` assembly ([`report`]).
//!
//! [`plot_fit`] takes the curves, which points were held out, and the law as a closure (`&Point -> loss`), so
//! this crate does not depend on how a law was fitted. Output is PNG or SVG by the file's extension, written
//! atomically. Text is drawn with a bundled DejaVu Sans (see [`font`]), so plots look the same on every machine
//! and need no system font libraries.

pub mod bands;
mod fit_layout;
pub mod fit_plot;
pub mod font;
mod marker;
pub mod report;
pub mod residuals;
mod save;
pub mod scatter;
mod style;
pub mod text;
pub mod trend;
mod xy;

pub use fit_plot::{plot_fit, plot_fit_with, PlotOptions};
pub use report::{generate, Report, ReportOptions};
pub use residuals::plot_residuals;
pub use scatter::plot_predicted_vs_observed;
pub use trend::plot_trend;
pub use xy::Series;

use std::path::PathBuf;

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: nothing to plot (no points)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: held-out mask has {got} entries for {points} points", path.display())]
    HeldLength { path: PathBuf, got: usize, points: usize },
    #[error("{}: unknown plot format; use a .png or .svg file name", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: point {index} has a non-finite or non-positive d or loss ({d}, {loss}); cannot place it on a log axis", path.display())]
    BadPoint { path: PathBuf, index: usize, d: f64, loss: f64 },
    #[error("{}: series {series:?} has a point ({x}, {y}) that cannot be drawn (non-finite, or x ≤ 0 on a log axis)", path.display())]
    BadValue { path: PathBuf, series: String, x: f64, y: f64 },
    #[error("{}: drawing failed: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}
