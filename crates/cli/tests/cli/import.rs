//! `p2law import` end to end: single logs from the law crate's fixtures (`crates/law/tests/fixtures/README.md`),
//! a folder of 12 HF checkpoint trees with `pruning.json` beside each imported in one command and handed to
//! `p2law report`, a manifest over multi-run and TensorBoard logs, and the one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use p2law_law::Curves;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../law/tests/fixtures").join(name)
}

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = p2law(args);
    assert!(out.status.success(), "p2law {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The one line a failing command prints.
fn fails(args: &[&str]) -> String {
    let out = p2law(args);
    assert!(!out.status.success(), "p2law {args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn imports_trainer_state_to_a_readable_curve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve.csv");
    let log = fixture("trainer_state.json");
    let args = [
        "import",
        s(&log),
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
        s(&out),
        "--json",
    ];
    let summary: serde_json::Value = serde_json::from_slice(&ok(&args).stdout).unwrap();
    assert_eq!(summary["points"], 4);
    let run = &summary["runs"][0];
    assert_eq!(
        (&run["format"], &run["loss_column"], &run["d_min"]),
        (&"trainer-state".into(), &"eval_loss".into(), &819200.0.into())
    );
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
    let base =
        ["import", s(&log), "--run", "r1", "--n0", "1e9", "--rho", "0.25", "--l0", "2.3", "-o", s(&out)];
    let err = fails(&base);
    assert!(err.contains("run `r1`: ") && err.contains("pass --tokens-per-step"), "{err}");
    assert!(!out.exists());
    // No name for the run, and a missing run variable: each error names the flag.
    let err = fails(&["import", s(&log), "--n0", "1e9", "--rho", "0.25", "--l0", "2.3", "-o", s(&out)]);
    assert!(err.contains("trainer_state.json: the log does not name its run; pass --run NAME"), "{err}");
    // A W&B panel export of one run gives the run's name.
    let panel = dir.path().join("panel.csv");
    std::fs::write(&panel, "\"Step\",\"nm-0.5 - eval/loss\"\n\"50\",\"2.5\"\n").unwrap();
    let args = [
        "import",
        s(&panel),
        "--n0",
        "1e9",
        "--rho",
        "0.5",
        "--l0",
        "2.3",
        "--tokens-per-step",
        "8",
        "-o",
        s(&out),
    ];
    ok(&args);
    assert_eq!(p2law_law::read_curves(&[&out], None).unwrap().runs[0].name, "nm-0.5");
    std::fs::remove_file(&out).unwrap();
    let err = fails(&["import", s(&log), "--run", "r1", "--n0", "1e9", "--rho", "0.25", "-o", s(&out)]);
    assert!(err.contains("run `r1`: no l0; pass --l0 or --pruned DIR"), "{err}");
    // A corrupted TensorBoard record names its byte offset (the first record starts at 0).
    let mut bytes = std::fs::read(fixture("tb_simple_value/events.out.tfevents.1700000000.fixture")).unwrap();
    bytes[14] ^= 1;
    let bad = dir.path().join("events.out.tfevents.bad");
    std::fs::write(&bad, bytes).unwrap();
    let err = fails(&[
        "import",
        s(&bad),
        "--run",
        "r",
        "--n0",
        "1e9",
        "--rho",
        "0.25",
        "--l0",
        "2.3",
        "-o",
        s(&out),
    ]);
    assert!(err.contains("events.out.tfevents.bad: record at byte offset 0: data CRC mismatch"), "{err}");
}

#[test]
fn tensorboard_folder_with_a_tag_and_pruning_json() {
    let dir = tempfile::tempdir().unwrap();
    let pruned = dir.path().join("llama-depth-0.25");
    std::fs::create_dir(&pruned).unwrap();
    let meta = r#"{"method": "depth", "rho": 0.25, "target_rho": 0.25, "n0": {"non_embedding": 1.24e9, "total": 1.5e9},
                  "n": {"non_embedding": 9.2e8, "total": 1.2e9}, "l0": 2.31, "criterion": "block-influence"}"#;
    std::fs::write(pruned.join("pruning.json"), meta).unwrap();
    let out = dir.path().join("curve.csv");
    let tb = fixture("tb_simple_value");
    ok(&["import", s(&tb), "--tag", "eval/loss", "--pruned", s(&pruned), "-o", s(&out)]);
    let curves = p2law_law::read_curves(&[&out], None).unwrap();
    let run = &curves.runs[0];
    // The run is named after the pruned folder; n0, rho, l0, method and n come from pruning.json.
    assert_eq!((run.name.as_str(), run.n0, run.rho, run.l0), ("llama-depth-0.25", 1.24e9, 0.25, 2.31));
    assert_eq!(run.method.as_deref(), Some("depth"));
    assert_eq!(curves.points[0].get(p2law_law::Var::N), 9.2e8);
    assert_eq!(curves.points.iter().map(|p| p.d()).collect::<Vec<_>>(), [8e5, 1.6e6, 2.4e6, 3.2e6]);
    // A flag beats pruning.json.
    ok(&["import", s(&tb), "--pruned", s(&pruned), "--l0", "2.5", "-o", s(&out)]);
    assert_eq!(p2law_law::read_curves(&[&out], None).unwrap().runs[0].l0, 2.5);
}

