//! Malformed inputs and output discipline (issue 23): every case fails with a non-zero exit, one line on
//! stderr and no panic, leaves nothing at the output path, and removes what dead processes left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use p2law_data::shard::{write_shard, ShardMeta};
use p2law_model::{Config, Model, SaveOptions};

use super::common;

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

/// Asserts a clean failure: non-zero exit, exactly one line on stderr naming `want`, no panic.
fn fails(out: &Output, want: &str, case: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{case}: should fail; stderr: {err}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{case}: exit code (a panic exits 101, an abort by signal): {err}"
    );
    assert!(!err.contains("panicked"), "{case}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{case}: not one line: {err}");
    assert!(err.contains(want), "{case}: want `{want}` in: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A valid Llama config.json with `edit` applied.
fn config_json(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
        "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 300, "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
    edit(&mut v);
    v.to_string()
}

/// A shard of `n` pseudo-random tokens below `vocab`.
fn shard(path: &Path, n: usize, vocab: u32) {
    let doc: Vec<u32> = (0..n as u32 - 1).map(|i| i.wrapping_mul(2654435761) % (vocab - 1)).collect();
    let meta = ShardMeta { vocab_size: vocab, eos_id: vocab - 1, tokenizer_sha256: [0; 32] };
    write_shard(path, &meta, &[doc]).unwrap();
}

#[test]
fn bad_sizes_in_config_json_fail_in_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    shard(&root.join("calib.bin"), 4096, 300);
    std::fs::write(root.join("text.txt"), "some text").unwrap();
    let cases = [
        ("heads-0", config_json(|v| v["num_attention_heads"] = 0.into()), "num_attention_heads"),
        ("vocab-2^64-1", config_json(|v| v["vocab_size"] = u64::MAX.into()), "2^40"),
        ("head_dim-2^62", config_json(|v| v["head_dim"] = (1u64 << 62).into()), "2^40"),
        ("layers-2^63", config_json(|v| v["num_hidden_layers"] = (1u64 << 63).into()), "2^40"),
    ];
    for (case, json, want) in cases {
        let model = root.join(case);
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), &json).unwrap();
        fails(&p2law(&["info", s(&model)]), want, case);
        fails(&p2law(&["eval", "--model", s(&model), "--data", s(&root.join("text.txt"))]), want, case);
        let out = root.join(format!("{case}-pruned"));
        let args = ["prune", "--model", s(&model), "--method", "depth", "--rate", "0.5"];
        fails(
            &p2law(&[&args[..], &["--calib", s(&root.join("calib.bin")), "-o", s(&out)]].concat()),
            want,
            case,
        );
        assert!(!out.exists());
        // Training from scratch with the same sizes (`model.config`: TOML integers cannot hold 2^64 - 1).
        let run = format!(
            "name = \"r\"\nout = \"{case}-run\"\n[model]\nconfig = \"{}\"\n[data]\ndir = \"{}\"\n[train]\n\
             tokens = 1024\nbatch_tokens = 128\nseq_len = 16\nmicro_batch = 4\nlr = 1e-3\n",
            model.join("config.json").display(),
            root.display()
        );
        let cfg = root.join(format!("{case}.toml"));
        std::fs::write(&cfg, run).unwrap();
        fails(&p2law(&["train", "--quiet", "--config", s(&cfg)]), want, case);
        assert!(!root.join(format!("{case}-run")).exists(), "{case}: a run directory was left");
    }
}

#[test]
fn prune_samples_zero_and_output_naming_an_input_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let model = tiny_model(root, "base", false);
    shard(&root.join("calib.bin"), 4096, 300);
    let base = ["prune", "--model", s(&model), "--method", "depth", "--rate", "0.5", "--calib"];
    let calib = root.join("calib.bin");
    let out = root.join("out");
    let err = fails(
        &p2law(&[&base[..], &[s(&calib), "-o", s(&out), "--samples", "0"]].concat()),
        "--samples 0",
        "",
    );
    assert!(err.contains("must be ≥ 1") && !err.contains("lower"), "{err}");
    fails(&p2law(&[&base[..], &[s(&calib), "-o", s(&out), "--batch", "0"]].concat()), "must be ≥ 1", "batch");
    for (case, o) in [("model", model.clone()), ("calib", calib.clone())] {
        fails(&p2law(&[&base[..], &[s(&calib), "-o", s(&o), "--overwrite"]].concat()), "is the input", case);
    }
    let inside = root.join("holder");
    std::fs::create_dir(&inside).unwrap();
    std::fs::copy(&calib, inside.join("calib.bin")).unwrap();
    let inner = inside.join("calib.bin");
    let args = [&base[..], &[s(&inner), "-o", s(&inside), "--overwrite"]].concat();
    fails(&p2law(&args), "holds the input --calib", "inside");
    assert!(inside.join("calib.bin").exists() && model.join("config.json").exists());
}

