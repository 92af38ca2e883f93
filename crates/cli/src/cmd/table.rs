//! Plain aligned text tables for the human-readable output of the law subcommands.

pub use p2law_report::text::num;

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
}
