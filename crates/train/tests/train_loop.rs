//! End-to-end trainer tests on a tiny bigram model and synthetic Markov data (tests/common): learning,
//! exact resume after a simulated kill, masks kept exact, run store, and failures before training.
//!
//! Expected numbers come from the data's construction, not from a reference run: the chain's unigram
//! entropy is close to ln 32 ≈ 3.47 nats, while its conditional entropy is that of (0.6, 0.3, 0.1) ≈ 0.90
//! nats, the floor a bigram model can reach.

mod common;

use std::path::Path;

use candle_core::{Device, Tensor};
use common::{markov_tokens, write_config, Bigram};
use p2law_train::curve::{read_points, CurvePoint};
use p2law_train::eval::unigram_entropy;
use p2law_train::masks::Masks;
use p2law_train::store::{RunStatus, RunStore};
use p2law_train::trainer::{train, Control, Quiet, RunMeta};
use p2law_train::Data;
use p2law_train::FileConfig;

struct Splits {
    train: Vec<u32>,
    heldout: Vec<u32>,
}

fn splits() -> Splits {
    Splits { train: markov_tokens(40_000, 1), heldout: markov_tokens(4_000, 2) }
}

fn run(
    config: &Path,
    model: &Bigram,
    meta: RunMeta,
    masks: Option<Masks>,
    s: &Splits,
    control: Control,
) -> p2law_train::Result<p2law_train::trainer::Outcome> {
    let cfg = FileConfig::load(config)?;
    let data = Data { train: &s.train, heldout: &s.heldout };
    train(&cfg, model, meta, masks, data, &Device::Cpu, control, &mut Quiet)
}

fn scratch_meta() -> RunMeta {
    RunMeta { n0: 1024.0, rho: 0.0, l0: None, method: None, n: None, rho_target: None, family: None }
}

/// Every column but the measured throughput.
fn comparable(points: &[CurvePoint]) -> Vec<(u64, u64, u64, u64, u64, u64)> {
    points
        .iter()
        .map(|p| (p.d, p.step, p.lr.to_bits(), p.train_loss.to_bits(), p.val_loss.to_bits(), 0))
        .collect()
}

#[test]
fn pretraining_beats_the_unigram_entropy_and_registers_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let s = splits();
    let model = Bigram::new(5, 16);
    let out = run(&config, &model, scratch_meta(), None, &s, Control::default()).unwrap();
    assert!(out.finished);
    assert_eq!((out.step, out.tokens), (24, 24_576));

    let h = unigram_entropy(&s.heldout);
    let curve = read_points(&dir.path().join("run/curve.csv")).unwrap();
    assert_eq!(curve.iter().map(|p| p.d).collect::<Vec<_>>(), vec![4096, 8192, 12288, 16384, 20480, 24576]);
    let last = curve.last().unwrap().val_loss;
    println!("unigram entropy {h:.3}, l0 {:.3}, final held-out loss {last:.3}", out.l0);
    assert!(h > 3.2, "{h}");
    assert!(last < h - 1.0, "held-out {last} vs unigram entropy {h}");

    let text = std::fs::read_to_string(dir.path().join("run/curve.csv")).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(&row[..3], &["bigram", "1024", "0"]);
    assert_eq!(row[3].parse::<f64>().unwrap(), out.l0);

    let store = RunStore::open(&dir.path().join("runs.sqlite")).unwrap();
    let rec = store.get("bigram").unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Finished);
    assert_eq!((rec.n0, rec.rho, rec.l0, rec.tokens), (1024.0, 0.0, out.l0, 24_576));
    assert!(dir.path().join("run/final/model.safetensors").is_file());
    assert!(dir.path().join("run/run.toml").is_file());
}

