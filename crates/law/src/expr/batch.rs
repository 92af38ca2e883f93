//! Evaluating one expression over a whole data set, fast: the engine under every fit.
//!
//! Points are grouped by their values of every variable except `d` and `loss` (for curve data: one group
//! per run). Slots that depend on no parameter are computed once, when the batch is built; slots that vary
//! only by group (`(1/rho)^gamma`, `nc/n0^alpha`) once per group and evaluation, with forward-mode gradients;
//! only the per-point remainder (`dc/d^beta + …`: one `exp` for `p2`) runs per point, one instruction at a
//! time over a whole group's column of points (no interpreter dispatch per point, loops the compiler can
//! vectorise). Its gradient comes from a reverse sweep, also by columns, that stops at the *boundary*: the
//! few parameter-dependent slots below point level that point-level slots read.
//!
//! That gives the Jacobian in factored form: row `k` of a group `g` is `w_kᵀ B_g`, where `w_k` holds the
//! point's adjoints of the `nb` boundary slots and `B_g` (`nb × p`) their forward-mode gradients. The
//! normal equations `JᵀJ`, `Jᵀr` ([`Batch::gram`]) and `Jᵀr` after a step ([`Batch::project`]) are then
//! accumulated per point in `nb²` rather than `p²` operations, without forming `J`. Results are identical to
//! evaluating [`Tape`] point by point (tested below), just with the invariant work hoisted.

use std::collections::HashMap;

use super::ast::{BinOp, Func, UnOp};
use super::tape::{grad_step, partials, value, Instr, Level, Tape};

mod kernels;

use kernels::{accumulate, by_width, map1, map2, moments, projected, Col};

const NONE: usize = usize::MAX;

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
    /// Slot → its value column (point-level slots), else `NONE`.
    col_of: Vec<usize>,
    n_cols: usize,
    /// Slot → its adjoint column (live point-level and boundary slots), else `NONE`.
    adj_of: Vec<usize>,
    n_adj: usize,
    /// Ranges of `order` making up each group.
    groups: Vec<std::ops::Range<usize>>,
    /// Largest group: the length of every column.
    stride: usize,
    /// Position in group order → original point index.
    order: Vec<usize>,
    gdata: Vec<f64>,
    /// Point-level data, one column per `point_data` slot, each in group order.
    pdata: Vec<f64>,
}

/// Scratch space for one thread's evaluations, and the factored Jacobian of the last [`Batch::linearize`].
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    vals: Vec<f64>,
    grads: Vec<f64>,
    cols: Vec<f64>,
    adj: Vec<f64>,
    tmp: Vec<f64>,
    scratch: Vec<f64>,
    /// Boundary adjoints per point (group order, `nb` each).
    w: Vec<f64>,
    /// Boundary gradients per group (`nb × p` each).
    bg: Vec<f64>,
}

