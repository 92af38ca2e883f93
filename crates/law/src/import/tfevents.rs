//! TensorBoard event files (`events.out.tfevents.*`) as records: one record per global step, holding `step`
//! and every scalar logged at that step under its tag (`eval/loss`, `train/num_input_tokens_seen`, …).
//!
//! Framing (TFRecord): `u64 length | u32 masked CRC-32C of the length | data | u32 masked CRC-32C of the
//! data`, little-endian. Both checksums are checked; a mismatch or a truncated record is an error naming
//! the record's byte offset. Each record is an `Event` protobuf (`step` = field 2, `summary` = field 5);
//! `Summary.value` (field 1) holds `tag` (1) and either the old `simple_value` (2, float) or a `tensor` (8,
//! `TensorProto`) with `metadata` (9) naming its plugin. A tensor counts as a scalar when it holds exactly
//! one FLOAT, DOUBLE, INT32 or INT64 (from `float_val`/`double_val`/`int_val`/`int64_val` or raw
//! `tensor_content`, as TensorFlow 2 writes it) and its tag's plugin, as first seen, is `scalars` or not
//! given. Histograms, images, text and other plugins are skipped.
//!
//! A 32-bit `simple_value` is read as the shortest decimal that round-trips (a logged 2.8873 stays
//! 2.8873). When a tag is logged twice at one step (a resumed run, or several event files in one folder,
//! read in name order), the later value wins, as TensorBoard shows it.

use std::collections::HashMap;
use std::path::Path;

use super::proto::{masked_crc32c, repeated, Fields, Wire};
use super::records::{Field, Record};
use super::ImportError;

/// Records gathered across the event files of one run.
#[derive(Debug, Default)]
pub(crate) struct Events {
    pub records: Vec<Record>,
    by_step: HashMap<i64, usize>,
    /// Plugin name of each tag, from the first event that gave one.
    plugin: HashMap<String, String>,
}

impl Events {
    /// Adds the events of one file; `label` prefixes record locations when a run has several files.
    pub fn read(&mut self, bytes: &[u8], path: &Path, label: Option<&str>) -> Result<(), ImportError> {
        let err = |offset: usize, message: String| ImportError::Parse {
            path: path.into(),
            at: format!("record at byte offset {offset}"),
            message,
        };
        let mut offset = 0;
        while offset < bytes.len() {
            let header = bytes.get(offset..offset + 12).ok_or_else(|| {
                err(
                    offset,
                    format!("truncated: {} bytes left, a record header needs 12", bytes.len() - offset),
                )
            })?;
            let length = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
            let stored = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
            let computed = masked_crc32c(&header[..8]);
            if stored != computed {
                return Err(err(
                    offset,
                    format!("length CRC mismatch (stored {stored:#010x}, computed {computed:#010x}); not a TFRecord file, or corrupted"),
                ));
            }
            let start = offset + 12;
            let end = usize::try_from(length)
                .ok()
                .and_then(|n| start.checked_add(n))
                .filter(|&e| e + 4 <= bytes.len());
            let Some(end) = end else {
                let left = bytes.len() - start;
                return Err(err(
                    offset,
                    format!("truncated: {length} bytes of data and a CRC announced, {left} left"),
                ));
            };
            let data = &bytes[start..end];
            let stored = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes"));
            let computed = masked_crc32c(data);
            if stored != computed {
                return Err(err(
                    offset,
                    format!("data CRC mismatch (stored {stored:#010x}, computed {computed:#010x}): the record is corrupted"),
                ));
            }
            self.event(data, offset, label).map_err(|m| err(offset, format!("bad Event protobuf: {m}")))?;
            offset = end + 4;
        }
        Ok(())
    }

    fn event(&mut self, data: &[u8], offset: usize, label: Option<&str>) -> Result<(), String> {
        let (mut step, mut summary) = (0i64, None);
        for field in Fields::new(data) {
            match field? {
                (2, Wire::Varint(v)) => step = v as i64,
                (5, Wire::Bytes(b)) => summary = Some(b),
                _ => {}
            }
        }
        let Some(summary) = summary else { return Ok(()) };
        let mut values = Vec::new();
        for field in Fields::new(summary) {
            if let (1, Wire::Bytes(value)) = field? {
                if let Some(tv) = self.value(value)? {
                    values.push(tv);
                }
            }
        }
        if values.is_empty() {
            return Ok(());
        }
        let index = *self.by_step.entry(step).or_insert_with(|| {
            let at = match label {
                Some(l) => format!("{l}: step {step} (record at byte offset {offset})"),
                None => format!("step {step} (record at byte offset {offset})"),
            };
            let fields = HashMap::from([("step".to_string(), Field::Number(step as f64))]);
            self.records.push(Record { at, fields });
            self.records.len() - 1
        });
        self.records[index].fields.extend(values);
        Ok(())
    }

