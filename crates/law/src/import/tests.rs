//! Column choice and errors on tiny inline logs (fixture files are exercised in `tests/import_fixtures.rs`).

use super::*;
use crate::var::Var;

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
    assert_eq!(
        err.to_string(),
        "log: no loss column; looked for nope; pass the loss column (--loss-column, or --tag for TensorBoard)"
    );
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
    assert!(
        err.contains(
            "pass --tokens-per-step (batch × sequence length × accumulation × ranks) to use column `iter`"
        ),
        "{err}"
    );
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
    assert_eq!("tensorboard".parse::<LogFormat>(), Ok(LogFormat::TfEvents));
    assert_eq!("wandb".parse::<LogFormat>(), Ok(LogFormat::Csv));
    for f in LogFormat::ALL {
        assert_eq!(f.name().parse::<LogFormat>(), Ok(f));
    }
    let err = "tb".parse::<LogFormat>().unwrap_err();
    assert!(
        err.contains("expected trainer-state, tfevents, csv, jsonl, megatron, torchtune, regex"),
        "{err}"
    );
}

#[test]
fn names_match_case_insensitively_with_slashes_as_underscores() {
    let log = "Step,Train/Global_Step,EVAL/LOSS\n1,10,3.0\n";
    let got = import(log, LogFormat::Csv, &tps(2.0)).unwrap();
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("EVAL/LOSS", "Step × 2"));
    let opts = ImportOptions {
        loss_column: Some("eval_loss".into()),
        step_column: Some("train/global_step".into()),
        ..tps(2.0)
    };
    let got = import(log, LogFormat::Csv, &opts).unwrap();
    assert_eq!((got.tokens_from.as_str(), got.curves.points[0].d()), ("Train/Global_Step × 2", 20.0));
}

#[test]
fn a_repeated_d_in_one_log_names_both_records() {
    let err = import("step,loss\n1,3.0\n2,2.9\n1,2.8\n", LogFormat::Csv, &tps(5.0)).unwrap_err().to_string();
    assert_eq!(
        err,
        "run `r`: two points at d = 5: log (line 2) and log (line 4) (a log read twice, or two logs given the same run name?)"
    );
}

#[test]
fn choosing_a_run_of_a_multi_run_log() {
    let log = "Step,a - val_loss,b - val_loss\n1,3.0,3.1\n";
    let parsed = read_log_bytes(log.as_bytes(), LogFormat::Csv, Path::new("p.csv"), None).unwrap();
    let opts = ImportOptions { source_run: Some("b".into()), ..tps(1.0) };
    let got = parsed.import(&run(), &opts).unwrap();
    assert_eq!((got.source_run.as_deref(), got.curves.points[0].loss()), (Some("b"), 3.1));
    let opts = ImportOptions { source_run: Some("c".into()), ..tps(1.0) };
    assert_eq!(
        parsed.import(&run(), &opts).unwrap_err().to_string(),
        "p.csv: no run named \"c\"; it holds a, b"
    );
    let one = read_log_bytes(b"step,loss\n1,3\n", LogFormat::Csv, Path::new("o.csv"), None).unwrap();
    let err = one.import(&run(), &opts).unwrap_err().to_string();
    assert_eq!(err, "o.csv: no run named \"c\"; it holds one unnamed run");
}

#[test]
fn run_folders_and_what_a_run_folder_holds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = r#"{"global_step": 20, "log_history": [{"step": 20, "eval_loss": 2.5, "num_input_tokens_seen": 99}]}"#;
    for (run, files) in [
        ("a", vec![("checkpoint-10/trainer_state.json", "{}"), ("trainer_state.json", state)]),
        ("b", vec![("train.log", "step,loss\n1,3\n"), ("pruning.json", "{}")]),
        ("c", vec![("x.csv", "step,loss\n1,3\n"), ("y.txt", "")]),
    ] {
        for (file, text) in files {
            let path = root.join(run).join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
    let folders = run_folders(root).unwrap().unwrap();
    assert_eq!(folders.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(run_folders(&root.join("a")).unwrap().is_none());
    // The top-level trainer_state.json is newer (global_step 20) than checkpoint-10.
    let got = import_log(&root.join("a"), None, &run(), &ImportOptions::default()).unwrap();
    assert_eq!((got.curves.points[0].d(), got.source.ends_with("a/trainer_state.json")), (99.0, true));
    let got = import_log(&root.join("b"), None, &run(), &tps(7.0)).unwrap();
    assert_eq!((got.format, got.curves.points[0].d()), (LogFormat::Csv, 7.0));
    let err = import_log(&root.join("c"), None, &run(), &tps(1.0)).unwrap_err().to_string();
    assert!(err.ends_with("c: not a run folder: several candidate logs (x.csv, y.txt); name the log itself, or each in a --manifest"), "{err}");
    let empty = root.join("d");
    std::fs::create_dir(&empty).unwrap();
    let err = import_log(&empty, None, &run(), &tps(1.0)).unwrap_err().to_string();
    assert!(err.contains("d: not a run folder: no checkpoint-*/trainer_state.json"), "{err}");
}

#[test]
fn one_run_from_two_logs_must_agree() {
    let a =
        import_log_bytes(b"step,loss\n1,3\n", LogFormat::Csv, Path::new("a.csv"), &run(), &tps(1.0)).unwrap();
    let other = RunInfo { rho: 0.25, ..run() };
    let b =
        import_log_bytes(b"step,loss\n2,3\n", LogFormat::Csv, Path::new("b.csv"), &other, &tps(1.0)).unwrap();
    let c =
        import_log_bytes(b"step,loss\n3,3\n", LogFormat::Csv, Path::new("c.csv"), &run(), &tps(1.0)).unwrap();
    let mut batch = Batch::new();
    batch.add(&a).unwrap();
    assert_eq!(batch.add(&b).unwrap_err().to_string(), "run `r`: rho is 0.5 from a.csv but 0.25 from b.csv");
    // A run may span logs that agree; their points and steps are kept in order.
    batch.add(&c).unwrap();
    let (curves, steps) = batch.finish();
    assert_eq!((curves.runs.len(), curves.points.len(), steps), (1, 2, Some(vec![1.0, 3.0])));
}
