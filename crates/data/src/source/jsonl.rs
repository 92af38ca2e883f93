//! JSON Lines: one document per line, its text in a string field (default `text`, as in SlimPajama:
//! `{"text": "...", "meta": {"redpajama_set_name": "..."}}`).
//!
//! Document ids are `file:line`. Blank lines are skipped; a line that is not a JSON object, or lacks the field,
//! or has a non-string value there, is an error naming the file, line and the fields present.

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{decode_utf8, has_content, Document, Loaded, SourceFile};
use crate::error::{DataError, Result};

/// Reads every line of `path`, taking the text from `field`.
pub fn load(path: &Path, field: &str) -> Result<Loaded> {
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Loaded::default();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut offset = 0usize;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(DataError::io(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = decode_utf8(path, std::mem::take(&mut buf)).map_err(|e| match e {
            DataError::NotUtf8 { path, offset: o, .. } => {
                DataError::NotUtf8 { path, offset: offset + o, line: line_no }
            }
            other => other,
        })?;
        offset += n;
        if line.trim().is_empty() {
            continue;
        }
        let text = text_of(&line, field).map_err(|problem| DataError::BadLine {
            path: path.to_path_buf(),
            line: line_no,
            problem,
        })?;
        if has_content(&text) {
            out.documents.push(Document { id: format!("{name}:{line_no}"), text });
        }
    }
    out.files.push(SourceFile::describe(path)?);
    if out.documents.is_empty() {
        return Err(DataError::Empty { what: path.display().to_string() });
    }
    Ok(out)
}

/// The string at `field` of one JSON object line, or a readable problem.
fn text_of(line: &str, field: &str) -> std::result::Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err("not a JSON object".into());
    };
    match map.remove(field) {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(format!("field '{field}' is not a string but {}", kind(&other))),
        None => {
            let fields: Vec<&str> = map.keys().map(String::as_str).collect();
            Err(format!("unknown column '{field}'; fields are {}", fields.join(", ")))
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.jsonl");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_the_slimpajama_shape() {
        let (_d, path) = write(
            b"{\"text\": \"One.\", \"meta\": {\"redpajama_set_name\": \"RedPajamaBook\"}}\n\n{\"text\": \"Two.\"}\n",
        );
        let loaded = load(&path, "text").unwrap();
        let docs: Vec<_> = loaded.documents.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        assert_eq!(docs, [("part.jsonl:1", "One."), ("part.jsonl:3", "Two.")]);
    }

    #[test]
    fn missing_field_names_line_and_fields() {
        let (_d, path) = write(b"{\"text\": \"ok\"}\n{\"content\": \"x\", \"id\": 3}\n");
        let msg = load(&path, "text").unwrap_err().to_string();
        assert!(msg.ends_with("part.jsonl:2: unknown column 'text'; fields are content, id"), "{msg}");
    }

    #[test]
    fn wrong_type_bad_json_and_bad_bytes_are_errors() {
        let (_d, path) = write(b"{\"text\": 5}\n");
        assert!(load(&path, "text").unwrap_err().to_string().contains("is not a string but a number"));
        let (_d, path) = write(b"{\"text\": \"a\"}\n{oops\n");
        assert!(load(&path, "text").unwrap_err().to_string().contains(":2: not JSON"));
        let (_d, path) = write(b"{\"text\": \"a\"}\n{\"text\": \"C\xe6sar\"}\n");
        let msg = load(&path, "text").unwrap_err().to_string();
        assert!(msg.contains("not UTF-8 (invalid byte at offset 25, line 2)"), "{msg}");
    }

    #[test]
    fn empty_file_is_an_error() {
        let (_d, path) = write(b"\n{\"text\": \"  \"}\n");
        assert!(matches!(load(&path, "text").unwrap_err(), DataError::Empty { .. }));
    }
}
