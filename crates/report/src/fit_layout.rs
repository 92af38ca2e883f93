//! Which panel, colour and marker each run of a fit plot gets.
//!
//! - Panel: one per model size `n0` (sizes within 0.1 % of each other are one), smallest first.
//! - Colour: the run's pruning rate (`rho_target` where the curve gives one, else the achieved `rho`; rates
//!   within 0.1 % are one) on the sequential colour map, by rank among the figure's rates, so a rate has the
//!   same colour in every panel and the order of the rates reads from the colours.
//! - Marker: the run's method (`family/method` when the runs name several families).
//!
//! No two runs of a panel look alike: when a figure holds more methods than there are marker shapes, panels
//! are per method and size; runs that repeat a setting (same size, method and rate, e.g. seeds) go to a
//! further panel of their size ("repeat 2").

use std::collections::BTreeMap;

use p2law_law::{Curves, Run};
use plotters::style::RGBColor;

use crate::marker::{Shape, SHAPES};
use crate::style;

/// Relative difference below which two sizes or rates are one.
const TOLERANCE: f64 = 1e-3;

/// Sorted distinct values, nearly equal ones merged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Levels {
    /// `(lowest, highest)` member of each level, ascending.
    spans: Vec<(f64, f64)>,
}

impl Levels {
    fn new(values: impl Iterator<Item = f64>) -> Levels {
        let mut xs: Vec<f64> = values.collect();
        xs.sort_by(f64::total_cmp);
        let mut spans: Vec<(f64, f64)> = Vec::new();
        for x in xs {
            match spans.last_mut() {
                Some((lo, hi)) if x - *lo <= TOLERANCE * lo.abs().max(1e-12) => *hi = x,
                _ => spans.push((x, x)),
            }
        }
        Levels { spans }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The value a level is shown as (its lowest member).
    pub fn value(&self, level: usize) -> f64 {
        self.spans[level].0
    }

    /// The level of `x`, one of the values the levels were made from.
    fn index(&self, x: f64) -> usize {
        self.spans.iter().position(|&(lo, hi)| lo <= x && x <= hi).unwrap_or_else(|| {
            // Not one of the values: the nearest level.
            let dist = |&(lo, _): &(f64, f64)| (lo - x).abs();
            (0..self.spans.len())
                .min_by(|&a, &b| dist(&self.spans[a]).total_cmp(&dist(&self.spans[b])))
                .unwrap_or(0)
        })
    }
}

/// Runs shown together, under a title.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    pub title: String,
    /// Indices into `curves.runs`, by rate then method.
    pub runs: Vec<usize>,
}

/// The panels, colours and markers of one figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub panels: Vec<Panel>,
    /// The distinct pruning rates, ascending.
    pub rates: Levels,
    /// Whether some run gives a target rate (`rho_target`), which then stands for its rate.
    pub targets: bool,
    /// Method labels, sorted; `[""]` when no run names one.
    pub methods: Vec<String>,
    /// Rate level and method index of each run (by index in `curves.runs`; 0 for runs not shown).
    rate_of: Vec<usize>,
    method_of: Vec<usize>,
}

impl Layout {
    /// Lays out the runs `shown[r]` of `curves` (runs without points are best left out).
    pub fn new(curves: &Curves, shown: &[bool]) -> Layout {
        let runs: Vec<usize> = (0..curves.runs.len()).filter(|&r| shown.get(r) == Some(&true)).collect();
        let rate = |r: &Run| r.rho_target.unwrap_or(r.rho);
        let rates = Levels::new(runs.iter().map(|&r| rate(&curves.runs[r])));
        let sizes = Levels::new(runs.iter().map(|&r| curves.runs[r].n0));
        let labels = method_labels(curves);
        let mut methods: Vec<String> = runs.iter().map(|&r| labels[r].clone()).collect();
        methods.sort();
        methods.dedup();
        let per_method = methods.len() > SHAPES.len();

        let n = curves.runs.len();
        let (mut rate_of, mut method_of) = (vec![0; n], vec![0; n]);
        // (method group, size, repeat) → runs; a BTreeMap orders the panels.
        let mut panels: BTreeMap<(usize, usize, usize), Vec<usize>> = BTreeMap::new();
        let mut seen: BTreeMap<(usize, usize, usize), usize> = BTreeMap::new();
        for &r in &runs {
            let run = &curves.runs[r];
            let m = methods.binary_search(&labels[r]).expect("every shown run's label is listed");
            let (s, q) = (sizes.index(run.n0), rates.index(rate(run)));
            (rate_of[r], method_of[r]) = (q, m);
            let count = seen.entry((s, m, q)).or_insert(0);
            let repeat = *count;
            *count += 1;
            panels.entry((if per_method { m } else { 0 }, s, repeat)).or_default().push(r);
        }
        let panels = panels
            .into_iter()
            .map(|((m, s, repeat), mut runs)| {
                runs.sort_by_key(|&r| (rate_of[r], method_of[r]));
                let mut title = format!("N0 = {}", size_label(sizes.value(s)));
                if per_method {
                    title = format!("{}, {title}", methods[m]);
                }
                if repeat > 0 {
                    title += &format!(", repeat {}", repeat + 1);
                }
                Panel { title, runs }
            })
            .collect();
        let targets = runs.iter().any(|&r| curves.runs[r].rho_target.is_some());
        Layout { panels, rates, targets, methods, rate_of, method_of }
    }

