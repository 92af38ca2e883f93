//! Importing the hand-written logs in `tests/fixtures/` (see its README for how they were made) and reading
//! the written curve file back through the validating reader.

use std::path::{Path, PathBuf};

use p2law_law::curves::{read_curves, write_curves_csv_with, ExtraColumn};
use p2law_law::import::{import_log, ImportOptions, LogFormat, RunInfo};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn run() -> RunInfo {
    RunInfo::new("llama-depth-0.25", 1.24e9, 0.25, 2.31)
}

fn d_loss(curves: &p2law_law::Curves) -> Vec<(f64, f64)> {
    curves.points.iter().map(|p| (p.d(), p.loss())).collect()
}

#[test]
fn trainer_state_uses_eval_loss_and_steps_times_tokens_per_step() {
    let opts = ImportOptions { tokens_per_step: Some(16384.0), ..Default::default() };
    let got = import_log(&fixture("trainer_state.json"), LogFormat::TrainerState, &run(), &opts).unwrap();
    assert_eq!(got.loss_column, "eval_loss");
    assert_eq!(got.tokens_from, "step × 16384");
    // Eval entries at steps 50, 100, 150, 200 (fixture values); the step-0 eval is skipped (d = 0), as are the
    // 20 training-loss entries and the final summary.
    let want = [(819200.0, 2.8873), (1638400.0, 2.7927), (2457600.0, 2.7452), (3276800.0, 2.7149)];
    assert_eq!(d_loss(&got.curves), want);
    assert_eq!(got.skipped, 22);
    assert_eq!(got.steps, Some(vec![50.0, 100.0, 150.0, 200.0]));
}

#[test]
fn trainer_state_prefers_the_token_counter() {
    let got = import_log(
        &fixture("trainer_state_tokens.json"),
        LogFormat::TrainerState,
        &run(),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(got.tokens_from, "num_input_tokens_seen");
    assert_eq!(got.curves.points.iter().map(|p| p.d()).collect::<Vec<_>>(), [8e5, 1.6e6, 2.4e6, 3.2e6]);
    let train = ImportOptions { loss_column: Some("loss".into()), ..Default::default() };
    let got =
        import_log(&fixture("trainer_state_tokens.json"), LogFormat::TrainerState, &run(), &train).unwrap();
    assert_eq!(got.curves.points.len(), 20);
}

#[test]
fn wandb_csv_and_nanogpt_jsonl() {
    let got =
        import_log(&fixture("wandb_export.csv"), LogFormat::Csv, &run(), &ImportOptions::default()).unwrap();
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("val_loss", "tokens"));
    assert_eq!(d_loss(&got.curves)[0], (819200.0, 2.8873));
    assert_eq!(got.curves.points.len(), 4);

    let opts = ImportOptions { tokens_per_step: Some(491520.0), ..Default::default() };
    let got = import_log(&fixture("nanogpt_log.jsonl"), LogFormat::Jsonl, &run(), &opts).unwrap();
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("val_loss", "iter × 491520"));
    assert_eq!(got.curves.points.len(), 5);
    assert_eq!(got.curves.points[0].d(), 200.0 * 491520.0);
}

#[test]
fn imported_curve_round_trips_through_the_reader() {
    let opts = ImportOptions { tokens_per_step: Some(16384.0), ..Default::default() };
    let got = import_log(&fixture("trainer_state.json"), LogFormat::TrainerState, &run(), &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve.csv");
    let steps = got.steps.clone().unwrap();
    write_curves_csv_with(&out, &got.curves, &[ExtraColumn { name: "step", values: &steps }]).unwrap();
    let back = read_curves(&[&out], None).unwrap();
    assert_eq!(back, got.curves);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with(
            "run,n0,n,rho,l0,d,loss,step\nllama-depth-0.25,1240000000,930000000,0.25,2.31,819200,2.8873,50\n"
        ),
        "{text}"
    );
}
