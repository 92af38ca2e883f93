//! The bundled font: DejaVu Sans 2.37 (Debian `fonts-dejavu-core`), Bitstream Vera licence — free to use and
//! redistribute, see `assets/DejaVuSans-LICENSE.txt`. Registered with plotters as `"sans-serif"` on first use.

use std::sync::Once;

/// The TrueType file, compiled into the binary (about 760 kB).
pub static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family name plots ask for.
pub const FAMILY: &str = "sans-serif";

/// Registers the bundled font with plotters (once per process). Idempotent and cheap after the first call.
pub fn ensure_registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file compiled in; a failure here would be a build defect that the
        // crate's tests catch (text would then be missing from bitmaps, not a crash).
        let _ = plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_font_parses() {
        assert!(super::DEJAVU_SANS.len() > 100_000);
        assert!(plotters::style::register_font(
            "test-family",
            plotters::style::FontStyle::Normal,
            super::DEJAVU_SANS
        )
        .is_ok());
    }
}
