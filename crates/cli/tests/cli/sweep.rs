//! `p2law sweep` end to end on generated shards: the full grid and its report, an idempotent rerun, two
//! sweeps sharing one directory without doing any unit twice, unpruned controls, the plan and single units. (`recipes/micro.toml` is the same code path
//! on the real corpus, run by the README's main command.)

use super::common;

use std::path::Path;
use std::process::{Command, Output};

fn recipe(dir: &Path, data: &Path, out: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "ci"
out = "{out}"
data = "{data}"

[[models]]
name = "xs"
arch = {{ architectures = ["LlamaForCausalLM"], vocab_size = 300, hidden_size = 16, intermediate_size = 32, num_hidden_layers = 4, num_attention_heads = 2, num_key_value_heads = 2, max_position_embeddings = 64, rms_norm_eps = 1e-5, tie_word_embeddings = true }}

[[models]]
name = "s"
arch = {{ architectures = ["LlamaForCausalLM"], vocab_size = 300, hidden_size = 32, intermediate_size = 64, num_hidden_layers = 4, num_attention_heads = 4, num_key_value_heads = 2, max_position_embeddings = 64, rms_norm_eps = 1e-5, tie_word_embeddings = true }}

[pretrain]
train = {{ tokens = 8192, batch_tokens = 512, seq_len = 32, micro_batch = 16, lr = 1e-2 }}
eval = {{ every_tokens = 4096, tokens = 1024 }}

[prune]
methods = ["depth", "width", "nm", "unstructured"]
rates = [0.25, 0.5]
calib_samples = 4
calib_seq_len = 32

[posttrain]
train = {{ tokens = 2048, batch_tokens = 512, seq_len = 32, micro_batch = 16, lr = 3e-3, schedule = "constant" }}
eval = {{ every_tokens = 512, tokens = 512 }}
"#,
        data = data.display()
    );
    let path = dir.join(format!("{out}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn sweep(recipe: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(["sweep", recipe.to_str().unwrap()]).output().unwrap()
}

/// `(done, already done, busy)` from the sweep's summary line.
fn tally(out: &Output) -> (usize, usize, usize) {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains(" done, ")).unwrap_or_else(|| panic!("no summary: {err}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

#[test]
fn sweep_runs_the_grid_reports_and_skips_finished_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::build_shards(tmp.path());
    let path = recipe(tmp.path(), &data, "one");
    let first = sweep(&path);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    // 2 bases + 16 prunings + 16 post-trainings.
    assert_eq!(tally(&first), (34, 0, 0));
    let runs = tmp.path().join("one/runs");
    for name in ["xs-depth-r0.25", "s-width-r0.5", "s-nm-r0.25", "xs-unstructured-r0.5"] {
        let curve = std::fs::read_to_string(runs.join(name).join("curve.csv")).unwrap();
        assert!(curve.lines().count() >= 5, "{name}: {curve}");
        assert!(runs.join(name).join("final/config.json").is_file());
    }
    let pruning: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("one/pruned/s-nm-r0.5/pruning.json")).unwrap(),
    )
    .unwrap();
    // L0 is measured on the post-training evaluation tokens (512 here; the bases were evaluated on 1024),
    // and the run's curve carries that L0.
    assert_eq!(pruning["l0_source"], "measured on eval");
    let curve = std::fs::read_to_string(runs.join("s-nm-r0.5/curve.csv")).unwrap();
    let l0: f64 = curve.lines().nth(1).unwrap().split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(l0, pruning["l0"].as_f64().unwrap(), "{curve}");
    let report = std::fs::read_to_string(tmp.path().join("one/report/report.md")).unwrap();
    assert!(report.contains("16 pruned runs"), "{report}");
    assert!(tmp.path().join("one/report/loss_vs_rho.png").is_file());
    // Rerun: everything is found done.
    let again = sweep(&path);
    assert!(again.status.success());
    assert_eq!(tally(&again), (0, 34, 0));
}

