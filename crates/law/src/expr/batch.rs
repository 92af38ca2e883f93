//! Evaluating one expression over a whole data set, fast: the engine under every fit.
//!
//! Points are grouped by their values of every variable except `d` and `loss` (for curve data: one group
//! per run). Slots that depend on no parameter are computed once, when the batch is built; slots that vary
//! only by group (`(1/rho)^gamma`, `nc/n0^alpha`) once per group and evaluation, with forward-mode gradients;
//! only the per-point remainder (`dc/d^beta + …`: one `exp` for `p2`) runs per point, and its gradient comes
//! from a short reverse sweep that stops at the group-level slots. Results are identical to evaluating
//! [`Tape`] point by point (tested below), just with the invariant work hoisted.

use std::collections::HashMap;

use super::tape::{grad_step, partials, value, Level, Tape};

/// An expression bound to a data set (rows of `[f64; 6]` variables).
#[derive(Debug, Clone)]
pub(crate) struct Batch<'t> {
    tape: &'t Tape,
    global: Vec<usize>,
    group_live: Vec<usize>,
    group_data: Vec<usize>,
    point_live: Vec<usize>,
    point_data: Vec<usize>,
    /// Parameter-dependent slots below point level whose adjoints the per-point sweep produces.
    boundary: Vec<usize>,
    /// Ranges of `order` making up each group.
    groups: Vec<std::ops::Range<usize>>,
    /// Position in group order → original point index.
    order: Vec<usize>,
    gdata: Vec<f64>,
    pdata: Vec<f64>,
}

/// Scratch space for one thread's evaluations.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    vals: Vec<f64>,
    grads: Vec<f64>,
    adj: Vec<f64>,
    acc: Vec<f64>,
}

impl<'t> Batch<'t> {
    pub(crate) fn new(tape: &'t Tape, rows: &[[f64; 6]]) -> Self {
        let n = tape.instrs.len();
        let pick = |lvl: Level, live: bool| -> Vec<usize> {
            (0..n).filter(|&i| tape.level[i] == lvl && tape.has_param[i] == live).collect()
        };
        let mut global: Vec<usize> = (0..n).filter(|&i| tape.level[i] == Level::Global).collect();
        global.sort_unstable();
        let (group_live, group_data) = (pick(Level::Group, true), pick(Level::Group, false));
        let (point_live, point_data) = (pick(Level::Point, true), pick(Level::Point, false));
        let out = tape.output();
        let mut boundary: Vec<usize> = Vec::new();
        for &i in &point_live {
            for (s, _) in partials(tape, i, &vec![1.0; n]) {
                if s != usize::MAX && tape.level[s] != Level::Point {
                    boundary.push(s);
                }
            }
        }
        if tape.has_param[out] && tape.level[out] != Level::Point {
            boundary.push(out);
        }
        boundary.sort_unstable();
        boundary.dedup();

        let mut key_to_group: HashMap<[u64; 4], usize> = HashMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (k, row) in rows.iter().enumerate() {
            let key = [row[0].to_bits(), row[1].to_bits(), row[2].to_bits(), row[3].to_bits()];
            let g = *key_to_group.entry(key).or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
            members[g].push(k);
        }
        let mut order = Vec::with_capacity(rows.len());
        let mut groups = Vec::with_capacity(members.len());
        let (mut gdata, mut pdata) = (Vec::new(), Vec::new());
        let zeros = vec![0.0; tape.n_params];
        let mut vals = Vec::new();
        for m in &members {
            groups.push(order.len()..order.len() + m.len());
            tape.forward(&rows[m[0]], &zeros, &mut vals);
            gdata.extend(group_data.iter().map(|&s| vals[s]));
            for &k in m {
                tape.forward(&rows[k], &zeros, &mut vals);
                pdata.extend(point_data.iter().map(|&s| vals[s]));
                order.push(k);
            }
        }
        Batch {
            tape,
            global,
            group_live,
            group_data,
            point_live,
            point_data,
            boundary,
            groups,
            order,
            gdata,
            pdata,
        }
    }

    pub(crate) fn workspace(&self) -> Workspace {
        let n = self.tape.instrs.len();
        Workspace {
            vals: vec![0.0; n],
            grads: vec![0.0; n * self.tape.n_params],
            adj: vec![0.0; n],
            acc: vec![0.0; n],
        }
    }

    fn global_pass(&self, params: &[f64], ws: &mut Workspace) {
        for &i in &self.global {
            ws.vals[i] = value(&self.tape.instrs[i], &[0.0; 6], params, &ws.vals);
            if self.tape.has_param[i] {
                grad_step(self.tape, i, &ws.vals, &mut ws.grads);
            }
        }
    }

    fn group_pass(&self, g: usize, params: &[f64], ws: &mut Workspace) {
        let nd = self.group_data.len();
        for (j, &s) in self.group_data.iter().enumerate() {
            ws.vals[s] = self.gdata[g * nd + j];
        }
        for &i in &self.group_live {
            ws.vals[i] = value(&self.tape.instrs[i], &[0.0; 6], params, &ws.vals);
            grad_step(self.tape, i, &ws.vals, &mut ws.grads);
        }
    }

    /// Value at the point in group-order position `k`.
    #[inline]
    fn point_value(&self, k: usize, params: &[f64], ws: &mut Workspace) -> f64 {
        let nd = self.point_data.len();
        for (j, &s) in self.point_data.iter().enumerate() {
            ws.vals[s] = self.pdata[k * nd + j];
        }
        for &i in &self.point_live {
            ws.vals[i] = value(&self.tape.instrs[i], &[0.0; 6], params, &ws.vals);
        }
        ws.vals[self.tape.output()]
    }

