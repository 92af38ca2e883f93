//! `p2law train` refuses bad configs before training starts (issue 6): the command fails, the message
//! names the offending key, and no run directory is created. Shards are built here (tests/common).

use super::common;

use std::path::Path;
use std::process::Command;

const GOOD: &str = r#"name = "bad-config"
out = "run"
[model.arch]
architectures = ["LlamaForCausalLM"]
vocab_size = 300
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 1
num_attention_heads = 4
max_position_embeddings = 64
rms_norm_eps = 1e-5
[data]
dir = "DATA"
[train]
tokens = 1024
batch_tokens = 128
seq_len = 16
micro_batch = 4
lr = 3e-3
[eval]
tokens = 256
"#;

/// Runs `p2law train` on `text` in a fresh folder; returns (success, stderr, whether `run/` exists).
fn train(root: &Path, case: &str, text: &str) -> (bool, String, bool) {
    let dir = root.join(case);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("RUN.toml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_p2law"))
        .args(["train", "--quiet", "--config", dir.join("RUN.toml").to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), dir.join("run").exists())
}

#[test]
fn bad_configs_fail_before_any_step() {
    let root = tempfile::tempdir().unwrap();
    let data = common::build_shards(root.path());
    let good = GOOD.replace("DATA", data.to_str().unwrap());

    // The good config trains (so the failures below are caused by the one change each makes).
    let (ok, err, ran) = train(root.path(), "good", &good);
    assert!(ok && ran, "{err}");

    let arch = "[model.arch]\narchitectures = [\"LlamaForCausalLM\"]\nvocab_size = 300\nhidden_size = 32\n\
                intermediate_size = 64\nnum_hidden_layers = 1\nnum_attention_heads = 4\n\
                max_position_embeddings = 64\nrms_norm_eps = 1e-5\n";
    let cases = [
        ("unknown-key", good.replace("lr = 3e-3", "lr = 3e-3\nlearning_rate = 1e-3"), "learning_rate"),
        ("unknown-section", format!("{good}[optimizer]\nname = \"adam\"\n"), "optimizer"),
        ("negative-lr", good.replace("lr = 3e-3", "lr = -3e-3"), "train.lr"),
        ("zero-lr", good.replace("lr = 3e-3", "lr = 0.0"), "train.lr"),
        ("missing-model", good.replace(arch, ""), "missing field `model`"),
        ("missing-hf-dir", good.replace(arch, "[model]\nhf_dir = \"nowhere\"\n"), "no config.json"),
        ("unknown-arch-key", good.replace("hidden_size = 32", "hidden_size = 32\nsliding = 1"), "sliding"),
        // The pretrain split holds a few thousand tokens; a batch of 2^20 is larger.
        (
            "batch-larger-than-data",
            good.replace("tokens = 1024", "tokens = 1048576")
                .replace("batch_tokens = 128", "batch_tokens = 1048576")
                .replace("micro_batch = 4", "micro_batch = 65536"),
            "larger than the `pretrain` split",
        ),
        ("heldout-too-small", good.replace("tokens = 256", "tokens = 100000000"), "eval.tokens"),
        ("missing-data", good.replace(data.to_str().unwrap(), "/nonexistent/p2law-data"), "nonexistent"),
        ("vocab-too-small", good.replace("vocab_size = 300", "vocab_size = 200"), "vocabulary"),
    ];
    for (case, text, want) in cases {
        let (ok, err, ran) = train(root.path(), case, &text);
        assert!(!ok, "{case}: should fail");
        assert!(err.contains(want), "{case}: want `{want}` in: {err}");
        assert!(!ran, "{case}: a run directory was created before the config was checked");
    }
}
