//! Plain-text training logs, read line by line with regular expressions: Megatron-LM's stdout, torchtune's
//! `DiskLogger` file, and any other trainer through a user `--regex`.
//!
//! - **Megatron-LM** (`megatron/training/training.py`): training lines
//!   ` [time] iteration 100/ 1000 | consumed samples: 1600 | ... | lm loss: 2.5E+00 | ...` and validation lines
//!   ` validation loss at iteration 100 | lm loss value: 2.4E+00 | lm loss PPL: ... |`. One record per
//!   iteration, holding `iteration`, every `key: value` of the training line and `<key> validation` for each
//!   validation loss (the same names Megatron gives its TensorBoard tags, e.g. `lm loss validation`). The
//!   evaluations Megatron repeats after the last iteration (`... on validation set`) replace the in-loop one
//!   at that iteration; `... on test set` lines are test losses and are left out. When the arguments dump
//!   gives `seq_length`, `tokens` = consumed samples × seq_length.
//! - **torchtune** (`DiskLogger`, txt): `Step 25 | loss:2.41 lr:2e-05 ...` and `Step 25 | val_loss:2.36`; one
//!   record per line with `step` and each `name:value`.
//! - **`--regex`**: one record per line the pattern matches, with a field per named group, e.g. nanoGPT's
//!   `step 100: train loss 2.9, val loss 3.0` with `step (?P<step>\d+): train loss \S+, val loss (?P<val_loss>\S+)`.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use super::records::{text, Field, Record};
use super::ImportError;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern")
}

