//! Our side of `bench/fit_vs_scipy`: writes the shared inputs, times our two fits, writes `rust.json`.
//!
//! ```text
//! cargo run --release -p p2law-law --features bench --example fit_bench -- OUT_DIR [POINTS_PER_RUN] [STARTS]
//! ```
//! Writes `OUT_DIR/curves.csv` (12 synthetic p2 runs: n0 ∈ {1e8, 3e8, 1e9} × rho ∈ {0.2, 0.35, 0.5, 0.65},
//! noise sd 0.01), `OUT_DIR/starts.csv` (the multi-start grid, before our closed-form linear solve: the
//! same points SciPy starts from), `OUT_DIR/lm_start.csv` (one start, for the single-LM comparison), then
//! times (a) one LM run from `lm_start` and (b) the full robust fit from `starts`.

use std::fmt::Write as _;
use std::time::Instant;

use p2law_law::synth::{generate, SynthSpec};
use p2law_law::{
    fit, least_squares_from, least_squares_from_crate, start_grid, write_curves_csv, FitOptions, Law,
    Objectives,
};

/// CPU seconds this process has used (all threads), from `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|s| s.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the ')' -terminated name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn csv_rows(rows: &[Vec<f64>], names: &[&str]) -> String {
    let mut s = names.join(",") + "\n";
    for r in rows {
        let line: Vec<String> = r.iter().map(|v| format!("{v:e}")).collect();
        let _ = writeln!(s, "{}", line.join(","));
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out =
        std::path::PathBuf::from(args.next().ok_or("usage: fit_bench OUT_DIR [POINTS_PER_RUN] [STARTS]")?);
    let per_run: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(834);
    let starts: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    std::fs::create_dir_all(&out)?;
    let curves = generate(&SynthSpec { points_per_run: per_run, ..Default::default() });
    write_curves_csv(&out.join("curves.csv"), &curves)?;
    let law = Law::builtin("p2")?;
    let names = law.param_names();
    let opts = FitOptions { objectives: Objectives::Huber, starts, ..Default::default() };
    let grid = start_grid(&law, &opts);
    std::fs::write(out.join("starts.csv"), csv_rows(&grid, &names))?;
    // The single-LM start: every parameter off the synthetic truth (`SynthSpec::default()`: -0.8, 0.1, 1000,
    // 0.3, 5000, 0.4, 1.0), exponents by 0.05 to 0.1 and the linear ones at 0.6 of theirs, so that an LM run
    // from it converges for both implementations (the paper fits from one hand-picked start).
    let lm_start = vec![-0.7, 0.15, 600.0, 0.25, 3000.0, 0.35, 0.6];
    std::fs::write(out.join("lm_start.csv"), csv_rows(std::slice::from_ref(&lm_start), &names))?;

    let (t, c) = (Instant::now(), cpu_seconds());
    let lm = least_squares_from(&law, &curves.points, &lm_start)?;
    let (lm_wall, lm_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);

    let (t, c) = (Instant::now(), cpu_seconds());
    let lm_crate = least_squares_from_crate(&law, &curves.points, &lm_start)?;
    let (lmc_wall, lmc_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);

    let (t, c) = (Instant::now(), cpu_seconds());
    let robust = fit(&law, &curves.points, &opts)?;
    let (rb_wall, rb_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let hub = robust.huber.as_ref().ok_or("robust fit kept no Huber solution")?;

    let json = format!(
        concat!(
            "{{\"points\": {}, \"runs\": {}, \"starts\": {}, \"threads\": {},\n",
            " \"lm\": {{\"wall_s\": {}, \"cpu_s\": {}, \"half_sse\": {:e}, \"evaluations\": {}, \"params\": {:?}}},\n",
            " \"lm_crate\": {{\"wall_s\": {}, \"cpu_s\": {}, \"half_sse\": {:e}, \"evaluations\": {}}},\n",
            " \"robust\": {{\"wall_s\": {}, \"cpu_s\": {}, \"huber\": {:e}, \"params\": {:?},\n",
            "  \"lm_evaluations\": {}, \"polished\": {}, \"lbfgs_evaluations\": {}, \"lbfgs_iterations\": {}}}}}\n"
        ),
        curves.points.len(),
        curves.runs.len(),
        grid.len(),
        rayon::current_num_threads(),
        lm_wall,
        lm_cpu,
        lm.half_sse,
        lm.evaluations,
        lm.params,
        lmc_wall,
        lmc_cpu,
        lm_crate.half_sse,
        lm_crate.evaluations,
        rb_wall,
        rb_cpu,
        hub.huber,
        hub.params,
        robust.stats.lm_evaluations,
        robust.stats.polished,
        robust.stats.lbfgs_evaluations,
        robust.stats.lbfgs_iterations,
    );
    std::fs::write(out.join("rust.json"), &json)?;
    print!("{json}");
    Ok(())
}
