//! Parquet: one document per row, its text in a string column (default `text`).
//!
//! Only the text column is read (a projection), row group by row group, through the `parquet` crate's row API
//! (no Arrow: it keeps the build small). Snappy and zstd pages are supported, which covers the Hugging Face
//! datasets' exports. Document ids are `file#row` (0-based). Null values are skipped; a missing column is an
//! error listing the columns that exist.

use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use super::{decode_utf8, has_content, Document, Loaded, SourceFile};
use crate::error::{DataError, Result};

/// Reads the `column` of every row of `path`.
pub fn load(path: &Path, column: &str) -> Result<Loaded> {
    let pq = |e: parquet::errors::ParquetError| DataError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let reader = SerializedFileReader::new(file).map_err(pq)?;
    let schema = reader.metadata().file_metadata().schema_descr().root_schema().clone();
    let fields = schema.get_fields();
    let Some(field) = fields.iter().find(|f| f.name() == column) else {
        return Err(DataError::UnknownColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            columns: fields.iter().map(|f| f.name().to_string()).collect(),
        });
    };
    let projection =
        Type::group_type_builder(schema.name()).with_fields(vec![Arc::clone(field)]).build().map_err(pq)?;

    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Loaded::default();
    for (row_no, row) in reader.get_row_iter(Some(projection)).map_err(pq)?.enumerate() {
        let row = row.map_err(pq)?;
        let Some((_, value)) = row.get_column_iter().next() else { continue };
        let text = match value {
            Field::Str(s) => s.clone(),
            // A BYTE_ARRAY column without the UTF8 annotation: accept it when it is valid UTF-8.
            Field::Bytes(b) => decode_utf8(path, b.data().to_vec()).map_err(|_| DataError::BadInput {
                path: path.to_path_buf(),
                problem: format!("row {row_no}: column '{column}' is not valid UTF-8"),
            })?,
            Field::Null => continue,
            other => {
                return Err(DataError::BadInput {
                    path: path.to_path_buf(),
                    problem: format!("row {row_no}: column '{column}' holds {other:?}, not a string"),
                })
            }
        };
        if has_content(&text) {
            out.documents.push(Document { id: format!("{name}#{row_no}"), text });
        }
    }
    out.files.push(SourceFile::describe(path)?);
    if out.documents.is_empty() {
        return Err(DataError::Empty { what: path.display().to_string() });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    /// Writes a two-column (`id`, `text`) Parquet file with snappy pages.
    pub(crate) fn write_parquet(path: &Path, texts: &[&str]) {
        let schema = Arc::new(
            parse_message_type("message doc { REQUIRED INT64 id; REQUIRED BYTE_ARRAY text (UTF8); }")
                .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        let file = std::fs::File::create(path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let ids: Vec<i64> = (0..texts.len() as i64).collect();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<Int64Type>().write_batch(&ids, None, None).unwrap();
        col.close().unwrap();
        let values: Vec<ByteArray> = texts.iter().map(|t| ByteArray::from(*t)).collect();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>().write_batch(&values, None, None).unwrap();
        col.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn reads_the_text_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        write_parquet(&path, &["first row", "  ", "third row"]);
        let loaded = load(&path, "text").unwrap();
        let docs: Vec<_> = loaded.documents.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        assert_eq!(docs, [("train.parquet#0", "first row"), ("train.parquet#2", "third row")]);
        assert_eq!(loaded.files[0].bytes, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn unknown_column_lists_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        write_parquet(&path, &["x"]);
        let msg = load(&path, "content").unwrap_err().to_string();
        assert!(msg.starts_with("unknown column 'content' in "), "{msg}");
        assert!(msg.ends_with("train.parquet; columns are id, text"), "{msg}");
        let msg = load(&path, "id").unwrap_err().to_string();
        assert!(msg.contains("row 0: column 'id' holds"), "{msg}");
    }

    #[test]
    fn not_parquet_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.parquet");
        std::fs::write(&path, b"hello").unwrap();
        assert!(load(&path, "text").unwrap_err().to_string().contains("fake.parquet: parquet:"));
    }
}
