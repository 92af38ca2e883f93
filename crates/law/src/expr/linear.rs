//! Which parameters enter an expression linearly: the prediction is `c(x, θ_N) + Σ_j θ_j g_j(x, θ_N)` for
//! the linear set `{θ_j}` and the others `θ_N`. Fitting solves the linear ones in closed form for fixed
//! nonlinear ones (variable projection), which is what makes a wide multi-start grid cheap: for `p2`,
//! `nc`, `dc` and `e` are linear and only the four exponents need a grid.

use super::ast::{BinOp, Node, UnOp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Does not involve the set.
    Free,
    /// Affine in the set, with coefficients free of it.
    Affine,
    Nonlinear,
}

fn classify(node: &Node, set: &[bool]) -> Class {
    match node {
        Node::Num(_) | Node::Var(_) => Class::Free,
        Node::Param(i) => {
            if set[*i] {
                Class::Affine
            } else {
                Class::Free
            }
        }
        Node::Unary(UnOp::Neg, a) => classify(a, set),
        Node::Binary(BinOp::Add | BinOp::Sub, a, b) => classify(a, set).max(classify(b, set)),
        Node::Binary(BinOp::Mul, a, b) => match (classify(a, set), classify(b, set)) {
            (Class::Free, c) | (c, Class::Free) => c,
            _ => Class::Nonlinear,
        },
        Node::Binary(BinOp::Div, a, b) => match classify(b, set) {
            Class::Free => classify(a, set),
            _ => Class::Nonlinear,
        },
        Node::Unary(UnOp::Not, a) | Node::Call(_, a) => match classify(a, set) {
            Class::Free => Class::Free,
            _ => Class::Nonlinear,
        },
        Node::Binary(_, a, b) => match classify(a, set).max(classify(b, set)) {
            Class::Free => Class::Free,
            _ => Class::Nonlinear,
        },
    }
}

/// A maximal set of parameters the expression is jointly affine in, as a mask over parameters. Greedy in
/// parameter order: add each parameter if the set stays jointly affine (`a*b + c` gives `a` and `c`).
pub(crate) fn linear_params(node: &Node, n_params: usize) -> Vec<bool> {
    let mut set = vec![false; n_params];
    for i in 0..n_params {
        set[i] = true;
        if classify(node, &set) != Class::Affine {
            set[i] = false;
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;

    fn names(src: &str) -> Vec<String> {
        let e = Expr::parse(src).unwrap();
        let mask = e.linear_mask();
        e.params().iter().zip(mask).filter(|(_, m)| *m).map(|(n, _)| n.clone()).collect()
    }

    #[test]
    fn finds_the_linear_parameters() {
        assert_eq!(
            names("l0 + (1/rho)^gamma * (1/n0)^delta * (nc/n0^alpha + dc/d^beta + e)"),
            ["nc", "dc", "e"]
        );
        assert_eq!(names("e + a/n^alpha + b/d^beta"), ["e", "a", "b"]);
        assert_eq!(names("a*b + c"), ["a", "c"]);
        assert_eq!(names("exp(a) + b/(c + d)"), ["b"]);
        assert_eq!(names("-(a - 2*b)/3"), ["a", "b"]);
    }
}
