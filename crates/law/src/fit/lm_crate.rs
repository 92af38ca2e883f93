//! Least squares on the loss by Levenberg–Marquardt with the `levenberg-marquardt` crate (a port of
//! MINPACK's `lmder`, the same algorithm as SciPy's `curve_fit(method="lm")`), with the exact Jacobian from
//! the expression. Residuals are `pred - loss`; the reported objective is `½ Σ r²`. Only for comparisons
//! (the `bench` feature: `examples/fit_bench.rs` and the test below); fits use `fit::lm`.

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt, TerminationReason};
use nalgebra::{storage::Owned, DMatrix, DVector, Dyn};

use super::lm::{LmResult, Stop};
use crate::expr::batch::Batch;

/// A residual standing in for a non-finite prediction: large enough that LM rejects the step, finite so
/// that its bookkeeping stays valid.
const BAD_RESIDUAL: f64 = 1e10;

struct Problem<'a, 'b> {
    batch: &'a Batch<'b>,
    y: &'a [f64],
    x: DVector<f64>,
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for Problem<'_, '_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, x: &DVector<f64>) {
        self.x.copy_from(x);
    }

    fn params(&self) -> DVector<f64> {
        self.x.clone()
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let mut ws = self.batch.workspace();
        let mut pred = vec![0.0; self.y.len()];
        self.batch.values(self.x.as_slice(), &mut ws, &mut pred);
        Some(DVector::from_iterator(
            pred.len(),
            pred.iter().zip(self.y).map(|(p, y)| if p.is_finite() { p - y } else { BAD_RESIDUAL }),
        ))
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let np = self.x.len();
        let n = self.y.len();
        let mut ws = self.batch.workspace();
        let (mut pred, mut jac) = (vec![0.0; n], vec![0.0; n * np]);
        self.batch.jacobian(self.x.as_slice(), &mut ws, &mut pred, &mut jac);
        if jac.iter().any(|v| !v.is_finite()) {
            return None;
        }
        // `jac` is row-major n × np; nalgebra is column-major, so read it as np × n and transpose.
        Some(DMatrix::from_column_slice(np, n, &jac).transpose())
    }
}

/// Runs LM from `x0` with MINPACK's default tolerances (`ftol = xtol = 1.49e-8`, `gtol = 0`, as SciPy).
pub(crate) fn levenberg_marquardt(batch: &Batch, y: &[f64], x0: &[f64], patience: usize) -> LmResult {
    let problem = Problem { batch, y, x: DVector::from_column_slice(x0) };
    let tol = 1.49012e-8;
    let lm = LevenbergMarquardt::new().with_ftol(tol).with_xtol(tol).with_gtol(0.0).with_patience(patience);
    let (problem, report) = lm.minimize(problem);
    let converged = report.termination.was_successful()
        || matches!(report.termination, TerminationReason::NoImprovementPossible(_));
    LmResult {
        x: problem.x.as_slice().to_vec(),
        objective: report.objective_function,
        evaluations: report.number_of_evaluations,
        stop: Stop::Crate { converged, termination: format!("{:?}", report.termination) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;
    use crate::fit::lm::TIGHT;

    #[test]
    fn agrees_with_the_crate_on_a_power_law() {
        let e = Expr::parse("a + b / d^c").unwrap();
        let rows: Vec<[f64; 6]> = (1..60).map(|i| [0.0, 0.0, 0.0, 0.0, 1e6 * 1.2f64.powi(i), 0.0]).collect();
        let y: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| 2.0 + 40.0 / r[4].powf(0.3) + 1e-3 * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        let batch = Batch::new(&e.tape, &rows);
        let x0 = [1.0, 10.0, 0.2];
        let ours = crate::fit::lm::levenberg_marquardt(&batch, &y, &x0, TIGHT);
        let theirs = levenberg_marquardt(&batch, &y, &x0, 100);
        assert!(ours.converged() && theirs.converged(), "{} / {}", ours.stop, theirs.stop);
        assert!(
            (ours.objective - theirs.objective).abs() <= 1e-6 * theirs.objective,
            "{} vs {}",
            ours.objective,
            theirs.objective
        );
        for (a, b) in ours.x.iter().zip(&theirs.x) {
            assert!((a - b).abs() <= 1e-4 * b.abs(), "{:?} vs {:?}", ours.x, theirs.x);
        }
    }
}
