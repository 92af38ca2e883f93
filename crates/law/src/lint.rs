//! Warnings about a law that parses but probably does not say what was meant.
//!
//! Every name in a law that is neither a variable nor a function is a parameter, so a misspelt variable
//! (`rh0`, `dd`, `D`) is not an error: it silently becomes one more fitted constant, and the fit answers a
//! different question. [`Law::lint`] names each parameter that looks like a variable (`n0 n rho l0 d`, or
//! `loss`, which a law may not read):
//!
//! - the same name in another case (`D`, `Rho`, `N0`), or
//! - one edit away in lower case (Damerau–Levenshtein distance 1: one character inserted, deleted, replaced,
//!   or two neighbours swapped: `dd`, `n00`, `l_0`, `rh0`, `hro`), as long as what the two names share keeps
//!   a letter of the variable. Every one-letter name is one replacement away from `d` and `n`, and `a0` from
//!   `l0`; sharing nothing or only a digit is no sign of a typo.
//!
//! The built-in laws' parameter names (`gamma delta nc alpha dc beta e a b`) are never flagged: `nc` is one
//! edit from `n0`, but it is the P² Law's own name. These are warnings, not errors: a parameter may be meant.
//!
//! ```
//! use p2law_law::Law;
//! let law = Law::from_spec("l0 + a/dd^b + c", &[]).unwrap();
//! assert_eq!(
//!     law.lint(),
//!     ["parameter 'dd' looks like a misspelt variable 'd' (variables: n0 n rho l0 d); if it is meant as a \
//!       parameter, ignore this"]
//! );
//! assert!(Law::builtin("p2").unwrap().lint().is_empty());
//! ```

use crate::laws::Law;
use crate::var::{Var, VARS};

impl Law {
    /// One warning per parameter that looks like a misspelt variable (see the module docs), in parameter
    /// order; empty for a law without such names (every built-in).
    pub fn lint(&self) -> Vec<String> {
        let builtin = builtin_param_names();
        let vars: Vec<&str> = VARS.iter().filter(|v| **v != Var::Loss).map(|v| v.name()).collect();
        let vars = vars.join(" ");
        self.param_names()
            .into_iter()
            .filter(|name| !builtin.contains(&name.to_lowercase()))
            .filter_map(|name| {
                let var = misspelt_variable(name)?;
                let what = match var {
                    Var::Loss => "'loss', the observed loss, which a law may not read".to_string(),
                    v => format!("a misspelt variable '{}'", v.name()),
                };
                Some(format!(
                    "parameter '{name}' looks like {what} (variables: {vars}); if it is meant as a parameter, \
                     ignore this"
                ))
            })
            .collect()
    }
}

/// The variable `name` looks like a misspelling of, if any (see the module docs). A variable's own name is
/// not a misspelling of it.
pub fn misspelt_variable(name: &str) -> Option<Var> {
    if Var::from_name(name).is_some() {
        return None;
    }
    let lower = name.to_lowercase();
    // Another case of a variable's name first: the clearest sign.
    if let Some(v) = Var::from_name(&lower) {
        return Some(v);
    }
    let lower: Vec<char> = lower.chars().collect();
    // Then one edit away, the variable with the most in common winning (ties: the first in `VARS`).
    VARS.into_iter()
        .filter_map(|v| {
            let var: Vec<char> = v.name().chars().collect();
            let shared = one_edit_apart(&lower, &var)?;
            shared.iter().any(|c| c.is_alphabetic()).then_some((shared.len(), v))
        })
        .fold(None, |best: Option<(usize, Var)>, (n, v)| match best {
            Some((m, _)) if m >= n => best,
            _ => Some((n, v)),
        })
        .map(|(_, v)| v)
}

/// Lowercase parameter names of the built-in laws.
fn builtin_param_names() -> Vec<String> {
    Law::builtin_names()
        .into_iter()
        .filter_map(|name| Law::builtin(name).ok())
        .flat_map(|law| law.params.into_iter().map(|p| p.name.to_lowercase()))
        .collect()
}