#[test]
fn manifest_maps_a_multi_run_export_and_names_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let panel = fixture("wandb_panel.csv");
    let manifest = dir.path().join("runs.toml");
    let mut toml = "[defaults]\nn0 = 1.24e9\nl0 = 2.31\ntokens_per_step = 16000\n".to_string();
    for (name, rho) in [("llama-depth-0.25", 0.25), ("llama-width-0.25", 0.25), ("llama-nm-0.5", 0.5)] {
        toml += &format!(
            "\n[[run]]\nname = \"{name}\"\nlog = {:?}\nsource_run = \"{name}\"\nrho = {rho}\n",
            s(&panel)
        );
    }
    std::fs::write(&manifest, &toml).unwrap();
    let out = dir.path().join("curves.csv");
    ok(&["import", "--manifest", s(&manifest), "-o", s(&out)]);
    let curves: Curves = p2law_law::read_curves(&[&out], None).unwrap();
    assert_eq!(curves.runs.len(), 3);
    assert_eq!(curves.points.len(), 11);
    assert_eq!(curves.runs[2].rho, 0.5);

    // The same run named twice: the error names both logs and records.
    std::fs::write(&manifest, toml.replace("name = \"llama-width-0.25\"", "name = \"llama-depth-0.25\""))
        .unwrap();
    let err = fails(&["import", "--manifest", s(&manifest), "-o", s(&out)]);
    let p = panel.display();
    assert!(
        err.contains(&format!(
            "run `llama-depth-0.25`: two points at d = 800000: {p} (line 2) and {p} (line 2)"
        )),
        "{err}"
    );

    std::fs::write(&manifest, "[[run]]\nname = \"a\"\nlog = \"x.csv\"\nrhoo = 0.5\n").unwrap();
    let err = fails(&["import", "--manifest", s(&manifest), "-o", s(&out)]);
    assert!(err.contains("runs.toml: ") && err.contains("unknown field `rhoo`"), "{err}");
}

