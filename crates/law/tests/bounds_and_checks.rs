//! Bounds and the checks after a fit, on synthetic curves whose truth is known: the exponents are recovered
//! with the bounds in force and without them, a bound that binds holds its parameter while the others are
//! still recovered, and data the law cannot describe (one run, one rate per size, losses rising with `d`)
//! produce the warnings that say so.

use p2law_law::synth::{generate, SynthSpec};
use p2law_law::{fit, Curves, Fit, FitOptions, Law, Point, WarningKind};

fn opts() -> FitOptions {
    FitOptions { starts: 81, ..Default::default() }
}

/// Four sizes at low noise: every exponent of p2 (delta and alpha included) is identified.
fn spec() -> SynthSpec {
    SynthSpec { n0s: vec![1e8, 3e8, 1e9, 3e9], noise_sd: 0.002, seed: 3, ..SynthSpec::default() }
}

fn rel_errors(f: &Fit, truth: &[f64]) -> Vec<(String, f64)> {
    ["gamma", "delta", "alpha", "beta"]
        .iter()
        .map(|name| {
            let i = f.names.iter().position(|n| n == name).unwrap();
            (name.to_string(), (f.params[i] - truth[i]).abs() / truth[i].abs())
        })
        .collect()
}

fn kinds(f: &Fit) -> Vec<WarningKind> {
    f.warnings.iter().map(|w| w.kind).collect()
}

#[test]
fn exponents_are_recovered_within_ten_percent_with_and_without_bounds() {
    let s = spec();
    let curves = generate(&s);
    let bounded = Law::builtin("p2").unwrap();
    assert!(bounded.is_bounded());
    for law in [bounded.clone(), bounded.unbounded()] {
        let f = fit(&law, &curves.points, &opts()).unwrap();
        for (name, rel) in rel_errors(&f, &s.params) {
            assert!(rel < 0.10, "{} bounds: {name} off by {:.1} %", law.is_bounded(), 100.0 * rel);
        }
        assert!(f.warnings.iter().all(|w| !w.kind.is_unphysical()), "{:?}", f.warnings);
    }
}

#[test]
fn a_binding_bound_holds_its_parameter_and_the_rest_are_recovered() {
    let s = spec();
    let curves = generate(&s);
    let (delta, dc) = (s.params[1], s.params[4]);
    // Pinned exactly at the truth (lo = hi): the bound binds whatever the noise says.
    for pin in [format!("delta={delta}:{delta}"), format!("dc={dc}:{dc}")] {
        let mut law = Law::builtin("p2").unwrap();
        law.set_bounds(&[pin.as_str()]).unwrap();
        let f = fit(&law, &curves.points, &opts()).unwrap();
        let name = pin.split('=').next().unwrap();
        assert_eq!(f.param(name).unwrap(), if name == "delta" { delta } else { dc }, "{pin}");
        assert!(kinds(&f).contains(&WarningKind::AtBound), "{pin}: {:?}", f.warnings);
        for (exp, rel) in rel_errors(&f, &s.params).into_iter().filter(|(n, _)| n != name) {
            assert!(rel < 0.10, "{pin}: {exp} off by {:.1} %", 100.0 * rel);
        }
    }
}

#[test]
fn a_single_run_is_not_identified() {
    let curves = generate(&SynthSpec { n0s: vec![1e8], rhos: vec![0.35], ..SynthSpec::default() });
    assert_eq!(curves.runs.len(), 1);
    let f = fit(&Law::builtin("p2").unwrap(), &curves.points, &opts()).unwrap();
    let w = f.warnings.iter().find(|w| w.kind == WarningKind::NotIdentified).expect("a warning");
    assert!(w.message.contains("single run"), "{}", w.message);
}

#[test]
fn one_rate_per_model_size_is_not_identified() {
    // Depth pruning of models whose layers round every target rate to one achieved rate per model.
    let all = generate(&SynthSpec::default());
    let keep = [(1e8, 0.2), (3e8, 0.35), (1e9, 0.5)];
    let curves = all.select_runs(|r| keep.iter().any(|&(n0, rho)| r.n0 == n0 && r.rho == rho));
    assert_eq!(curves.runs.len(), 3);
    let f = fit(&Law::builtin("p2").unwrap(), &curves.points, &opts()).unwrap();
    assert!(
        f.warnings
            .iter()
            .any(|w| w.kind == WarningKind::NotIdentified && w.message.contains("single pruning rate")),
        "{:?}",
        f.warnings
    );
}

/// Three runs whose loss rises slowly with `d` after pruning (a model being damaged, not recovering).
fn rising() -> Curves {
    let mut c = generate(&SynthSpec {
        n0s: vec![1e8],
        rhos: vec![0.2, 0.35, 0.5],
        noise_sd: 0.0,
        ..SynthSpec::default()
    });
    c.points = c
        .points
        .iter()
        .map(|p| {
            let mut v = p.vars;
            v[5] = v[3] + 0.5 + v[2] + 0.02 * v[4].ln();
            Point { vars: v, ..*p }
        })
        .collect();
    c
}

#[test]
fn curves_that_rise_with_d_are_flagged() {
    let curves = rising();
    // Left free, the law follows the data up: "not decreasing".
    let free = fit(&Law::builtin("p2").unwrap().unbounded(), &curves.points, &opts()).unwrap();
    assert!(kinds(&free).contains(&WarningKind::NotDecreasing), "{:?}", free.warnings);
    // Bounded, it cannot: the d term goes flat against a bound, and the warning names it.
    let bounded = fit(&Law::builtin("p2").unwrap(), &curves.points, &opts()).unwrap();
    let at: Vec<&str> = bounded
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::AtBound)
        .map(|w| w.message.split(' ').next().unwrap())
        .collect();
    assert!(at.contains(&"beta") || at.contains(&"dc"), "{:?}", bounded.warnings);
    let beta = bounded.param("beta").unwrap();
    let dc = bounded.param("dc").unwrap();
    assert!((0.0..=2.0).contains(&beta) && dc >= 0.0, "beta {beta}, dc {dc}");
}
