//! The law expression language: `+ - * / ^`, unary `-`, parentheses, numbers (`1e-3`), the functions `ln`
//! (also spelt `log`: the natural logarithm), `log10`, `log2`, `exp` and `sqrt`, the variables of [`Var`]
//! (`n0 n rho l0 d loss`), comparisons `< <= > >= == !=` and `&& || !` (which give 1.0 or 0.0, for
//! `--holdout where:EXPR`). Every other name is a parameter, numbered in order of first appearance.
//!
//! `^` is right-associative and binds tighter than unary minus: `-x^2` is `-(x^2)`, `2^3^2` is `2^9`.
//! An expression is parsed once and compiled to a flat tape; [`Expr::eval`] and [`Expr::eval_grad`] run it
//! for one row of variables (`[f64; 6]`, indexed by [`Var`]) and a parameter vector, the latter with exact
//! derivatives w.r.t. every parameter.
//!
//! ```
//! use p2law_law::expr::Expr;
//! let e = Expr::parse("l0 + a / d^b").unwrap();
//! assert_eq!(e.params(), ["a", "b"]);
//! let vars = [0.0, 0.0, 0.0, 2.0, 100.0, 0.0]; // n0 n rho l0 d loss
//! let mut grad = [0.0; 2];
//! let y = e.eval_grad(&vars, &[5.0, 0.5], &mut grad);
//! assert_eq!(y, 2.5);                               // 2 + 5/10
//! assert!((grad[0] - 0.1).abs() < 1e-15);           // ∂/∂a = 1/d^b
//! assert!((grad[1] + 0.5 * 100f64.ln()).abs() < 1e-12); // ∂/∂b = -a ln d / d^b
//! assert_eq!(Expr::parse("a + (b").unwrap_err().to_string(), "unclosed '(' (missing ')') at column 5");
//! ```

mod ast;
pub(crate) mod batch;
mod lexer;
pub(crate) mod linear;
mod parser;
pub(crate) mod tape;

use crate::var::Var;
use ast::Node;
use tape::Tape;

/// Most parameters one expression may have (gradient rows live on the stack).
pub const MAX_PARAMS: usize = 64;

/// Most tokens an expression may have (`p2` has 33): bounds the tree's depth, which every walk over it
/// recurses through, and the cost of a fit. A longer expression is an error, not a stack overflow.
pub const MAX_TOKENS: usize = 1024;

/// A parse error: where (1-based character column) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        ExprError { column, message: message.into() }
    }

    /// Two lines for a terminal: the source, then a caret under the offending column.
    pub fn caret(&self, src: &str) -> String {
        format!("{src}\n{}^ {}", " ".repeat(self.column.saturating_sub(1)), self.message)
    }
}

/// A parsed and compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    node: Node,
    params: Vec<String>,
    pub(crate) tape: Tape,
}

impl Expr {
    /// Parses and compiles `src`.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let toks = lexer::lex(src)?;
        if toks.len() > MAX_TOKENS + 1 {
            let col = toks[MAX_TOKENS].1;
            return Err(ExprError::new(col, format!("expression longer than {MAX_TOKENS} tokens")));
        }
        let mut p = parser::Parser::new(toks);
        let node = p.parse_all()?;
        if p.params.len() > MAX_PARAMS {
            return Err(ExprError::new(1, format!("more than {MAX_PARAMS} parameters")));
        }
        let tape = Tape::compile(&node, p.params.len());
        Ok(Expr { source: src.to_string(), node, params: p.params, tape })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parameter names, in order of first appearance (the order of `params` slices).
    pub fn params(&self) -> &[String] {
        &self.params
    }

    /// Whether the expression reads variable `v`.
    pub fn uses_var(&self, v: Var) -> bool {
        self.node.uses_var(v)
    }

    /// Value for one row of variables. `params.len()` must equal `self.params().len()`.
    pub fn eval(&self, vars: &[f64; 6], params: &[f64]) -> f64 {
        assert_eq!(params.len(), self.params.len(), "parameter count of expression '{}'", self.source);
        let mut vals = Vec::with_capacity(self.tape.instrs.len());
        self.tape.forward(vars, params, &mut vals);
        vals[self.tape.output()]
    }

    /// Value and exact gradient w.r.t. the parameters (written to `grad`, same length as `params`).
    pub fn eval_grad(&self, vars: &[f64; 6], params: &[f64], grad: &mut [f64]) -> f64 {
        assert_eq!(params.len(), self.params.len(), "parameter count of expression '{}'", self.source);
        assert_eq!(grad.len(), params.len(), "gradient length of expression '{}'", self.source);
        let (mut vals, mut grads) = (Vec::new(), Vec::new());
        self.tape.forward_grad(vars, params, &mut vals, &mut grads);
        let out = self.tape.output();
        let np = params.len();
        grad.copy_from_slice(&grads[out * np..(out + 1) * np]);
        vals[out]
    }

    /// Mask over [`Expr::params`]: which parameters the expression is (jointly) affine in.
    pub(crate) fn linear_mask(&self) -> Vec<bool> {
        linear::linear_params(&self.node, self.params.len())
    }

