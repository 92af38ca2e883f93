//! Synthetic loss curves from known `p2` parameters: for tests, the demo and the bench.
//!
//! One run per (`method`, `n0`, `rho`) of the grid (no `method` label when `methods` is empty), `points_per_run`
//! log-spaced `d` values in `[d_min, d_max]`, loss = `p2` prediction + Gaussian noise of standard deviation
//! `noise_sd` (seeded). The unpruned loss is a made-up size curve, `l0 = 2 + 20 · n0^-0.15` (3.26 at 1e8,
//! 2.89 at 1e9).
//!
//! The default truth follows the paper's trends: a higher pruning rate costs loss (`gamma` < 0, so
//! `(1/rho)^gamma` grows with `rho`), a larger model has lower loss, and loss falls with `d` and levels off.
//! On the default grid the pruned loss starts 0.38 (n0 1e9, rho 0.2) to 1.45 (n0 1e8, rho 0.65) nats above
//! `l0` at `d` = 1e7 and ends 0.12 to 0.62 above it at 1e10, the last decade of `d` gaining 0.03 to 0.08;
//! neighbouring rates stay at least 0.059 apart at 1e10 (six noise sd), so the trend survives the noise.
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

use p2law_formats::SplitMix64;

use crate::curves::{Curves, Point, Run};
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
            params: [-0.8, 0.1, 1000.0, 0.3, 5000.0, 0.4, 1.0],
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
    let mut rng = SplitMix64::new(spec.seed);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One run's `(d, loss)` points, by increasing `d`.
    type Curve = Vec<(f64, f64)>;

    /// The noise-free curve of every default run, by (n0 index, rho index).
    fn default_grid() -> (SynthSpec, Vec<Vec<Curve>>) {
        let spec = SynthSpec { noise_sd: 0.0, ..SynthSpec::default() };
        let c = generate(&spec);
        let mut grid = vec![vec![Vec::new(); spec.rhos.len()]; spec.n0s.len()];
        for (r, points) in c.points_by_run().into_iter().enumerate() {
            let run = &c.runs[r];
            let i = spec.n0s.iter().position(|&n0| n0 == run.n0).unwrap();
            let j = spec.rhos.iter().position(|&rho| rho == run.rho).unwrap();
            grid[i][j] = points.iter().map(|&k| (c.points[k].d(), c.points[k].loss())).collect();
        }
        (spec, grid)
    }

    #[test]
    fn the_default_truth_follows_the_papers_trends() {
        let (spec, grid) = default_grid();
        let (n_n0, n_rho, n_d) = (spec.n0s.len(), spec.rhos.len(), spec.points_per_run);
        for i in 0..n_n0 {
            for j in 0..n_rho {
                let run = &grid[i][j];
                assert_eq!(run.len(), n_d);
                for k in 0..n_d {
                    let (d, loss) = run[k];
                    // Higher rho → higher loss, at every n0 and d.
                    if j + 1 < n_rho {
                        let next = grid[i][j + 1][k].1;
                        assert!(
                            next > loss,
                            "n0 {:e}, d {d:e}: rho {} → {loss}, rho {} → {next}",
                            spec.n0s[i],
                            spec.rhos[j],
                            spec.rhos[j + 1]
                        );
                    }
                    // Larger n0 → lower loss, at every rho and d.
                    if i + 1 < n_n0 {
                        let next = grid[i + 1][j][k].1;
                        assert!(
                            next < loss,
                            "rho {}, d {d:e}: n0 {:e} → {loss}, n0 {:e} → {next}",
                            spec.rhos[j],
                            spec.n0s[i],
                            spec.n0s[i + 1]
                        );
                    }
                    // Loss falls with d (and stays above l0).
                    if k + 1 < n_d {
                        assert!(
                            run[k + 1].1 < loss,
                            "n0 {:e}, rho {}: loss rises after d {d:e}",
                            spec.n0s[i],
                            spec.rhos[j]
                        );
                    }
                    assert!(loss > l0_for(spec.n0s[i]));
                }
                // Realistic: a few tenths to ~1.5 nats above l0 at the smallest d, and levelling off: the last
                // decade of d gains under a fifth of what the first gains, and under 0.1 nats.
                let l0 = l0_for(spec.n0s[i]);
                let excess = run[0].1 - l0;
                assert!(
                    (0.3..1.5).contains(&excess),
                    "n0 {:e}, rho {}: {excess} above l0",
                    spec.n0s[i],
                    spec.rhos[j]
                );
                let at = |d: f64| run.iter().find(|p| (p.0 / d - 1.0).abs() < 1e-9).unwrap().1;
                let (first, last) = (at(1e7) - at(1e8), at(1e9) - at(1e10));
                assert!(
                    last < 0.1 && last < first / 5.0,
                    "n0 {:e}, rho {}: decades gain {first} then {last}",
                    spec.n0s[i],
                    spec.rhos[j]
                );
            }
        }
    }
}
