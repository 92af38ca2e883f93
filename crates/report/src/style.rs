//! What every plot shares: the palette, the sequential colour map, axis ticks and tick labels.

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

/// Viridis (matplotlib's perceptually uniform sequential map) at t = 0, 0.1, …, 1.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// The sequential colour map at `t` in `[0, 1]` (clamped), interpolated linearly between viridis' anchors:
/// dark purple through blue and teal to green and yellow, lightness rising steadily, so order reads from
/// colour alone and the map survives greyscale printing and the common colour-vision deficiencies.
pub fn sequential(t: f64) -> RGBColor {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let k = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of level `i` of `n` ordered levels (e.g. pruning rates, ascending) on [`sequential`], spread
/// evenly from its dark end to [`LEVELS_TOP`] (viridis' last tenth is too pale for a line on white).
pub fn level_colour(i: usize, n: usize) -> RGBColor {
    if n <= 1 {
        return sequential(0.3);
    }
    sequential(LEVELS_TOP * i as f64 / (n - 1) as f64)
}

/// Where on [`sequential`] the highest level sits.
pub const LEVELS_TOP: f64 = 0.85;

/// [`count_label`] of `x` rounded to six significant digits first, so a tick at `10^log10(2e8)` reads "2e8",
/// not "2.0e8".
pub fn round_count_label(x: f64) -> String {
    count_label(format!("{x:.6e}").parse().unwrap_or(x))
}

/// Decimals for tick labels of an axis spanning `span` with up to 8 labels: plotters steps by 1, 2 or 5
/// × 10^k, at least `span / 8`, and such a step needs at most `ceil(-log10(span / 8))` decimals.
pub fn decimals_for(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    (-(span / 8.0).log10()).ceil().clamp(0.0, 6.0) as usize
}

/// A value such as a pruning rate in at most `sig` significant digits, trailing zeros dropped: 0.2 → "0.2",
/// 0.2498 → "0.25" (sig 2), 1.0 → "1".
pub fn short_number(x: f64, sig: usize) -> String {
    let s = crate::text::num(Some(x), sig);
    if s.contains('e') || !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
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
    fn sequential_map_runs_dark_to_light_and_levels_differ() {
        assert_eq!(sequential(0.0), RGBColor(68, 1, 84));
        assert_eq!(sequential(1.0), RGBColor(253, 231, 37));
        assert_eq!(sequential(0.05), RGBColor(70, 19, 101));
        let luma = |c: RGBColor| 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
        let levels: Vec<RGBColor> = (0..12).map(|i| level_colour(i, 12)).collect();
        for w in levels.windows(2) {
            assert!(luma(w[1]) > luma(w[0]), "lightness rises: {w:?}");
        }
        assert_eq!(levels[11], sequential(LEVELS_TOP));
    }

    #[test]
    fn rounded_labels_and_levels() {
        assert_eq!(round_count_label(10f64.powf(2e8f64.log10())), "2e8");
        assert_eq!(round_count_label(10f64.powf(7.0)), "1e7");
        assert_eq!(short_number(0.2, 3), "0.2");
        assert_eq!(short_number(0.2498, 2), "0.25");
        assert_eq!(short_number(1.0, 3), "1");
        assert_eq!(decimals_for(1.0), 1);
        assert_eq!(decimals_for(0.05), 3);
        assert_eq!(decimals_for(40.0), 0);
    }

    #[test]
    fn count_labels_are_compact() {
        assert_eq!(count_label(1e9), "1e9");
        assert_eq!(count_label(2.5e8), "2.5e8");
        assert_eq!(count_label(3.333333e7), "3.3e7");
    }
}