#[test]
fn two_sweeps_share_a_directory_without_double_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::build_shards(tmp.path());
    let path = recipe(tmp.path(), &data, "shared");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_p2law"))
            .args(["sweep", path.to_str().unwrap(), "--no-report"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let (ta, tb) = (tally(&a), tally(&b));
    // Each worker runs what is ready and waits for what the other holds, so together they do every unit
    // once and leave nothing to a rerun.
    assert_eq!(ta.0 + tb.0, 34, "{ta:?} {tb:?}");
    assert_eq!((ta.2, tb.2), (0, 0));
    assert!(ta.0 > 0 && tb.0 > 0, "both worked: {ta:?} {tb:?}");
    let third = sweep(&path);
    assert!(third.status.success());
    assert_eq!(tally(&third), (0, 34, 0));
    // Every unit has exactly one finished journal record, the report too.
    let mut finished = std::collections::HashMap::<String, usize>::new();
    for e in std::fs::read_dir(tmp.path().join("shared/journal")).unwrap() {
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        assert_eq!(rec["outcome"], "ran", "{rec}");
        *finished.entry(rec["unit"].as_str().unwrap().to_string()).or_default() += 1;
    }
    // (The third sweep wrote the report: the two workers had --no-report.)
    assert_eq!(finished.len(), 35, "{finished:?}");
    assert!(finished.values().all(|n| *n == 1), "{finished:?}");
    assert!(!tmp.path().join("shared/claims").read_dir().unwrap().any(|_| true), "claims released");
}

#[test]
fn rates_that_reach_the_same_model_are_post_trained_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::build_shards(tmp.path());
    let path = recipe(tmp.path(), &data, "twins");
    // Depth of a 4-layer model: 0.25 and 0.3 both remove one layer.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#"methods = ["depth", "width", "nm", "unstructured"]"#, r#"methods = ["depth"]"#)
        .replace("rates = [0.25, 0.5]", "rates = [0.25, 0.3]");
    std::fs::write(&path, text).unwrap();
    // A bare file name (its folder is the current one) resolves like any other path.
    let out = Command::new(env!("CARGO_BIN_EXE_p2law"))
        .current_dir(tmp.path())
        .args(["sweep", "twins.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // 2 bases + 4 prunings + 2 post-trainings; each model's r0.3 is its r0.25.
    assert_eq!(tally(&out), (8, 0, 0), "{err}");
    assert!(err.contains("xs-depth-r0.3 reaches the same model as xs-depth-r0.25"), "{err}");
    assert!(err.contains("2 same as another rate"), "{err}");
    let runs = tmp.path().join("twins/runs");
    assert!(runs.join("s-depth-r0.25/final").is_dir() && !runs.join("s-depth-r0.3").exists());
}

#[test]
fn controls_are_post_trained_like_the_pruned_models_and_skipped_on_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::build_shards(tmp.path());
    let path = recipe(tmp.path(), &data, "ctl");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#"methods = ["depth", "width", "nm", "unstructured"]"#, r#"methods = ["depth", "nm"]"#)
        .replace("calib_seq_len = 32", "calib_seq_len = 32\ncontrol = true");
    std::fs::write(&path, text).unwrap();
    let first = sweep(&path);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    // 2 bases, and per base: its control (written, post-trained) + 2 methods × 2 rates × (prune, post-train).
    assert_eq!(tally(&first), (22, 0, 0), "{err}");
    let (runs, pruned) = (tmp.path().join("ctl/runs"), tmp.path().join("ctl/pruned"));
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    for model in ["xs", "s"] {
        let record = json(&pruned.join(format!("{model}-control/pruning.json")));
        assert_eq!((record["method"].as_str(), record["rho"].as_f64()), (Some("control"), Some(0.0)));
        assert_eq!(record["n"], record["n0"]);
        // The control's L0 is measured as the pruned models' is: on the same tokens, the same number.
        let l0 = record["l0"].as_f64().unwrap();
        for run in ["depth-r0.25", "nm-r0.5"] {
            let other = json(&pruned.join(format!("{model}-{run}/pruning.json")));
            assert_eq!(other["l0"].as_f64().unwrap(), l0, "{model}-{run}");
        }
        // Post-trained like them: the same [posttrain] (the generated RUN.toml differs only in name and paths).
        let config = |run: &str| {
            let text = std::fs::read_to_string(tmp.path().join(format!("ctl/configs/{run}.toml"))).unwrap();
            let mut t: toml::Table = toml::from_str(&text).unwrap();
            for key in ["name", "out", "model"] {
                t.remove(key);
            }
            t
        };
        assert_eq!(config(&format!("{model}-control")), config(&format!("{model}-nm-r0.5")));
        let curve = std::fs::read_to_string(runs.join(format!("{model}-control/curve.csv"))).unwrap();
        let mut lines = curve.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert!(rows.len() >= 4, "{curve}");
        for row in &rows {
            assert_eq!((row[col("rho")], row[col("method")]), ("0", "control"), "{curve}");
            assert_eq!(row[col("l0")].parse::<f64>().unwrap(), l0);
            assert_eq!(row[col("n")], row[col("n0")]);
        }
        assert!(runs.join(format!("{model}-control/final/config.json")).is_file());
    }
    // The report leaves the controls out of the fits and checks the regime with them.
    assert_eq!(json(&runs.join("twins.json")), serde_json::json!({"twins": []}));
    let report = json(&tmp.path().join("ctl/report/report.json"));
    assert_eq!(report["inputs"]["n_runs"], 8);
    assert_eq!(report["inputs"]["skipped_unpruned"], serde_json::json!(["s-control", "xs-control"]));
    let models = report["regime"]["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["xs", "s"]);
    assert!(models.iter().all(|m| m["control"]["run"].is_string() && m["pruned_runs"] == 4));
    let drift = &report["regime"]["checks"][0];
    assert_eq!(drift["name"], "control_drift");
    assert_ne!(drift["status"], "cannot_run", "{drift}");
    assert!(err.contains("regime: "), "{err}");
    assert!(tmp.path().join("ctl/report/curves/xs-control.csv").is_file());
    // Rerun: everything is found done, the controls too.
    let again = sweep(&path);
    assert!(again.status.success());
    assert_eq!(tally(&again), (0, 22, 0));
}

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

#[test]
fn the_plan_lists_every_unit_and_single_units_run_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::build_shards(tmp.path());
    let path = recipe(tmp.path(), &data, "plan");
    let r = path.to_str().unwrap();
    let plan = |args: &[&str]| -> serde_json::Value {
        let out = p2law(&[&["sweep", r, "--plan", "--json"], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let status = |p: &serde_json::Value, id: &str| {
        let u =
            p["units"].as_array().unwrap().iter().find(|u| u["id"] == id).unwrap_or_else(|| panic!("{id}"));
        u["status"].as_str().unwrap().to_string()
    };
    let first = plan(&[]);
    // 2 pretrainings, 16 prunings, 16 post-trainings, the report.
    assert_eq!(first["units"].as_array().unwrap().len(), 35);
    assert_eq!(first["counts"], serde_json::json!({"done": 0, "ready": 2, "waiting": 33, "running": 0}));
    let post = first["units"].as_array().unwrap().iter().find(|u| u["id"] == "posttrain:s-nm-r0.5").unwrap();
    assert_eq!(post["depends_on"], serde_json::json!(["prune:s-nm-r0.25", "prune:s-nm-r0.5"]));
    assert_eq!(post["kind"], "posttrain");
    assert_eq!(post["outputs"], serde_json::json!(["runs/s-nm-r0.5"]));
    // A unit whose dependencies are not done is refused, naming them; an unknown id too.
    let early = p2law(&["sweep", r, "--unit", "prune:xs-depth-r0.25"]);
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success() && err.contains("waits on pretrain:xs (ready)"), "{err}");
    let bad = p2law(&["sweep", r, "--unit", "prune:nope"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no such unit"));
    for unit in ["pretrain:xs", "prune:xs-depth-r0.25", "posttrain:xs-depth-r0.25"] {
        let out = p2law(&["sweep", r, "--unit", unit]);
        assert!(out.status.success(), "{unit}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let after = plan(&[]);
    assert_eq!(status(&after, "pretrain:xs"), "done");
    assert_eq!(status(&after, "posttrain:xs-depth-r0.25"), "done");
    assert_eq!(status(&after, "prune:xs-nm-r0.25"), "ready");
    assert_eq!(status(&after, "posttrain:xs-nm-r0.25"), "waiting");
    // A done unit run again is a no-op.
    let again = p2law(&["sweep", r, "--unit", "pretrain:xs"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
    // The table, and the Slurm scripts of what is left (a dry run submits nothing).
    let table = p2law(&["sweep", r, "--plan"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("35 units: 3 done, 8 ready, 24 waiting, 0 running"), "{text}");
    let dry = p2law(&["sweep", r, "--slurm-dry-run", "--slurm-opt=--gres=gpu:1", "--max-parallel", "4"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let dir = std::path::PathBuf::from(String::from_utf8_lossy(&dry.stdout).trim());
    let level0 = std::fs::read_to_string(dir.join("level0.sbatch")).unwrap();
    // Left: 1 pretraining (s) and 7 prunings of xs → level 0; 8 prunings of s and 15 post-trainings → 1, 2; report.
    assert!(level0.contains("#SBATCH --array=0-7%4") && level0.contains("#SBATCH --gres=gpu:1"), "{level0}");
    assert!(dir.join("level3.sbatch").is_file() && !dir.join("level4.sbatch").exists());
    assert!(std::fs::read_to_string(dir.join("level3.sbatch")).unwrap().contains("  'report'\n"));
    // The run store lists the two runs; rebuilt from the run folders it holds the same.
    let runs = |store: &Path, extra: &[&str]| -> Vec<serde_json::Value> {
        let out = p2law(&[&["runs", store.to_str().unwrap(), "--json"], extra].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["runs"].as_array().unwrap().clone()
    };
    let store = tmp.path().join("plan/runs.sqlite");
    let listed = runs(&store, &[]);
    let names: Vec<&str> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["xs-base", "xs-depth-r0.25"]);
    let rebuilt_store = tmp.path().join("rebuilt.sqlite");
    let rebuilt = runs(&rebuilt_store, &["--rebuild", tmp.path().join("plan").to_str().unwrap()]);
    let key = |r: &serde_json::Value| {
        (r["name"].clone(), r["status"].clone(), r["tokens"].clone(), r["rho"].clone())
    };
    assert_eq!(listed.iter().map(key).collect::<Vec<_>>(), rebuilt.iter().map(key).collect::<Vec<_>>());
    assert!(listed.iter().all(|r| r["status"] == "finished"));
    let depth = runs(&rebuilt_store, &["--method", "depth", "--status", "finished"]);
    assert_eq!(depth.len(), 1);
    assert!(runs(&rebuilt_store, &["--min-tokens", "1000000"]).is_empty());
    let bad = p2law(&["runs", store.to_str().unwrap(), "--status", "done"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--status done"));
}
