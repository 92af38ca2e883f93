//! The compiled form of an expression: a flat tape of instructions in evaluation order, one value slot each.
//!
//! Instruction `i` writes slot `i` and reads only earlier slots, so a forward pass in order computes every
//! value. Each slot also records what it depends on (parameters at all; which variables), which lets
//! [`super::batch`] hoist work out of the per-point loop. Derivatives w.r.t. parameters are exact: each
//! instruction knows its two partial derivatives ([`partials`]), used forward here and in reverse in batch.

use super::ast::{BinOp, Func, Node, UnOp};
use crate::var::Var;

/// One tape instruction; operands are slot indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Instr {
    Const(f64),
    Var(usize),
    Param(usize),
    Un(UnOp, usize),
    Call(Func, usize),
    Bin(BinOp, usize, usize),
    /// `base ^ exp` where `base` does not depend on parameters: evaluated as `exp(exp · ln base)` with
    /// `ln base` a cached slot (it is data-only), falling back to `powf` for a non-positive base.
    PowData {
        base: usize,
        ln_base: usize,
        exp: usize,
    },
}

/// How far down a slot's value varies: the whole data set, a group of points sharing every variable but
/// `d` and `loss`, or each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Global = 0,
    Group = 1,
    Point = 2,
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tape {
    pub(crate) instrs: Vec<Instr>,
    /// Whether a slot's value depends on any parameter.
    pub(crate) has_param: Vec<bool>,
    pub(crate) level: Vec<Level>,
    /// Parameter indices each slot depends on (sorted).
    pub(crate) deps: Vec<Vec<usize>>,
    pub(crate) n_params: usize,
}

impl Tape {
    pub(crate) fn compile(node: &Node, n_params: usize) -> Tape {
        let mut t =
            Tape { instrs: Vec::new(), has_param: Vec::new(), level: Vec::new(), deps: Vec::new(), n_params };
        t.emit_node(node);
        t
    }

    /// Index of the slot holding the expression's value.
    pub(crate) fn output(&self) -> usize {
        self.instrs.len() - 1
    }

    fn push(&mut self, instr: Instr) -> usize {
        let (has_param, level, deps) = match instr {
            Instr::Const(_) => (false, Level::Global, vec![]),
            Instr::Var(v) => {
                let point = v == Var::D as usize || v == Var::Loss as usize;
                (false, if point { Level::Point } else { Level::Group }, vec![])
            }
            Instr::Param(p) => (true, Level::Global, vec![p]),
            Instr::Un(_, a) | Instr::Call(_, a) => (self.has_param[a], self.level[a], self.deps[a].clone()),
            Instr::Bin(_, a, b) | Instr::PowData { base: a, exp: b, .. } => {
                let mut deps = self.deps[a].clone();
                deps.extend_from_slice(&self.deps[b]);
                deps.sort_unstable();
                deps.dedup();
                (self.has_param[a] || self.has_param[b], self.level[a].max(self.level[b]), deps)
            }
        };
        self.instrs.push(instr);
        self.has_param.push(has_param);
        self.level.push(level);
        self.deps.push(deps);
        self.instrs.len() - 1
    }

    fn emit_node(&mut self, node: &Node) -> usize {
        match node {
            Node::Num(x) => self.push(Instr::Const(*x)),
            Node::Var(v) => self.push(Instr::Var(*v as usize)),
            Node::Param(p) => self.push(Instr::Param(*p)),
            Node::Unary(op, a) => {
                let a = self.emit_node(a);
                self.push(Instr::Un(*op, a))
            }
            Node::Call(f, a) => {
                let a = self.emit_node(a);
                self.push(Instr::Call(*f, a))
            }
            Node::Binary(op, a, b) => {
                let a = self.emit_node(a);
                let b = self.emit_node(b);
                // A data-dependent base under a fitted exponent (`d^beta`): caching `ln d` turns a `powf` per
                // point and evaluation into one `exp`.
                if *op == BinOp::Pow
                    && !self.has_param[a]
                    && self.level[a] > Level::Global
                    && self.has_param[b]
                {
                    let ln_base = self.push(Instr::Call(Func::Ln, a));
                    return self.push(Instr::PowData { base: a, ln_base, exp: b });
                }
                self.push(Instr::Bin(*op, a, b))
            }
        }
    }

    /// Values of all slots for one row of variables.
    pub(crate) fn forward(&self, vars: &[f64; 6], params: &[f64], vals: &mut Vec<f64>) {
        vals.clear();
        for instr in &self.instrs {
            let v = value(instr, vars, params, vals);
            vals.push(v);
        }
    }

