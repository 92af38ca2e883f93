//! `pruning.json`: what `p2law prune` did to a model, beside the pruned weights (`docs/spec/formats.md`).
//!
//! [`PruningRecord`] is written by the pruning stage and read by post-training (the run constants `n0`, `rho`,
//! `l0`, `method`, `n`, `target_rho`), `p2law import` and the sweep (the achieved `rho`). Reading is lenient
//! about what older or hand-written files leave out: only `rho` is required (a reader that needs more, as
//! training needs `n0`, says so), `null` is the same as absent, unknown keys are ignored, and a count may be
//! a plain number or `{"non_embedding": …, "total": …}`. Errors name the file and the field.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::version::PRUNING;
use crate::FormatError;

/// The `method` of an unpruned control's `pruning.json`: a sweep's base model written as is, `rho` 0, and
/// post-trained like the pruned models (`p2law report` checks the regime with it).
pub const CONTROL_METHOD: &str = "control";

/// `l0_source` when the caller gave L0 (`p2law prune --l0`, a sweep's measured base loss).
pub const L0_GIVEN: &str = "given (--l0)";
/// `l0_source` when L0 was measured on the record's `eval` slice.
pub const L0_MEASURED: &str = "measured on eval";

/// The contents of a `pruning.json`. Fields are `None` only in files from before they were written or
/// made by hand; `p2law prune` writes them all, `calibration` and `target_rho` aside for an unpruned
/// control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruningRecord {
    /// [`PRUNING`]'s tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The p2law that wrote the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2law_version: Option<String>,
    /// `depth`, `width`, `nm`, `unstructured` (or `control`, the unpruned control of a sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `block-influence`, `activation`, `magnitude`, `wanda`, `sparsegpt` (`none` for a control).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criterion: Option<String>,
    /// The rate asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rho: Option<f64>,
    /// The rate achieved, `1 − n/n0` on non-embedding counts, in [0, 1).
    pub rho: f64,
    /// Parameters before pruning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n0: Option<Count>,
    /// Parameters after pruning (zeroed weights do not count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<Count>,
    /// The unpruned model's held-out loss; `null` when there was no held-out shard.
    pub l0: Option<f64>,
    /// [`L0_GIVEN`] or [`L0_MEASURED`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l0_source: Option<String>,
    /// The pruned model's held-out loss before any training; `null` without a held-out shard.
    pub loss_pruned: Option<f64>,
    /// The held-out slice `l0` and `loss_pruned` were measured on; `null` without one.
    pub eval: Option<EvalSlice>,
    /// The calibration windows the pruning scored with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSet>,
    /// The directory pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_model: Option<String>,
    /// `masks.safetensors` for sparse methods, else `null`.
    pub masks: Option<String>,
    /// Seconds spent pruning (not loading or measuring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_seconds: Option<f64>,
    /// Method-specific record (layers removed, channels kept, N:M layers…); `null` when absent.
    pub details: Value,
}

/// A parameter count: non-embedding (the law's N) and, when known, total. Written as
/// `{"non_embedding": …, "total": …}`, whole numbers as JSON integers; read from that or from a plain number
/// (the non-embedding count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub non_embedding: f64,
    pub total: Option<f64>,
}

/// Where `l0` and `loss_pruned` were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSlice {
    /// The held-out shard.
    pub data: String,
    /// Tokens scored.
    pub tokens: u64,
    /// Window length.
    pub context: u64,
}

/// The calibration set of a pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSet {
    /// The calibration shard.
    pub source: String,
    pub samples: u64,
    pub seq_len: u64,
    pub seed: u64,
    /// Start token of each sequence.
    pub offsets: Vec<u64>,
}

