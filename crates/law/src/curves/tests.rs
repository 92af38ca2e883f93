//! Curve reading: one test per error kind, merging, round-tripping, and a no-panic property on garbage input.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

const HEADER: &str = "run,n0,rho,l0,d,loss";

fn csv(text: &str) -> Result<Curves, CurveError> {
    parse_curves(text, CurveFormat::Csv, Path::new("c.csv"))
}

fn jsonl(text: &str) -> Result<Curves, CurveError> {
    parse_curves(text, CurveFormat::Jsonl, Path::new("c.jsonl"))
}

/// The one-line message of the error `csv(text)` returns.
fn csv_err(text: &str) -> String {
    let err = csv(text).expect_err("expected an error");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    msg
}

#[test]
fn reads_csv_with_quotes_optional_and_extra_columns() {
    let text = "run,n0,rho,l0,d,loss,method,extra,n\n\
                \"a, pruned\",1e9,0.25,2.0,100,3.0,\"depth\",x,7e8\n\
                b,2e9,0.5,1.9,100,2.9,,y,\n\
                \"a, pruned\",1e9,0.25,2.0,200,2.8,depth,z,7e8\n";
    let c = csv(text).unwrap();
    assert_eq!(c.runs.len(), 2);
    assert_eq!(c.runs[0].name, "a, pruned");
    assert_eq!(c.runs[0].method.as_deref(), Some("depth"));
    assert_eq!(c.runs[1].method, None);
    assert_eq!(c.points.len(), 3);
    assert_eq!(c.points[2].run, 0);
    assert_eq!(c.points[0].get(Var::N), 7e8);
    // Empty `n` falls back to n0 * (1 - rho).
    assert_eq!(c.points[1].get(Var::N), 1e9);
    assert_eq!(c.points[2].loss(), 2.8);
}

#[test]
fn reads_jsonl_with_numbers_or_numeric_strings() {
    let text = "{\"run\":\"a\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":\"100\",\"loss\":3,\"model\":\"m\"}\n\n\
                {\"run\":\"a\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":200,\"loss\":2.5,\"step\":4}\n";
    let c = jsonl(text).unwrap();
    assert_eq!((c.runs.len(), c.points.len()), (1, 2));
    assert_eq!(c.runs[0].model.as_deref(), Some("m"));
    assert_eq!(c.points[0].d(), 100.0);
}

#[test]
fn missing_column() {
    let msg = csv_err("run,n0,rho,l0,d\na,1,0.5,2,1\n");
    assert_eq!(msg, "c.csv:1: missing required column `loss` (required: run, n0, rho, l0, d, loss)");
    let err = jsonl("{\"run\":\"a\",\"n0\":1,\"rho\":0.5,\"l0\":2,\"loss\":3}").unwrap_err();
    assert!(matches!(err, CurveError::MissingColumn { line: 1, column: "d", .. }), "{err}");
}

#[test]
fn unparsable_number() {
    let msg = csv_err(&format!("{HEADER}\na,1e9,0.5,2,1e8,2.5\na,1e9,0.5,2,lots,2.5\n"));
    assert_eq!(msg, "c.csv:3: column `d`: \"lots\" is not a number");
    assert!(csv_err(&format!("{HEADER}\na,1e9,0.5,2,,2.5\n")).contains("column `d`: \"\" is not a number"));
    let err = jsonl("{\"run\":\"a\",\"n0\":true,\"rho\":0.5,\"l0\":2,\"d\":1,\"loss\":3}").unwrap_err();
    assert!(matches!(err, CurveError::WrongType { .. }), "{err}");
}

#[test]
fn nan_and_infinity() {
    assert_eq!(
        csv_err(&format!("{HEADER}\na,1e9,0.5,2,1e8,NaN\n")),
        "c.csv:2: column `loss`: NaN is not finite"
    );
    assert!(csv_err(&format!("{HEADER}\na,inf,0.5,2,1e8,2\n")).contains("column `n0`: inf is not finite"));
}