/// A random tiny Llama (vocab 300), saved to `root/name`; with `nan`, one weight matrix is all NaN.
fn tiny_model(root: &Path, name: &str, nan: bool) -> PathBuf {
    let json = config_json(|v| v["num_hidden_layers"] = 4.into());
    let cfg = Config::from_hf_json(&serde_json::from_str(&json).unwrap()).unwrap();
    let model = Model::new_random(&cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let dir = root.join(name);
    p2law_model::save_hf_dir(&model, &dir, &SaveOptions::default()).unwrap();
    if nan {
        let mut t = p2law_model::load_tensors(&dir, &Device::Cpu).unwrap();
        let w = &t["model.layers.0.mlp.up_proj.weight"];
        let bad = (w.ones_like().unwrap() * f64::NAN).unwrap();
        t.insert("model.layers.0.mlp.up_proj.weight".into(), bad);
        candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();
    }
    dir
}

#[test]
fn prune_removes_stale_partial_folders_of_dead_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let model = tiny_model(root, "base", false);
    shard(&root.join("calib.bin"), 4096, 300);
    let pruned = root.join("pruned");
    std::fs::create_dir(&pruned).unwrap();
    // Left by a killed prune of an older version (named by pid only) and of this one (with a free lock).
    std::fs::create_dir(pruned.join(".depth.partial-4242")).unwrap();
    std::fs::write(pruned.join(".depth.partial-4242/model.safetensors"), "half").unwrap();
    std::fs::create_dir(pruned.join(".depth.partial-999999-0")).unwrap();
    std::fs::write(pruned.join(".depth.partial-999999-0.lock"), "").unwrap();
    let out = pruned.join("depth");
    let calib = root.join("calib.bin");
    let o = p2law(&[
        "prune",
        "--model",
        s(&model),
        "--method",
        "depth",
        "--rate",
        "0.5",
        "--calib",
        s(&calib),
        "--samples",
        "4",
        "--seq-len",
        "16",
        "-o",
        s(&out),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(listing(&pruned), ["depth"]);
    // Refused without --overwrite, the output untouched; replaced whole with it.
    std::fs::write(out.join("marker"), "old").unwrap();
    let again = [
        "prune",
        "--model",
        s(&model),
        "--method",
        "depth",
        "--rate",
        "0.5",
        "--calib",
        s(&calib),
        "--samples",
        "4",
        "--seq-len",
        "16",
        "-o",
        s(&out),
        "--quiet",
    ];
    fails(&p2law(&again), "already exists", "no overwrite");
    assert!(out.join("marker").exists());
    let o = p2law(&[&again[..], &["--overwrite"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("marker").exists() && out.join("pruning.json").exists());
    assert_eq!(listing(&pruned), ["depth"]);
}

// ---- GGUF ----------------------------------------------------------------------------------------------

/// A valid tiny Llama GGUF written by candle (f32 tensors, byte-level BPE vocabulary), with `extra_meta`
/// added or replacing keys.
fn write_gguf(path: &Path, extra_meta: &[(&str, Value)]) {
    let (c, ffn, vocab, heads, kv) = (8usize, 16usize, 8usize, 2u32, 1u32);
    let hd = c / heads as usize;
    let tensor = |shape: &[usize], seed: f64| {
        let n: usize = shape.iter().product();
        let t = (Tensor::arange(0f32, n as f32, &Device::Cpu).unwrap() * seed).unwrap().sin().unwrap();
        QTensor::quantize(&(t * 0.1).unwrap().reshape(shape).unwrap(), GgmlDType::F32).unwrap()
    };
    let tensors = vec![
        ("token_embd.weight", tensor(&[vocab, c], 0.3)),
        ("output_norm.weight", tensor(&[c], 0.5)),
        ("blk.0.attn_norm.weight", tensor(&[c], 0.7)),
        ("blk.0.attn_q.weight", tensor(&[heads as usize * hd, c], 1.1)),
        ("blk.0.attn_k.weight", tensor(&[kv as usize * hd, c], 1.3)),
        ("blk.0.attn_v.weight", tensor(&[kv as usize * hd, c], 1.7)),
        ("blk.0.attn_output.weight", tensor(&[c, heads as usize * hd], 1.9)),
        ("blk.0.ffn_norm.weight", tensor(&[c], 2.3)),
        ("blk.0.ffn_gate.weight", tensor(&[ffn, c], 2.9)),
        ("blk.0.ffn_up.weight", tensor(&[ffn, c], 3.1)),
        ("blk.0.ffn_down.weight", tensor(&[c, ffn], 3.7)),
    ];
    let strings = |v: &[&str]| Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect());
    let mut meta = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.embedding_length", Value::U32(c as u32)),
        ("llama.attention.head_count", Value::U32(heads)),
        ("llama.attention.head_count_kv", Value::U32(kv)),
        ("llama.feed_forward_length", Value::U32(ffn as u32)),
        ("llama.block_count", Value::U32(1)),
        ("llama.context_length", Value::U32(32)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "c", "ab", "Ġ", "d", "e", "f"])),
        ("tokenizer.ggml.merges", strings(&["a b"])),
    ];
    for (key, value) in extra_meta {
        meta.retain(|(k, _)| k != key);
        meta.push((key, value.clone()));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &meta_refs, &tensor_refs).unwrap();
}

