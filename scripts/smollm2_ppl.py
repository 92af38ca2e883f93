#!/usr/bin/env python3
"""Perplexity of a converted model with transformers, using the same windows as `p2law eval`.

    python scripts/smollm2_ppl.py MODEL_DIR TEXT_FILE [--context 512] [--max-tokens N] [--batch 1]

Tokenizes TEXT_FILE with MODEL_DIR/tokenizer.json (no special tokens), cuts the ids into windows starting
every CONTEXT tokens (window k: inputs ids[k*C : min((k+1)*C, N-1)], targets shifted by one, so every token
but the first is scored once), and prints {"loss", "ppl", "tokens", "windows", "context"} as JSON: loss is
the mean token cross-entropy in nats. `--batch B` runs B full windows per forward pass, as `p2law eval
--batch B` does. The full comparison is scripts/smollm2_compare.sh; bench/eval_vs_transformers times both.
"""
import argparse
import json
import math

import torch
import transformers
from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("text")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    tok = Tokenizer.from_file(f"{args.model_dir}/tokenizer.json")
    ids = tok.encode(open(args.text, encoding="utf-8").read(), add_special_tokens=False).ids
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    total, count, windows = 0.0, 0, 0
    ids_t = torch.tensor(ids, dtype=torch.int64)
    starts = list(range(0, len(ids) - 1, args.context))
    lengths = [min(args.context, len(ids) - 1 - s) for s in starts]
    with torch.no_grad():
        i = 0
        while i < len(starts):
            # Windows of equal length go through together; only the last one can be shorter.
            group = [j for j in range(i, min(i + args.batch, len(starts))) if lengths[j] == lengths[i]]
            n = lengths[i]
            x = torch.stack([ids_t[starts[j] : starts[j] + n] for j in group])
            y = torch.stack([ids_t[starts[j] + 1 : starts[j] + n + 1] for j in group])
            logits = model(x).logits.float()
            total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += n * len(group)
            windows += len(group)
            i += len(group)
    loss = total / count
    print(json.dumps({"loss": loss, "ppl": math.exp(loss), "tokens": count, "windows": windows, "context": args.context}))


if __name__ == "__main__":
    main()
