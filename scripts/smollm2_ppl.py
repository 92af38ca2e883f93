#!/usr/bin/env python3
"""Perplexity of a converted model with transformers, using the same windows as `p2law eval`.

    python scripts/smollm2_ppl.py MODEL_DIR TEXT_FILE [--context 512] [--max-tokens N]

Tokenizes TEXT_FILE with MODEL_DIR/tokenizer.json (no special tokens), cuts the ids into windows starting
every CONTEXT tokens (window k: inputs ids[k*C : min((k+1)*C, N-1)], targets shifted by one, so every token
but the first is scored once), and prints {"loss", "ppl", "tokens", "windows", "context"} as JSON: loss is
the mean token cross-entropy in nats. The full comparison is scripts/smollm2_compare.sh.
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
    args = ap.parse_args()
    tok = Tokenizer.from_file(f"{args.model_dir}/tokenizer.json")
    ids = tok.encode(open(args.text, encoding="utf-8").read(), add_special_tokens=False).ids
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    total, count, windows = 0.0, 0, 0
    ids_t = torch.tensor(ids, dtype=torch.int64)
    with torch.no_grad():
        for start in range(0, len(ids) - 1, args.context):
            n = min(args.context, len(ids) - 1 - start)
            x = ids_t[start : start + n].unsqueeze(0)
            y = ids_t[start + 1 : start + n + 1]
            logits = model(x).logits[0].float()
            total += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
            count += n
            windows += 1
    loss = total / count
    print(json.dumps({"loss": loss, "ppl": math.exp(loss), "tokens": count, "windows": windows, "context": args.context}))


if __name__ == "__main__":
    main()