#[test]
fn out_of_range_values() {
    let cases = [
        ("a,1e9,0.5,2,0,2.5", "column `d`: 0 is out of range, must be > 0"),
        ("a,1e9,0.5,2,-5,2.5", "column `d`: -5 is out of range, must be > 0"),
        ("a,1e9,1,2,1,2.5", "column `rho`: 1 is out of range, must be in (0, 1)"),
        ("a,1e9,0,2,1,2.5", "column `rho`: 0 is out of range, must be in (0, 1)"),
        ("a,1e9,0.5,2,1,0", "column `loss`: 0 is out of range, must be > 0"),
        ("a,0,0.5,2,1,2.5", "column `n0`: 0 is out of range, must be > 0"),
        ("a,1e9,0.5,-2,1,2.5", "column `l0`: -2 is out of range, must be > 0"),
    ];
    for (row, want) in cases {
        let msg = csv_err(&format!("{HEADER}\n{row}\n"));
        assert_eq!(msg, format!("c.csv:2: {want}"), "row {row}");
    }
}

#[test]
fn inconsistent_run_names_both_lines() {
    let msg = csv_err(&format!("{HEADER}\na,1e9,0.5,2,1,3\nb,1e9,0.5,2,1,3\na,1e9,0.4,2,2,3\n"));
    assert_eq!(
        msg,
        "c.csv:4: run \"a\": column `rho` is 0.4 here but 0.5 at c.csv:2; rows of one run must agree"
    );
    let msg = csv_err(
        "run,n0,rho,l0,d,loss,method\na,1e9,0.5,2,1,3,\na,1e9,0.5,2,2,3,depth\na,1e9,0.5,2,3,3,width\n",
    );
    assert!(msg.starts_with("c.csv:4:") && msg.contains("depth at c.csv:3"), "{msg}");
}

#[test]
fn a_repeated_d_in_one_run_names_both_rows() {
    let msg = csv_err(&format!(
        "{HEADER}\nx,1e9,0.5,2,32768,3\ny,1e9,0.5,2,65536,3\nx,1e9,0.5,2,65536,2.9\nx,1e9,0.5,2,65536,2.8\n"
    ));
    assert_eq!(
        msg,
        "c.csv:5: run \"x\" has d = 65536 twice (first at c.csv:4); a run has one row per d: drop the repeated \
         row, or give different runs different names"
    );
    // The same value written differently is the same d; the same loss does not make it less of a repeat.
    let err = jsonl(
        "{\"run\":\"x\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":\"1e8\",\"loss\":3}\n\n\
         {\"run\":\"x\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":100000000,\"loss\":3}\n",
    )
    .unwrap_err();
    match err {
        CurveError::Duplicate(dup) => {
            assert_eq!((dup.line, dup.first_line, dup.d, dup.run.as_str()), (3, 1, 1e8, "x"));
            assert_eq!(
                (dup.path.as_path(), dup.first_path.as_path()),
                (Path::new("c.jsonl"), Path::new("c.jsonl"))
            );
        }
        other => panic!("expected a duplicate error, got {other}"),
    }
    // One d in several runs, and several d in one run, are what curves are made of.
    let c = csv(&format!(
        "{HEADER}\nx,1e9,0.5,2,1,3\ny,1e9,0.5,2,1,3\nx,1e9,0.5,2,2,3\nx,1e9,0.5,2,1.0000001,3\n"
    ))
    .unwrap();
    assert_eq!((c.runs.len(), c.points.len()), (2, 4));
}

#[test]
fn a_repeated_d_across_files_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, format!("{HEADER}\nx,1e9,0.5,2,1e8,3\nx,1e9,0.5,2,2e8,2.9\n")).unwrap();
    std::fs::write(
        &b,
        "{\"run\":\"x\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":4e8,\"loss\":2.8}\n\
         {\"run\":\"x\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":2e8,\"loss\":2.85}\n",
    )
    .unwrap();
    let msg = read_curves(&[&a, &b], None).unwrap_err().to_string();
    let (a, b) = (a.display(), b.display());
    assert!(msg.starts_with(&format!("{b}:2: run \"x\" has d = 200000000 twice (first at {a}:3)")), "{msg}");
    // The same file given twice repeats every row: the first one is reported.
    let msg =
        read_curves(&[dir.path().join("a.csv"), dir.path().join("a.csv")], None).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{a}:2: run \"x\" has d = 100000000 twice (first at {a}:2)")), "{msg}");
    // Post-training reading checks pruned runs the same way.
    let err =
        read_post_training_curves(&[dir.path().join("a.csv"), dir.path().join("b.jsonl")], None).unwrap_err();
    assert!(matches!(err, CurveError::Duplicate(_)), "{err}");
}

