//! `p2law prune` end to end: every method on a small random Llama (rates, counts, masks, pruning.json),
//! transformers loading the structured outputs of the model crate's golden fixtures with our logits, and
//! bad requests failing before any work.
//!
//! The transformers check runs live when the project's venv exists (`scripts/venv.sh model`, or
//! `P2LAW_PY`); otherwise our logits are compared with transformers' logits committed under
//! `tests/fixtures/prune/` (written by this test with `P2LAW_UPDATE_FIXTURES=1`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use p2law_data::shard::{write_shard, ShardMeta};
use p2law_model::{load_hf_dir, Config, Model, SaveOptions};
use serde_json::Value;

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

/// A shard of `n` pseudo-random tokens below `vocab`.
fn shard(path: &Path, n: usize, vocab: u32, seed: u64) {
    let mut s = seed;
    let doc: Vec<u32> = (0..n - 1)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % u64::from(vocab - 1)) as u32
        })
        .collect();
    let meta = ShardMeta { vocab_size: vocab, eos_id: vocab - 1, tokenizer_sha256: [0; 32] };
    write_shard(path, &meta, &[doc]).unwrap();
}

/// A random 4-layer Llama (GQA, 2 KV groups) and calib/heldout shards in `dir`.
fn setup(dir: &Path, kv_heads: usize) -> PathBuf {
    let json = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": kv_heads, "vocab_size": 64, "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
    let cfg = Config::from_hf_json(&json).unwrap();
    let model = Model::new_random(&cfg, 11, DType::F32, &Device::Cpu).unwrap();
    let model_dir = dir.join("base");
    p2law_model::save_hf_dir(&model, &model_dir, &SaveOptions::default()).unwrap();
    shard(&dir.join("calib.bin"), 4096, 64, 1);
    shard(&dir.join("heldout.bin"), 2048, 64, 2);
    model_dir
}

fn prune(dir: &Path, model: &Path, out: &str, extra: &[&str]) -> (Value, PathBuf) {
    let (o, out_dir) = prune_output(dir, model, out, extra);
    assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    (serde_json::from_slice(&o.stdout).unwrap(), out_dir)
}