    /// A `Summary.Value` as `(tag, field)`, or `None` when it is not a scalar.
    fn value(&mut self, value: &[u8]) -> Result<Option<(String, Field)>, String> {
        let (mut tag, mut simple, mut tensor, mut plugin) = (None, None, None, None);
        for field in Fields::new(value) {
            match field? {
                (1, Wire::Bytes(b)) => tag = Some(String::from_utf8_lossy(b).into_owned()),
                (2, Wire::Fixed32(b)) => simple = Some(f32::from_le_bytes(b)),
                (8, Wire::Bytes(b)) => tensor = Some(b),
                (9, Wire::Bytes(b)) => plugin = plugin_name(b)?,
                _ => {}
            }
        }
        let Some(tag) = tag else { return Ok(None) };
        if let Some(p) = plugin.filter(|p| !p.is_empty()) {
            self.plugin.entry(tag.clone()).or_insert(p);
        }
        if let Some(v) = simple {
            return Ok(Some((tag, Field::Number(shortest(v)))));
        }
        let Some(tensor) = tensor else { return Ok(None) };
        let plugin = self.plugin.get(&tag).map(String::as_str);
        if plugin.is_some_and(|p| p != "scalars") {
            return Ok(None);
        }
        match scalar(tensor)? {
            Some(v) => Ok(Some((tag, Field::Number(v)))),
            // Declared a scalar but not one number: kept, so choosing it as the loss says why it fails.
            None if plugin == Some("scalars") => Ok(Some((tag, Field::Other))),
            None => Ok(None),
        }
    }
}

/// `SummaryMetadata.plugin_data.plugin_name`.
fn plugin_name(metadata: &[u8]) -> Result<Option<String>, String> {
    for field in Fields::new(metadata) {
        if let (1, Wire::Bytes(plugin_data)) = field? {
            for f in Fields::new(plugin_data) {
                if let (1, Wire::Bytes(name)) = f? {
                    return Ok(Some(String::from_utf8_lossy(name).into_owned()));
                }
            }
        }
    }
    Ok(None)
}

/// The shortest decimal that round-trips a float32, as a float64.
fn shortest(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}

const DT_FLOAT: u64 = 1;
const DT_DOUBLE: u64 = 2;
const DT_INT32: u64 = 3;
const DT_INT64: u64 = 9;

/// The value of a one-element numeric `TensorProto`; `None` for anything else.
fn scalar(tensor: &[u8]) -> Result<Option<f64>, String> {
    let (mut dtype, mut elements, mut content, mut vals) = (0, 1u64, None, Vec::new());
    for field in Fields::new(tensor) {
        match field? {
            (1, Wire::Varint(v)) => dtype = v,
            (2, Wire::Bytes(shape)) => {
                for f in Fields::new(shape) {
                    if let (2, Wire::Bytes(dim)) = f? {
                        let mut size = 0;
                        for d in Fields::new(dim) {
                            if let (1, Wire::Varint(s)) = d? {
                                size = s;
                            }
                        }
                        elements = elements.saturating_mul(size);
                    }
                }
            }
            (4, Wire::Bytes(b)) => content = Some(b),
            (n @ (5 | 6 | 7 | 10), v) => {
                let width = match n {
                    5 => 4,
                    6 => 8,
                    _ => 0,
                };
                vals.extend(repeated(v, width)?.into_iter().map(|bits| (n, bits)));
            }
            _ => {}
        }
    }
    if elements != 1 {
        return Ok(None);
    }
    let from_field = |want: u32| vals.iter().find(|(n, _)| *n == want).map(|&(_, bits)| bits);
    let v = match dtype {
        DT_FLOAT => match content {
            Some(c) => c.try_into().ok().map(|b| shortest(f32::from_le_bytes(b))),
            None => from_field(5).map(|b| shortest(f32::from_bits(b as u32))),
        },
        DT_DOUBLE => match content {
            Some(c) => c.try_into().ok().map(f64::from_le_bytes),
            None => from_field(6).map(f64::from_bits),
        },
        DT_INT32 => match content {
            Some(c) => c.try_into().ok().map(|b| i32::from_le_bytes(b) as f64),
            None => from_field(7).map(|b| b as i64 as i32 as f64),
        },
        DT_INT64 => match content {
            Some(c) => c.try_into().ok().map(|b| i64::from_le_bytes(b) as f64),
            None => from_field(10).map(|b| b as i64 as f64),
        },
        _ => None,
    };
    Ok(v)
}