#[test]
fn empty_files_and_empty_runs() {
    assert_eq!(csv_err(""), "c.csv: no data rows (a curve file needs a header and at least one row)");
    assert!(matches!(csv(&format!("{HEADER}\n")), Err(CurveError::Empty { .. })));
    assert!(matches!(jsonl("\n  \n"), Err(CurveError::Empty { .. })));
    assert_eq!(
        csv_err(&format!("{HEADER}\n,1e9,0.5,2,1,3\n")),
        "c.csv:2: column `run` is empty; every row needs a run name"
    );
}

#[test]
fn malformed_rows() {
    let msg = csv_err(&format!("{HEADER}\na,1e9,0.5,2,1\n"));
    assert_eq!(msg, "c.csv:2: malformed CSV: 5 fields where the header has 6");
    let err = jsonl("{\"run\":\"a\",").unwrap_err();
    assert!(matches!(err, CurveError::Json { line: 1, .. }), "{err}");
}

#[test]
fn non_utf8_names_line_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, b"run,n0,rho,l0,d,loss\nab\xff,1,0.5,2,1,3\n").unwrap();
    let err = read_curves(&[&path], None).unwrap_err();
    assert!(matches!(err, CurveError::NotUtf8 { line: 2, byte: 3, .. }), "{err}");
}

#[test]
fn format_from_extension_or_override() {
    let dir = tempfile::tempdir().unwrap();
    let weird = dir.path().join("curve.txt");
    std::fs::write(&weird, format!("{HEADER}\na,1e9,0.5,2,1,3\n")).unwrap();
    assert!(matches!(read_curves(&[&weird], None), Err(CurveError::UnknownFormat { .. })));
    assert_eq!(read_curves(&[&weird], Some(CurveFormat::Csv)).unwrap().points.len(), 1);
    assert_eq!(CurveFormat::from_extension(Path::new("x.JSON")), Some(CurveFormat::Jsonl));
    assert!(matches!(read_curves::<PathBuf>(&[], None), Err(CurveError::NoFiles)));
    let missing = read_curves(&[dir.path().join("nope.csv")], None).unwrap_err();
    assert!(matches!(missing, CurveError::Read { .. }));
}

#[test]
fn files_merge_by_run_name_and_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.jsonl");
    let c = dir.path().join("c.csv");
    std::fs::write(&a, format!("{HEADER}\nx,1e9,0.5,2,1,3\ny,2e9,0.5,2,1,3\n")).unwrap();
    std::fs::write(&b, "{\"run\":\"x\",\"n0\":1e9,\"rho\":0.5,\"l0\":2,\"d\":2,\"loss\":2.9}\n").unwrap();
    std::fs::write(&c, format!("{HEADER}\ny,2e9,0.5,2.5,2,3\n")).unwrap();
    let merged = read_curves(&[&a, &b], None).unwrap();
    assert_eq!((merged.runs.len(), merged.points.len()), (2, 3));
    assert_eq!(merged.points[2].run, 0);
    let msg = read_curves(&[&a, &c], None).unwrap_err().to_string();
    assert!(
        msg.contains("c.csv:2: run \"y\": column `l0` is 2.5 here but 2 at ") && msg.contains("a.csv:3"),
        "{msg}"
    );
}

