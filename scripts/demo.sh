#!/usr/bin/env bash
# The main job on a fresh machine: build p2law, run the law engine end to end on synthetic post-training
# curves (fit with a held-out split and bootstrap intervals, a plot, a model-selection table, a prediction
# and a token-budget plan), build the public-domain corpus (download, tokenizer, token shards), then the
# `micro` sweep: pretrain two tiny Llamas, prune them by depth, width, 2:4 and unstructured Wanda, post-train
# every pruned model and write the report.
# Outputs go to out/demo/ (curves, FIT.json, fit.png), data/corpus/ and runs/micro/ (report/report.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# The dev profile optimises dependencies (Cargo.toml), so it runs nearly as fast as --release and shares
# its build with the tests.
cargo build -p p2law
p2law=target/debug/p2law
out=out/demo
mkdir -p "$out"

echo "== 1. synthetic curves (12 pruned models, known P² parameters, noise sd 0.01)"
$p2law synth -o "$out/curves.csv"

echo; echo "== 2. fit the P² Law on the first 80% of every curve, score the last 20%"
$p2law fit --data "$out/curves.csv" --law p2 --holdout data:0.2 --bootstrap 100 \
  --out "$out/fit.json" --plot "$out/fit.png"

echo; echo "== 3. the P² Law against rival forms, predicting the highest pruning rate"
$p2law compare --data "$out/curves.csv" --holdout highest-rho --starts 64

echo; echo "== 4. predicted loss and token budget for a 3e8-parameter model pruned at rho = 0.35"
$p2law predict --fit "$out/fit.json" --n0 3e8 --rho 0.35 --l0 3.07 --d 1e9 --d 1e10 --d 1e11
$p2law plan --fit "$out/fit.json" --n0 3e8 --rho 0.35 --l0 3.07 --min-gain 1e-3 --within 0.02

echo; echo "== 5. the public-domain corpus: fetch, train a 4096-token BPE, pack four disjoint splits"
$p2law data build --quiet

echo; echo "== 6. the micro sweep: pretrain → prune (4 methods × 2 rates) → post-train → report (a few minutes)"
$p2law sweep recipes/micro.toml
sed -n '/^## Trends/,/^## Figures/p' runs/micro/report/report.md

echo; echo "done: $out/fit.png, $out/fit.json, data/corpus/, runs/micro/report/report.md"
