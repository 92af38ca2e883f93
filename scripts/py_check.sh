#!/usr/bin/env bash
# The Python package as CI checks it: build the abi3 wheel with maturin into target/wheels/, install it into
# the project's venv (scripts/venv.sh py hf: maturin, pytest, numpy, pandas, torch, transformers, accelerate), and run
# python/tests/ against the installed wheel and the command line (parity of fits with `p2law fit`, FIT.json
# round trips, numpy predictions, errors, and a short HF Trainer run with the callback on a 2:4 model from
# `p2law prune`). Both services are required here (P2LAW_PY_REQUIRE), so no test is skipped silently.
#   bash scripts/py_check.sh [P2LAW_BINARY=target/debug/p2law]
set -euo pipefail
cd "$(dirname "$0")/.."
p2law="$(realpath "${1:-target/debug/p2law}")"
py="$(bash scripts/venv.sh py hf | tail -n 1)"
t0=$(date +%s)
rm -f target/wheels/p2law-*.whl
# The dev profile shares the dependencies the workspace build already compiled (Cargo.toml optimises them).
"$py" -m maturin build --profile dev --interpreter "$py" --out target/wheels 2>&1 | grep -E "Built wheel|warning|error" || true
wheel=$(ls target/wheels/p2law-*.whl 2>/dev/null | head -n 1)
[ -n "$wheel" ] || { echo "py: maturin built no wheel" >&2; exit 1; }
t1=$(date +%s)
"$py" -m pip install --quiet --force-reinstall --no-deps "$wheel"
t2=$(date +%s)
P2LAW_BIN="$p2law" P2LAW_PY_REQUIRE=cli,torch "$py" -m pytest -q -p no:cacheprovider python/tests
t3=$(date +%s)
echo "py: $(basename "$wheel"): build $((t1 - t0)) s, install $((t2 - t1)) s, pytest $((t3 - t2)) s"
