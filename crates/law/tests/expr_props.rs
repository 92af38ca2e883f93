//! Property tests of the expression language: the parser never panics, printing round-trips, the tape
//! agrees with the naive tree walk, and gradients agree with central finite differences.

use p2law_law::expr::Expr;
use proptest::prelude::*;

/// Random well-formed expression text over variables, parameters `a`..`c` and every function (`ln`, `log10`,
/// `log2`, `exp`, `sqrt`), arguments kept in their domains. Values stay finite-ish: bases of `^` are positive
/// (`exp(..)`, or positive variables) and exponents small.
fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (1u32..50).prop_map(|n| format!("{}", n as f64 / 10.0)),
        prop::sample::select(vec!["n0", "rho", "l0", "d", "a", "b", "c"]).prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-", "*", "/"]))
                .prop_map(|(x, y, op)| format!("({x} {op} {y})")),
            inner.clone().prop_map(|x| format!("-{x}")),
            (inner.clone(), prop::sample::select(vec!["rho", "a", "0.5", "-b"]))
                .prop_map(|(x, e)| format!("exp({x} / 10) ^ {e}")),
            inner.clone().prop_map(|x| format!("ln(1 + ({x}) ^ 2)")),
            inner.clone().prop_map(|x| format!("log10(1 + ({x}) ^ 2)")),
            inner.clone().prop_map(|x| format!("log2(1 + ({x}) ^ 2)")),
            inner.prop_map(|x| format!("sqrt(1 + ({x}) * ({x}))")),
        ]
    })
}

const VARS: [f64; 6] = [2.0, 1.0, 0.4, 3.0, 5.0, 2.9];

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0) || (a.is_nan() && b.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn parser_never_panics(s in "[-+*/^()<>=!&|a-z0-9. ]{0,40}") {
        let _ = Expr::parse(&s);
    }

    #[test]
    fn display_round_trips_and_tape_matches_reference(src in expr_text(), p in prop::collection::vec(0.1f64..2.0, 3)) {
        let e = Expr::parse(&src).unwrap();
        let params: Vec<f64> = e.params().iter().map(|n| p[(n.as_bytes()[0] - b'a') as usize]).collect();
        let printed = e.to_string();
        let again = Expr::parse(&printed).unwrap();
        prop_assert_eq!(again.params(), e.params());
        let (v, w) = (e.eval(&VARS, &params), again.eval(&VARS, &params));
        prop_assert!(close(v, w, 1e-12), "{} = {} but {} = {}", src, v, printed, w);
        prop_assert!(close(v, e.eval_reference(&VARS, &params), 1e-12));
    }

    #[test]
    fn gradients_match_finite_differences(src in expr_text(), p in prop::collection::vec(0.2f64..1.5, 3)) {
        let e = Expr::parse(&src).unwrap();
        let params: Vec<f64> = e.params().iter().map(|n| p[(n.as_bytes()[0] - b'a') as usize]).collect();
        let mut grad = vec![0.0; params.len()];
        let v = e.eval_grad(&VARS, &params, &mut grad);
        prop_assume!(v.is_finite() && v.abs() < 1e6);
        for i in 0..params.len() {
            let h = 1e-6 * params[i].abs().max(1.0);
            let (mut up, mut dn) = (params.clone(), params.clone());
            up[i] += h;
            dn[i] -= h;
            let fd = (e.eval(&VARS, &up) - e.eval(&VARS, &dn)) / (2.0 * h);
            prop_assert!(close(grad[i], fd, 1e-4), "{}: d/d{} = {} but finite difference {}", src, e.params()[i], grad[i], fd);
        }
    }
}
