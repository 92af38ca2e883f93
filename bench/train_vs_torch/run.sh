#!/usr/bin/env bash
# Training-step speed and loss parity: p2law-train vs PyTorch eager (CPU, f32), same machine, same model.
#   bench/train_vs_torch/run.sh [STEPS_A=50] [STEPS_B=50] [ROUNDS=3] [STEPS_S=0] [STEPS_P=0]
#   P2LAW_TORCH_COMPILE=1 bench/train_vs_torch/run.sh …   (PyTorch side under torch.compile)
# Two Llama configs, vocabulary 4096, sequences of 256, 16 sequences (4096 tokens) per step:
#   A = d_model 128, 4 layers, 4 heads, FFN 352;   B = d_model 256, 6 layers, 8 heads, FFN 704.
# S (real shape, only with STEPS_S > 0): SmolLM2-135M itself (d_model 576, 30 layers, vocabulary 49,152,
# scripts/smollm2_prepare.sh), post-trained on its `posttrain` split, 4 sequences of 256 (1024 tokens) per step.
# P (only with STEPS_P > 0): the same after `p2law prune --method depth --rate 0.25` (Block Influence on 16
# calibration windows of 256 tokens: 8 of 30 layers removed, rho 0.267), post-trained like S: what a user of
# the law runs.
# A config with 0 steps is skipped. Each side runs under bench/measure.py, which records its peak RSS.
# For each, crates/train/examples/train_bench.rs opens the run like `p2law train`, writes the starting
# weights (HF directory) and every micro-batch, then trains, timing each optimizer step (forward, backward,
# clipping, AdamW; evaluation and checkpoints only at the end, outside the timed steps). torch_side.py loads
# the same weights into transformers' LlamaForCausalLM and replays the same batches, learning rates, AdamW
# settings and clipping. The two sides alternate for ROUNDS rounds (ours, torch, ours, torch, …), each round
# the same run from the same weights, so that load from other processes, which comes and goes over minutes,
# falls on both. Prints tokens/s (median over every round's steps after 3 warm-up steps), the ratio
# ours/torch, each round's medians, the largest per-step training-loss difference (first round), and a
# roofline: each side's rate on the step's unavoidable products against this machine's best product rate.
# Data: the token shards of `p2law data build` ($P2LAW_DATA, default data/corpus), split `pretrain`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
steps_a="${1:-50}"
steps_b="${2:-50}"
rounds="${3:-3}"
steps_s="${4:-0}"
steps_p="${5:-0}"
data="${P2LAW_DATA:-$root/data/corpus}"
out="${P2LAW_BENCH_OUT:-$root/target/bench/train_vs_torch}"
[ -f "$data/manifest.json" ] || { echo "no token shards in $data: run \`p2law data build\` or set P2LAW_DATA" >&2; exit 2; }
data="$(cd "$data" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet -p p2law-train --example train_bench)
python="$("$root/scripts/venv.sh" model | tail -n 1)"
compile=""
[ "${P2LAW_TORCH_COMPILE:-0}" = 0 ] || compile="--compile"

# run_toml DIR NAME MODEL_SECTION DATA TRAIN_SPLIT STEPS STEP_TOKENS MICRO_BATCH LR WARMUP_TOKENS: the RUN.toml
# every config shares (sequences of 256, cosine schedule, AdamW β2 0.95, decay 0.1, clipping at 1; one
# evaluation and one checkpoint, both after the last step), with the model section given whole.
run_toml() {
  local tokens=$(( $6 * $7 ))
  rm -rf "$1" && mkdir -p "$1"
  cat > "$1/RUN.toml" <<TOML
name = "bench-$2"
out = "run"
seed = 1

$3

[data]
dir = "$4"
train_split = "$5"
heldout_split = "heldout"

[train]
tokens = $tokens
batch_tokens = $7
seq_len = 256
micro_batch = $8
lr = $9
warmup_tokens = ${10}
schedule = "cosine"
weight_decay = 0.1
beta2 = 0.95
grad_clip = 1.0

[eval]
every_tokens = $tokens
tokens = $7

[checkpoint]
every_tokens = $tokens
keep = 1
TOML
  echo "$1"
}

