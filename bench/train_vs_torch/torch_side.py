"""PyTorch eager (CPU, f32) side of bench/train_vs_torch: replays a p2law-train run step for step.

    python torch_side.py OUT_DIR [--compile]   # OUT_DIR written by crates/train/examples/train_bench.rs

Reads OUT_DIR/init (the starting weights, HF layout), OUT_DIR/batches.u32 (the run's micro-batches in
order) and OUT_DIR/steps.json (per-step learning rate, loss, seconds; AdamW and clipping settings).
Trains transformers' LlamaForCausalLM on the same batches with the same optimizer as crates/train:
torch.optim.AdamW (foreach=False, the single-tensor path the Rust doc cites) with weight decay on
tensors of rank >= 2 only, torch.nn.utils.clip_grad_norm_, the mean cross-entropy over B*T next tokens,
gradients averaged over the micro-batches of a step. Prints JSON: per-step loss and seconds.
With --compile the model runs under torch.compile (inductor; the first step pays for compiling, and the
warm-up steps the comparison leaves out cover it).
"""

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM


def main():
    out = sys.argv[1]
    run = json.load(open(f"{out}/steps.json"))
    steps = run["steps"]
    b, t, accum = run["micro_batch"], run["seq_len"], run["accum"]
    opt = run["adamw"]
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_pretrained(f"{out}/init", dtype=torch.float32, attn_implementation="sdpa")
    model.train()
    compiled = "--compile" in sys.argv[2:]
    forward = torch.compile(model) if compiled else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": opt["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=steps[0]["lr"],
        betas=(opt["beta1"], opt["beta2"]),
        eps=opt["eps"],
        foreach=False,
    )
    batches = np.fromfile(f"{out}/batches.u32", dtype="<u4").astype(np.int64).reshape(-1, 2, b, t)
    vocab = model.config.vocab_size
    rows = []
    for i, s in enumerate(steps):
        for g in optim.param_groups:
            g["lr"] = s["lr"]
        start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for k in range(accum):
            pair = torch.from_numpy(batches[i * accum + k])
            ids, targets = pair[0], pair[1]
            logits = forward(input_ids=ids).logits  # (B, T, V)
            loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
            (loss / accum).backward()
            loss_sum += loss.item()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), run["grad_clip"]) if run["grad_clip"] > 0 else None
        optim.step()
        secs = time.perf_counter() - start
        rows.append({"step": s["step"], "loss": loss_sum / accum, "secs": secs,
                     "grad_norm": float(norm) if norm is not None else None})
        print(f"step {s['step']:>3}  loss {loss_sum / accum:.4f}  {run['batch_tokens'] / secs:.0f} tok/s",
              file=sys.stderr)
    version = torch.__version__ + (" compiled" if compiled else " eager")
    json.dump({"threads": torch.get_num_threads(), "torch": version, "steps": rows}, sys.stdout)


if __name__ == "__main__":
    main()
