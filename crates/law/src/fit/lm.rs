//! Least squares on the loss by Levenberg–Marquardt (the `levenberg-marquardt` crate, a port of MINPACK's
//! `lmder`, the same algorithm as SciPy's `curve_fit(method="lm")`), with the exact Jacobian from the
//! expression. Residuals are `pred - loss`; the reported objective is `½ Σ r²`.

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt, TerminationReason};
use nalgebra::{storage::Owned, DMatrix, DVector, Dyn};

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

/// Outcome of one LM run.
#[derive(Debug, Clone)]
pub(crate) struct LmResult {
    pub(crate) x: Vec<f64>,
    pub(crate) objective: f64,
    pub(crate) evaluations: usize,
    pub(crate) converged: bool,
    pub(crate) reason: String,
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
        converged,
        reason: format!("{:?}", report.termination),
    }
}
