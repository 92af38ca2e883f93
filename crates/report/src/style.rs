//! What every plot shares: the palette, axis ticks and tick labels.

use plotters::style::RGBColor;

/// Tableau 10: distinguishable, colour-blind-friendlier than plotters' primaries.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th colour, cycling.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Tick positions 1, 2, 5 × 10^k inside `[lo, hi]`; only powers of ten when the range spans more than four
/// decades (plotters' own log axis labels powers of ten only, which leaves one or two labels on a typical
/// curve spanning a decade or two).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mantissas: &[f64] = if hi / lo > 1e4 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (k0..=k1)
        .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
        .filter(|&t| t >= lo && t <= hi)
        .collect()
}

/// `1e9` → "1e9", `2.5e8` → "2.5e8": compact labels for a log axis of token or parameter counts.
pub fn count_label(x: f64) -> String {
    let s = format!("{x:e}");
    match s.split_once('e') {
        Some((m, e)) if m.len() > 4 => format!("{:.1}e{e}", m.parse::<f64>().unwrap_or(0.0)),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_use_1_2_5_or_decades() {
        assert_eq!(log_ticks(4e7, 5.4e9), [5e7, 1e8, 2e8, 5e8, 1e9, 2e9, 5e9]);
        assert_eq!(log_ticks(0.5, 2e5), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]);
    }

    #[test]
    fn count_labels_are_compact() {
        assert_eq!(count_label(1e9), "1e9");
        assert_eq!(count_label(2.5e8), "2.5e8");
        assert_eq!(count_label(3.333333e7), "3.3e7");
    }
}