# config NAME HIDDEN LAYERS HEADS FFN STEPS
config() {
  local arch="[model.arch]
architectures = [\"LlamaForCausalLM\"]
vocab_size = 4096
hidden_size = $2
intermediate_size = $5
num_hidden_layers = $3
num_attention_heads = $4
num_key_value_heads = $4
max_position_embeddings = 256
rms_norm_eps = 1e-5
rope_theta = 10000.0
tie_word_embeddings = false"
  run_toml "$out/$1" "$1" "$arch" "$data" pretrain "$6" 4096 16 1e-3 8192
}

# config_s STEPS: SmolLM2-135M from its converted directory.
config_s() {
  "$root/scripts/smollm2_prepare.sh" "$CARGO_TARGET_DIR/release/p2law" >&2
  run_toml "$out/S" S "[model]
hf_dir = \"$root/data/smollm2-hf\"" "$root/data/smollm2" posttrain "$1" 1024 4 1e-4 2048
}

# config_p STEPS: SmolLM2-135M depth-pruned at rate 0.25 (pruned once, kept in $out/P-pruned).
config_p() {
  "$root/scripts/smollm2_prepare.sh" "$CARGO_TARGET_DIR/release/p2law" >&2
  local pruned="$out/P-pruned"  # beside P: run_toml empties P
  [ -f "$pruned/pruning.json" ] || "$CARGO_TARGET_DIR/release/p2law" prune --model "$root/data/smollm2-hf" \
    --method depth --rate 0.25 --calib "$root/data/smollm2/calib.bin" --samples 16 --seq-len 256 \
    --eval-tokens 4096 -o "$pruned" --quiet --json >&2
  run_toml "$out/P" P "[model]
hf_dir = \"$pruned\"" "$root/data/smollm2" posttrain "$1" 1024 4 1e-4 2048
}

[ "$steps_s$steps_p" = 00 ] || (cd "$root" && cargo build --release --quiet -p p2law)
for spec in "A 128 4 4 352 $steps_a" "B 256 6 8 704 $steps_b" "S $steps_s" "P $steps_p"; do
  set -- $spec
  [ "${!#}" != 0 ] || continue
  case "$1" in
    S) dir="$(config_s "$2")" ;;
    P) dir="$(config_p "$2")" ;;
    *) dir="$(config "$@")" ;;
  esac
  for round in $(seq 1 "$rounds"); do
    rm -rf "$dir/run" "$dir/bench"
    echo "== $1 round $round: ours (crates/train/examples/train_bench.rs)" >&2
    python3 "$here/../measure.py" ours --out /dev/null -- \
      "$CARGO_TARGET_DIR/release/examples/train_bench" "$dir/RUN.toml" "$dir/bench" > "$dir/ours-mem.$round.json"
    cp "$dir/bench/steps.json" "$dir/ours.$round.json"
    echo "== $1 round $round: PyTorch (bench/train_vs_torch/torch_side.py)" >&2
    python3 "$here/../measure.py" torch --out "$dir/torch.$round.json" -- \
      "$python" "$here/torch_side.py" "$dir/bench" $compile > "$dir/torch-mem.$round.json"
  done
done

"$python" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
WARMUP = 3
import os
import time
from functools import cache


def flops_per_token(c, seq):
    """Multiply-adds x 2 of one training step per token (backward = 2x forward), products only: the q/k/v/o
    projections, SwiGLU's three, the LM head, and causal attention (on average (seq + 1) / 2 keys per query)."""
    d, heads, ffn = c["hidden_size"], c["num_attention_heads"], c["intermediate_size"]
    hd = c.get("head_dim") or d // heads
    kv = c.get("num_key_value_heads", heads)
    layer = d * heads * hd + 2 * d * kv * hd + heads * hd * d + 3 * d * ffn + 2 * heads * hd * (seq + 1) / 2
    return 3 * 2 * (c["num_hidden_layers"] * layer + d * c["vocab_size"])