/// `p2law prune --json` on `model` with 8 calibration windows of 32 tokens, into `dir/out`: its raw output.
fn prune_output(dir: &Path, model: &Path, out: &str, extra: &[&str]) -> (Output, PathBuf) {
    let out_dir = dir.join(out);
    let calib = dir.join("calib.bin");
    let mut args = vec![
        "prune",
        "--model",
        model.to_str().unwrap(),
        "--calib",
        calib.to_str().unwrap(),
        "--samples",
        "8",
        "--seq-len",
        "32",
        "-o",
        out_dir.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    (p2law(&args), out_dir)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_method_writes_a_loadable_directory_at_the_requested_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let base = setup(dir, 2);
    let cases: [(&str, &[&str], f64); 8] = [
        ("depth", &["--method", "depth", "--rate", "0.25"], 0.02),
        ("depth-block", &["--method", "depth", "--rate", "0.5", "--contiguous"], 0.02),
        ("width-hidden", &["--method", "width", "--rate", "0.25"], 0.03),
        ("width-all", &["--method", "width", "--rate", "0.3", "--width-axes", "all"], 0.06),
        ("width-heads", &["--method", "width", "--rate", "0.17", "--width-axes", "heads"], 0.01),
        ("nm-wanda", &["--method", "nm", "--criterion", "wanda"], 0.01),
        ("nm-quarter", &["--method", "nm", "--rate", "0.25", "--criterion", "magnitude"], 0.04),
        ("sparsegpt", &["--method", "unstructured", "--criterion", "sparsegpt", "--rate", "0.4"], 0.002),
    ];
    for (name, args, tol) in cases {
        let (record, out) = prune(dir, &base, name, args);
        assert_eq!(
            read_json(&out.join("pruning.json")),
            record,
            "{name}: pruning.json is what --json printed"
        );
        let target = record["target_rho"].as_f64().unwrap();
        let rho = record["rho"].as_f64().unwrap();
        assert!((rho - target).abs() <= tol, "{name}: rho {rho} vs target {target}");
        assert!(record["l0"].as_f64().unwrap() > 0.0 && record["loss_pruned"].as_f64().unwrap() > 0.0);
        // config.json and the tensors agree (the loader checks every shape) and the counts match.
        let (cfg, model) = load_hf_dir(&out, DType::F32, &Device::Cpu).unwrap();
        let counts = p2law_model::ParamCounts::from_config(&cfg);
        let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap();
        assert_eq!(model.forward(&ids).unwrap().dims(), &[1, 4, 64]);
        if record["masks"].is_null() {
            assert_eq!(record["n"]["non_embedding"].as_u64().unwrap(), counts.non_embedding as u64, "{name}");
            continue;
        }
        let masks = p2law_prune::masks_io::read_masks(&out.join("masks.safetensors")).unwrap();
        let weights: std::collections::HashMap<String, Tensor> = model.named_tensors().into_iter().collect();
        for (wname, mask) in masks.iter() {
            // Every zero of the mask is a zero of the saved weight.
            let w = weights[wname].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let m = mask.flatten_all().unwrap().to_vec1::<u8>().unwrap();
            assert!(w.iter().zip(&m).all(|(w, m)| *m == 1 || *w == 0.0), "{name}: {wname}");
            if name.starts_with("nm") {
                p2law_prune::check_nm(wname, mask, 2, 4).unwrap();
            }
        }
        let expected_layers = match name {
            "nm-quarter" => record["details"]["nm_layers"].as_array().unwrap().len(),
            _ => 28,
        };
        assert_eq!(masks.len(), expected_layers, "{name}");
    }
    let depth = read_json(&dir.join("depth/pruning.json"));
    assert_eq!(depth["details"]["removed_layers"].as_array().unwrap().len(), 1);
    assert_eq!(depth["details"]["block_influence"].as_array().unwrap().len(), 4);
    let block = read_json(&dir.join("depth-block/pruning.json"));
    let removed: Vec<u64> =
        block["details"]["removed_layers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(removed.len() == 2 && removed[1] == removed[0] + 1, "{removed:?}");
    let (cfg, _) = load_hf_dir(&dir.join("width-heads"), DType::F32, &Device::Cpu).unwrap();
    assert_eq!((cfg.num_kv_heads, cfg.num_heads, cfg.head_dim, cfg.hidden_size), (1, 2, 8, 32));
    let (cfg, _) = load_hf_dir(&dir.join("width-all"), DType::F32, &Device::Cpu).unwrap();
    assert!(cfg.hidden_size < 32 && cfg.intermediate_size < 64 && cfg.hidden_size % cfg.num_heads == 0);
}

#[test]
fn bad_requests_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let base = setup(dir, 2);
    let one_group = {
        let d = tempfile::tempdir_in(dir).unwrap().keep();
        setup(&d, 1)
    };
    let cases: [(&Path, &[&str], &str); 8] = [
        (&base, &["--method", "depth", "--rate", "0"], "out of range"),
        (&base, &["--method", "depth", "--rate", "1"], "out of range"),
        (&base, &["--method", "depth", "--rate", "0.01"], "unreachable"),
        (&base, &["--method", "nm", "--rate", "0.6"], "unreachable"),
        (&base, &["--method", "nm", "--pattern", "2:3"], "multiple of 3"),
        (
            &base,
            &["--method", "unstructured", "--rate", "0.5", "--criterion", "obs"],
            "unknown pruning criterion",
        ),
        (&base, &["--method", "prune-it", "--rate", "0.5"], "use depth, width, nm or unstructured"),
        (&one_group, &["--method", "width", "--rate", "0.3", "--width-axes", "heads"], "KV group"),
    ];
    for (model, args, want) in cases {
        let out = dir.join("never");
        let calib = dir.join("calib.bin");
        let mut all = vec![
            "prune",
            "--model",
            model.to_str().unwrap(),
            "--calib",
            calib.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let o = p2law(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!out.exists());
    }
    // A missing model directory names the file.
    let o = p2law(&[
        "prune",
        "--model",
        "/nonexistent",
        "--method",
        "depth",
        "--rate",
        "0.5",
        "--calib",
        "x",
        "-o",
        "y",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/config.json"));
}

fn model_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures").join(name)
}

/// The project's Python (env `P2LAW_PY`, else the venv `scripts/venv.sh` makes), if it exists.
fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("P2LAW_PY") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var("P2LAW_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/p2law")))
        .ok()?;
    // The venv may exist with other groups only (the bench's numpy and scipy): transformers comes with the
    // `model` group, whose stamp `scripts/venv.sh` leaves beside the interpreter.
    let venv = cache.join("venv");
    let has_model = std::fs::read_dir(&venv)
        .ok()?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".installed-model-"));
    let py = venv.join("bin/python");
    (py.is_file() && has_model).then_some(py)
}