    /// Reverse sweep over the point-level slots, seeding the output's adjoint with `seed`; leaves the
    /// adjoints of the boundary slots in `ws.adj`.
    #[inline]
    fn point_reverse(&self, seed: f64, ws: &mut Workspace) {
        for &s in self.point_live.iter().chain(&self.boundary) {
            ws.adj[s] = 0.0;
        }
        ws.adj[self.tape.output()] = seed;
        for &i in self.point_live.iter().rev() {
            let a = ws.adj[i];
            if a == 0.0 {
                continue;
            }
            for (s, d) in partials(self.tape, i, &ws.vals) {
                if s != usize::MAX {
                    ws.adj[s] += a * d;
                }
            }
        }
    }

    /// Predictions at every point (in the original order).
    pub(crate) fn values(&self, params: &[f64], ws: &mut Workspace, pred: &mut [f64]) {
        self.global_pass(params, ws);
        for (g, range) in self.groups.iter().enumerate() {
            self.group_pass(g, params, ws);
            for k in range.clone() {
                pred[self.order[k]] = self.point_value(k, params, ws);
            }
        }
    }

    /// Predictions and the Jacobian (`len × n_params`, row-major, rows in the original point order).
    pub(crate) fn jacobian(&self, params: &[f64], ws: &mut Workspace, pred: &mut [f64], jac: &mut [f64]) {
        let np = self.tape.n_params;
        self.global_pass(params, ws);
        for (g, range) in self.groups.iter().enumerate() {
            self.group_pass(g, params, ws);
            for k in range.clone() {
                let p = self.order[k];
                pred[p] = self.point_value(k, params, ws);
                self.point_reverse(1.0, ws);
                let row = &mut jac[p * np..(p + 1) * np];
                row.fill(0.0);
                for &s in &self.boundary {
                    for &q in &self.tape.deps[s] {
                        row[q] += ws.adj[s] * ws.grads[s * np + q];
                    }
                }
            }
        }
    }

    /// `Σ_i f(i, pred_i).0` and its gradient w.r.t. the parameters (into `grad`), where `f` returns a
    /// point's contribution and its derivative w.r.t. the prediction. `i` is the original point index.
    pub(crate) fn objective(
        &self,
        params: &[f64],
        ws: &mut Workspace,
        mut f: impl FnMut(usize, f64) -> (f64, f64),
        grad: &mut [f64],
    ) -> f64 {
        let np = self.tape.n_params;
        grad.fill(0.0);
        let mut total = 0.0;
        self.global_pass(params, ws);
        for (g, range) in self.groups.iter().enumerate() {
            self.group_pass(g, params, ws);
            for &s in &self.boundary {
                ws.acc[s] = 0.0;
            }
            for k in range.clone() {
                let pred = self.point_value(k, params, ws);
                let (v, dv) = f(self.order[k], pred);
                total += v;
                self.point_reverse(dv, ws);
                for &s in &self.boundary {
                    ws.acc[s] += ws.adj[s];
                }
            }
            for &s in &self.boundary {
                for &q in &self.tape.deps[s] {
                    grad[q] += ws.acc[s] * ws.grads[s * np + q];
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;

    const LAWS: [&str; 4] = [
        "l0 + (1/rho)^gamma * (1/n0)^delta * (nc/n0^alpha + dc/d^beta + e)",
        "e + a/n^alpha + b/d^beta",
        "exp(a) * ln(d) + b",
        "a * b",
    ];

    fn rows() -> Vec<[f64; 6]> {
        let mut rows = Vec::new();
        for (r, &(n0, rho)) in [(1e8, 0.3), (4e8, 0.5), (1e8, 0.5)].iter().enumerate() {
            for j in 0..5 {
                let d = 1e8 * 3f64.powi(j + r as i32);
                rows.push([n0, n0 * (1.0 - rho), rho, 3.0, d, 3.5]);
            }
        }
        rows.swap(0, 7); // points of a group need not be contiguous
        rows
    }

    #[test]
    fn matches_point_by_point_evaluation() {
        let rows = rows();
        for src in LAWS {
            let e = Expr::parse(src).unwrap();
            let np = e.params().len();
            let params: Vec<f64> = (0..np).map(|i| 0.2 + 0.15 * i as f64).collect();
            let b = Batch::new(&e.tape, &rows);
            let mut ws = b.workspace();
            let (mut pred, mut jac) = (vec![0.0; rows.len()], vec![0.0; rows.len() * np]);
            b.jacobian(&params, &mut ws, &mut pred, &mut jac);
            let mut weights_grad = vec![0.0; np];
            let total = b.objective(&params, &mut ws, |i, p| (p * i as f64, i as f64), &mut weights_grad);
            let mut want_total = 0.0;
            let mut want_grad = vec![0.0; np];
            for (i, row) in rows.iter().enumerate() {
                let mut g = vec![0.0; np];
                let y = e.eval_grad(row, &params, &mut g);
                assert!((pred[i] - y).abs() <= 1e-12 * y.abs(), "{src}: point {i}");
                for q in 0..np {
                    assert!(
                        (jac[i * np + q] - g[q]).abs() <= 1e-10 * g[q].abs().max(1e-12),
                        "{src}: {i},{q}"
                    );
                    want_grad[q] += i as f64 * g[q];
                }
                want_total += y * i as f64;
            }
            assert!((total - want_total).abs() <= 1e-10 * want_total.abs());
            for q in 0..np {
                assert!((weights_grad[q] - want_grad[q]).abs() <= 1e-9 * want_grad[q].abs().max(1e-12));
            }
        }
    }
}