/// Whether bytes start with a TFRecord header whose length checksum holds (for format sniffing).
pub(crate) fn looks_like_tfrecord(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && masked_crc32c(&bytes[..8]) == u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protobuf helpers to build events by hand.
    fn key(field: u32, wire: u32) -> u8 {
        (field << 3 | wire) as u8
    }
    fn bytes_field(field: u32, b: &[u8]) -> Vec<u8> {
        let mut out = vec![key(field, 2), b.len() as u8];
        out.extend_from_slice(b);
        out
    }
    fn record(data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&masked_crc32c(&out.clone()).to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
        out
    }
    fn event(step: u8, values: &[Vec<u8>]) -> Vec<u8> {
        let summary: Vec<u8> = values.iter().flat_map(|v| bytes_field(1, v)).collect();
        let mut e = vec![key(2, 0), step];
        e.extend(bytes_field(5, &summary));
        e
    }
    fn simple(tag: &str, v: f32) -> Vec<u8> {
        let mut out = bytes_field(1, tag.as_bytes());
        out.push(key(2, 5));
        out.extend_from_slice(&v.to_le_bytes());
        out
    }
    fn tensor_value(tag: &str, tensor: &[u8], plugin: Option<&str>) -> Vec<u8> {
        let mut out = bytes_field(1, tag.as_bytes());
        out.extend(bytes_field(8, tensor));
        if let Some(p) = plugin {
            out.extend(bytes_field(9, &bytes_field(1, &bytes_field(1, p.as_bytes()))));
        }
        out
    }

    #[test]
    fn simple_values_and_tensors_group_by_step() {
        let int64 = [vec![key(1, 0), DT_INT64 as u8], bytes_field(10, &[0xe8, 0x07])].concat();
        let double = [vec![key(1, 0), DT_DOUBLE as u8], bytes_field(4, &2.25f64.to_le_bytes())].concat();
        let vector =
            [vec![key(1, 0), DT_FLOAT as u8], bytes_field(2, &bytes_field(2, &[key(1, 0), 3]))].concat();
        let mut file = record(&[key(3, 2), 2, b'x', b'y']); // file_version only
        file.extend(record(&event(5, &[simple("loss", 2.8873), tensor_value("tokens", &int64, None)])));
        file.extend(record(&event(5, &[tensor_value("eval/loss", &double, Some("scalars"))])));
        file.extend(record(&event(6, &[tensor_value("hist", &vector, Some("histograms"))])));
        let offset7 = file.len();
        file.extend(record(&event(7, &[tensor_value("bad", &vector, Some("scalars"))])));
        let mut events = Events::default();
        events.read(&file, Path::new("e"), None).unwrap();
        assert_eq!(events.records.len(), 2);
        let r = &events.records[0].fields;
        assert_eq!(r["loss"], Field::Number(2.8873));
        assert_eq!(r["tokens"], Field::Number(1000.0));
        assert_eq!(r["eval/loss"], Field::Number(2.25));
        assert_eq!(r["step"], Field::Number(5.0));
        assert_eq!(events.records[1].fields["bad"], Field::Other);
        assert_eq!(events.records[1].at, format!("step 7 (record at byte offset {offset7})"));
    }

    #[test]
    fn checksum_and_truncation_errors_name_the_offset() {
        let one = record(&event(1, &[simple("loss", 3.0)]));
        let mut file = [one.clone(), one.clone()].concat();
        let n = one.len();
        file[n + 14] ^= 0x40;
        let err = Events::default().read(&file, Path::new("e"), None).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("e: record at byte offset {n}: data CRC mismatch (stored 0x")),
            "{err}"
        );
        let mut file = one.clone();
        file[3] = 1;
        let err = Events::default().read(&file, Path::new("e"), None).unwrap_err().to_string();
        assert!(err.contains("record at byte offset 0: length CRC mismatch"), "{err}");
        let err = Events::default().read(&one[..n - 2], Path::new("e"), None).unwrap_err().to_string();
        assert!(err.contains("offset 0: truncated: 17 bytes of data and a CRC announced, 19 left"), "{err}");
        assert!(looks_like_tfrecord(&one) && !looks_like_tfrecord(b"step,loss\n1,2\n"));
    }
}