#[test]
fn resumed_run_equals_uninterrupted_run_bitwise() {
    let s = splits();
    // Straight through.
    let a = tempfile::tempdir().unwrap();
    let config_a = write_config(a.path(), "grad_clip = 0.5", "");

    // Killed after 10 steps, then a fresh process: a new model object with a *different* init, everything
    // else read from disk.
    let b = tempfile::tempdir().unwrap();
    let config_b = write_config(b.path(), "grad_clip = 0.5", "");
    // Evaluate every 2 steps, checkpoint every 4: the kill at step 10 leaves rows 2..10 on disk, the last
    // checkpoint at step 8, so the resume must drop row 10 and re-create it.
    for config in [&config_a, &config_b] {
        let text = std::fs::read_to_string(config).unwrap();
        std::fs::write(
            config,
            text.replace("every_tokens = 4096\ntokens = 2048", "every_tokens = 2048\ntokens = 2048"),
        )
        .unwrap();
    }
    let model_a = Bigram::new(9, 16);
    run(&config_a, &model_a, scratch_meta(), None, &s, Control::default()).unwrap();
    let first = Bigram::new(9, 16);
    let stop = Control { resume: false, stop_after_steps: Some(10) };
    let out = run(&config_b, &first, scratch_meta(), None, &s, stop).unwrap();
    assert!(!out.finished);
    assert_eq!(out.step, 10);
    assert_eq!(read_points(&b.path().join("run/curve.csv")).unwrap().last().unwrap().step, 10);
    drop(first);
    let resumed = Bigram::new(12345, 16);
    let out =
        run(&config_b, &resumed, scratch_meta(), None, &s, Control { resume: true, ..Default::default() })
            .unwrap();
    assert!(out.finished);

    let ca = read_points(&a.path().join("run/curve.csv")).unwrap();
    let cb = read_points(&b.path().join("run/curve.csv")).unwrap();
    assert_eq!(ca.len(), 12);
    assert_eq!(comparable(&ca), comparable(&cb));
    for name in ["embed.weight", "head.weight", "head.bias"] {
        let (wa, wb) =
            (model_a.tensor(name).flatten_all().unwrap(), resumed.tensor(name).flatten_all().unwrap());
        let (va, vb) = (wa.to_vec1::<f32>().unwrap(), wb.to_vec1::<f32>().unwrap());
        assert!(va.iter().zip(&vb).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs");
    }
}

#[test]
fn sparse_post_training_keeps_masks_exact_and_lowers_loss() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let s = splits();
    let model = Bigram::new(21, 16);
    // Half of each matrix pruned, in a fixed pattern; the weights there are not zero yet (the trainer
    // zeroes them before measuring l0).
    let mut masks = std::collections::BTreeMap::new();
    for name in ["embed.weight", "head.weight"] {
        let keep: Vec<f32> = (0..32 * 16).map(|i| ((i * 7 + i / 16) % 2) as f32).collect();
        masks.insert(name.to_string(), Tensor::from_vec(keep, (32, 16), &Device::Cpu).unwrap());
    }
    let mask_of = masks.clone();
    let meta = RunMeta {
        n0: 1056.0,
        rho: 0.5,
        l0: None,
        method: Some("unstructured".into()),
        n: Some(528.0),
        rho_target: Some(0.5),
        family: Some("llama".into()),
    };
    let out = run(&config, &model, meta, Some(Masks::from_tensors(masks)), &s, Control::default()).unwrap();

    for (name, mask) in &mask_of {
        let w = model.tensor(name).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let m = mask.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let zero_where_pruned = w.iter().zip(&m).filter(|(_, k)| **k == 0.0).all(|(x, _)| *x == 0.0);
        let alive_where_kept = w.iter().zip(&m).filter(|(_, k)| **k == 1.0).all(|(x, _)| *x != 0.0);
        assert!(zero_where_pruned && alive_where_kept, "{name}: sparsity pattern changed");
    }
    let curve = read_points(&dir.path().join("run/curve.csv")).unwrap();
    let last = curve.last().unwrap().val_loss;
    assert!(last < out.l0 - 0.3, "post-training should lower the loss: l0 {} → {last}", out.l0);
    let header = std::fs::read_to_string(dir.path().join("run/curve.csv")).unwrap();
    assert!(header.starts_with(
        "run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s,method,n,rho_target,family\n"
    ));
    let rec = RunStore::open(&dir.path().join("runs.sqlite")).unwrap().get("bigram").unwrap().unwrap();
    assert_eq!((rec.rho, rec.method.as_deref()), (0.5, Some("unstructured")));
}

#[test]
fn bad_setups_fail_before_training() {
    let s = splits();
    // A batch larger than the training split.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let tiny = Splits { train: markov_tokens(500, 1), heldout: s.heldout.clone() };
    let err = run(&config, &Bigram::new(1, 8), scratch_meta(), None, &tiny, Control::default()).unwrap_err();
    assert!(err.to_string().contains("larger than the `pretrain` split"), "{err}");
    assert!(!dir.path().join("run").exists(), "nothing written before the checks");

    // A held-out slice larger than the held-out split.
    let short = Splits { train: s.train.clone(), heldout: markov_tokens(1000, 2) };
    let err = run(&config, &Bigram::new(1, 8), scratch_meta(), None, &short, Control::default()).unwrap_err();
    assert!(err.to_string().contains("`eval.tokens`"), "{err}");

    // A run directory that already holds a run, without --resume.
    let stop = Control { resume: false, stop_after_steps: Some(1) };
    run(&config, &Bigram::new(1, 8), scratch_meta(), None, &s, stop).unwrap();
    let err = run(&config, &Bigram::new(1, 8), scratch_meta(), None, &s, Control::default()).unwrap_err();
    assert!(err.to_string().contains("pass --resume"), "{err}");

    // Resuming with a changed config.
    let changed = write_config(dir.path(), "beta2 = 0.99", "");
    let err = run(
        &changed,
        &Bigram::new(1, 8),
        scratch_meta(),
        None,
        &s,
        Control { resume: true, ..Default::default() },
    )
    .unwrap_err();
    assert!(err.to_string().contains("differs from the one this run started with"), "{err}");
}
