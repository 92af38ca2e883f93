#!/usr/bin/env python3
"""Writes the golden fixtures of crates/model/tests: tiny random checkpoints made by transformers, plus the
logits and losses transformers computes on fixed token ids.

    python="$(scripts/venv.sh model)"; "$python" scripts/model_fixtures.py

Outputs under crates/model/tests/fixtures/:
  llama/  LlamaForCausalLM, GQA (4 query / 2 kv heads), untied, Llama-3 rope_scaling, f32
  qwen2/  Qwen2ForCausalLM, q/k/v biases, tied embeddings, f32
  each with config.json, model.safetensors and reference.safetensors holding
    ids     (2, 16) int64   token ids (fixed pattern, not random)
    logits  (2, 16, 256) f32  model(ids).logits
    targets (2, 16) int64   ids shifted left, last position and a few others -100
    loss    ()  f32         mean cross-entropy of logits vs targets (ignore_index -100)
"""
import json
import pathlib

import torch
import transformers
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent / "crates/model/tests/fixtures"
VOCAB, T = 256, 16

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-5,
)


def fixed_ids():
    # A deterministic pattern that touches many vocabulary rows; no RNG, so anyone can rebuild it.
    ids = [[(37 * i + 11 * b + 5) % VOCAB for i in range(T)] for b in range(2)]
    return torch.tensor(ids, dtype=torch.int64)


def build(name, model_cls, config):
    torch.manual_seed(1234)
    model = model_cls(config).eval().to(torch.float32)
    # transformers initialises norms to 1 and biases to 0; randomise them so the test sees them.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.05 * torch.randn_like(p))
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    ids = fixed_ids()
    targets = torch.roll(ids, shifts=-1, dims=1)
    targets[:, -1] = -100
    targets[0, 3] = -100
    with torch.no_grad():
        logits = model(ids).logits.float()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100)
    save_file(
        {"ids": ids, "logits": logits.contiguous(), "targets": targets, "loss": loss.reshape(())},
        str(out / "reference.safetensors"),
        metadata={"format": "pt", "source": f"transformers {transformers.__version__}, torch {torch.__version__}"},
    )
    (out / "generation_config.json").unlink(missing_ok=True)
    print(f"{name}: loss {loss.item():.6f}, config {json.loads((out / 'config.json').read_text())}")


def main():
    llama = transformers.LlamaConfig(
        **COMMON,
        head_dim=16,
        tie_word_embeddings=False,
        rope_theta=10000.0,
        rope_scaling=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=32,
        ),
    )
    build("llama", transformers.LlamaForCausalLM, llama)
    qwen2 = transformers.Qwen2Config(**COMMON, tie_word_embeddings=True, rope_theta=1000000.0)
    build("qwen2", transformers.Qwen2ForCausalLM, qwen2)


if __name__ == "__main__":
    main()
