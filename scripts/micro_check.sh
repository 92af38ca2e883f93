#!/usr/bin/env bash
# The `micro` recipe end to end on the real corpus, into a fresh folder, as CI's check of the main job:
# corpus (a no-op when data/corpus is up to date) → pretrain two tiny Llamas → prune every way → post-train
# → report. Fails unless the report, its tables and its figures are there.
#   bash scripts/micro_check.sh [P2LAW_BINARY=target/debug/p2law]
set -euo pipefail
cd "$(dirname "$0")/.."
p2law="${1:-target/debug/p2law}"
out=target/ci/micro
"$p2law" data build --quiet
rm -rf "$out"
start=$(date +%s)
"$p2law" sweep recipes/micro.toml --out "$out" --quiet
report="$out/report/report.md"
grep -q "pruned runs" "$report" || { echo "micro: $report has no run summary" >&2; exit 1; }
grep -q "^| p2 " "$report" || { echo "micro: $report has no p2 fit table" >&2; exit 1; }
for f in loss_vs_rho.png predicted_vs_observed.png curves_depth.png; do
  [ -s "$out/report/$f" ] || { echo "micro: $out/report/$f missing" >&2; exit 1; }
done
echo "micro: sweep and report in $(( $(date +%s) - start )) s: $report"