impl<'t> Batch<'t> {
    pub(crate) fn new(tape: &'t Tape, rows: &[[f64; 6]]) -> Self {
        let n = tape.instrs.len();
        let pick = |lvl: Level, live: bool| -> Vec<usize> {
            (0..n).filter(|&i| tape.level[i] == lvl && tape.has_param[i] == live).collect()
        };
        let global: Vec<usize> = (0..n).filter(|&i| tape.level[i] == Level::Global).collect();
        let (group_live, group_data) = (pick(Level::Group, true), pick(Level::Group, false));
        let (point_live, point_data) = (pick(Level::Point, true), pick(Level::Point, false));
        let out = tape.output();
        let mut boundary: Vec<usize> = Vec::new();
        for &i in &point_live {
            for (s, _) in partials(tape, i, &vec![1.0; n]) {
                if s != NONE && tape.level[s] != Level::Point {
                    boundary.push(s);
                }
            }
        }
        if tape.has_param[out] && tape.level[out] != Level::Point {
            boundary.push(out);
        }
        boundary.sort_unstable();
        boundary.dedup();
        // Columns in slot order, so an instruction's operands always sit in columns before its own.
        let (mut col_of, mut n_cols) = (vec![NONE; n], 0);
        for i in (0..n).filter(|&i| tape.level[i] == Level::Point) {
            col_of[i] = n_cols;
            n_cols += 1;
        }
        let (mut adj_of, mut n_adj) = (vec![NONE; n], 0);
        for i in
            (0..n).filter(|&i| point_live.binary_search(&i).is_ok() || boundary.binary_search(&i).is_ok())
        {
            adj_of[i] = n_adj;
            n_adj += 1;
        }

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
        let mut gdata = Vec::new();
        let mut pdata = vec![0.0; point_data.len() * rows.len()];
        let zeros = vec![0.0; tape.n_params];
        let mut vals = Vec::new();
        for m in &members {
            groups.push(order.len()..order.len() + m.len());
            tape.forward(&rows[m[0]], &zeros, &mut vals);
            gdata.extend(group_data.iter().map(|&s| vals[s]));
            for &k in m {
                tape.forward(&rows[k], &zeros, &mut vals);
                for (j, &s) in point_data.iter().enumerate() {
                    pdata[j * rows.len() + order.len()] = vals[s];
                }
                order.push(k);
            }
        }
        let stride = members.iter().map(Vec::len).max().unwrap_or(0);
        Batch {
            tape,
            global,
            group_live,
            group_data,
            point_live,
            point_data,
            boundary,
            col_of,
            n_cols,
            adj_of,
            n_adj,
            groups,
            stride,
            order,
            gdata,
            pdata,
        }
    }

    pub(crate) fn workspace(&self) -> Workspace {
        let (n, np, nb) = (self.tape.instrs.len(), self.tape.n_params, self.boundary.len());
        Workspace {
            vals: vec![0.0; n],
            grads: vec![0.0; n * np],
            cols: vec![0.0; self.n_cols * self.stride],
            adj: vec![0.0; self.n_adj * self.stride],
            tmp: vec![0.0; self.stride],
            scratch: vec![0.0; self.stride],
            w: vec![0.0; self.order.len() * nb],
            bg: vec![0.0; self.groups.len() * nb * np],
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

    /// Slot `s` as a column operand over the first `m` points of the current group.
    #[inline(always)]
    fn operand<'a>(&self, s: usize, m: usize, vals: &[f64], cols: &'a [f64]) -> Col<'a> {
        match self.col_of[s] {
            NONE => Col::Scalar(vals[s]),
            c => Col::Vec(&cols[c * self.stride..c * self.stride + m]),
        }
    }

    /// Values of every point-level slot for the points of group `g` (after its group pass).
    fn point_columns(&self, g: usize, params: &[f64], ws: &mut Workspace) {
        let range = self.groups[g].clone();
        let (m, st, n_points) = (range.len(), self.stride, self.order.len());
        for (j, &s) in self.point_data.iter().enumerate() {
            let c = self.col_of[s];
            ws.cols[c * st..c * st + m].copy_from_slice(&self.pdata[j * n_points + range.start..][..m]);
        }
        let vals = &ws.vals;
        for &i in &self.point_live {
            let (before, rest) = ws.cols.split_at_mut(self.col_of[i] * st);
            let out = &mut rest[..m];
            let op = |s: usize| self.operand(s, m, vals, before);
            match self.tape.instrs[i] {
                Instr::Un(UnOp::Neg, a) => map1(op(a), out, |x| -x),
                Instr::Call(Func::Exp, a) => map1(op(a), out, f64::exp),
                Instr::Call(Func::Ln, a) => map1(op(a), out, f64::ln),
                Instr::Call(Func::Log10, a) => map1(op(a), out, f64::log10),
                Instr::Call(Func::Log2, a) => map1(op(a), out, f64::log2),
                Instr::Call(Func::Sqrt, a) => map1(op(a), out, f64::sqrt),
                Instr::Bin(BinOp::Add, a, b) => map2(op(a), op(b), out, |x, y| x + y),
                Instr::Bin(BinOp::Sub, a, b) => map2(op(a), op(b), out, |x, y| x - y),
                Instr::Bin(BinOp::Mul, a, b) => map2(op(a), op(b), out, |x, y| x * y),
                Instr::Bin(BinOp::Div, a, b) => map2(op(a), op(b), out, |x, y| x / y),
                Instr::PowData { base, ln_base, exp } => {
                    let (b, lb, e) = (op(base), op(ln_base), op(exp));
                    match (b, lb, e) {
                        (Col::Vec(b), Col::Vec(lb), Col::Scalar(e)) => {
                            for ((o, &b), &lb) in out.iter_mut().zip(b).zip(lb) {
                                *o = if b > 0.0 { (e * lb).exp() } else { b.powf(e) };
                            }
                        }
                        _ => {
                            for (k, o) in out.iter_mut().enumerate() {
                                let (b, lb, e) = (b.at(k), lb.at(k), e.at(k));
                                *o = if b > 0.0 { (e * lb).exp() } else { b.powf(e) };
                            }
                        }
                    }
                }
                // Everything else (comparisons, `!`, `^` of a fitted base) the slow general way.
                instr => {
                    let mut row = vec![0.0; i + 1];
                    for (k, o) in out.iter_mut().enumerate() {
                        for (s, r) in row.iter_mut().enumerate().take(i) {
                            *r = self.operand(s, m, vals, before).at(k);
                        }
                        *o = value(&instr, &[0.0; 6], params, &row);
                    }
                }
            }
        }
    }

