#!/usr/bin/env bash
# Wall time of the `micro` sweep with one local worker, then with N workers sharing one folder (default 2),
# each into a fresh folder under target/bench/workers/; prints both times and their ratio. Not part of
# scripts/test.sh (it runs the sweep N+1 times' worth of setup); the README states a measurement.
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
cmp -s "$dir/one/report/report.json" "$dir/many/report/report.json" \
  && same="identical reports" || same="reports differ (compare $dir/one/report and $dir/many/report)"
awk -v threads="$threads" -v a="$t0" -v b="$t1" -v c="$t2" -v n="$n" -v same="$same" 'BEGIN {
  one = b - a; many = c - b
  printf "workers: 1 worker %.1f s, %d workers (%d thread(s) each) %.1f s, ratio %.2f; %s\n", one, n, threads, many, many / one, same }'