/// Writes `runs/<name>/pruning.json` and `checkpoint-N/trainer_state.json`s (every 5 evaluations and the
/// last; each holding the history so far) for each run of `curves`.
fn hf_run_folders(curves: &Curves, root: &Path) {
    for (r, run) in curves.runs.iter().enumerate() {
        let dir = root.join(&run.name);
        std::fs::create_dir_all(&dir).unwrap();
        let points: Vec<_> = curves.points.iter().filter(|p| p.run == r).collect();
        let n = points[0].get(p2law_law::Var::N);
        let meta = serde_json::json!({
            "method": run.method, "criterion": "block-influence", "target_rho": run.rho, "rho": run.rho,
            "n0": {"non_embedding": run.n0, "total": run.n0 * 1.25},
            "n": {"non_embedding": n, "total": n * 1.25}, "l0": run.l0, "l0_source": "measured on eval",
        });
        std::fs::write(dir.join("pruning.json"), meta.to_string()).unwrap();
        let mut history = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let step = 10 * (i + 1);
            history.push(serde_json::json!({"loss": p.loss() + 0.05, "learning_rate": 1e-4, "step": step, "num_input_tokens_seen": p.d()}));
            history.push(serde_json::json!({"eval_loss": p.loss(), "eval_runtime": 3.2, "step": step, "num_input_tokens_seen": p.d()}));
            if (i + 1) % 5 == 0 || i + 1 == points.len() {
                let state = serde_json::json!({"global_step": step, "log_history": history, "max_steps": 10 * points.len()});
                let ckpt = dir.join(format!("checkpoint-{step}"));
                std::fs::create_dir_all(&ckpt).unwrap();
                std::fs::write(
                    ckpt.join("trainer_state.json"),
                    serde_json::to_string_pretty(&state).unwrap(),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn a_folder_of_twelve_hf_runs_imports_in_one_command_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let truth_file = dir.path().join("truth.csv");
    ok(&["synth", "-o", s(&truth_file), "--points", "12", "--methods", "depth"]);
    let truth = p2law_law::read_curves(&[&truth_file], None).unwrap();
    assert_eq!(truth.runs.len(), 12);
    let runs = dir.path().join("runs");
    hf_run_folders(&truth, &runs);

    let out = dir.path().join("curves.csv");
    let summary: serde_json::Value =
        serde_json::from_slice(&ok(&["import", s(&runs), "-o", s(&out), "--json"]).stdout).unwrap();
    assert_eq!(summary["runs"].as_array().unwrap().len(), 12);
    for r in summary["runs"].as_array().unwrap() {
        assert_eq!((&r["tokens_from"], &r["points"]), (&"num_input_tokens_seen".into(), &12.into()), "{r}");
        assert!(r["source"].as_str().unwrap().ends_with("checkpoint-120/trainer_state.json"), "{r}");
    }
    // The imported curves are the synthetic ones: same runs, variables and points.
    let got = p2law_law::read_curves(&[&out], None).unwrap();
    assert_eq!(got.runs.len(), 12);
    for run in &truth.runs {
        let g = got.runs.iter().position(|r| r.name == run.name).unwrap();
        let t = truth.runs.iter().position(|r| r.name == run.name).unwrap();
        let gr = &got.runs[g];
        assert_eq!((gr.n0, gr.rho, gr.l0, &gr.method), (run.n0, run.rho, run.l0, &run.method));
        let pts = |c: &Curves, i: usize| -> Vec<[f64; 6]> {
            c.points.iter().filter(|p| p.run == i).map(|p| p.vars).collect()
        };
        let (a, b) = (pts(&got, g), pts(&truth, t));
        assert_eq!(a.len(), b.len(), "{}", run.name);
        // serde_json's default float parsing may land one ulp off the shortest decimal JSON holds.
        for (pa, pb) in a.iter().zip(&b) {
            assert!(
                pa.iter().zip(pb).all(|(x, y)| (x - y).abs() <= 1e-15 * y.abs()),
                "{}: {pa:?} vs {pb:?}",
                run.name
            );
        }
    }

    let report = dir.path().join("report");
    let out = ok(&["report", s(&out), "-o", s(&report), "--starts", "8", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&report["inputs"]["n_runs"], &report["inputs"]["n_points"]), (&12.into(), &144.into()));
    assert!(report_fits(&report) > 0);

    // A run folder without pruning.json and no flags to stand in: the error says where it looked.
    std::fs::remove_file(runs.join(&truth.runs[0].name).join("pruning.json")).unwrap();
    let err = fails(&["import", s(&runs), "-o", s(&dir.path().join("x.csv"))]);
    assert!(err.contains(&format!("run `{}`: no n0; no pruning.json in", truth.runs[0].name)), "{err}");
}

fn report_fits(report: &serde_json::Value) -> usize {
    report["fits"].as_array().map_or(0, |f| f.len())
}
