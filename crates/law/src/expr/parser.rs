//! Recursive-descent parser: tokens → [`Node`] tree, collecting parameter names in order of first appearance.
//!
//! Grammar, loosest first (`^` is right-associative; unary minus binds looser than `^`, so `-x^2` is
//! `-(x^2)`, and the exponent may itself carry a sign, as in `d^-beta`):
//! ```text
//! or    := and ('||' and)*
//! and   := cmp ('&&' cmp)*
//! cmp   := sum (('<'|'<='|'>'|'>='|'=='|'!=') sum)?      comparisons do not chain
//! sum   := prod (('+'|'-') prod)*
//! prod  := unary (('*'|'/') unary)*
//! unary := ('-'|'!') unary | power
//! power := atom ('^' unary)?
//! atom  := number | variable | parameter | func '(' or ')' | '(' or ')'
//! ```

use super::ast::{BinOp, Func, Node, UnOp};
use super::lexer::Tok;
use super::ExprError;
use crate::var::Var;

/// Deepest nesting accepted, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

pub(crate) struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    pub(crate) params: Vec<String>,
}

impl Parser {
    pub(crate) fn new(toks: Vec<(Tok, usize)>) -> Self {
        Parser { toks, pos: 0, depth: 0, params: Vec::new() }
    }

    /// Parses the whole input as one expression.
    pub(crate) fn parse_all(&mut self) -> Result<Node, ExprError> {
        let node = self.or()?;
        match self.peek() {
            Tok::End => Ok(node),
            _ => Err(self.unexpected()),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn column(&self) -> usize {
        self.toks[self.pos].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self) -> ExprError {
        ExprError::new(self.column(), format!("unexpected {}", self.peek().describe()))
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(self.column(), format!("expression nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while *self.peek() == Tok::OrOr {
            self.bump();
            left = Node::Binary(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.cmp()?;
        while *self.peek() == Tok::AndAnd {
            self.bump();
            left = Node::Binary(BinOp::And, Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }

    fn cmp_op(tok: &Tok) -> Option<BinOp> {
        Some(match tok {
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::EqEq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            _ => return None,
        })
    }

    fn cmp(&mut self) -> Result<Node, ExprError> {
        let left = self.sum()?;
        let Some(op) = Self::cmp_op(self.peek()) else { return Ok(left) };
        self.bump();
        let right = self.sum()?;
        if Self::cmp_op(self.peek()).is_some() {
            return Err(ExprError::new(
                self.column(),
                "comparisons do not chain: write 'a < b && b < c'".to_string(),
            ));
        }
        Ok(Node::Binary(op, Box::new(left), Box::new(right)))
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        let mut left = self.prod()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            left = Node::Binary(op, Box::new(left), Box::new(self.prod()?));
        }
    }

    fn prod(&mut self) -> Result<Node, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(left),
            };
            self.bump();
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.enter()?;
        let op = match self.peek() {
            Tok::Minus => Some(UnOp::Neg),
            Tok::Bang => Some(UnOp::Not),
            _ => None,
        };
        let node = match op {
            Some(op) => {
                self.bump();
                Node::Unary(op, Box::new(self.unary()?))
            }
            None => self.power()?,
        };
        self.depth -= 1;
        Ok(node)
    }

    fn power(&mut self) -> Result<Node, ExprError> {
        let base = self.atom()?;
        if *self.peek() != Tok::Caret {
            return Ok(base);
        }
        self.bump();
        Ok(Node::Binary(BinOp::Pow, Box::new(base), Box::new(self.unary()?)))
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let col = self.column();
        match self.peek().clone() {
            Tok::Num(x) => {
                self.bump();
                Ok(Node::Num(x))
            }
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.expect_rparen(col)?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                self.bump();
                if let Some(func) = Func::from_name(&name) {
                    if *self.peek() != Tok::LParen {
                        return Err(ExprError::new(
                            col,
                            format!("function '{name}' needs an argument in parentheses"),
                        ));
                    }
                    self.bump();
                    self.enter()?;
                    let arg = self.or()?;
                    self.depth -= 1;
                    self.expect_rparen(col)?;
                    return Ok(Node::Call(func, Box::new(arg)));
                }
                if let Some(v) = Var::from_name(&name) {
                    return Ok(Node::Var(v));
                }
                let index = match self.params.iter().position(|p| *p == name) {
                    Some(i) => i,
                    None => {
                        self.params.push(name);
                        self.params.len() - 1
                    }
                };
                Ok(Node::Param(index))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn expect_rparen(&mut self, open_col: usize) -> Result<(), ExprError> {
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok(());
        }
        if *self.peek() == Tok::End {
            return Err(ExprError::new(open_col, "unclosed '(' (missing ')')".to_string()));
        }
        Err(ExprError::new(self.column(), format!("expected ')' but found {}", self.peek().describe())))
    }
}
