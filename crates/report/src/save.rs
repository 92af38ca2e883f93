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
            p2law_law::atomic::write_atomic(path, svg.as_bytes()).map_err(write_err)
        }
        Some("png") => {
            // Render to a temporary .png beside the target (the encoder picks the format by extension), then
            // fsync and rename.
            let tmp = path.with_extension(format!("tmp{}.png", std::process::id()));
            let result = figure
                .draw(BitMapBackend::new(&tmp, size).into_drawing_area())
                .map_err(draw_err)
                .and_then(|()| {
                    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(write_err)?;
                    std::fs::rename(&tmp, path).map_err(write_err)
                });
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        _ => Err(ReportError::UnknownFormat { path: path.into() }),
    }
}