/// A metadata entry of [`raw_gguf`]: key, GGUF type code, payload.
type RawMeta<'a> = (&'a str, u32, Vec<u8>);
/// A tensor entry of [`raw_gguf`]: name and GGUF-order dimensions.
type RawTensor<'a> = (&'a str, &'a [u64]);

/// A GGUF header by hand (version 3): `meta` as (key, type code, payload), tensors as (name, GGUF-order
/// dims, type, offset); no tensor data.
fn raw_gguf(path: &Path, meta: &[RawMeta], tensors: &[RawTensor]) {
    let string = |s: &str| [(s.len() as u64).to_le_bytes().to_vec(), s.as_bytes().to_vec()].concat();
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((meta.len() as u64).to_le_bytes());
    for (k, t, v) in meta {
        b.extend(string(k));
        b.extend(t.to_le_bytes());
        b.extend(v);
    }
    for (name, dims) in tensors {
        b.extend(string(name));
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
    }
    b.resize(b.len().div_ceil(32) * 32 + 64, 0);
    std::fs::write(path, b).unwrap();
}

#[test]
fn malformed_gguf_headers_fail_cleanly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let arch = ("general.architecture", 8u32, [5u64.to_le_bytes().to_vec(), b"llama".to_vec()].concat());
    let cases: [(&str, Vec<RawMeta>, Vec<RawTensor>, &str); 5] = [
        (
            "alignment-0",
            vec![arch.clone(), ("general.alignment", 4, 0u32.to_le_bytes().to_vec())],
            vec![],
            "general.alignment = 0",
        ),
        ("0-dim-embedding", vec![arch.clone()], vec![("token_embd.weight", &[])], "token_embd.weight"),
        ("2^40x2^40", vec![arch.clone()], vec![("token_embd.weight", &[1 << 40, 1 << 40])], "2^40"),
        ("u64-max-dim", vec![arch.clone()], vec![("token_embd.weight", &[u64::MAX, 2])], "2^40"),
        ("not-gguf", vec![], vec![], "GGUF"),
    ];
    for (case, meta, tensors, want) in cases {
        let gguf = root.join(format!("{case}.gguf"));
        raw_gguf(&gguf, &meta, &tensors);
        if case == "not-gguf" {
            std::fs::write(&gguf, b"PK\x03\x04 not a gguf").unwrap();
        }
        let out = root.join("out");
        fails(&p2law(&["convert", "--gguf", s(&gguf), "-o", s(&out)]), want, case);
        assert!(!out.exists(), "{case}: output left behind");
        assert!(listing(root).iter().all(|n| !n.starts_with(".out")), "{case}: {:?}", listing(root));
    }
    // A valid file whose metadata disagrees with a tensor also leaves nothing.
    let gguf = root.join("lying.gguf");
    write_gguf(&gguf, &[("llama.feed_forward_length", Value::U32(24))]);
    fails(&p2law(&["convert", "--gguf", s(&gguf), "-o", s(&root.join("out"))]), "gate_proj", "lying");
    assert!(!root.join("out").exists());
}