impl PruningRecord {
    /// A record stamped with this format and this p2law's version, for `method` by `criterion` on the
    /// directory `source_model`, with nothing measured yet (rate 0, no counts, losses, slices or masks): the
    /// writer sets what it measured with struct update syntax.
    pub fn stamped(method: &str, criterion: &str, source_model: &Path) -> PruningRecord {
        PruningRecord {
            format: Some(PRUNING.tag()),
            p2law_version: Some(crate::P2LAW_VERSION.into()),
            method: Some(method.into()),
            criterion: Some(criterion.into()),
            target_rho: None,
            rho: 0.0,
            n0: None,
            n: None,
            l0: None,
            l0_source: None,
            loss_pruned: None,
            eval: None,
            calibration: None,
            source_model: Some(source_model.display().to_string()),
            masks: None,
            prune_seconds: None,
            details: Value::Null,
        }
    }

    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<PruningRecord, FormatError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FormatError::Read { path: path.to_path_buf(), source })?;
        PruningRecord::parse(&text, path)
    }

    /// Parses and checks a `pruning.json`'s text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<PruningRecord, FormatError> {
        let json: Value = serde_json::from_str(text)
            .map_err(|source| FormatError::Json { path: path.to_path_buf(), source })?;
        PruningRecord::from_value(&json, path)
    }

    /// The record in a parsed `pruning.json`; `path` names it in errors.
    pub fn from_value(json: &Value, path: &Path) -> Result<PruningRecord, FormatError> {
        let bad = |field: &str, problem: String| FormatError::Field {
            path: path.to_path_buf(),
            field: field.into(),
            problem,
        };
        let map = json.as_object().ok_or_else(|| bad("(file)", "expected a JSON object".into()))?;
        let f = Fields { map, path };
        let format: Option<String> = f.get("format")?;
        PRUNING.check(format.as_deref(), path)?;
        let rho: f64 = f.get("rho")?.ok_or_else(|| bad("rho", "missing or not a number".into()))?;
        if !(0.0..1.0).contains(&rho) {
            return Err(bad("rho", format!("{rho} must be in [0, 1)")));
        }
        Ok(PruningRecord {
            format,
            p2law_version: f.get("p2law_version")?,
            method: f.get("method")?,
            criterion: f.get("criterion")?,
            target_rho: f.get("target_rho")?,
            rho,
            n0: f.count("n0")?,
            n: f.count("n")?,
            l0: f.get("l0")?,
            l0_source: f.get("l0_source")?,
            loss_pruned: f.get("loss_pruned")?,
            eval: f.get("eval")?,
            calibration: f.get("calibration")?,
            source_model: f.get("source_model")?,
            masks: f.get("masks")?,
            prune_seconds: f.get("prune_seconds")?,
            details: map.get("details").cloned().unwrap_or(Value::Null),
        })
    }

    /// The file's text, pretty-printed with a final newline, as the pruning stage writes it.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a pruning record serialises") + "\n"
    }
}

/// The fields of one object, read one at a time so an error names its field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a Path,
}

impl Fields<'_> {
    fn bad(&self, field: &str, problem: String) -> FormatError {
        FormatError::Field { path: self.path.to_path_buf(), field: field.into(), problem }
    }

    /// `field` as a `T`; absent or `null` is `None`.
    fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, FormatError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| self.bad(field, e.to_string())),
        }
    }

    /// A [`Count`]: a number, or an object with a numeric `non_embedding` (and maybe `total`).
    fn count(&self, field: &str) -> Result<Option<Count>, FormatError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().map(|v| Count { non_embedding: v, total: None })),
            Some(Value::Object(obj)) => {
                let non_embedding = obj
                    .get("non_embedding")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| self.bad(field, "an object without a numeric `non_embedding`".into()))?;
                let total = match obj.get("total") {
                    None | Some(Value::Null) => None,
                    Some(v) => {
                        Some(v.as_f64().ok_or_else(|| self.bad(field, "`total` is not a number".into()))?)
                    }
                };
                Ok(Some(Count { non_embedding, total }))
            }
            Some(_) => Err(self.bad(field, "expected a number or {\"non_embedding\": …}".into())),
        }
    }
}

impl Count {
    /// Non-embedding and total counts, as the pruning stage records them.
    pub fn new(non_embedding: u64, total: u64) -> Count {
        Count { non_embedding: non_embedding as f64, total: Some(total as f64) }
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Count", if self.total.is_some() { 2 } else { 1 })?;
        st.serialize_field("non_embedding", &Whole(self.non_embedding))?;
        if let Some(total) = self.total {
            st.serialize_field("total", &Whole(total))?;
        }
        st.end()
    }
}

/// A count written as a JSON integer when it is a whole number that fits, else as a float.
struct Whole(f64);

