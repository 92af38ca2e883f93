//! Numbers as text, shared by the command line's tables and the report's markdown.

/// A number in a compact form with `sig` significant digits (`-` for a missing value): scientific notation
/// below 1e-3 and from 1e5 up, fixed otherwise.
///
/// ```
/// use p2law_report::text::num;
/// assert_eq!(num(Some(0.123456), 4), "0.1235");
/// assert_eq!(num(Some(2.5e9), 3), "2.50e9");
/// assert_eq!(num(None, 3), "-");
/// ```
pub fn num(x: Option<f64>, sig: usize) -> String {
    match x {
        None => "-".to_string(),
        Some(x) if !x.is_finite() => x.to_string(),
        Some(x) if x != 0.0 && (x.abs() >= 1e5 || x.abs() < 1e-3) => {
            format!("{x:.*e}", sig.saturating_sub(1))
        }
        Some(x) => {
            let digits = if x == 0.0 { 0 } else { x.abs().log10().floor() as i32 + 1 };
            let decimals = (sig as i32 - digits).max(0) as usize;
            format!("{x:.decimals$}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(Some(0.123456), 4), "0.1235");
        assert_eq!(num(Some(123.456), 4), "123.5");
        assert_eq!(num(Some(2.5e9), 3), "2.50e9");
        assert_eq!(num(Some(1e-5), 2), "1.0e-5");
        assert_eq!(num(Some(f64::NAN), 2), "NaN");
        assert_eq!(num(None, 3), "-");
    }
}
