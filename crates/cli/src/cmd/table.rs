//! Plain aligned text tables for the human-readable output of the law subcommands.

/// Formats rows under a header, each column padded to its widest cell. A column whose cells are all numbers
/// (or `-` for missing) is right-aligned, header included; others are left-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|j| {
            !rows.is_empty() && rows.iter().all(|r| r.get(j).is_some_and(|c| c == "-" || looks_numeric(c)))
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(width.iter().zip(&numeric))
            .map(|(c, (&w, &right))| if right { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let rule: Vec<String> = width.iter().map(|&w| "-".repeat(w)).collect();
    let mut out = line(header);
    out.push('\n');
    out.push_str(&line(&rule.iter().map(String::as_str).collect::<Vec<_>>()));
    for row in rows {
        out.push('\n');
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

fn looks_numeric(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// A number in a compact form with `sig` significant digits (`-` for a missing value).
pub fn num(x: Option<f64>, sig: usize) -> String {
    match x {
        None => "-".to_string(),
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
    fn aligns_columns_and_numbers() {
        let t = render(
            &["law", "r2"],
            &[vec!["p2".into(), "0.99".into()], vec!["chinchilla".into(), "0.5".into()]],
        );
        assert_eq!(t, "law           r2\n----------  ----\np2          0.99\nchinchilla   0.5");
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(Some(0.123456), 4), "0.1235");
        assert_eq!(num(Some(123.456), 4), "123.5");
        assert_eq!(num(Some(2.5e9), 3), "2.50e9");
        assert_eq!(num(Some(1e-5), 2), "1.0e-5");
        assert_eq!(num(None, 3), "-");
    }
}