/// `key: value |` pairs after Megatron's `|` separators.
fn pipe_pairs(rest: &str) -> Vec<(String, String)> {
    rest.split('|')
        .filter_map(|part| {
            let (k, v) = part.rsplit_once(':')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Megatron-LM stdout; see the module docs.
pub(crate) fn megatron(bytes: &[u8], path: &Path) -> Result<Vec<Record>, ImportError> {
    let train = re(r"\biteration\s+(\d+)\s*/\s*\d+\s*\|(.*)$");
    let valid = re(r"\bvalidation(-\S+)? loss at iteration (\d+)(?: on (\S+) set)?\s*\|(.*)$");
    let seq = re(r"^\s*seq_length \.+ (\d+)\s*$");
    let mut records: Vec<Record> = Vec::new();
    let mut by_iteration: HashMap<u64, usize> = HashMap::new();
    let mut seq_length: Option<f64> = None;
    for (i, line) in text(bytes, path)?.lines().enumerate() {
        let (iteration, fields) = if let Some(c) = valid.captures(line) {
            if c.get(3).is_some_and(|set| set.as_str() == "test") {
                continue;
            }
            let suffix = c.get(1).map_or("", |m| m.as_str());
            let fields = pipe_pairs(&c[4])
                .into_iter()
                .filter_map(|(k, v)| Some((format!("{} validation{suffix}", k.strip_suffix(" value")?), v)))
                .collect::<Vec<_>>();
            (c.get(2).map_or("", |m| m.as_str()), fields)
        } else if let Some(c) = train.captures(line) {
            (c.get(1).map_or("", |m| m.as_str()), pipe_pairs(&c[2]))
        } else {
            if let Some(c) = seq.captures(line) {
                seq_length = c[1].parse().ok();
            }
            continue;
        };
        let iteration: u64 = iteration.parse().map_err(|_| ImportError::Parse {
            path: path.into(),
            at: format!("line {}", i + 1),
            message: format!("iteration {iteration} is not a count"),
        })?;
        let index = *by_iteration.entry(iteration).or_insert_with(|| {
            let mut fields = HashMap::new();
            fields.insert("iteration".to_string(), Field::Number(iteration as f64));
            records.push(Record { at: format!("line {}", i + 1), fields });
            records.len() - 1
        });
        let record = &mut records[index];
        if fields.iter().any(|(k, _)| k.contains(" validation")) {
            record.at = format!("line {}", i + 1);
        }
        record.fields.extend(fields.into_iter().map(|(k, v)| (k, Field::Text(v))));
    }
    if let Some(seq_length) = seq_length {
        for r in &mut records {
            if let Some(Field::Text(s)) = r.fields.get("consumed samples") {
                if let Ok(samples) = s.parse::<f64>() {
                    r.fields.insert("tokens".into(), Field::Number(samples * seq_length));
                }
            }
        }
    }
    Ok(records)
}

/// torchtune's `DiskLogger` txt file; see the module docs.
pub(crate) fn torchtune(bytes: &[u8], path: &Path) -> Result<Vec<Record>, ImportError> {
    let line_re = re(r"^Step (\d+) \| (.*)$");
    let mut records = Vec::new();
    for (i, line) in text(bytes, path)?.lines().enumerate() {
        let Some(c) = line_re.captures(line.trim_end()) else {
            continue;
        };
        let mut fields = HashMap::new();
        fields.insert("step".to_string(), Field::Text(c[1].to_string()));
        for pair in c[2].split_whitespace() {
            if let Some((name, value)) = pair.rsplit_once(':') {
                fields.insert(name.to_string(), Field::Text(value.to_string()));
            }
        }
        records.push(Record { at: format!("line {}", i + 1), fields });
    }
    Ok(records)
}

/// Compiles a user pattern, which must name at least one group.
pub(crate) fn compile(pattern: &str) -> Result<Regex, ImportError> {
    let bad = |message: String| ImportError::BadRegex { pattern: pattern.into(), message };
    let regex = Regex::new(pattern).map_err(|e| bad(e.to_string().replace('\n', " ")))?;
    if regex.capture_names().flatten().next().is_none() {
        return Err(bad(
            "no named group; name the captures, e.g. (?P<step>\\d+) and (?P<val_loss>\\S+)".into()
        ));
    }
    Ok(regex)
}

/// One record per line that `pattern` matches, with a field per named group that took part in the match.
pub(crate) fn regex_lines(bytes: &[u8], path: &Path, pattern: &str) -> Result<Vec<Record>, ImportError> {
    let regex = compile(pattern)?;
    let names: Vec<&str> = regex.capture_names().flatten().collect();
    let mut records = Vec::new();
    for (i, line) in text(bytes, path)?.lines().enumerate() {
        let Some(c) = regex.captures(line) else {
            continue;
        };
        let fields = names
            .iter()
            .filter_map(|&n| c.name(n).map(|m| (n.to_string(), Field::Text(m.as_str().to_string()))))
            .collect();
        records.push(Record { at: format!("line {}", i + 1), fields });
    }
    Ok(records)
}

/// Whether text looks like a Megatron-LM or torchtune log (for format sniffing).
pub(crate) fn looks_like_megatron(text: &str) -> bool {
    let valid = re(r"\bvalidation(-\S+)? loss at iteration \d+");
    let train = re(r"\biteration\s+\d+\s*/\s*\d+\s*\| consumed samples:");
    text.lines().any(|l| valid.is_match(l) || train.is_match(l))
}

pub(crate) fn looks_like_torchtune(text: &str) -> bool {
    let line_re = re(r"^Step \d+ \| \S+:\S+");
    text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| line_re.is_match(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(r: &'a Record, k: &str) -> &'a Field {
        r.fields.get(k).unwrap_or_else(|| panic!("no {k} in {:?}", r.fields))
    }

    #[test]
    fn megatron_merges_training_and_validation_lines() {
        let log = "  seq_length ........ 512\n \
            [t] iteration       10/     100 | consumed samples:          160 | lm loss: 3.0E+00 |\n\
            -----\n validation loss at iteration 10 | lm loss value: 2.9E+00 | lm loss PPL: 18.2 | \n \
            validation-wiki loss at iteration 10 | lm loss value: 2.7E+00 | \n \
            validation loss at iteration 10 on test set | lm loss value: 9.9E+00 | \n";
        let records = megatron(log.as_bytes(), Path::new("m.log")).unwrap();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(get(r, "lm loss validation"), &Field::Text("2.9E+00".into()));
        assert_eq!(get(r, "lm loss validation-wiki"), &Field::Text("2.7E+00".into()));
        assert_eq!(get(r, "tokens"), &Field::Number(160.0 * 512.0));
        assert_eq!(get(r, "iteration"), &Field::Number(10.0));
        assert!(!r.fields.contains_key("lm loss PPL validation"));
        assert_eq!(r.at, "line 5");
    }

    #[test]
    fn torchtune_lines() {
        let log = "Step 1 | loss:2.9 lr:2e-05 \nStep 1 | val_loss:2.8 \nnoise\n";
        let records = torchtune(log.as_bytes(), Path::new("t.txt")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(get(&records[1], "val_loss"), &Field::Text("2.8".into()));
        assert_eq!(records[1].at, "line 2");
        assert!(looks_like_torchtune(log) && !looks_like_megatron(log));
    }

    #[test]
    fn user_regex() {
        let log = "step 0: train loss 3.0, val loss 3.1\niter 5: loss 2.9\nstep 100: train loss 2.5, val loss 2.6\n";
        let re = r"step (?P<step>\d+): train loss \S+, val loss (?P<val_loss>\S+)";
        let records = regex_lines(log.as_bytes(), Path::new("o.txt"), re).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(get(&records[1], "val_loss"), &Field::Text("2.6".into()));
        assert_eq!(records[1].at, "line 3");
        let err = regex_lines(b"", Path::new("o"), r"step (\d+)").unwrap_err().to_string();
        assert!(err.starts_with("--regex \"step (\\\\d+)\": no named group"), "{err}");
        let err = regex_lines(b"", Path::new("o"), r"(?P<a>").unwrap_err().to_string();
        assert!(err.starts_with("--regex \"(?P<a>\": regex parse error"), "{err}");
        assert!(!err.contains('\n'));
    }
}
