#!/usr/bin/env bash
# `p2law prune` against a PyTorch reference of the published algorithms (scripts/prune_model_reference.py)
# on SmolLM2-135M, the same calibration windows: Wanda and SparseGPT, unstructured and 2:4. For each, the
# pruning's own time (p2law's `prune_seconds`; the reference's scoring and pruning, model loading excluded on
# both sides), each whole process's peak RSS, and the agreement of masks and (SparseGPT) pruned weights.
#   bench/prune_vs_torch/run.sh [SAMPLES] [SEQ_LEN] [CASES...]
# Defaults: 32 sequences of 512 tokens; cases unstructured:wanda unstructured:sparsegpt nm:wanda nm:sparsegpt
# (unstructured at rate 0.5). Run on an idle machine: both sides use every core. P2LAW_FOLLOW=1 runs the
# reference with --follow-ours (each layer pruned from the states of p2law's pruned layers before it): the
# mask agreement of the algorithms on the same inputs, not of two whole runs (its time includes reading
# p2law's weights).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
samples="${1:-32}"
seq_len="${2:-512}"
shift $(( $# < 2 ? $# : 2 ))
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(unstructured:wanda unstructured:sparsegpt nm:wanda nm:sparsegpt)
cd "$root"
cargo build --release -q -p p2law
p2law="$root/target/release/p2law"
"$root/scripts/smollm2_prepare.sh" "$p2law" >&2
python="$(scripts/venv.sh model | tail -n1)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "SmolLM2-135M, $samples × $seq_len calibration tokens, $(nproc) cores"
printf '%-24s%10s%10s%8s%12s%12s%8s%10s%8s%12s\n' case "p2law s" "torch s" ratio "p2law MiB" "torch MiB" ratio "masks =" "from" "weights Δ"
for c in "${cases[@]}"; do
  method="${c%%:*}" criterion="${c##*:}"
  rate=()
  [ "$method" = unstructured ] && rate=(--rate 0.5)
  dir="$out/$method-$criterion"
  a="$(python3 "$here/../measure.py" p2law -- "$p2law" prune --model data/smollm2-hf --method "$method" \
    --criterion "$criterion" "${rate[@]}" --calib data/smollm2/calib.bin --samples "$samples" --seq-len "$seq_len" \
    --eval-tokens 4096 -o "$dir" --json --quiet)"
  b="$(python3 "$here/../measure.py" torch -- "$python" scripts/prune_model_reference.py data/smollm2-hf "$dir" ${P2LAW_FOLLOW:+--follow-ours} 2>/dev/null)"
  python3 - "$c" "$a" "$b" <<'PY'
import json, sys
c, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ours, theirs = a["prune_seconds"], b["reference_seconds"]
delta = b.get("weight_max_rel_diff")
first = next((i for i, v in enumerate(b["mask_agreement_by_layer"]) if v < 1), None)
print(f"{c:24}{ours:10.1f}{theirs:10.1f}{ours / theirs:8.2f}{a['peak_rss_mib']:12d}{b['peak_rss_mib']:12d}"
      f"{a['peak_rss_mib'] / b['peak_rss_mib']:8.2f}{b['mask_agreement']:10.5f}{'-' if first is None else first:>8}"
      f"{'' if delta is None else f'{delta:12.1e}'}")
print("   by layer: " + " ".join(f"{v:.4f}" for v in b["mask_agreement_by_layer"]), file=sys.stderr)
PY
done
echo "ratio = p2law / reference; masks = = fraction of mask entries equal; from = first decoder layer where"
echo "they differ (agreement by layer on stderr); weights Δ = largest difference of a pruned weight matrix,"
echo "relative to its largest entry"
