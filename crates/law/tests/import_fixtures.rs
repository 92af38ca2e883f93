//! Importing the logs in `tests/fixtures/` (see its README for how each was made: most by the logging
//! library itself, through `make_import_fixtures.py`), one test per format, with the format sniffed as a
//! user who does not pass `--format` would get it; and reading the written curve file back.

use std::path::{Path, PathBuf};

use p2law_law::curves::{read_curves, write_curves_csv_with, ExtraColumn};
use p2law_law::import::{import_log, read_log, Batch, ImportOptions, Imported, LogFormat, RunInfo};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn run() -> RunInfo {
    RunInfo::new("llama-depth-0.25", 1.24e9, 0.25, 2.31)
}

fn d_loss(got: &Imported) -> Vec<(f64, f64)> {
    got.curves.points.iter().map(|p| (p.d(), p.loss())).collect()
}

fn tps(t: f64) -> ImportOptions {
    ImportOptions { tokens_per_step: Some(t), ..Default::default() }
}

/// The four evaluations of the made-up HF run (steps 50..200, 16000 tokens per step) with losses
/// `base + 1.9 (step + 5)^-0.35`.
fn hf_evals(losses: [f64; 4]) -> Vec<(f64, f64)> {
    [50.0, 100.0, 150.0, 200.0].iter().zip(losses).map(|(s, l)| (s * 16000.0, l)).collect()
}

#[test]
fn trainer_state_uses_eval_loss_and_steps_times_tokens_per_step() {
    let got = import_log(&fixture("trainer_state.json"), None, &run(), &tps(16384.0)).unwrap();
    assert_eq!((got.format, got.loss_column.as_str()), (LogFormat::TrainerState, "eval_loss"));
    assert_eq!(got.tokens_from, "step × 16384");
    // Eval entries at steps 50, 100, 150, 200 (fixture values); the step-0 eval is skipped (d = 0), as are the
    // 20 training-loss entries and the final summary.
    let want = [(819200.0, 2.8873), (1638400.0, 2.7927), (2457600.0, 2.7452), (3276800.0, 2.7149)];
    assert_eq!(d_loss(&got), want);
    assert_eq!(got.skipped, 22);
    assert_eq!(got.steps, Some(vec![50.0, 100.0, 150.0, 200.0]));
    assert_eq!(got.at[0], "log_history[6]");
}

#[test]
fn trainer_state_prefers_the_token_counter() {
    let path = fixture("trainer_state_tokens.json");
    let got = import_log(&path, Some(LogFormat::TrainerState), &run(), &ImportOptions::default()).unwrap();
    assert_eq!(got.tokens_from, "num_input_tokens_seen");
    assert_eq!(got.curves.points.iter().map(|p| p.d()).collect::<Vec<_>>(), [8e5, 1.6e6, 2.4e6, 3.2e6]);
    let train = ImportOptions { loss_column: Some("loss".into()), ..Default::default() };
    assert_eq!(import_log(&path, None, &run(), &train).unwrap().curves.points.len(), 20);
}

#[test]
fn hf_checkpoint_tree_reads_the_last_checkpoint() {
    let got = import_log(&fixture("hf_output"), None, &run(), &ImportOptions::default()).unwrap();
    // checkpoint-200, not checkpoint-50 (which sorts last by name) nor checkpoint-100.
    assert!(got.source.ends_with("hf_output/checkpoint-200/trainer_state.json"), "{}", got.source.display());
    assert_eq!(got.tokens_from, "num_input_tokens_seen");
    assert_eq!(d_loss(&got), hf_evals([2.2173, 2.1227, 2.0752, 2.0449]));
}

#[test]
fn tensorboard_simple_value_from_tensorboardx() {
    // The folder: its one event file is found and read; histogram and text summaries are skipped.
    let opts = ImportOptions { loss_column: Some("eval/loss".into()), ..Default::default() };
    let got = import_log(&fixture("tb_simple_value"), None, &run(), &opts).unwrap();
    assert_eq!(got.format, LogFormat::TfEvents);
    assert_eq!(got.tokens_from, "train/num_input_tokens_seen");
    assert_eq!(d_loss(&got), hf_evals([2.2673, 2.1727, 2.1252, 2.0949]));
    assert_eq!(got.steps, Some(vec![50.0, 100.0, 150.0, 200.0]));
    // Without --tag the held-out loss is found too (eval/loss before train/loss).
    let auto = import_log(&fixture("tb_simple_value"), None, &run(), &ImportOptions::default()).unwrap();
    assert_eq!(auto.loss_column, "eval/loss");
    let train = ImportOptions { loss_column: Some("train/loss".into()), ..Default::default() };
    let got = import_log(&fixture("tb_simple_value"), None, &run(), &train).unwrap();
    assert_eq!((got.curves.points.len(), d_loss(&got)[0]), (20, (160000.0, 2.5864)));
}

