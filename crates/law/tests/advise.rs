//! `advise` on curves generated from known per-method laws: the method whose true loss at the budget is
//! lowest is picked, and two methods whose truths lie within the fits' intervals are called a tie.

use p2law_law::advise::{advise, MethodFit, Question, Target};
use p2law_law::bootstrap::{bootstrap, BootstrapOptions};
use p2law_law::synth::{generate, SynthSpec};
use p2law_law::{fit, FitOptions, Law};

/// Fits p2 with 40 bootstrap replicates to curves from `params`.
fn fitted(method: &str, params: [f64; 7], seed: u64) -> MethodFit {
    let spec = SynthSpec { params, points_per_run: 12, seed, ..SynthSpec::default() };
    let curves = generate(&spec);
    let law = Law::builtin("p2").unwrap();
    let opts = FitOptions { starts: 32, polish: 2, ..Default::default() };
    let f = fit(&law, &curves.points, &opts).unwrap();
    let b = bootstrap(
        &law,
        &curves.points,
        &BootstrapOptions { replicates: 40, seed, fit: FitOptions { diagnose: false, ..opts } },
    )
    .unwrap();
    MethodFit { draws: b.samples, ..MethodFit::new(method, law, f.params) }
}

fn truth(params: &[f64; 7], q: &Question) -> f64 {
    let rho = q.rate();
    Law::builtin("p2").unwrap().predict(params, &[q.n0, q.n0 * (1.0 - rho), rho, q.l0, q.budget, 0.0])
}

#[test]
fn picks_the_truly_best_method_and_calls_near_equal_ones_a_tie() {
    let base = SynthSpec::default().params;
    let scaled = |k: f64| {
        let mut p = base;
        p[4] *= k; // dc: the damage that tokens remove
        p[6] *= k; // e: the damage that stays
        p
    };
    let truths = [("depth", scaled(1.6)), ("width", scaled(1.0)), ("nm", scaled(1.3))];
    let fits: Vec<MethodFit> =
        truths.iter().enumerate().map(|(i, (m, p))| fitted(m, *p, 11 + i as u64)).collect();
    let q =
        Question { n0: 3e8, l0: 3.07, target: Target::Rate(0.35), budget: 3e9, within: 0.01, layers: None };
    let a = advise(&fits, &q);
    let best_truth = truths.iter().min_by(|x, y| truth(&x.1, &q).total_cmp(&truth(&y.1, &q))).unwrap().0;
    assert_eq!(a.best.as_deref(), Some(best_truth), "{a:#?}");
    assert!(a.tied_with.is_empty(), "truths 0.1+ nats apart are not a tie: {a:#?}");
    assert!(a.confidence.starts_with("clear"), "{}", a.confidence);

    // Two methods whose truths differ by 0.1 %: the intervals overlap, and advise says it cannot choose.
    let near = [("width", scaled(1.0)), ("unstructured", scaled(1.001))];
    let fits: Vec<MethodFit> =
        near.iter().enumerate().map(|(i, (m, p))| fitted(m, *p, 21 + i as u64)).collect();
    let a = advise(&fits, &q);
    assert_eq!(a.tied_with.len(), 1, "{a:#?}");
    assert!(a.confidence.starts_with("a tie"), "{}", a.confidence);
    for o in &a.options {
        let [lo, hi] = o.interval.unwrap();
        let t = truth(&near.iter().find(|n| n.0 == o.method).unwrap().1, &q);
        assert!(lo <= t + 0.01 && t - 0.01 <= hi, "{}: truth {t} vs [{lo}, {hi}]", o.method);
    }
}
