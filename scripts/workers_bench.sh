#!/usr/bin/env bash
# Wall time of the `micro` sweep with one local worker on every core, then with N workers sharing one folder
# (default 2) and `nproc / N` threads each, then with one worker on that same thread share; each into a fresh
# folder under target/bench/workers/. Prints the times and two ratios: N workers against one worker on all
# cores (what a user gains), and against one worker with the same threads per process (how well the workers
# share the units, without the single worker's own use of the other cores). Not part of scripts/test.sh (it
# runs the sweep three times); the README states a measurement.
#   bash scripts/workers_bench.sh [N=2] [P2LAW_BINARY=target/debug/p2law]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2}"
p2law="${2:-target/debug/p2law}"
dir=target/bench/workers
"$p2law" data build --quiet > /dev/null
rm -rf "$dir" && mkdir -p "$dir"
now() { date +%s.%N; }
t0=$(now)
"$p2law" sweep recipes/micro.toml --out "$dir/one" --quiet
t1=$(now)
# Each of the N workers gets its share of the cores (RAYON_NUM_THREADS, which candle's kernels and the
# training code's thread pool both follow): N workers each spreading over all cores fight over them.
threads=$(( $(nproc) / n ))
[ "$threads" -ge 1 ] || threads=1
pids=()
for _ in $(seq "$n"); do
  RAYON_NUM_THREADS="$threads" "$p2law" sweep recipes/micro.toml --out "$dir/many" --quiet & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
t2=$(now)
RAYON_NUM_THREADS="$threads" "$p2law" sweep recipes/micro.toml --out "$dir/share" --quiet
t3=$(now)
cmp -s "$dir/one/report/report.json" "$dir/many/report/report.json" \
  && same="identical reports" || same="reports differ (compare $dir/one/report and $dir/many/report)"
awk -v threads="$threads" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v n="$n" -v same="$same" 'BEGIN {
  one = b - a; many = c - b; share = d - c
  printf "workers: 1 worker on all cores %.1f s, %d workers (%d thread(s) each) %.1f s, ratio %.2f; %s\n", one, n, threads, many, many / one, same
  printf "         1 worker on %d thread(s) %.1f s: %d workers take %.2f of its time (ideal %.2f)\n", threads, share, n, many / share, 1 / n }'
# Occupancy: the share of the N workers' wall time spent inside units (from each unit's journal record).
python3 - "$dir/many/journal" "$n" "$t1" "$t2" <<'PY'
import glob, json, sys
records = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
n, wall = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
busy = sum(r["seconds"] for r in records)
print(f"         {len(records)} units in {len({r['pid'] for r in records})} processes; workers busy in units "
      f"{busy:.1f} of {n} x {wall:.1f} s = {busy / (n * wall):.0%}")
PY
