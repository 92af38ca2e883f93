//! Writing a figure to `.png` or `.svg`, atomically: a reader never sees a half-written image.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{font, ReportError};

/// Something that draws itself on any plotters backend.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `figure` at `size` into `path`, the format chosen by the extension.
pub(crate) fn save(figure: &impl Figure, path: &Path, size: (u32, u32)) -> Result<(), ReportError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let draw_err = |message: String| ReportError::Draw { path: path.into(), message };
    let write_err = |source| ReportError::Write { path: path.into(), source };
    font::ensure_registered();
    match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            figure.draw(SVGBackend::with_string(&mut svg, size).into_drawing_area()).map_err(draw_err)?;
            p2law_formats::write_atomic(path, svg.as_bytes()).map_err(write_err)
        }
        // The encoder writes by file name and picks the format by the extension, which the temporary name
        // keeps.
        Some("png") => p2law_formats::write_atomic_with(
            path,
            |tmp| figure.draw(BitMapBackend::new(tmp, size).into_drawing_area()).map_err(draw_err),
            write_err,
        ),
        _ => Err(ReportError::UnknownFormat { path: path.into() }),
    }
}