#[test]
fn tensorboard_tensor_proto_float_val_and_tensor_content() {
    let file = fixture("tb_tensor_proto/events.out.tfevents.1700000000.fixture");
    // eval/loss is stored as TensorFlow 2 stores it (raw tensor_content); train/* as float_val tensors.
    let opts = ImportOptions { loss_column: Some("eval/loss".into()), ..Default::default() };
    let got = import_log(&file, None, &run(), &opts).unwrap();
    assert_eq!(d_loss(&got), hf_evals([2.1673, 2.0727, 2.0252, 1.9949]));
    let train = ImportOptions { loss_column: Some("train/loss".into()), ..Default::default() };
    let got = import_log(&file, None, &run(), &train).unwrap();
    assert_eq!((got.curves.points.len(), d_loss(&got)[19]), (20, (3.2e6, 2.0449)));
}

#[test]
fn tensorboard_corrupted_record_names_its_offset() {
    let file = fixture("tb_simple_value/events.out.tfevents.1700000000.fixture");
    let mut bytes = std::fs::read(&file).unwrap();
    // Find the 10th record's offset by walking the framing, then flip one bit of its data.
    let mut offset = 0usize;
    for _ in 0..10 {
        offset += 16 + u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap()) as usize;
    }
    bytes[offset + 14] ^= 0x04;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("events.out.tfevents.1.bad");
    std::fs::write(&bad, &bytes).unwrap();
    let err = import_log(&bad, None, &run(), &ImportOptions::default()).unwrap_err().to_string();
    let want = format!("{}: record at byte offset {offset}: data CRC mismatch (stored 0x", bad.display());
    assert!(err.starts_with(&want), "{err}");
    assert!(err.ends_with("the record is corrupted") && !err.contains('\n'), "{err}");
}

#[test]
fn wandb_history_export_from_an_offline_run() {
    // `_step` counts wandb.log calls (two per eval step here); the Trainer's step is train/global_step.
    let opts = ImportOptions { tokens_per_step: Some(16000.0), ..Default::default() };
    let got = import_log(&fixture("wandb_history.csv"), None, &run(), &opts).unwrap();
    assert_eq!(got.format, LogFormat::Csv);
    assert_eq!(got.loss_column, "eval/loss");
    // The token counter is preferred over steps × tokens per step.
    assert_eq!(got.tokens_from, "train/num_input_tokens_seen");
    assert_eq!(d_loss(&got), hf_evals([2.2673, 2.1727, 2.1252, 2.0949]));
    let by_step = ImportOptions { step_column: Some("TRAIN/GLOBAL_STEP".into()), ..opts };
    let got = import_log(&fixture("wandb_history.csv"), None, &run(), &by_step).unwrap();
    assert_eq!(got.tokens_from, "train/global_step × 16000");
    assert_eq!(d_loss(&got), hf_evals([2.2673, 2.1727, 2.1252, 2.0949]));
}

#[test]
fn wandb_panel_export_holds_several_runs() {
    let log = read_log(&fixture("wandb_panel.csv"), None, None).unwrap();
    assert_eq!(log.run_names(), ["llama-depth-0.25", "llama-width-0.25", "llama-nm-0.5"]);
    let err = log.import(&run(), &tps(16000.0)).unwrap_err().to_string();
    assert!(
        err.contains("holds 3 runs (llama-depth-0.25, llama-width-0.25, llama-nm-0.5); pick one"),
        "{err}"
    );
    let mut batch = Batch::new();
    for (name, rho) in [("llama-depth-0.25", 0.25), ("llama-width-0.25", 0.25), ("llama-nm-0.5", 0.5)] {
        let opts = ImportOptions { source_run: Some(name.into()), ..tps(16000.0) };
        let got = log.import(&RunInfo::new(name, 1.24e9, rho, 2.31), &opts).unwrap();
        assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("eval/loss", "Step × 16000"));
        batch.add(&got).unwrap();
    }
    let (curves, _) = batch.finish();
    let per_run: Vec<usize> = (0..3).map(|r| curves.points.iter().filter(|p| p.run == r).count()).collect();
    // The last run stopped at step 150.
    assert_eq!(per_run, [4, 4, 3]);
    assert_eq!(curves.points[4].loss(), 2.3673);
}

