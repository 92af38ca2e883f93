//! Holdout parsing and splitting on small hand-made curves.

use super::*;
use crate::curves::Run;

/// Runs (n0, rho, number of points); run r's points have d = 1..=k, listed in reverse order of d so that
/// "last by d" and "last in the file" differ.
fn curves(runs: &[(f64, f64, usize)]) -> Curves {
    let mut c = Curves::default();
    for (r, &(n0, rho, k)) in runs.iter().enumerate() {
        c.runs.push(Run { name: format!("r{r}"), n0, rho, l0: 2.0, ..Run::default() });
        for d in (1..=k).rev() {
            c.points.push(Point {
                run: r,
                vars: [n0, n0 * (1.0 - rho), rho, 2.0, d as f64, 3.0 + 1.0 / d as f64],
            });
        }
    }
    c
}

fn held_ds(c: &Curves, spec: &str) -> Vec<(usize, f64)> {
    let split = Holdout::parse(spec).unwrap().split(c).unwrap();
    assert_eq!(split.fit.len() + split.held.len(), c.points.len());
    split.held.iter().map(|p| (p.run, p.d())).collect()
}

#[test]
fn parses_every_form_and_prints_it_back() {
    for spec in ["data:0.2", "largest-n0", "highest-rho", "where:d > 1e9 && rho >= 0.5"] {
        assert_eq!(Holdout::parse(spec).unwrap().to_string(), spec);
    }
    assert_eq!(" data:0.25 ".parse::<Holdout>().unwrap(), Holdout::Data(0.25));
}

#[test]
fn parse_errors_are_clear() {
    let err = |s: &str| Holdout::parse(s).unwrap_err().to_string();
    assert!(err("data:1").contains("strictly between 0 and 1"));
    assert!(err("data:0").contains("strictly between 0 and 1"));
    assert!(err("data:x").contains("strictly between 0 and 1"));
    assert!(err("largest").contains("unknown spec"));
    assert!(err("where:d >").starts_with("holdout \"where:d >\": "), "{}", err("where:d >"));
    assert_eq!(
        err("where:d > cutoff && n0 > big"),
        "holdout \"where:d > cutoff && n0 > big\": the predicate may only use the columns n0, n, rho, l0, d, loss; \
         unknown names: cutoff, big"
    );
}

#[test]
fn data_fraction_rounds_per_run_with_at_least_one() {
    // 10 points: round(0.2·10) = 2 held (d = 9, 10). 3 points: round(0.6) = 1 held (d = 3).
    // 2 points: round(0.4) = 0, raised to 1 (d = 2). 1 point: kept in the fit set.
    let c = curves(&[(1e9, 0.5, 10), (1e9, 0.3, 3), (2e9, 0.5, 2), (3e9, 0.5, 1)]);
    let mut got = held_ds(&c, "data:0.2");
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, [(0, 9.0), (0, 10.0), (1, 3.0), (2, 2.0)]);
    // round(0.95·3) = 3, capped at k - 1 = 2: every run keeps a point to fit.
    let c = curves(&[(1e9, 0.5, 3)]);
    assert_eq!(held_ds(&c, "data:0.95").len(), 2);
}

#[test]
fn largest_n0_and_highest_rho_hold_whole_runs_at_the_max() {
    // Two runs at n0 = 7e9 (one written slightly off, within the tolerance), one smaller.
    let c = curves(&[(7e9, 0.5, 2), (1e9, 0.5, 2), (7.000000001e9, 0.25, 2)]);
    let held = held_ds(&c, "largest-n0");
    assert_eq!(held.iter().map(|h| h.0).collect::<Vec<_>>(), [0, 0, 2, 2]);
    let held = held_ds(&c, "highest-rho");
    assert_eq!(held.iter().map(|h| h.0).collect::<Vec<_>>(), [0, 0, 1, 1]);
    let mask = Holdout::HighestRho.held_mask(&c).unwrap();
    assert_eq!(mask, [true, true, true, true, false, false]);
}

#[test]
fn a_split_with_an_empty_side_is_an_error() {
    let same = curves(&[(1e9, 0.5, 3), (1e9, 0.5, 2)]);
    let err = Holdout::LargestN0.split(&same).unwrap_err();
    assert_eq!(err.to_string(), "holdout largest-n0: nothing left to fit on (5 of 5 points held out)");
    let singles = curves(&[(1e9, 0.5, 1), (2e9, 0.5, 1)]);
    assert!(matches!(Holdout::Data(0.2).split(&singles), Err(HoldoutError::NothingHeld { .. })));
    let none = Holdout::parse("where:d > 100").unwrap();
    assert!(matches!(none.split(&same), Err(HoldoutError::NothingHeld { .. })));
}

#[test]
fn where_predicate_selects_points() {
    let c = curves(&[(1e9, 0.5, 4), (2e9, 0.25, 4)]);
    // Run 1 (n0 = 2e9) at d ≥ 3, plus both runs' points at d = 1 (loss 3 + 1/1 = 4 > 3.9).
    let mut got = held_ds(&c, "where:(n0 > 1.5e9 && d >= 3) || loss > 3.9");
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, [(0, 1.0), (1, 1.0), (1, 3.0), (1, 4.0)]);
    // A comparison with NaN is false (0), so only a bare NaN value reaches the check.
    let nan = Holdout::parse("where:ln(d - 2)").unwrap();
    assert!(matches!(nan.split(&c), Err(HoldoutError::PredicateNan { .. })), "{:?}", nan.split(&c));
}