    /// Reverse sweep over the point-level slots of the current group (`m` points) from output adjoints
    /// `ws.tmp[..m]`; leaves the boundary slots' per-point adjoints in their adjoint columns.
    fn point_reverse(&self, m: usize, ws: &mut Workspace) {
        let st = self.stride;
        for &s in self.point_live.iter().chain(&self.boundary) {
            let c = self.adj_of[s];
            ws.adj[c * st..c * st + m].fill(0.0);
        }
        let out = self.tape.output();
        if self.adj_of[out] != NONE {
            let c = self.adj_of[out];
            ws.adj[c * st..c * st + m].copy_from_slice(&ws.tmp[..m]);
        }
        let (vals, cols, scratch) = (&ws.vals, &ws.cols, &mut ws.scratch[..m]);
        for &i in self.point_live.iter().rev() {
            let (lo, hi) = ws.adj.split_at_mut(self.adj_of[i] * st);
            let up = &hi[..m];
            let op = |s: usize| self.operand(s, m, vals, cols);
            let v = op(i);
            let live = |s: usize| self.tape.has_param[s];
            let mut add = |s: usize, d: Col| {
                let c = self.adj_of[s];
                accumulate(&mut lo[c * st..c * st + m], up, d);
            };
            match self.tape.instrs[i] {
                Instr::Un(UnOp::Neg, a) if live(a) => add(a, Col::Scalar(-1.0)),
                Instr::Call(Func::Exp, a) if live(a) => add(a, v),
                Instr::Call(f, a) if live(a) => {
                    map2(op(a), v, scratch, |x, v| f.derivative(x, v));
                    add(a, Col::Vec(scratch));
                }
                Instr::PowData { base, ln_base, exp } if live(exp) => {
                    let (b, lb) = (op(base), op(ln_base));
                    for (k, d) in scratch.iter_mut().enumerate() {
                        let (b, lb, v) = (b.at(k), lb.at(k), v.at(k));
                        *d = if b > 0.0 { v * lb } else { v * b.ln() };
                    }
                    add(exp, Col::Vec(scratch));
                }
                Instr::Bin(op2, a, b) => {
                    let (x, y) = (op(a), op(b));
                    match op2 {
                        BinOp::Add | BinOp::Sub => {
                            if live(a) {
                                add(a, Col::Scalar(1.0));
                            }
                            if live(b) {
                                add(b, Col::Scalar(if op2 == BinOp::Add { 1.0 } else { -1.0 }));
                            }
                        }
                        BinOp::Mul => {
                            if live(a) {
                                add(a, y);
                            }
                            if live(b) {
                                add(b, x);
                            }
                        }
                        BinOp::Div => {
                            if live(a) {
                                map1(y, scratch, |y| 1.0 / y);
                                add(a, Col::Vec(scratch));
                            }
                            if live(b) {
                                map2(v, y, scratch, |v, y| -v / y);
                                add(b, Col::Vec(scratch));
                            }
                        }
                        BinOp::Pow => {
                            if live(a) {
                                map2(x, y, scratch, |x, y| y * x.powf(y - 1.0));
                                add(a, Col::Vec(scratch));
                            }
                            if live(b) {
                                map2(v, x, scratch, |v, x| v * x.ln());
                                add(b, Col::Vec(scratch));
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Forward pass of group `g`: its predictions, in group order, into `pred_g` (`m` values).
    fn forward_group(&self, g: usize, params: &[f64], ws: &mut Workspace, pred_g: &mut [f64]) {
        self.group_pass(g, params, ws);
        self.point_columns(g, params, ws);
        let out = self.tape.output();
        match self.col_of[out] {
            NONE => pred_g.fill(ws.vals[out]),
            c => pred_g.copy_from_slice(&ws.cols[c * self.stride..c * self.stride + pred_g.len()]),
        }
    }

    /// Predictions at every point (in the original order).
    pub(crate) fn values(&self, params: &[f64], ws: &mut Workspace, pred: &mut [f64]) {
        self.global_pass(params, ws);
        let mut pg = vec![0.0; self.stride];
        for (g, range) in self.groups.iter().enumerate() {
            let pg = &mut pg[..range.len()];
            self.forward_group(g, params, ws, pg);
            for (k, &v) in range.clone().zip(pg.iter()) {
                pred[self.order[k]] = v;
            }
        }
    }

    /// Predictions (original order) and the factored Jacobian into `ws` (see the module docs).
    pub(crate) fn linearize(&self, params: &[f64], ws: &mut Workspace, pred: &mut [f64]) {
        let (np, nb, st) = (self.tape.n_params, self.boundary.len(), self.stride);
        self.global_pass(params, ws);
        let mut pg = vec![0.0; st];
        for (g, range) in self.groups.iter().enumerate() {
            let m = range.len();
            self.forward_group(g, params, ws, &mut pg[..m]);
            for (k, &v) in range.clone().zip(pg.iter()) {
                pred[self.order[k]] = v;
            }
            ws.tmp[..m].fill(1.0);
            self.point_reverse(m, ws);
            for (j, &s) in self.boundary.iter().enumerate() {
                let c = self.adj_of[s];
                for (t, &a) in ws.adj[c * st..c * st + m].iter().enumerate() {
                    ws.w[(range.start + t) * nb + j] = a;
                }
                ws.bg[(g * nb + j) * np..(g * nb + j + 1) * np]
                    .copy_from_slice(&ws.grads[s * np..(s + 1) * np]);
            }
        }
    }

    /// Predictions and the Jacobian (`len × n_params`, row-major, rows in the original point order).
    pub(crate) fn jacobian(&self, params: &[f64], ws: &mut Workspace, pred: &mut [f64], jac: &mut [f64]) {
        let (np, nb) = (self.tape.n_params, self.boundary.len());
        self.linearize(params, ws, pred);
        for (g, range) in self.groups.iter().enumerate() {
            let bg = &ws.bg[g * nb * np..(g + 1) * nb * np];
            for k in range.clone() {
                let row = &mut jac[self.order[k] * np..(self.order[k] + 1) * np];
                row.fill(0.0);
                for (j, &w) in ws.w[k * nb..(k + 1) * nb].iter().enumerate() {
                    for (r, &b) in row.iter_mut().zip(&bg[j * np..(j + 1) * np]) {
                        *r += w * b;
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
        let (np, st) = (self.tape.n_params, self.stride);
        grad.fill(0.0);
        let mut total = 0.0;
        self.global_pass(params, ws);
        let mut pg = vec![0.0; st];
        for (g, range) in self.groups.iter().enumerate() {
            let m = range.len();
            self.forward_group(g, params, ws, &mut pg[..m]);
            for (t, k) in range.clone().enumerate() {
                let (v, dv) = f(self.order[k], pg[t]);
                total += v;
                ws.tmp[t] = dv;
            }
            self.point_reverse(m, ws);
            for &s in &self.boundary {
                let c = self.adj_of[s];
                let acc: f64 = ws.adj[c * st..c * st + m].iter().sum();
                for &q in &self.tape.deps[s] {
                    grad[q] += acc * ws.grads[s * np + q];
                }
            }
        }
        total
    }

    /// From the last [`Batch::linearize`] (at predictions `pred`): the residuals after a step `delta` in
    /// the linearised model, `r = pred + J·delta − y`; returns `½ Σ r²` and writes `Jᵀr` into `jtr`.
    pub(crate) fn project(
        &self,
        ws: &Workspace,
        y: &[f64],
        pred: &[f64],
        delta: &[f64],
        jtr: &mut [f64],
    ) -> f64 {
        let (np, nb) = (self.tape.n_params, self.boundary.len());
        jtr.fill(0.0);
        let (mut v, mut c) = (vec![0.0; nb], vec![0.0; nb]);
        let mut f = 0.0;
        for (g, range) in self.groups.iter().enumerate() {
            let bg = &ws.bg[g * nb * np..(g + 1) * nb * np];
            for (j, vj) in v.iter_mut().enumerate() {
                *vj = bg[j * np..(j + 1) * np].iter().zip(delta).map(|(b, d)| b * d).sum();
            }
            let base = |t: usize| {
                let o = self.order[range.start + t];
                pred[o] - y[o]
            };
            let w = &ws.w[range.start * nb..range.end * nb];
            f += by_width!(nb, projected(w, nb, base, &v, &mut c));
            for (j, &cj) in c.iter().enumerate() {
                jtr.iter_mut().zip(&bg[j * np..(j + 1) * np]).for_each(|(t, b)| *t += cj * b);
            }
        }
        f
    }

    /// From the last [`Batch::linearize`]: `a = JᵀJ` (`p × p`, row-major) and `b = Jᵀ(y − pred)`.
    pub(crate) fn gram(&self, ws: &Workspace, y: &[f64], pred: &[f64], a: &mut [f64], b: &mut [f64]) {
        let (np, nb) = (self.tape.n_params, self.boundary.len());
        a.fill(0.0);
        b.fill(0.0);
        if nb > 2 * np {
            // Many boundary slots for few parameters (a law of many repeated terms): the factored moments
            // would cost `nb²` per point, so form each Jacobian row (`nb · p`) and its outer product instead.
            return self.gram_by_rows(ws, y, pred, a, b);
        }
        let (mut mm, mut c) = (vec![0.0; nb * nb], vec![0.0; nb]);
        for (g, range) in self.groups.iter().enumerate() {
            let resid = |k: usize| y[self.order[k]] - pred[self.order[k]];
            let w = &ws.w[range.start * nb..range.end * nb];
            by_width!(nb, moments(w, nb, |t| resid(range.start + t), &mut mm, &mut c));
            // `Σ_ij M_ij b_i b_jᵀ` and `Σ_i c_i b_i`.
            let bg = &ws.bg[g * nb * np..(g + 1) * nb * np];
            for i in 0..nb {
                let bi = &bg[i * np..(i + 1) * np];
                for (bq, &x) in b.iter_mut().zip(bi) {
                    *bq += c[i] * x;
                }
                for j in 0..nb {
                    let mij = mm[i * nb + j];
                    let bj = &bg[j * np..(j + 1) * np];
                    for q in 0..np {
                        for r in 0..np {
                            a[q * np + r] += mij * bi[q] * bj[r];
                        }
                    }
                }
            }
        }
    }

    /// [`Batch::gram`] through explicit Jacobian rows: row `k` of group `g` is `w_kᵀ B_g`.
    fn gram_by_rows(&self, ws: &Workspace, y: &[f64], pred: &[f64], a: &mut [f64], b: &mut [f64]) {
        let (np, nb) = (self.tape.n_params, self.boundary.len());
        let mut row = vec![0.0; np];
        for (g, range) in self.groups.iter().enumerate() {
            let bg = &ws.bg[g * nb * np..(g + 1) * nb * np];
            for k in range.clone() {
                row.fill(0.0);
                for (j, &w) in ws.w[k * nb..(k + 1) * nb].iter().enumerate() {
                    if w != 0.0 {
                        row.iter_mut().zip(&bg[j * np..(j + 1) * np]).for_each(|(r, x)| *r += w * x);
                    }
                }
                let resid = y[self.order[k]] - pred[self.order[k]];
                for q in 0..np {
                    b[q] += resid * row[q];
                    for r in 0..np {
                        a[q * np + r] += row[q] * row[r];
                    }
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;

    const LAWS: [&str; 9] = [
        "l0 + (1/rho)^gamma * (1/n0)^delta * (nc/n0^alpha + dc/d^beta + e)",
        "e + a/n^alpha + b/d^beta",
        "exp(a) * ln(d) + b",
        "a * b",
        "sqrt(d) * a^2 + (d > 1e9) * b - (a*d/1e9)^c + e/(d^0.5*b)",
        "exp(a*ln(d)/10) - ln(a*d) + sqrt(b*d)",
        "(d < 1e9) * a + (rho >= 0.5) * b * ln(n0)",
        "log10(a*d) * log2(b + d/1e9) + sqrt(c*d) - log2(c*rho) * log10(b*n0)",
        // Many boundary slots for two parameters: `gram` forms Jacobian rows instead of factored moments.
        "l0 + a/d^b + a/d^b + a*rho/d^b + a/n0^b + a/d^b + (1/rho)^b*a/d^b",
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

    #[test]
    fn gram_and_projection_match_the_explicit_jacobian() {
        let rows = rows();
        let y: Vec<f64> = (0..rows.len()).map(|i| 3.0 + 0.1 * i as f64).collect();
        for src in LAWS {
            let e = Expr::parse(src).unwrap();
            let np = e.params().len();
            let params: Vec<f64> = (0..np).map(|i| 0.3 + 0.1 * i as f64).collect();
            let b = Batch::new(&e.tape, &rows);
            if src.starts_with("l0 + a/d^b") {
                assert!(b.boundary.len() > 2 * np, "{src}: {} boundary slots", b.boundary.len());
            }
            let mut ws = b.workspace();
            let (mut pred, mut jac) = (vec![0.0; rows.len()], vec![0.0; rows.len() * np]);
            b.jacobian(&params, &mut ws, &mut pred, &mut jac);
            let (mut a, mut jtr) = (vec![0.0; np * np], vec![0.0; np]);
            b.gram(&ws, &y, &pred, &mut a, &mut jtr);
            let delta: Vec<f64> = (0..np).map(|i| 0.01 * (i as f64 - 1.0)).collect();
            let mut jtr2 = vec![0.0; np];
            let f = b.project(&ws, &y, &pred, &delta, &mut jtr2);
            let (mut want_a, mut want_b, mut want_f, mut want_jtr2) =
                (vec![0.0; np * np], vec![0.0; np], 0.0, vec![0.0; np]);
            for (i, row) in jac.chunks_exact(np).enumerate() {
                let r2 = pred[i] + row.iter().zip(&delta).map(|(j, d)| j * d).sum::<f64>() - y[i];
                want_f += 0.5 * r2 * r2;
                for q in 0..np {
                    want_b[q] += row[q] * (y[i] - pred[i]);
                    want_jtr2[q] += row[q] * r2;
                    for r in 0..np {
                        want_a[q * np + r] += row[q] * row[r];
                    }
                }
            }
            let close = |x: f64, w: f64| (x - w).abs() <= 1e-10 * w.abs().max(1e-9);
            assert!(a.iter().zip(&want_a).all(|(x, w)| close(*x, *w)), "{src}: {a:?} vs {want_a:?}");
            assert!(jtr.iter().zip(&want_b).all(|(x, w)| close(*x, *w)), "{src}");
            assert!(jtr2.iter().zip(&want_jtr2).all(|(x, w)| close(*x, *w)), "{src}");
            assert!(close(f, want_f), "{src}: {f} vs {want_f}");
        }
    }
}