#[test]
fn write_then_read_round_trips_exactly() {
    let text =
        "run,n0,rho,l0,d,loss,family,rho_target\n\"q,1\",1234567891,0.3333333333333333,2.0123456789,1e8,2.71828,llama,0.35\n\
                q2,1e9,0.5,2,3e8,2.5,,\n";
    let curves = csv(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let steps = [10.0, f64::NAN];
    write_curves_csv_with(&path, &curves, &[ExtraColumn { name: "step", values: &steps }]).unwrap();
    let back = read_curves(&[&path], None).unwrap();
    assert_eq!(back, curves);
    assert_eq!((curves.runs[0].rho_target, curves.runs[1].rho_target), (Some(0.35), None));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("run,n0,n,rho,l0,d,loss,family,rho_target,step\n"), "{written}");
    assert!(written.ends_with(",\n"), "NaN extra value is an empty field: {written}");
    let short = write_curves_csv_with(&path, &curves, &[ExtraColumn { name: "lr", values: &[1.0] }]);
    assert!(matches!(short, Err(CurveError::Write { .. })));
}

#[test]
fn points_by_run_sorts_by_d() {
    let c = csv(&format!("{HEADER}\na,1,0.5,2,3,3\nb,1,0.5,2,1,3\na,1,0.5,2,1,3\na,1,0.5,2,2,3\n")).unwrap();
    assert_eq!(c.points_by_run(), vec![vec![2, 3, 0], vec![1]]);
}

#[test]
fn post_training_reading_sets_unpruned_runs_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.csv");
    let text = format!("{HEADER}\npre,1e6,0,9,1,8\na,1e6,0.5,2,1,3\npre,1e6,0,9,2,7\na,1e6,0.5,2,2,2.5\n");
    std::fs::write(&path, text).unwrap();
    let got = read_post_training_curves(&[&path], None).unwrap();
    assert_eq!(got.unpruned, ["pre"]);
    assert_eq!(got.curves.runs.len(), 1);
    assert_eq!(got.curves.points.len(), 2);
    // The rows set aside are kept as curves of their own, rho 0 and all.
    assert_eq!(got.unpruned_curves.runs.len(), 1);
    assert_eq!((got.unpruned_curves.runs[0].rho, got.unpruned_curves.points.len()), (0.0, 2));
    assert_eq!(got.unpruned_curves.points[1].loss(), 7.0);
    // An unpruned row that fails the checks (a zero loss) is left out of them, not an error.
    std::fs::write(&path, format!("{HEADER}\npre,1e6,0,9,1,0\npre,1e6,0,9,2,7\na,1e6,0.5,2,1,3\n")).unwrap();
    let got = read_post_training_curves(&[&path], None).unwrap();
    assert_eq!((got.unpruned.len(), got.unpruned_curves.points.len()), (1, 1));
    // The plain reader still rejects rho = 0, and a negative rate is an error either way.
    assert!(read_curves(&[&path], None).is_err());
    std::fs::write(&path, format!("{HEADER}\na,1e6,-0.1,2,1,3\n")).unwrap();
    let err = read_post_training_curves(&[&path], None).unwrap_err().to_string();
    assert!(err.contains("c.csv:2") && err.contains("rho"), "{err}");
}

#[test]
fn select_runs_renumbers() {
    let c = csv(&format!("{HEADER}\na,1,0.5,2,1,3\nb,1,0.6,2,1,3\nc,1,0.7,2,1,3\nb,1,0.6,2,2,3\n")).unwrap();
    let s = c.select_runs(|r| r.name != "a");
    assert_eq!(s.runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(s.points.iter().map(|p| p.run).collect::<Vec<_>>(), [0, 1, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = csv(text);
            let _ = jsonl(text);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_curves(&[&path], None);
        let _ = read_curves(&[&path], Some(CurveFormat::Jsonl));
    }

    #[test]
    fn random_lines_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                Just(HEADER.to_string()),
                Just("run,d,loss".to_string()),
                "[a-z]{0,3},[-0-9.eEinfa]{0,6},[-0-9.]{0,4},[0-9.]{0,3},[-0-9.e]{0,5},[-0-9.NaN]{0,4}",
                "\\{\"run\":\"[a-z]{0,2}\",\"n0\":[-0-9.]{1,3},\"rho\":[0-9.]{1,3},\"l0\":[0-9]{1,2},\"d\":[-0-9e]{1,3},\"loss\":[0-9.]{1,3}\\}",
                "[ -~]{0,20}",
            ],
            0..8,
        )
    ) {
        let text = lines.join("\n");
        let _ = csv(&text);
        let _ = jsonl(&text);
    }
}
