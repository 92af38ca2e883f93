//! Synthetic loss curves from known `p2` parameters: for tests, the demo and the bench.
//!
//! One run per (`method`, `n0`, `rho`) of the grid (no `method` label when `methods` is empty), `points_per_run` log-spaced `d` values in
//! `[d_min, d_max]`, loss = `p2` prediction + Gaussian noise of standard deviation `noise_sd` (seeded).
//! The unpruned loss is a made-up size curve, `l0 = 2 + 20 · n0^-0.15` (3.26 at 1e8, 2.89 at 1e9).
//!
//! ```
//! use p2law_law::synth::{generate, SynthSpec};
//! let c = generate(&SynthSpec::default());
//! assert_eq!(c.runs.len(), 12);
//! assert_eq!(c.points.len(), 12 * 40);
//! let two = generate(&SynthSpec { methods: vec!["depth".into(), "width".into()], ..Default::default() });
//! assert_eq!(two.runs.len(), 24);
//! assert_eq!(two.runs[12].method.as_deref(), Some("width"));
//! ```

use crate::curves::{Curves, Point, Run};
use crate::fit::rng::Rng;
use crate::laws::Law;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// `p2` parameters in its order: gamma, delta, nc, alpha, dc, beta, e.
    pub params: [f64; 7],
    /// Pruning-method labels; each gets its own runs (own noise) from the same law. Empty: unlabelled runs.
    pub methods: Vec<String>,
    pub n0s: Vec<f64>,
    pub rhos: Vec<f64>,
    pub points_per_run: usize,
    pub d_min: f64,
    pub d_max: f64,
    pub noise_sd: f64,
    pub seed: u64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            params: [0.6, 0.1, 500.0, 0.3, 500.0, 0.3, 0.5],
            methods: Vec::new(),
            n0s: vec![1e8, 3e8, 1e9],
            rhos: vec![0.2, 0.35, 0.5, 0.65],
            points_per_run: 40,
            d_min: 1e7,
            d_max: 1e10,
            noise_sd: 0.01,
            seed: 0,
        }
    }
}

/// The unpruned loss this generator assumes for a model of `n0` parameters.
pub fn l0_for(n0: f64) -> f64 {
    2.0 + 20.0 * n0.powf(-0.15)
}

/// Generates the curves (runs in method-, then `n0`-major order, points by increasing `d` within a run).
pub fn generate(spec: &SynthSpec) -> Curves {
    let law = Law::builtin("p2").expect("the p2 built-in parses");
    let mut rng = Rng::new(spec.seed);
    let mut curves = Curves::default();
    let methods: Vec<Option<&String>> =
        if spec.methods.is_empty() { vec![None] } else { spec.methods.iter().map(Some).collect() };
    for method in methods {
        for (&n0, &rho) in spec.n0s.iter().flat_map(|n0| spec.rhos.iter().map(move |rho| (n0, rho))) {
            let run = curves.runs.len();
            let l0 = l0_for(n0);
            let name = match method {
                Some(m) => format!("{m} n0={n0:e} rho={rho}"),
                None => format!("n0={n0:e} rho={rho}"),
            };
            curves.runs.push(Run { name, n0, rho, l0, method: method.cloned(), ..Default::default() });
            let k = spec.points_per_run;
            for j in 0..k {
                let t = if k > 1 { j as f64 / (k - 1) as f64 } else { 0.0 };
                let d = spec.d_min * (spec.d_max / spec.d_min).powf(t);
                let mut vars = [n0, n0 * (1.0 - rho), rho, l0, d, 0.0];
                vars[5] = law.predict(&spec.params, &vars) + spec.noise_sd * rng.normal();
                curves.points.push(Point { run, vars });
            }
        }
    }
    curves
}
