//! Lexer: expression text → tokens, each with its 1-based column (in characters) for error messages.

use super::ExprError;

/// One token of the expression language.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    AndAnd,
    OrOr,
    Bang,
    /// End of input (always the last token, so the parser never indexes past the end).
    End,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Num(x) => format!("number {x}"),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::End => "end of input".to_string(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Caret => "^",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
            Tok::Num(_) | Tok::Ident(_) | Tok::End => "",
        }
    }
}

/// Splits `src` into tokens with their columns; the last token is always [`Tok::End`].
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let (x, next) = number(&chars, i)?;
            out.push((Tok::Num(x), col));
            i = next;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), col));
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('^', _) => (Tok::Caret, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('<', _) => (Tok::Lt, 1),
            ('>', _) => (Tok::Gt, 1),
            ('!', _) => (Tok::Bang, 1),
            ('=', _) => return Err(ExprError::new(col, "unexpected '=' (write '==' to compare)")),
            _ => return Err(ExprError::new(col, format!("unexpected character '{c}'"))),
        };
        out.push((tok, col));
        i += len;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

/// Reads `digits [. digits] [(e|E) [+|-] digits]` starting at `start`; returns the value and the next index.
fn number(chars: &[char], start: usize) -> Result<(f64, usize), ExprError> {
    let mut i = start;
    let digits = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        digits(&mut i);
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            digits(&mut i);
        } else {
            return Err(ExprError::new(i + 1, "exponent of a number needs digits (as in 1e-3)"));
        }
    }
    let text: String = chars[start..i].iter().collect();
    let x: f64 = text.parse().map_err(|_| ExprError::new(start + 1, format!("malformed number '{text}'")))?;
    if !x.is_finite() {
        return Err(ExprError::new(start + 1, format!("number '{text}' is out of range")));
    }
    Ok((x, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_operators_and_columns() {
        let toks = lex("1e-3 + x<=2.5").unwrap();
        let kinds: Vec<Tok> = toks.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(
            kinds,
            vec![Tok::Num(1e-3), Tok::Plus, Tok::Ident("x".into()), Tok::Le, Tok::Num(2.5), Tok::End]
        );
        assert_eq!(toks.iter().map(|t| t.1).collect::<Vec<_>>(), vec![1, 6, 8, 9, 11, 14]);
    }

    #[test]
    fn bad_characters_and_exponents_are_errors() {
        assert_eq!(lex("a $ b").unwrap_err().column, 3);
        assert_eq!(lex("1e+").unwrap_err().column, 2);
        assert!(lex("1e999").unwrap_err().message.contains("out of range"));
        assert!(lex("a = b").unwrap_err().message.contains("=="));
    }
}