/// When `a` and `b` are exactly one edit apart (an insertion, deletion, replacement, or swap of two
/// neighbours: Damerau–Levenshtein distance 1), the characters they share, in order; else `None` (also when
/// they are equal).
fn one_edit_apart(a: &[char], b: &[char]) -> Option<Vec<char>> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let first = long.iter().zip(short).position(|(x, y)| x != y);
    match long.len() - short.len() {
        0 => {
            let i = first?;
            if long[i + 1..] == short[i + 1..] {
                // One replacement: everything but position `i` is shared.
                return Some(long[..i].iter().chain(&long[i + 1..]).copied().collect());
            }
            let swapped = i + 1 < long.len()
                && long[i] == short[i + 1]
                && long[i + 1] == short[i]
                && long[i + 2..] == short[i + 2..];
            swapped.then(|| long.to_vec())
        }
        1 => {
            // One insertion into `short`: skipping one character of `long` at the first difference (or at
            // the end) gives `short`.
            let i = first.unwrap_or(short.len());
            (long[i + 1..] == short[i..]).then(|| short.to_vec())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(name: &str) -> Option<&'static str> {
        misspelt_variable(name).map(Var::name)
    }

    #[test]
    fn typos_of_variables_are_flagged() {
        let cases = [
            ("dd", "d"),
            ("rh0", "rho"),
            ("n00", "n0"),
            ("l_0", "l0"),
            ("Rho", "rho"),
            ("D", "d"),
            ("N0", "n0"),
            ("hro", "rho"),
            ("rh", "rho"),
            ("lo", "l0"),
            ("RH0", "rho"),
            ("Loss", "loss"),
            ("los", "loss"),
            ("lsos", "loss"),
        ];
        for (name, var) in cases {
            assert_eq!(flagged(name), Some(var), "{name}");
        }
    }

    #[test]
    fn ordinary_parameter_names_are_not() {
        for name in ["a", "c", "g", "k", "x", "a0", "b0", "e0", "gamma", "delta", "kappa", "rate", "n0", "d"]
        {
            assert_eq!(flagged(name), None, "{name}");
        }
    }

    #[test]
    fn one_edit_apart_says_what_is_shared() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        let shared = |a: &str, b: &str| {
            one_edit_apart(&chars(a), &chars(b)).map(|v| v.into_iter().collect::<String>())
        };
        assert_eq!(shared("rh0", "rho").as_deref(), Some("rh"));
        assert_eq!(shared("hro", "rho").as_deref(), Some("hro"));
        assert_eq!(shared("dd", "d").as_deref(), Some("d"));
        assert_eq!(shared("d", "dd").as_deref(), Some("d"));
        assert_eq!(shared("ld0", "l0").as_deref(), Some("l0"));
        assert_eq!(shared("c", "d").as_deref(), Some(""));
        for (a, b) in
            [("rho", "rho"), ("rhoxx", "rho"), ("orh", "rho"), ("n0", "nc0x"), ("ab", "cd"), ("", "")]
        {
            assert_eq!(shared(a, b), None, "{a} {b}");
        }
    }

    #[test]
    fn lint_names_each_suspect_parameter_once_and_skips_builtin_names() {
        let law = Law::from_spec("L0 + (1/rh0)^gamma * nc/n0^alpha + dc/D^beta + e + a*b + c", &[]).unwrap();
        let warnings = law.lint();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0]
            .starts_with("parameter 'L0' looks like a misspelt variable 'l0' (variables: n0 n rho l0 d)"));
        assert!(warnings[1].starts_with("parameter 'rh0' looks like a misspelt variable 'rho'"));
        assert!(warnings[2].starts_with("parameter 'D' looks like a misspelt variable 'd'"));
        assert!(warnings.iter().all(|w| w.ends_with("; if it is meant as a parameter, ignore this")));
        let loss = Law::from_spec("Loss * a", &[]).unwrap().lint();
        assert_eq!(loss.len(), 1);
        assert!(loss[0].contains("'loss', the observed loss, which a law may not read"), "{loss:?}");
        for name in Law::builtin_names() {
            assert!(Law::builtin(name).unwrap().lint().is_empty(), "{name}");
        }
        // The README's example law.
        assert!(Law::from_spec("l0 + a*rho^g + b/d^c", &[]).unwrap().lint().is_empty());
    }
}
