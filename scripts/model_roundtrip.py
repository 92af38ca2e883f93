#!/usr/bin/env python3
"""Loads a checkpoint p2law saved with transformers and writes its logits on given token ids.

    python scripts/model_roundtrip.py MODEL_DIR IDS.safetensors OUT.safetensors

IDS.safetensors holds `ids` (B, T) int64 (the fixtures' reference files do). OUT gets `logits` (B, T, V) f32.
Used by crates/model/tests/roundtrip.rs; exits non-zero with transformers' own error if loading fails.
"""
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file


def main(model_dir, ids_path, out_path):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = load_file(ids_path)["ids"]
    with torch.no_grad():
        logits = model(ids).logits.float().contiguous()
    save_file({"logits": logits}, out_path)
    print(f"{model_dir}: {type(model).__name__}, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