#[test]
fn convert_never_touches_an_existing_directory_without_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let gguf = root.join("m.gguf");
    write_gguf(&gguf, &[]);
    let out = root.join("model");
    let o = p2law(&["convert", "--gguf", s(&gguf), "-o", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = listing(&out);
    assert!(
        files.contains(&"tokenizer.json".to_string()) && files.contains(&"model.safetensors".to_string())
    );
    let o = p2law(&["info", s(&out), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // An existing model directory (here with a file of its own) is refused and left byte for byte.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before: Vec<(String, Vec<u8>)> =
        listing(&out).into_iter().map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap())).collect();
    fails(&p2law(&["convert", "--gguf", s(&gguf), "-o", s(&out)]), "--overwrite", "exists");
    let after: Vec<(String, Vec<u8>)> =
        listing(&out).into_iter().map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap())).collect();
    assert_eq!(before, after);

    // A conversion that fails with --overwrite leaves the old directory as it was.
    let bad = root.join("bad.gguf");
    write_gguf(&bad, &[("tokenizer.ggml.pre", Value::String("mystery".into()))]);
    fails(&p2law(&["convert", "--gguf", s(&bad), "-o", s(&out), "--overwrite"]), "mystery", "bad overwrite");
    assert_eq!(listing(&out), before.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());

    // With --overwrite the directory is replaced whole: no file of the old one survives.
    let o = p2law(&["convert", "--gguf", s(&gguf), "-o", s(&out), "--overwrite", "--dtype", "bf16"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("notes.txt").exists());
    assert_eq!(listing(root), ["bad.gguf", "m.gguf", "model"], "no temporary folder left");

    // The output may not be the input, nor hold it when it would be replaced.
    fails(&p2law(&["convert", "--gguf", s(&gguf), "-o", s(&gguf), "--overwrite"]), "is the input", "self");
    std::fs::copy(&gguf, out.join("m.gguf")).unwrap();
    fails(
        &p2law(&["convert", "--gguf", s(&out.join("m.gguf")), "-o", s(&out), "--overwrite"]),
        "holds the input",
        "inside",
    );

    // Leftovers of a dead convert are removed by the next one.
    std::fs::create_dir(root.join(".model2.partial-777777-0")).unwrap();
    std::fs::write(root.join(".model2.partial-777777-0.lock"), "").unwrap();
    std::fs::create_dir(root.join(".model2.partial-4242")).unwrap();
    let o = p2law(&["convert", "--gguf", s(&gguf), "-o", s(&root.join("model2"))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(listing(root), ["bad.gguf", "m.gguf", "model", "model2"]);
}

// ---- train ---------------------------------------------------------------------------------------------

fn run_toml(root: &Path, data: &Path, model: &str) -> PathBuf {
    let text = format!(
        "name = \"h\"\nout = \"run\"\n{model}\n[data]\ndir = \"{}\"\ntrain_split = \"pretrain\"\n[train]\n\
         tokens = 512\nbatch_tokens = 128\nseq_len = 16\nmicro_batch = 4\nlr = 1e-3\n[eval]\ntokens = 256\n\
         [checkpoint]\nevery_tokens = 128\nkeep = 1\n",
        data.display()
    );
    let path = root.join("RUN.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn train_nan_model_toml_errors_and_stale_checkpoint_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = common::build_shards(root);

    // A model with NaN weights: a clear message, no run directory, nothing in the run store.
    let nan = tiny_model(root, "nan-model", true);
    let cfg = run_toml(root, &data, &format!("[model]\nhf_dir = \"{}\"", nan.display()));
    let err = fails(&p2law(&["train", "--quiet", "--config", s(&cfg)]), "NaN", "nan model");
    assert!(err.contains("weights") && !err.contains("constraint"), "{err}");
    assert!(!root.join("run").exists());

    // TOML errors: file:line:col: message, on one line.
    let bad = root.join("BAD.toml");
    std::fs::write(&bad, "name = \"x\"\nout = \"run\"\nseed = \"seven\"\n").unwrap();
    let err =
        fails(&p2law(&["train", "--config", s(&bad)]), &format!("{}:3:8: ", bad.display()), "toml type");
    assert!(err.contains("invalid type") && !err.contains(" | "), "{err}");
    std::fs::write(&bad, "name = \"x\"\nout = [\n").unwrap();
    fails(&p2law(&["train", "--config", s(&bad)]), &format!("{}:", bad.display()), "toml syntax");

    // Stop a run after one step, plant what killed runs leave, and resume: the leftovers are gone.
    let good = tiny_model(root, "good-model", false);
    let cfg = run_toml(root, &data, &format!("[model]\nhf_dir = \"{}\"", good.display()));
    let o = p2law(&["train", "--quiet", "--config", s(&cfg), "--stop-after-steps", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ckpts = root.join("run/checkpoints");
    std::fs::create_dir(ckpts.join(".tmp-step-0000000002-4242")).unwrap();
    std::fs::write(ckpts.join(".tmp-step-0000000002-4242/model.safetensors"), "half").unwrap();
    std::fs::create_dir(ckpts.join(".tmp-step-0000000003-999999-0")).unwrap();
    std::fs::write(ckpts.join(".tmp-step-0000000003-999999-0.lock"), "").unwrap();
    std::fs::create_dir(root.join("run/.final.tmp-4242")).unwrap();
    let o = p2law(&["train", "--quiet", "--config", s(&cfg), "--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(listing(&ckpts).iter().all(|n| n.starts_with("step-")), "{:?}", listing(&ckpts));
    assert!(
        listing(&root.join("run")).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        listing(&root.join("run"))
    );
}
