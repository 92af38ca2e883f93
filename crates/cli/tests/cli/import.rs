//! `p2law import` end to end on the law crate's hand-written fixtures (`crates/law/tests/fixtures/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../law/tests/fixtures").join(name)
}

fn p2law(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

#[test]
fn imports_trainer_state_to_a_readable_curve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve.csv");
    let log = fixture("trainer_state.json");
    let args = [
        "import",
        "--format",
        "trainer-state",
        log.to_str().unwrap(),
        "--run",
        "r1",
        "--n0",
        "1.24e9",
        "--rho",
        "0.25",
        "--l0",
        "2.31",
        "--tokens-per-step",
        "16384",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ];
    let output = p2law(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["points"], 4);
    assert_eq!(summary["loss_column"], "eval_loss");
    assert_eq!(summary["d_min"], 819200.0);
    let curves = p2law_law::read_curves(&[&out], None).unwrap();
    assert_eq!(curves.runs[0].name, "r1");
    assert_eq!(curves.points.len(), 4);
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve.csv");
    let log = fixture("trainer_state.json");
    // No --tokens-per-step and no token counter in this log.
    let args = [
        "import",
        "--format",
        "trainer-state",
        log.to_str().unwrap(),
        "--run",
        "r1",
        "--n0",
        "1e9",
        "--rho",
        "0.25",
        "--l0",
        "2.3",
        "-o",
        out.to_str().unwrap(),
    ];
    let output = p2law(&args);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pass tokens per step to use column `step`"), "{stderr}");
    assert!(!out.exists());
}