    /// Naive tree-walking evaluation: the reference the tape is tested against.
    #[doc(hidden)]
    pub fn eval_reference(&self, vars: &[f64; 6], params: &[f64]) -> f64 {
        self.node.eval(vars, params)
    }
}

/// Prints the expression with the fewest parentheses that keep its meaning; it parses back to an
/// equal expression.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.node.write(&self.params, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(src: &str) -> f64 {
        Expr::parse(src).unwrap().eval(&[1e8, 5e7, 0.5, 3.0, 1e9, 2.9], &[])
    }

    #[test]
    fn overlong_expressions_are_errors() {
        let long = vec!["a"; 600].join(" + "); // 1,199 tokens
        let err = Expr::parse(&long).unwrap_err();
        assert!(err.to_string().contains("longer than 1024 tokens"), "{err}");
        assert!(Expr::parse(&vec!["a"; 500].join(" + ")).is_ok());
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(val("-2^2"), -4.0);
        assert_eq!(val("2^3^2"), 512.0);
        assert_eq!(val("2^-1"), 0.5);
        assert_eq!(val("8/2/2"), 2.0);
        assert_eq!(val("1-2-3"), -4.0);
        assert_eq!(val("1+2*3"), 7.0);
        assert_eq!(val("(1+2)*3"), 9.0);
        assert_eq!(val("rho*l0 + 1e-3"), 1.501);
        assert_eq!(val("ln(exp(2)) + sqrt(16) + log(1)"), 6.0);
        assert_eq!(val("log10(1000) + log2(1/8) + log10(d)"), 9.0);
    }

    #[test]
    fn every_function_has_its_exact_derivative() {
        // (expression of `a`, its value and derivative at `a`, written out by hand)
        let a: f64 = 0.7;
        let cases: [(&str, f64, f64); 6] = [
            ("ln(a*d)", (a * 1e9).ln(), 1.0 / a),
            ("log(a)", a.ln(), 1.0 / a),
            ("log10(a*d)", (a * 1e9).log10(), 1.0 / (a * 10f64.ln())),
            ("log2(a^2)", 2.0 * a.log2(), 2.0 / (a * 2f64.ln())),
            ("exp(-a*rho)", (-0.5 * a).exp(), -0.5 * (-0.5 * a).exp()),
            ("sqrt(a*n0)", (a * 1e8).sqrt(), 0.5 * (1e8 / a).sqrt()),
        ];
        for (src, want, want_grad) in cases {
            let e = Expr::parse(src).unwrap();
            let mut grad = [0.0];
            let got = e.eval_grad(&[1e8, 5e7, 0.5, 3.0, 1e9, 2.9], &[a], &mut grad);
            assert!((got - want).abs() <= 1e-14 * want.abs(), "{src}: {got} vs {want}");
            assert!(
                (grad[0] - want_grad).abs() <= 1e-14 * want_grad.abs(),
                "{src}: {} vs {want_grad}",
                grad[0]
            );
            assert_eq!(Expr::parse(&e.to_string()).unwrap().node, e.node, "{src} prints as {e}");
        }
        // Names that only start like a function are parameters.
        assert_eq!(Expr::parse("log100 + log2x + sqrtd").unwrap().params(), ["log100", "log2x", "sqrtd"]);
    }

    #[test]
    fn predicates_give_one_or_zero() {
        assert_eq!(val("n0 >= 1e8 && rho < 0.6"), 1.0);
        assert_eq!(val("n0 > 1e8 || !(rho == 0.5)"), 0.0);
        assert_eq!(val("d != 1e9"), 0.0);
        assert_eq!(val("1 + 2 <= 3"), 1.0);
    }

    #[test]
    fn errors_name_the_column() {
        let e = Expr::parse("a + b)").unwrap_err();
        assert_eq!(e.to_string(), "unexpected ')' at column 6");
        assert_eq!(e.caret("a + b)"), "a + b)\n     ^ unexpected ')'");
        assert_eq!(Expr::parse("").unwrap_err().to_string(), "unexpected end of input at column 1");
        assert_eq!(Expr::parse("ln 3").unwrap_err().column, 1);
        assert!(Expr::parse("a < b < c").unwrap_err().message.contains("chain"));
        assert!(Expr::parse(&"(".repeat(1000)).is_err());
    }

    #[test]
    fn params_in_order_of_first_appearance() {
        let e = Expr::parse("e + a/n^alpha + b/d^beta + a").unwrap();
        assert_eq!(e.params(), ["e", "a", "alpha", "b", "beta"]);
        assert!(e.uses_var(Var::N) && !e.uses_var(Var::N0));
    }

    #[test]
    fn display_is_minimal_and_round_trips() {
        let e = Expr::parse("((a - (b - c)) * -x^2) / (2^(3^y))").unwrap();
        assert_eq!(e.to_string(), "(a - (b - c)) * -x ^ 2 / 2 ^ 3 ^ y");
        assert_eq!(Expr::parse(&e.to_string()).unwrap().node, e.node);
    }
}
