//! Training-step benchmark and parity harness (used by `bench/train_vs_torch/run.sh`).
//!
//! ```text
//! cargo run --release -p p2law-train --example train_bench -- RUN.toml OUT_DIR
//! ```
//!
//! Opens the run as `p2law train` does, then writes to `OUT_DIR`:
//!
//! - `init/`: the starting model as a Hugging Face directory, before any step (PyTorch loads it);
//! - `batches.u32`: every micro-batch the run will draw, in order, as little-endian u32 `ids` (B·T) then
//!   `targets` (B·T);
//! - `steps.json`: per optimizer step the learning rate, the training loss and the seconds the step took
//!   (forward, backward, clipping, AdamW; evaluation and checkpoints happen outside this time), and, measured
//!   after the run, the best rate of p2law's matrix product on this machine (`product_peak_gflops`).
//!
//! The run itself goes to the config's `out` directory like any run (it must not exist yet).

use std::io::Write;
use std::path::PathBuf;

use p2law_train::sampler::Sampler;
use p2law_train::trainer::{Control, Progress, StepReport};
use p2law_train::{FileConfig, LanguageModel};

/// Collects the per-step reports.
struct Steps {
    batch_tokens: u64,
    rows: Vec<serde_json::Value>,
}

impl Progress for Steps {
    fn step(&mut self, r: &StepReport) {
        let secs = self.batch_tokens as f64 / r.tokens_per_s;
        self.rows.push(serde_json::json!({
            "step": r.step, "lr": r.lr, "loss": r.train_loss, "grad_norm": r.grad_norm, "secs": secs,
        }));
        eprintln!("step {:>3}  loss {:.4}  {:.0} tok/s", r.step, r.train_loss, r.tokens_per_s);
    }
}

fn main() -> Result<(), p2law_train::error::BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, out] = args.as_slice() else {
        return Err("usage: train_bench RUN.toml OUT_DIR".into());
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let cfg = FileConfig::load(std::path::Path::new(config))?;
    let setup = p2law_train::setup::open(&cfg)?;

    std::fs::create_dir_all(out.join("init"))?;
    setup.model.save(&out.join("init"))?;
    // The trainer draws micro-batch i of the run from this sampler (seed, index → rows).
    let sampler = Sampler::new(cfg.seed, cfg.seq_len, cfg.micro_batch);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("batches.u32"))?);
    for i in 0..cfg.total_steps * cfg.accum as u64 {
        let (ids, targets) = sampler.micro_batch_rows(&setup.train, i)?;
        for x in ids.iter().chain(&targets) {
            file.write_all(&x.to_le_bytes())?;
        }
    }
    file.flush()?;

    let mut steps = Steps { batch_tokens: cfg.batch_tokens, rows: Vec::new() };
    // As `p2law train` does.
    setup.train(&cfg, Control::default(), &mut steps)?;
    let summary = serde_json::json!({
        "seq_len": cfg.seq_len, "micro_batch": cfg.micro_batch, "accum": cfg.accum,
        "batch_tokens": cfg.batch_tokens, "adamw": {
            "beta1": cfg.adamw.beta1, "beta2": cfg.adamw.beta2, "eps": cfg.adamw.eps,
            "weight_decay": cfg.adamw.weight_decay,
        },
        "grad_clip": cfg.grad_clip, "threads": rayon_threads(), "steps": steps.rows,
        "product_peak_gflops": product_peak(),
    });
    std::fs::write(out.join("steps.json"), serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// The best rate, in GF/s, of the product the training step uses (`gemm` in row bands on rayon's threads)
/// on square f32 matrices of 1024 and 2048, best of 5 calls each after a warm-up: the roofline that
/// `bench/train_vs_torch/run.sh` sets the step's product work against.
fn product_peak() -> f64 {
    use p2law_model::ops::fused::gemm::{product_new, View};
    let mut best = 0f64;
    for n in [1024, 2048] {
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0).collect();
        let v = View::rows(0, n, n, n);
        std::hint::black_box(product_new(&a, v, &a, v));
        for _ in 0..5 {
            let start = std::time::Instant::now();
            std::hint::black_box(product_new(&a, v, &a, v));
            best = best.max(2.0 * (n as f64).powi(3) / start.elapsed().as_secs_f64() / 1e9);
        }
    }
    best
}

/// Threads candle's CPU kernels use (candle sizes its pool from `RAYON_NUM_THREADS` or the core count).
fn rayon_threads() -> usize {
    candle_core::utils::get_num_threads()
}