    /// The colour of a rate level.
    pub fn rate_colour(&self, level: usize) -> RGBColor {
        style::level_colour(level, self.rates.len())
    }

    /// The marker shape of a method index.
    pub fn method_shape(&self, method: usize) -> Shape {
        SHAPES[method % SHAPES.len()]
    }

    pub fn colour(&self, run: usize) -> RGBColor {
        self.rate_colour(self.rate_of[run])
    }

    pub fn shape(&self, run: usize) -> Shape {
        self.method_shape(self.method_of[run])
    }
}

/// Each run's method label: its method (or "unlabelled" when only some runs name one), prefixed by its family
/// when the runs name several; `""` for all when no run names a method or family.
fn method_labels(curves: &Curves) -> Vec<String> {
    let mut families: Vec<Option<&str>> = curves.runs.iter().map(|r| r.family.as_deref()).collect();
    families.sort();
    families.dedup();
    let any_method = curves.runs.iter().any(|r| r.method.is_some());
    curves
        .runs
        .iter()
        .map(|r| {
            let method = match (&r.method, any_method) {
                (Some(m), _) => m.clone(),
                (None, true) => "unlabelled".into(),
                (None, false) => String::new(),
            };
            match (families.len() > 1, r.family.as_deref()) {
                (false, _) => method,
                (true, f) if method.is_empty() => f.unwrap_or("unlabelled").to_string(),
                (true, f) => format!("{}/{method}", f.unwrap_or("unlabelled")),
            }
        })
        .collect()
}