#[test]
fn megatron_stdout_tokens_from_consumed_samples() {
    let got = import_log(&fixture("megatron_train.log"), None, &run(), &ImportOptions::default()).unwrap();
    assert_eq!(got.format, LogFormat::Megatron);
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("lm loss validation", "tokens"));
    // consumed samples (16 per iteration) × seq_length 1024; the repeat after the last iteration replaces
    // the in-loop value at 200, and the test-set line is left out.
    let want: Vec<(f64, f64)> = [(50.0, 2.2673), (100.0, 2.1727), (150.0, 2.1252), (200.0, 2.0961)]
        .iter()
        .map(|&(it, l)| (it * 16384.0, l))
        .collect();
    assert_eq!(d_loss(&got), want);
    assert_eq!(got.steps, Some(vec![50.0, 100.0, 150.0, 200.0]));
}

#[test]
fn torchtune_disk_logger() {
    let err = import_log(&fixture("torchtune_log.txt"), None, &run(), &ImportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("pass --tokens-per-step"), "{err}");
    let got = import_log(&fixture("torchtune_log.txt"), None, &run(), &tps(8192.0)).unwrap();
    assert_eq!(got.format, LogFormat::Torchtune);
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("val_loss", "step × 8192"));
    let want: Vec<(f64, f64)> = [(25.0, 2.3673), (50.0, 2.2727), (75.0, 2.2252), (100.0, 2.1949)]
        .iter()
        .map(|&(s, l)| (s * 8192.0, l))
        .collect();
    assert_eq!(d_loss(&got), want);
}

#[test]
fn regex_preset_reads_nanogpt_stdout() {
    let opts = ImportOptions {
        regex: Some(r"step (?P<step>\d+): train loss \S+, val loss (?P<val_loss>\S+)".into()),
        ..tps(491520.0)
    };
    let got = import_log(&fixture("nanogpt_stdout.txt"), None, &run(), &opts).unwrap();
    assert_eq!(got.format, LogFormat::Regex);
    // The step-0 evaluation is skipped (d = 0).
    assert_eq!((got.curves.points.len(), got.skipped), (5, 1));
    assert_eq!(d_loss(&got)[0], (100.0 * 491520.0, 2.4727));
    assert_eq!(got.at[0], "line 12");
    // Without --regex the file is not a known format; the error lists what was tried.
    let err = import_log(&fixture("nanogpt_stdout.txt"), None, &run(), &tps(1.0)).unwrap_err().to_string();
    assert!(
        err.contains("cannot tell the log format; tried tfevents (no TFRecord header); trainer-state"),
        "{err}"
    );
    assert!(err.ends_with("csv (no header with a comma and rows of as many fields); pass --format, or --regex for another trainer's text log"), "{err}");
}

#[test]
fn custom_csv_and_jsonl_loggers() {
    let got = import_log(&fixture("custom_log.csv"), None, &run(), &ImportOptions::default()).unwrap();
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("val_loss", "tokens"));
    assert_eq!(d_loss(&got)[0], (819200.0, 2.8873));
    assert_eq!(got.curves.points.len(), 4);

    let got = import_log(&fixture("nanogpt_log.jsonl"), None, &run(), &tps(491520.0)).unwrap();
    assert_eq!(got.format, LogFormat::Jsonl);
    assert_eq!((got.loss_column.as_str(), got.tokens_from.as_str()), ("val_loss", "iter × 491520"));
    assert_eq!(got.curves.points.len(), 5);
    assert_eq!(got.curves.points[0].d(), 200.0 * 491520.0);
}

#[test]
fn imported_curve_round_trips_through_the_reader() {
    let got = import_log(&fixture("trainer_state.json"), None, &run(), &tps(16384.0)).unwrap();
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

#[test]
fn the_same_points_from_two_logs_name_both() {
    let a = import_log(&fixture("hf_output"), None, &run(), &ImportOptions::default()).unwrap();
    let b =
        import_log(&fixture("hf_output/checkpoint-100"), None, &run(), &ImportOptions::default()).unwrap();
    let mut batch = Batch::new();
    batch.add(&a).unwrap();
    let err = batch.add(&b).unwrap_err().to_string();
    let first = fixture("hf_output/checkpoint-200/trainer_state.json");
    let second = fixture("hf_output/checkpoint-100/trainer_state.json");
    assert_eq!(
        err,
        format!(
            "run `llama-depth-0.25`: two points at d = 800000: {} (log_history[5]) and {} (log_history[5]) \
             (a log read twice, or two logs given the same run name?)",
            first.display(),
            second.display()
        )
    );
    // Nothing of the failed log was added.
    assert_eq!(batch.curves().points.len(), 4);
}
