//! `p2law train` killed with SIGKILL and resumed equals the same run left alone (issue 6).
//!
//! A tiny Llama (hidden 32, 2 layers, vocabulary 300) is pretrained on shards built here from generated
//! text (no network): once straight through, once killed as soon as its first checkpoint is on disk and then
//! continued with `--resume`. The two `curve.csv` files must agree in every column but the measured
//! throughput (`tokens_per_s`, wall-clock time by definition), cell for cell as text, and the two `final/`
//! models bit for bit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common;

use common::build_shards;

const TOTAL_STEPS: u64 = 120;
const CHECKPOINT_EVERY: u64 = 10;

/// A run config in `dir` training into `dir/run`: 120 steps of 128 tokens, evaluation every 4 steps and a
/// checkpoint every 10, so the run goes on well past its first checkpoint.
fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let text = format!(
        r#"name = "resume-llama"
out = "run"
seed = 11

[model.arch]
architectures = ["LlamaForCausalLM"]
vocab_size = 300
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
max_position_embeddings = 64
rms_norm_eps = 1e-5
tie_word_embeddings = false

[data]
dir = "{data}"
train_split = "pretrain"
heldout_split = "heldout"

[train]
tokens = {tokens}
batch_tokens = 128
seq_len = 16
micro_batch = 4
lr = 3e-3
warmup_tokens = 1024
grad_clip = 0.5

[eval]
every_tokens = 512
tokens = 256

[checkpoint]
every_tokens = {ckpt}
keep = 2
"#,
        data = data.display(),
        tokens = TOTAL_STEPS * 128,
        ckpt = CHECKPOINT_EVERY * 128,
    );
    let path = dir.join("RUN.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn train(config: &Path, resume: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_p2law"));
    cmd.args(["train", "--quiet", "--json", "--config", config.to_str().unwrap()]);
    if resume {
        cmd.arg("--resume");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "p2law train failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The curve's rows with the `tokens_per_s` column (the 11th) removed.
fn curve_without_throughput(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("curve.csv")).unwrap();
    assert!(
        text.starts_with("run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s,family\n"),
        "{text}"
    );
    text.lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(10);
            cells.join(",")
        })
        .collect()
}

fn checkpoint_steps(run: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(run.join("checkpoints")) else { return Vec::new() };
    let mut steps: Vec<u64> =
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("step-")?.parse().ok()).collect();
    steps.sort();
    steps
}

fn final_weights(run: &Path) -> Vec<(String, Vec<u32>)> {
    let map = candle_core::safetensors::load(run.join("final/model.safetensors"), &candle_core::Device::Cpu)
        .unwrap();
    let mut out: Vec<(String, Vec<u32>)> = map
        .into_iter()
        .map(|(name, t)| {
            let bits =
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect();
            (name, bits)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn killed_and_resumed_run_equals_the_uninterrupted_run() {
    let root = tempfile::tempdir().unwrap();
    let data = build_shards(root.path());

    // A: straight through.
    let a = root.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let started = Instant::now();
    let summary: serde_json::Value =
        serde_json::from_slice(&train(&write_config(&a, &data), false).stdout).unwrap();
    let straight = started.elapsed();
    assert_eq!(summary["finished"], true, "{summary}");
    assert_eq!(summary["step"], TOTAL_STEPS, "{summary}");

    // B: SIGKILL as soon as the first checkpoint folder exists (folders named step-* are complete).
    let b = root.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    let config_b = write_config(&b, &data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2law"))
        .args(["train", "--quiet", "--config", config_b.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + straight * 4 + Duration::from_secs(30);
    while checkpoint_steps(&b.join("run")).is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = checkpoint_steps(&b.join("run"));
    let killed_at = *saved.last().unwrap();
    assert!(killed_at < TOTAL_STEPS, "the kill came after the run's end: checkpoints {saved:?}");
    assert!(!b.join("run/final").exists(), "the killed run must not have finished");
    // Without --resume the directory is refused rather than overwritten.
    let refused = Command::new(env!("CARGO_BIN_EXE_p2law"))
        .args(["train", "--quiet", "--config", config_b.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));

    let summary: serde_json::Value = serde_json::from_slice(&train(&config_b, true).stdout).unwrap();
    assert_eq!(summary["finished"], true, "{summary}");
    println!(
        "straight run {:.2}s; killed with checkpoints {saved:?}, resumed to step {}",
        straight.as_secs_f64(),
        summary["step"]
    );

    let (ca, cb) = (curve_without_throughput(&a.join("run")), curve_without_throughput(&b.join("run")));
    assert_eq!(ca.len() as u64, 1 + TOTAL_STEPS / 4, "a header and one row every 4 steps");
    for (i, (ra, rb)) in ca.iter().zip(&cb).enumerate() {
        assert_eq!(ra, rb, "curve line {} differs", i + 1);
    }
    assert_eq!(ca.len(), cb.len(), "curves differ in length");
    let (wa, wb) = (final_weights(&a.join("run")), final_weights(&b.join("run")));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(va == vb, "final weight {na} differs");
    }
    // The loss went down, so the curve compared above is one of a run that trained.
    let loss = |row: &str| row.split(',').nth(5).unwrap().parse::<f64>().unwrap();
    let (first, last) = (loss(&ca[1]), loss(ca.last().unwrap()));
    assert!(last < first - 0.5, "held-out loss {first} → {last}");
}

/// Off a terminal (stderr to a pipe, as to a log file), `train` prints heartbeat lines: the first step, the
/// last, and one at most every `--log-every` seconds between, each with tokens, losses, throughput and ETA.
#[test]
fn off_a_terminal_train_prints_a_heartbeat() {
    let root = tempfile::tempdir().unwrap();
    let data = build_shards(root.path());
    let run = |dir: &str, every: &str| {
        let d = root.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let config = write_config(&d, &data);
        let out = Command::new(env!("CARGO_BIN_EXE_p2law"))
            .args(["train", "--config", config.to_str().unwrap(), "--log-every", every])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.lines()
            .filter(|l| l.starts_with("[train resume-llama] step "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let beats = run("often", "0.001");
    assert!(beats.len() >= 10, "{beats:?}");
    assert!(beats[0].starts_with("[train resume-llama] step 1/120 tokens 128 loss "), "{beats:?}");
    let last = beats.last().unwrap();
    assert!(last.starts_with("[train resume-llama] step 120/120 tokens 15360 loss "), "{last}");
    for b in &beats {
        assert!(b.contains(" heldout ") && b.contains(" tok/s ETA "), "{b}");
    }
    // A held-out loss once the first evaluation is done.
    assert!(!last.contains("heldout -"), "{last}");
    // The default (30 s): the first and the last step at least.
    let default = run("default", "30");
    assert!(
        default.len() >= 2
            && default[0].contains("step 1/120")
            && default.last().unwrap().contains("step 120/120")
    );
    assert!(run("none", "0").is_empty());
}