/// A model size in a panel title: `1.0e8`, with more digits only where needed (`1.24e9`).
fn size_label(x: f64) -> String {
    (1..=3)
        .map(|p| format!("{x:.p$e}"))
        .find(|s| s.parse::<f64>().is_ok_and(|v| (v - x).abs() <= TOLERANCE * x.abs()))
        .unwrap_or_else(|| format!("{x:.3e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use p2law_law::synth::{generate, SynthSpec};

    fn all(curves: &Curves) -> Vec<bool> {
        vec![true; curves.runs.len()]
    }

    #[test]
    fn one_panel_per_size_one_colour_per_rate_one_marker_per_method() {
        let spec = SynthSpec {
            methods: vec!["width".into(), "depth".into()],
            points_per_run: 3,
            ..Default::default()
        };
        let curves = generate(&spec);
        let l = Layout::new(&curves, &all(&curves));
        let titles: Vec<&str> = l.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["N0 = 1.0e8", "N0 = 3.0e8", "N0 = 1.0e9"]);
        assert_eq!(l.methods, ["depth", "width"]);
        assert_eq!(l.rates.len(), 4);
        let mut colour_of_rate: BTreeMap<u64, RGBColor> = BTreeMap::new();
        for p in &l.panels {
            assert_eq!(p.runs.len(), 8, "{}", p.title);
            let looks: HashSet<(RGBColor, Shape)> =
                p.runs.iter().map(|&r| (l.colour(r), l.shape(r))).collect();
            assert_eq!(looks.len(), p.runs.len(), "no two runs of {} look alike", p.title);
            for &r in &p.runs {
                let run = &curves.runs[r];
                assert!(p.title.contains(&size_label(run.n0)));
                // Same rate, same colour, in every panel; the method decides the shape.
                let c = *colour_of_rate.entry(run.rho.to_bits()).or_insert(l.colour(r));
                assert_eq!(l.colour(r), c, "rho {}", run.rho);
                let depth = run.method.as_deref() == Some("depth");
                assert_eq!(l.shape(r), if depth { SHAPES[0] } else { SHAPES[1] });
            }
        }
        // Distinct rates, distinct colours, ordered as the rates are.
        let colours: HashSet<RGBColor> = colour_of_rate.values().copied().collect();
        assert_eq!(colours.len(), 4);
        let first = curves.runs.iter().position(|r| r.rho == 0.2).unwrap();
        assert_eq!(l.colour(first), l.rate_colour(0));
    }

    #[test]
    fn many_runs_in_one_panel_never_share_a_colour() {
        // Twelve rates of one size: the old ten-colour cycle gave runs 0 and 10 the same blue.
        let rhos: Vec<f64> = (1..=12).map(|k| k as f64 / 20.0).collect();
        let curves = generate(&SynthSpec { n0s: vec![3e8], rhos, points_per_run: 3, ..Default::default() });
        let l = Layout::new(&curves, &all(&curves));
        assert_eq!(l.panels.len(), 1);
        let colours: HashSet<RGBColor> = l.panels[0].runs.iter().map(|&r| l.colour(r)).collect();
        assert_eq!(colours.len(), 12);
        assert_eq!(l.methods, [""], "no method named: one unlabelled style");
    }

    #[test]
    fn targets_merge_achieved_rates_and_repeats_get_their_own_panel() {
        let run = |n0: f64, rho: f64, target: Option<f64>| Run {
            name: format!("{n0} {rho}"),
            n0,
            rho,
            rho_target: target,
            method: Some("depth".into()),
            ..Run::default()
        };
        let curves = Curves {
            runs: vec![
                run(1e8, 0.2498, Some(0.25)),
                run(1.0005e8, 0.2511, Some(0.25)),
                run(1e9, 0.2502, Some(0.25)),
                run(1e8, 0.5, Some(0.5)),
            ],
            points: Vec::new(),
        };
        let l = Layout::new(&curves, &all(&curves));
        assert!(l.targets);
        assert_eq!(l.rates.len(), 2);
        assert_eq!(l.colour(0), l.colour(2));
        assert_ne!(l.colour(0), l.colour(3));
        let panels: Vec<(&str, &[usize])> =
            l.panels.iter().map(|p| (p.title.as_str(), &p.runs[..])).collect();
        // Runs 0 and 1 are one size, method and target rate: the second goes to a panel of its own.
        assert_eq!(
            panels,
            [("N0 = 1.0e8", &[0, 3][..]), ("N0 = 1.0e8, repeat 2", &[1][..]), ("N0 = 1.0e9", &[2][..])]
        );
        // Left-out runs are in no panel.
        let l = Layout::new(&curves, &[true, false, true, true]);
        assert_eq!(l.panels.len(), 2);
    }

    #[test]
    fn more_methods_than_shapes_split_panels_by_method() {
        let methods: Vec<String> = (0..=SHAPES.len()).map(|k| format!("m{k}")).collect();
        let curves = generate(&SynthSpec {
            methods,
            n0s: vec![1e8],
            rhos: vec![0.3],
            points_per_run: 3,
            ..Default::default()
        });
        let l = Layout::new(&curves, &all(&curves));
        assert_eq!(l.panels.len(), SHAPES.len() + 1);
        assert_eq!(l.panels[0].title, "m0, N0 = 1.0e8");
    }

    #[test]
    fn families_prefix_method_labels_and_sizes_keep_their_digits() {
        let mut curves =
            generate(&SynthSpec { methods: vec!["depth".into()], points_per_run: 2, ..Default::default() });
        curves.runs[0].family = Some("qwen2".into());
        let labels = method_labels(&curves);
        assert_eq!(labels[0], "qwen2/depth");
        assert_eq!(labels[1], "unlabelled/depth");
        assert_eq!(size_label(1.24e9), "1.24e9");
        assert_eq!(size_label(1e8), "1.0e8");
    }
}
