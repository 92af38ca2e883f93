//! Bootstrap intervals and plans on synthetic p2 curves whose true parameters are known.

use p2law_law::synth::{generate, SynthSpec};
use p2law_law::{bootstrap, plan, plan_with_intervals, BootstrapOptions, FitOptions, Law, PlanQuery};

#[test]
fn bootstrap_intervals_cover_the_truth_and_plans_get_intervals() {
    let spec = SynthSpec { points_per_run: 12, ..Default::default() };
    let curves = generate(&spec);
    let law = Law::builtin("p2").unwrap();
    let opts = BootstrapOptions {
        replicates: 16,
        seed: 3,
        fit: FitOptions { starts: 16, polish: 1, ..Default::default() },
    };
    let b = bootstrap(&law, &curves.points, &opts).unwrap();
    assert_eq!(b.samples.len() + b.failed, 16);
    let iv = b.param_intervals(0.9).unwrap();
    // beta (index 5) is the best-determined exponent: its interval must be narrow and near the truth.
    let (lo, hi) = iv[5];
    assert!(
        lo < hi && hi - lo < 0.1 && (lo - 0.05..hi + 0.05).contains(&spec.params[5]),
        "beta in [{lo}, {hi}]"
    );
    // Same seed, same replicates.
    assert_eq!(bootstrap(&law, &curves.points, &opts).unwrap(), b);

    let q = PlanQuery::new(1e9, 0.5, 2.9);
    let truth = plan(&law, &spec.params, &q).unwrap();
    let (point, intervals) = plan_with_intervals(&law, &spec.params, &b.samples, &q, 0.9).unwrap();
    assert_eq!(point, truth);
    let (plo, phi) = intervals.plateau_loss;
    assert!(plo <= phi && (plo - 0.05..phi + 0.05).contains(&truth.plateau_loss), "plateau [{plo}, {phi}]");
    let (vars_lo, vars_hi) = b.prediction_interval(&law, &[1e9, 5e8, 0.5, 2.9, 1e9, 0.0], 0.9).unwrap();
    assert!(vars_lo <= vars_hi);
}
