//! Column choice and errors on tiny inline logs (fixture files are exercised in `tests/import_fixtures.rs`).

use super::*;

fn run() -> RunInfo {
    RunInfo::new("r", 1e9, 0.5, 2.2)
}

fn import(log: &str, format: LogFormat, opts: &ImportOptions) -> Result<Imported, ImportError> {
    import_log_bytes(log.as_bytes(), format, Path::new("log"), &run(), opts)
}

fn tps(t: f64) -> ImportOptions {
    ImportOptions { tokens_per_step: Some(t), ..Default::default() }
}

#[test]
fn prefers_held_out_loss_and_tokens_column() {
    let log = "step,tokens,loss,eval_loss\n1,100,3.5,\n2,200,3.2,3.3\n3,300,3.0,3.1\n";
    let got = import(log, LogFormat::Csv, &ImportOptions::default()).unwrap();
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str(), got.skipped), ("eval_loss", "tokens", 1));
    let d_loss: Vec<_> = got.curves.points.iter().map(|p| (p.d(), p.loss())).collect();
    assert_eq!(d_loss, [(200.0, 3.3), (300.0, 3.1)]);
    assert_eq!(got.steps, Some(vec![2.0, 3.0]));
    // n defaults to n0 (1 - rho).
    assert_eq!(got.curves.points[0].get(Var::N), 5e8);
}

#[test]
fn column_overrides() {
    let log = "step,tokens,loss,eval_loss\n1,100,3.5,\n2,200,3.2,3.3\n";
    let opts =
        ImportOptions { loss_column: Some("loss".into()), step_column: Some("step".into()), ..tps(10.0) };
    let got = import(log, LogFormat::Csv, &opts).unwrap();
    assert_eq!(got.tokens_from, "step × 10");
    let d_loss: Vec<_> = got.curves.points.iter().map(|p| (p.d(), p.loss())).collect();
    assert_eq!(d_loss, [(10.0, 3.5), (20.0, 3.2)]);
    let opts = ImportOptions { loss_column: Some("nope".into()), ..Default::default() };
    let err = import(log, LogFormat::Csv, &opts).unwrap_err();
    assert_eq!(err.to_string(), "log: no loss column; looked for nope; pass the loss column by name");
    let opts = ImportOptions { tokens_column: Some("toks".into()), ..Default::default() };
    assert!(import(log, LogFormat::Csv, &opts)
        .unwrap_err()
        .to_string()
        .contains("no record has the column `toks`"));
}

#[test]
fn steps_need_tokens_per_step() {
    let log = "{\"iter\": 10, \"loss\": 3.0}\n{\"iter\": 20, \"loss\": 2.9}\n";
    let err = import(log, LogFormat::Jsonl, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("pass tokens per step to use column `iter`"), "{err}");
    let got = import(log, LogFormat::Jsonl, &tps(1000.0)).unwrap();
    assert_eq!(got.curves.points[1].d(), 20_000.0);
    let err = import(log, LogFormat::Jsonl, &tps(-1.0)).unwrap_err().to_string();
    assert_eq!(err, "tokens per step = -1: must be finite and > 0");
}

#[test]
fn bad_values_name_the_record() {
    let err = import("step,loss\n1,3.0\n2,oops\n", LogFormat::Csv, &tps(1.0)).unwrap_err().to_string();
    assert_eq!(err, "log: line 3: column `loss`: \"oops\" is not a number");
    let err = import("step,loss\n1,nan\n", LogFormat::Csv, &tps(1.0)).unwrap_err().to_string();
    assert_eq!(err, "log: line 2: column `loss`: NaN is not a finite number");
    let err = import("step,loss\n1,-1\n", LogFormat::Csv, &tps(1.0)).unwrap_err().to_string();
    assert_eq!(err, "log: line 2: column `loss`: -1 is not a loss > 0");
    let err = import("{\"log_history\": [{\"step\": 1, \"loss\": [1]}]}", LogFormat::TrainerState, &tps(1.0));
    assert_eq!(
        err.unwrap_err().to_string(),
        "log: log_history[0]: column `loss`: a non-number is not a number"
    );
}

#[test]
fn structural_errors() {
    let err = import("{\"global_step\": 3}", LogFormat::TrainerState, &tps(1.0)).unwrap_err().to_string();
    assert!(err.contains("no `log_history` array"), "{err}");
    let err = import("{\"log_history\": [", LogFormat::TrainerState, &tps(1.0)).unwrap_err().to_string();
    assert!(err.starts_with("log: line 1: "), "{err}");
    let err = import("step,loss\n0,3.0\n", LogFormat::Csv, &tps(1.0)).unwrap_err().to_string();
    assert_eq!(err, "log: no record has both a loss (`loss`) and tokens > 0");
    let err = import("step,acc\n1,0.5\n", LogFormat::Csv, &tps(1.0)).unwrap_err().to_string();
    assert!(err.contains("no loss column; looked for eval_loss, val_loss"), "{err}");
    let err = import("loss\n3.0\n", LogFormat::Csv, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no tokens column") && err.contains("no step column"), "{err}");
    let bad = import_log_bytes(
        b"step,loss\n1,3\n",
        LogFormat::Csv,
        Path::new("l"),
        &RunInfo::new("r", 1e9, 1.5, 2.0),
        &tps(1.0),
    );
    assert_eq!(bad.unwrap_err().to_string(), "rho = 1.5: must be in (0, 1)");
    let err = import_log_bytes(b"\xff", LogFormat::Jsonl, Path::new("l"), &run(), &tps(1.0)).unwrap_err();
    assert_eq!(err.to_string(), "l: line 1: not valid UTF-8");
}

#[test]
fn log_format_names() {
    assert_eq!("trainer-state".parse::<LogFormat>(), Ok(LogFormat::TrainerState));
    assert!("tensorboard".parse::<LogFormat>().unwrap_err().contains("trainer-state, csv or jsonl"));
}