    /// Value and gradient (w.r.t. parameters) by forward-mode differentiation: `grads` holds one row of
    /// `n_params` per slot.
    pub(crate) fn forward_grad(
        &self,
        vars: &[f64; 6],
        params: &[f64],
        vals: &mut Vec<f64>,
        grads: &mut Vec<f64>,
    ) {
        let np = self.n_params;
        vals.clear();
        grads.clear();
        grads.resize(self.instrs.len() * np, 0.0);
        for (i, instr) in self.instrs.iter().enumerate() {
            let v = value(instr, vars, params, vals);
            vals.push(v);
            if self.has_param[i] {
                grad_step(self, i, vals, grads);
            }
        }
    }
}

/// The value of one instruction, given the values of earlier slots.
#[inline(always)]
pub(crate) fn value(instr: &Instr, vars: &[f64; 6], params: &[f64], vals: &[f64]) -> f64 {
    match *instr {
        Instr::Const(x) => x,
        Instr::Var(v) => vars[v],
        Instr::Param(p) => params[p],
        Instr::Un(UnOp::Neg, a) => -vals[a],
        Instr::Un(UnOp::Not, a) => {
            if vals[a] == 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Instr::Call(f, a) => f.apply(vals[a]),
        Instr::Bin(op, a, b) => op.apply(vals[a], vals[b]),
        Instr::PowData { base, ln_base, exp } => {
            if vals[base] > 0.0 {
                (vals[exp] * vals[ln_base]).exp()
            } else {
                vals[base].powf(vals[exp])
            }
        }
    }
}

/// Partial derivatives of instruction `i`'s value w.r.t. its (up to two) operand slots, as
/// `[(slot, ∂v/∂slot)]`; only operands that depend on parameters are listed, so a partial that is
/// undefined for a data-only operand (`ln` of a negative base) can never leak a NaN into a gradient.
#[inline(always)]
pub(crate) fn partials(tape: &Tape, i: usize, vals: &[f64]) -> [(usize, f64); 2] {
    const NONE: (usize, f64) = (usize::MAX, 0.0);
    let live = |s: usize, d: f64| if tape.has_param[s] { (s, d) } else { NONE };
    let v = vals[i];
    match tape.instrs[i] {
        Instr::Const(_) | Instr::Var(_) | Instr::Param(_) | Instr::Un(UnOp::Not, _) => [NONE, NONE],
        Instr::Un(UnOp::Neg, a) => [live(a, -1.0), NONE],
        Instr::Call(f, a) => [live(a, f.derivative(vals[a], v)), NONE],
        Instr::PowData { ln_base, exp, base } => {
            let d = if vals[base] > 0.0 { v * vals[ln_base] } else { v * vals[base].ln() };
            [live(exp, d), NONE]
        }
        Instr::Bin(op, a, b) => {
            let (x, y) = (vals[a], vals[b]);
            match op {
                BinOp::Add => [live(a, 1.0), live(b, 1.0)],
                BinOp::Sub => [live(a, 1.0), live(b, -1.0)],
                BinOp::Mul => [live(a, y), live(b, x)],
                BinOp::Div => [live(a, 1.0 / y), live(b, -v / y)],
                BinOp::Pow => {
                    // Only computed for an operand that varies, so `x^2` never evaluates `ln x`.
                    let da = if tape.has_param[a] { y * x.powf(y - 1.0) } else { 0.0 };
                    let db = if tape.has_param[b] { v * x.ln() } else { 0.0 };
                    [live(a, da), live(b, db)]
                }
                _ => [NONE, NONE],
            }
        }
    }
}

/// Forward-mode step: the gradient row of slot `i` from its operands' rows.
#[inline]
pub(crate) fn grad_step(tape: &Tape, i: usize, vals: &[f64], grads: &mut [f64]) {
    let np = tape.n_params;
    if let Instr::Param(p) = tape.instrs[i] {
        grads[i * np..(i + 1) * np].fill(0.0);
        grads[i * np + p] = 1.0;
        return;
    }
    let mut row = [0.0; 64];
    let row = &mut row[..np];
    for (s, d) in partials(tape, i, vals) {
        if s != usize::MAX {
            for (r, g) in row.iter_mut().zip(&grads[s * np..(s + 1) * np]) {
                *r += d * g;
            }
        }
    }
    grads[i * np..(i + 1) * np].copy_from_slice(row);
}
