#!/usr/bin/env bash
# Fit speed and quality: p2law-law vs SciPy on the same data, starts and objectives.
#   bench/fit_vs_scipy/run.sh [POINTS_PER_RUN=834] [STARTS=256]
# 12 synthetic p2 runs × POINTS_PER_RUN points (default 10,008 points), written once to a CSV both sides read.
# (a) one Levenberg–Marquardt fit from the same start: ours (and the levenberg-marquardt crate) vs
#     scipy.optimize.curve_fit(method="lm") with the analytic Jacobian;
# (b) the robust fit, Huber(1e-3) on log residuals from the same STARTS-point grid: our `fit` vs
#     scipy.optimize.minimize(method="L-BFGS-B") with the analytic gradient from every start.
# Prints wall and CPU seconds, objectives and ratios (SciPy time / ours; > 1 means we are faster).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
per_run="${1:-834}"
starts="${2:-256}"
out="${P2LAW_BENCH_OUT:-$root/target/bench/fit_vs_scipy}"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet -p p2law-law --features bench --example fit_bench)
python="$("$root/scripts/venv.sh" bench | tail -n 1)"
echo "== ours (crates/law/examples/fit_bench.rs)" >&2
"$CARGO_TARGET_DIR/release/examples/fit_bench" "$out" "$per_run" "$starts" > "$out/rust.json"
echo "== SciPy (bench/fit_vs_scipy/scipy_side.py)" >&2
"$python" "$here/scipy_side.py" "$out" > "$out/scipy.json"
"$python" - "$out" <<'PY'
import json, sys
d = sys.argv[1]
r, s = json.load(open(f"{d}/rust.json")), json.load(open(f"{d}/scipy.json"))
print(f"data: {r['points']} points, {r['runs']} runs; {r['starts']} starts; our threads: {r['threads']}")
def row(name, ours, theirs, key):
    ratio_w = theirs["wall_s"] / max(ours["wall_s"], 1e-9)
    ratio_c = theirs["cpu_s"] / max(ours["cpu_s"], 1e-2)
    print(f"{name:<28} ours {ours['wall_s']:9.3f} s wall {ours['cpu_s']:8.2f} s cpu  {key}={ours[key]:.10g}")
    print(f"{'':<28} scipy {theirs['wall_s']:8.3f} s wall {theirs['cpu_s']:8.2f} s cpu  {key}={theirs[key]:.10g}")
    print(f"{'':<28} ratio scipy/ours: wall {ratio_w:.1f}x, cpu {ratio_c:.1f}x; objective ours-scipy = {ours[key]-theirs[key]:+.3e}")
row("(a) one LM fit (ours)", r["lm"], s["lm"], "half_sse")
row("(a) one LM fit (lm crate)", r["lm_crate"], s["lm"], "half_sse")
row("(b) robust multi-start fit", r["robust"], s["robust"], "huber")
PY