impl Serialize for Whole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // 2^64 as f64; every whole f64 below it converts to u64 exactly.
        if self.0.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&self.0) {
            s.serialize_u64(self.0 as u64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> PruningRecord {
        PruningRecord {
            target_rho: Some(0.5),
            rho: 0.4921875,
            n0: Some(Count::new(1_000_000, 1_500_000)),
            n: Some(Count::new(507_813, 1_007_813)),
            l0: Some(4.25),
            l0_source: Some(L0_MEASURED.into()),
            eval: Some(EvalSlice { data: "tokens/heldout.bin".into(), tokens: 65535, context: 512 }),
            calibration: Some(CalibrationSet {
                source: "tokens/calib.bin".into(),
                samples: 2,
                seq_len: 512,
                seed: 0,
                offsets: vec![0, 1024],
            }),
            masks: Some("masks.safetensors".into()),
            prune_seconds: Some(1.5),
            details: json!({"criterion": "wanda", "pattern": "2:4"}),
            ..PruningRecord::stamped("nm", "wanda", Path::new("models/base"))
        }
    }

    #[test]
    fn round_trips_with_version_fields_first_and_integer_counts() {
        let r = record();
        let text = r.to_json_pretty();
        assert!(text.starts_with("{\n  \"format\": \"p2law.pruning/1\",\n  \"p2law_version\": "), "{text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["n0"], json!({"non_embedding": 1_000_000, "total": 1_500_000}));
        assert!(json["n0"]["total"].is_u64(), "counts stay integers: {text}");
        assert_eq!(json["loss_pruned"], Value::Null, "unmeasured losses are written as null");
        assert_eq!(PruningRecord::parse(&text, Path::new("p.json")).unwrap(), r);
    }

    #[test]
    fn control_records_leave_out_what_a_control_lacks() {
        let r = PruningRecord { target_rho: None, calibration: None, rho: 0.0, ..record() };
        let json: Value = serde_json::to_value(&r).unwrap();
        assert!(json.get("target_rho").is_none() && json.get("calibration").is_none());
        assert!(json["masks"].is_string() && json.get("l0").is_some());
    }

    #[test]
    fn files_written_before_the_version_fields_parse() {
        // A pruning.json as p2law 0.1.0 wrote it before `format` existed (keys sorted, as serde_json's map
        // wrote them).
        let old = r#"{"calibration":{"offsets":[100,300],"samples":2,"seed":1,"seq_len":100,"source":"c.bin"},
            "criterion":"block-influence","details":{"removed_layers":[3]},"eval":null,"l0":null,
            "l0_source":"measured on eval","loss_pruned":null,"masks":null,"method":"depth",
            "n":{"non_embedding":750,"total":1250},"n0":{"non_embedding":1000,"total":1500},
            "prune_seconds":0.25,"rho":0.25,"source_model":"m","target_rho":0.25}"#;
        let r = PruningRecord::parse(old, Path::new("p.json")).unwrap();
        assert_eq!((r.format.as_deref(), r.method.as_deref(), r.rho), (None, Some("depth"), 0.25));
        assert_eq!(r.n0, Some(Count { non_embedding: 1000.0, total: Some(1500.0) }));
        assert_eq!(r.calibration.unwrap().offsets, [100, 300]);
        // Hand-written files: plain-number counts, only `rho`, unknown keys.
        let r = PruningRecord::parse(r#"{"n0": 5e5, "n": 2.5e5, "rho": 0.5, "note": "x"}"#, Path::new("p"))
            .unwrap();
        assert_eq!(r.n0, Some(Count { non_embedding: 5e5, total: None }));
        assert_eq!(r.n.map(|c| c.non_embedding), Some(2.5e5));
        let r = PruningRecord::parse(r#"{"rho": 0.5}"#, Path::new("p")).unwrap();
        assert_eq!((r.n0, r.l0, r.details), (None, None, Value::Null));
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let path = Path::new("pruned/a/pruning.json");
        for (text, want) in [
            (r#"{"n0": 1}"#, "`rho`: missing"),
            (r#"{"rho": 1.5}"#, "`rho`: 1.5 must be in [0, 1)"),
            (r#"{"rho": 0.5, "l0": "x"}"#, "`l0`: invalid type"),
            (r#"{"rho": 0.5, "n0": {"total": 3}}"#, "`n0`: an object without a numeric `non_embedding`"),
            (r#"{"rho": 0.5, "n": "many"}"#, "`n`: expected a number"),
            (r#"{"rho": 0.5, "format": "p2law.pruning/9"}"#, "`format`: \"p2law.pruning/9\" is a newer"),
            (r#"[1]"#, "`(file)`: expected a JSON object"),
            ("{", "invalid JSON"),
        ] {
            let e = PruningRecord::parse(text, path).unwrap_err().to_string();
            assert!(e.starts_with("pruned/a/pruning.json: ") && e.contains(want), "{text}: {e}");
        }
        let e = PruningRecord::read(Path::new("/no/such/pruning.json")).unwrap_err().to_string();
        assert!(e.starts_with("/no/such/pruning.json: cannot read"), "{e}");
    }
}