@cache
def peak(threads):
    """The best f32 product rate of this machine on `threads` threads: torch.mm (MKL) on square matrices of
    1024 and 2048, best of 5 calls each after a warm-up, in GF/s."""
    import torch
    torch.set_num_threads(threads)
    best = 0.0
    for n in (1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(5):
            s = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - s) / 1e9)
    return best


for name, desc in [("A", "d128 L4 H4 FFN352"), ("B", "d256 L6 H8 FFN704"), ("S", "SmolLM2-135M, V 49152"),
                   ("P", "SmolLM2-135M depth-pruned 0.25, V 49152")]:
    if not os.path.exists(f"{out}/{name}/ours.{rounds}.json"):
        continue
    ours = [json.load(open(f"{out}/{name}/ours.{k}.json")) for k in range(1, rounds + 1)]
    torch = [json.load(open(f"{out}/{name}/torch.{k}.json")) for k in range(1, rounds + 1)]
    tok = ours[0]["batch_tokens"]
    def secs(runs):
        return [s["secs"] for r in runs for s in r["steps"][WARMUP:]]
    def rate(runs):
        return tok / statistics.median(secs(runs))
    r, t = ours[0], torch[0]
    diffs = [abs(a["loss"] - b["loss"]) for a, b in zip(r["steps"], t["steps"])]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    print(f"{name} ({desc}, {rounds} rounds of {len(r['steps'])} steps of {tok} tokens; "
          f"threads ours {r['threads']}, torch {t['threads']} / torch {t['torch']})")
    print(f"   tokens/s  ours {rate(ours):9.0f}   torch {rate(torch):9.0f}   ratio ours/torch {rate(ours) / rate(torch):.2f}")
    print("   per round (ours/torch): " + ", ".join(
        f"{rate([a]):.0f}/{rate([b]):.0f}" for a, b in zip(ours, torch)))
    print(f"   loss step 1  ours {r['steps'][0]['loss']:.6f}  torch {t['steps'][0]['loss']:.6f};  "
          f"last  ours {r['steps'][-1]['loss']:.6f}  torch {t['steps'][-1]['loss']:.6f}")
    print(f"   max |loss ours - torch| over {len(diffs)} steps: {diffs[worst]:.3e} (step {worst + 1});  "
          f"first 10 steps: {max(diffs[:10]):.3e}")
    rss = [max(json.load(open(f"{out}/{name}/{side}-mem.{k}.json"))["peak_rss_mib"] for k in range(1, rounds + 1))
           for side in ("ours", "torch")]
    print(f"   peak RSS  ours {rss[0]:6d} MiB   torch {rss[1]:6d} MiB   ratio ours/torch {rss[0] / rss[1]:.2f} "
          "(whole process: setup, batches written, training)")
    # Roofline: the products a training step cannot avoid, against the best product rate of this machine.
    work = flops_per_token(json.load(open(f"{out}/{name}/bench/init/config.json")), r["seq_len"])
    best = max(peak(int(t["threads"])), max(o["product_peak_gflops"] for o in ours))
    print(f"   roofline  {work / 1e6:.2f} MFLOP/token of products (projections, LM head, causal attention; "
          f"x3 for backward): ours {work * rate(ours) / 1e9:.0f} GF/s, torch {work * rate(torch) / 1e9:.0f} GF/s; "
          f"best product here {best:.0f} GF/s (torch.mm {peak(int(t['threads'])):.0f}, ours "
          f"{max(o['product_peak_gflops'] for o in ours):.0f}), so 2x torch would need {2 * work * rate(torch) / 1e9:.0f} GF/s "
          f"= {2 * work * rate(torch) / 1e9 / best:.0%} of it")
PY
