//! CSV logs: a header row and one row per logging step. Covers both shapes Weights & Biases exports and any
//! custom CSV logger.
//!
//! - History export (`api.run(...).history().to_csv(...)`, or a custom logger): one run; columns such as
//!   `_step`, `train/global_step`, `eval/loss`. A column with an empty name (pandas' index) is ignored.
//! - Panel export (a line plot's "Export CSV" in the W&B UI): an x-axis column (`Step`), then for each run
//!   `<run> - <metric>`, `<run> - <metric>__MIN` and `<run> - <metric>__MAX`. Each run becomes its own
//!   [`Series`]; `__MIN`/`__MAX` (the range of a sampled bucket) are ignored, and a row gives a run a record
//!   only where that run has a value.
//!
//! Empty cells are left out of the record. Column names are matched case-insensitively later
//! (`columns.rs`).

use std::collections::HashMap;
use std::path::Path;

use super::records::{text, Field, Record, Series};
use super::ImportError;

/// Where a header cell goes.
#[derive(Debug, Clone, PartialEq)]
enum Column {
    Ignored,
    /// A column every run shares (the x axis, or any column of a one-run export).
    Shared(String),
    /// `<run> - <metric>`: run index and metric name.
    Run(usize, String),
}

/// Reads a CSV log; more than one [`Series`] only for a W&B panel export of several runs.
pub(crate) fn csv(bytes: &[u8], path: &Path) -> Result<Vec<Series>, ImportError> {
    let text = text(bytes, path)?;
    let mut lines = LineOf::new(text);
    let csv_error = |e: ::csv::Error, lines: &mut LineOf<'_>| ImportError::Parse {
        path: path.into(),
        at: format!("line {}", e.position().map_or(1, |p| lines.at(p.byte()))),
        message: e.to_string(),
    };
    let mut reader = ::csv::ReaderBuilder::new().trim(::csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> =
        reader.headers().map_err(|e| csv_error(e, &mut lines))?.iter().map(str::to_string).collect();
    let (columns, names) = classify(&header);
    let mut series: Vec<Series> = if names.is_empty() {
        Series::one(Vec::new())
    } else {
        names.iter().map(|n| Series { name: Some(n.clone()), records: Vec::new() }).collect()
    };
    for row in reader.records() {
        let row = row.map_err(|e| csv_error(e, &mut lines))?;
        let at = format!("line {}", row.position().map_or(1, |p| lines.at(p.byte())));
        let mut shared = HashMap::new();
        let mut per_run: Vec<HashMap<String, Field>> = vec![HashMap::new(); series.len()];
        for (column, value) in columns.iter().zip(row.iter()).filter(|(_, v)| !v.is_empty()) {
            match column {
                Column::Ignored => {}
                Column::Shared(name) => {
                    shared.insert(name.clone(), Field::Text(value.to_string()));
                }
                Column::Run(run, metric) => {
                    per_run[*run].insert(metric.clone(), Field::Text(value.to_string()));
                }
            }
        }
        if names.is_empty() {
            series[0].records.push(Record { at, fields: shared });
            continue;
        }
        for (s, mut fields) in series.iter_mut().zip(per_run) {
            if fields.is_empty() {
                continue;
            }
            for (k, v) in &shared {
                fields.entry(k.clone()).or_insert_with(|| v.clone());
            }
            s.records.push(Record { at: at.clone(), fields });
        }
    }
    Ok(series)
}

/// Line numbers from byte offsets, counted here because the csv crate's own count is off after `\r\n` line
/// ends (which Python's `csv` module writes).
struct LineOf<'a> {
    text: &'a [u8],
    byte: usize,
    line: usize,
}

impl<'a> LineOf<'a> {
    fn new(text: &'a str) -> LineOf<'a> {
        LineOf { text: text.as_bytes(), byte: 0, line: 1 }
    }

    fn at(&mut self, byte: u64) -> usize {
        let mut byte = (byte as usize).min(self.text.len());
        // After `\r\n` the reported start can be the `\n`: a record starts at its first non-line-end byte.
        while matches!(self.text.get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte < self.byte {
            (self.byte, self.line) = (0, 1);
        }
        self.line += self.text[self.byte..byte].iter().filter(|&&b| b == b'\n').count();
        self.byte = byte;
        self.line
    }
}

/// Sorts header cells into shared, per-run and ignored columns; returns the run names in header order
/// (empty when the file is not a panel export).
fn classify(header: &[String]) -> (Vec<Column>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let columns = header
        .iter()
        .map(|h| {
            if h.is_empty() {
                return Column::Ignored;
            }
            let Some((run, metric)) = h.rsplit_once(" - ") else {
                return Column::Shared(h.clone());
            };
            let (run, metric) = (run.trim(), metric.trim());
            if run.is_empty() || metric.is_empty() {
                return Column::Shared(h.clone());
            }
            let upper = metric.to_ascii_uppercase();
            if upper.ends_with("__MIN") || upper.ends_with("__MAX") {
                return Column::Ignored;
            }
            let index = names.iter().position(|n| n == run).unwrap_or_else(|| {
                names.push(run.to_string());
                names.len() - 1
            });
            Column::Run(index, metric.to_string())
        })
        .collect();
    (columns, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(f: &Field) -> &str {
        match f {
            Field::Text(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn panel_export_splits_runs_and_ignores_min_max() {
        let log = "\"Step\",\"a - eval/loss\",\"a - eval/loss__MIN\",\"a - eval/loss__MAX\",\"b - x - eval/loss\"\n\
                   50,2.5,2.4,2.6,3.0\n100,,,,2.9\n";
        let series = csv(log.as_bytes(), Path::new("p.csv")).unwrap();
        let names: Vec<_> = series.iter().map(|s| s.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["a", "b - x"]);
        // Run a has no value at step 100: one record only.
        assert_eq!(series[0].records.len(), 1);
        let a = &series[0].records[0].fields;
        assert_eq!((text_of(&a["Step"]), text_of(&a["eval/loss"]), a.len()), ("50", "2.5", 2));
        assert_eq!(series[1].records.len(), 2);
        assert_eq!(series[1].records[1].at, "line 3");
    }

    #[test]
    fn line_numbers_with_crlf_line_ends() {
        let series = csv(b"\"a\",\"b\"\r\n\"1\",\"2\"\r\n\"3\",\"4\"\r\n", Path::new("w.csv")).unwrap();
        let at: Vec<_> = series[0].records.iter().map(|r| r.at.as_str()).collect();
        assert_eq!(at, ["line 2", "line 3"]);
    }

    #[test]
    fn history_export_is_one_run_without_the_index_column() {
        let log = ",_step,train/global_step,eval/loss\n0,0,10,\n1,1,20,2.5\n";
        let series = csv(log.as_bytes(), Path::new("h.csv")).unwrap();
        assert_eq!((series.len(), series[0].name.as_ref()), (1, None));
        let r = &series[0].records[1].fields;
        assert_eq!(r.len(), 3);
        assert_eq!(text_of(&r["eval/loss"]), "2.5");
        assert!(!series[0].records[0].fields.contains_key("eval/loss"));
    }
}
