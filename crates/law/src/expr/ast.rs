//! The syntax tree, its printing (with the fewest parentheses that keep the meaning) and a naive recursive
//! evaluator kept as the reference the compiled tape is tested against.

use crate::var::Var;

/// Binary operators, loosest-binding last in each group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Neg,
    Not,
}

/// Built-in functions (`log` is another name for `ln`, the natural logarithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Ln,
    Log10,
    Log2,
    Exp,
    Sqrt,
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        match name {
            "ln" | "log" => Some(Func::Ln),
            "log10" => Some(Func::Log10),
            "log2" => Some(Func::Log2),
            "exp" => Some(Func::Exp),
            "sqrt" => Some(Func::Sqrt),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Ln => "ln",
            Func::Log10 => "log10",
            Func::Log2 => "log2",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
        }
    }

    pub(crate) fn apply(self, x: f64) -> f64 {
        match self {
            Func::Ln => x.ln(),
            Func::Log10 => x.log10(),
            Func::Log2 => x.log2(),
            Func::Exp => x.exp(),
            Func::Sqrt => x.sqrt(),
        }
    }

    /// The derivative at `x`, given the value `v = f(x)` (cheaper for `exp` and `sqrt`).
    #[inline(always)]
    pub(crate) fn derivative(self, x: f64, v: f64) -> f64 {
        match self {
            Func::Ln => 1.0 / x,
            Func::Log10 => 1.0 / (x * std::f64::consts::LN_10),
            Func::Log2 => 1.0 / (x * std::f64::consts::LN_2),
            Func::Exp => v,
            Func::Sqrt => 0.5 / v,
        }
    }
}

fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl BinOp {
    pub(crate) fn apply(self, x: f64, y: f64) -> f64 {
        match self {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::Pow => x.powf(y),
            BinOp::Lt => truth(x < y),
            BinOp::Le => truth(x <= y),
            BinOp::Gt => truth(x > y),
            BinOp::Ge => truth(x >= y),
            BinOp::Eq => truth(x == y),
            BinOp::Ne => truth(x != y),
            BinOp::And => truth(x != 0.0 && y != 0.0),
            BinOp::Or => truth(x != 0.0 || y != 0.0),
        }
    }

    /// Binding strength: higher binds tighter.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div => 5,
            BinOp::Pow => 7,
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// Precedence of unary operators: looser than `^` (so `-x^2` is `-(x^2)`), tighter than `*`.
const UNARY_PREC: u8 = 6;

/// An expression tree. Parameters are indices into the expression's parameter names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Num(f64),
    Var(Var),
    Param(usize),
    Unary(UnOp, Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Call(Func, Box<Node>),
}

impl Node {
    /// Naive recursive evaluation (the reference for the compiled tape).
    pub(crate) fn eval(&self, vars: &[f64; 6], params: &[f64]) -> f64 {
        match self {
            Node::Num(x) => *x,
            Node::Var(v) => vars[*v as usize],
            Node::Param(i) => params[*i],
            Node::Unary(UnOp::Neg, a) => -a.eval(vars, params),
            Node::Unary(UnOp::Not, a) => truth(a.eval(vars, params) == 0.0),
            Node::Binary(op, a, b) => op.apply(a.eval(vars, params), b.eval(vars, params)),
            Node::Call(f, a) => f.apply(a.eval(vars, params)),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Node::Binary(op, ..) => op.precedence(),
            Node::Unary(..) => UNARY_PREC,
            _ => u8::MAX,
        }
    }

    /// Writes the expression with parameter names from `names`, parenthesising only where needed.
    pub(crate) fn write(&self, names: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // `{:?}` prints the shortest text that reads back to the same f64 (with an exponent when long).
            // Integers print bare (`2`, not `2.0`).
            Node::Num(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{x}"),
            Node::Num(x) => write!(f, "{x:?}"),
            Node::Var(v) => f.write_str(v.name()),
            Node::Param(i) => f.write_str(&names[*i]),
            Node::Unary(op, a) => {
                f.write_str(if *op == UnOp::Neg { "-" } else { "!" })?;
                self.child(a, UNARY_PREC, names, f)
            }
            Node::Call(func, a) => {
                write!(f, "{}(", func.name())?;
                a.write(names, f)?;
                f.write_str(")")
            }
            Node::Binary(op, a, b) => {
                let p = op.precedence();
                // Left-associative operators need parentheses on an equal-precedence right child; `^` is
                // right-associative so it needs them on the left; comparisons do not chain, so both sides.
                let (lp, rp) = match op.precedence() {
                    7 => (p + 1, UNARY_PREC),
                    3 => (p + 1, p + 1),
                    _ => (p, p + 1),
                };
                self.child(a, lp, names, f)?;
                write!(f, " {} ", op.symbol())?;
                self.child(b, rp, names, f)
            }
        }
    }

    fn child(
        &self,
        c: &Node,
        min: u8,
        names: &[String],
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        if c.precedence() < min {
            f.write_str("(")?;
            c.write(names, f)?;
            f.write_str(")")
        } else {
            c.write(names, f)
        }
    }

    /// Whether the tree reads variable `v` anywhere.
    pub(crate) fn uses_var(&self, v: Var) -> bool {
        match self {
            Node::Var(w) => *w == v,
            Node::Num(_) | Node::Param(_) => false,
            Node::Unary(_, a) | Node::Call(_, a) => a.uses_var(v),
            Node::Binary(_, a, b) => a.uses_var(v) || b.uses_var(v),
        }
    }
}