fn read_f32(path: &Path, name: &str) -> Tensor {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap();
    let data: Vec<f32> =
        view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Tensor::from_vec(data, view.shape(), &Device::Cpu).unwrap()
}

#[test]
fn structured_outputs_load_in_transformers_with_our_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    shard(&dir.join("calib.bin"), 4096, 256, 3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/model_roundtrip.py");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prune");
    let py = python();
    let update = std::env::var("P2LAW_UPDATE_FIXTURES").is_ok_and(|v| v == "1");
    let cases: [(&str, &str, &[&str]); 5] = [
        ("llama-depth", "llama", &["--method", "depth", "--rate", "0.5"]),
        ("llama-width-all", "llama", &["--method", "width", "--rate", "0.3", "--width-axes", "all"]),
        ("qwen2-width-hidden", "qwen2", &["--method", "width", "--rate", "0.25"]),
        (
            "qwen2-width-heads-ffn",
            "qwen2",
            &["--method", "width", "--rate", "0.3", "--width-axes", "heads,ffn"],
        ),
        ("qwen2-nm", "qwen2", &["--method", "nm", "--criterion", "sparsegpt"]),
    ];
    for (case, base, args) in cases {
        let base = model_fixture(base);
        let (_, out) = prune(dir, &base, case, args);
        let ids_file = base.join("reference.safetensors");
        let (_, model) = load_hf_dir(&out, DType::F32, &Device::Cpu).unwrap();
        let ids = {
            let bytes = std::fs::read(&ids_file).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let v = st.tensor("ids").unwrap();
            let ids: Vec<u32> =
                v.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32).collect();
            Tensor::from_vec(ids, v.shape(), &Device::Cpu).unwrap()
        };
        let ours = model.forward(&ids).unwrap();
        let fixture = fixtures.join(format!("{case}.safetensors"));
        let theirs = match &py {
            Some(py) => {
                let logits = dir.join(format!("{case}-logits.safetensors"));
                let status =
                    Command::new(py).arg(&script).arg(&out).arg(&ids_file).arg(&logits).status().unwrap();
                assert!(status.success(), "{case}: transformers could not load the pruned checkpoint");
                if update {
                    std::fs::copy(&logits, &fixture).unwrap();
                }
                read_f32(&logits, "logits")
            }
            None => read_f32(&fixture, "logits"),
        };
        let diff = (ours - theirs).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        println!("{case}: max |logit diff| vs transformers = {diff:e} (live: {})", py.is_some());
        assert!(diff < 1e-4, "{case}: {diff}");
    }
}

#[test]
fn pruning_prints_a_heartbeat_while_it_runs_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let model = setup(dir.path(), 2);
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec!["--method", "unstructured", "--criterion", "sparsegpt", "--rate", "0.4"];
        args.extend_from_slice(extra);
        let (o, _) = prune_output(dir.path(), &model, out, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.starts_with("[prune] ")).count()
    };
    // A period far below the pruning's own time: at least one `[prune] …` line.
    assert!(run("beat", &["--log-every", "0.000001"]) >= 1);
    assert_eq!(run("off", &["--log-every", "0"]), 0);
    assert_eq!(run("quiet", &["--log-every", "0.000001", "--quiet"]), 0);
    let o = p2law(&[
        "prune",
        "--model",
        "x",
        "--method",
        "depth",
        "--rate",
        "0.25",
        "--calib",
        "y",
        "-o",
        "z",
        "--log-every=-1",
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--log-every"));
}
