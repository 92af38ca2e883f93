"""The Hugging Face Trainer callback on a model `p2law prune` made: a tiny random Llama, pruned 2:4 by the
command line, post-trained a few steps on CPU by `transformers.Trainer`. With the callback the 2:4 pattern
is exact at the end and the curve file it wrote is read back by `p2law fit`; without it the same run
breaks the pattern (so the check can fail)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

VOCAB = 64
SEQ = 32


def write_shard(path: Path, n_tokens: int, seed: int) -> None:
    """A token shard (docs/spec/formats.md, data folder): one document of pseudo-random u16 ids."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB - 1, size=n_tokens - 1, dtype=np.uint16)
    ids = np.append(ids, np.uint16(VOCAB - 1))  # the end-of-text id closes the document
    header = b"P2LWTOKS" + struct.pack("<IIQQII", 1, 2, n_tokens, 1, VOCAB, VOCAB - 1) + bytes(32)
    header += bytes(128 - len(header))
    path.write_bytes(header + ids.astype("<u2").tobytes())


@pytest.fixture(scope="module")
def pruned_24(hf_stack, cli, tmp_path_factory) -> Path:
    """`p2law prune --method nm --pattern 2:4` output for a random 2-layer Llama written here."""
    torch, transformers = hf_stack
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("hf")
    base = root / "base"
    base.mkdir()
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "bos_token_id": 0,
        "eos_token_id": VOCAB - 1,
    }
    (base / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(base / "model.safetensors"), metadata={"format": "pt"})
    write_shard(root / "calib.bin", 4096, 1)
    write_shard(root / "heldout.bin", 2048, 2)
    out = root / "pruned-nm"
    cli.run(
        "prune", "--model", base, "--method", "nm", "--pattern", "2:4", "--calib", root / "calib.bin",
        "--samples", "8", "--seq-len", str(SEQ), "-o", out, "--quiet",
    )
    return out


class Tokens:
    """A causal-LM dataset of random token windows."""

    def __init__(self, n: int, seed: int) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, VOCAB - 1, (n, SEQ), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def train(pruned: Path, out: Path, callbacks: list, steps: int = 6):
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(pruned)
    args = transformers.TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        eval_strategy="steps",
        eval_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        include_num_input_tokens_seen=True,
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=Tokens(64, 1), eval_dataset=Tokens(16, 2), callbacks=callbacks
    )
    trainer.train()
    return model


def masked_weights(model, masks):
    params = dict(model.named_parameters())
    return [(k, params[k], m) for k, m in masks.items()]


def test_pruned_directory_has_2_4_masks(pruned_24):
    from p2law.hf import load_masks, read_pruning_json

    meta = read_pruning_json(pruned_24)
    assert meta.method == "nm" and meta.rho > 0.4 and meta.l0 and meta.l0 > 0
    masks = load_masks(pruned_24 / "masks.safetensors")
    assert len(masks) == 2 * 7  # q k v o gate up down in each of the 2 layers
    for name, m in masks.items():
        kept = m.reshape(-1, 4).sum(dim=1)
        assert bool((kept == 2).all()), name


def test_trainer_keeps_2_4_exact_and_writes_a_curve_p2law_fits(pruned_24, cli, tmp_path):
    import torch
    import transformers

    from p2law.hf import P2LawCallback, load_masks, nm_violations, read_pruning_json

    curve = tmp_path / "curve.csv"
    cb = P2LawCallback(pruned_24, curve=curve)
    initial = transformers.AutoModelForCausalLM.from_pretrained(pruned_24)
    before = {k: p.detach().clone() for k, p, _ in masked_weights(initial, cb.masks)}
    model = train(pruned_24, tmp_path / "out", [cb])

    masks = load_masks(pruned_24 / "masks.safetensors")
    changed = 0
    for name, w, keep in masked_weights(model, masks):
        assert int((w.detach()[~keep] != 0).sum()) == 0, f"{name}: a pruned weight is no longer zero"
        assert nm_violations(w, 2, 4) == 0, name
        changed += int((w.detach() != before[name]).sum())
    assert changed > 0, "training did not change any kept weight"

    # The curve: one row per evaluation, the run's constants from pruning.json, read back by p2law fit.
    meta = read_pruning_json(pruned_24)
    rows = curve.read_text().splitlines()
    header = rows[0].split(",")
    assert header[:7] == ["run", "n0", "rho", "l0", "d", "loss", "step"] and "method" in header
    assert len(rows) == 1 + 6
    first = dict(zip(header, rows[1].split(",")))
    assert first["run"] == pruned_24.name and first["method"] == "nm"
    assert float(first["n0"]) == meta.n0 and float(first["rho"]) == meta.rho and float(first["l0"]) == meta.l0
    assert [int(r.split(",")[header.index("step")]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]
    assert float(first["d"]) == 4 * SEQ  # tokens seen after one step of 4 windows
    fitted = cli.json("fit", "--data", curve, "--law-expr", "l0 + a + b*ln(d)", "--param", "b=-1:1")
    assert fitted["n_points"] == 6 and fitted["n_runs"] == 1
    assert fitted["domain"]["d"] == [4.0 * SEQ, 6 * 4.0 * SEQ]
    losses = [float(r.split(",")[header.index("loss")]) for r in rows[1:]]
    assert all(math.isfinite(x) and x > 0 for x in losses)
    assert torch.isfinite(torch.tensor(losses)).all()


def test_without_the_callback_the_pattern_breaks(pruned_24, tmp_path):
    # The negative control: the same run with no callback fills the pruned zeros back in.
    from p2law.hf import load_masks, nm_violations

    model = train(pruned_24, tmp_path / "out", [], steps=2)
    masks = load_masks(pruned_24 / "masks.safetensors")
    assert sum(nm_violations(w, 2, 4) for _, w, _ in masked_weights(model, masks)) > 0


def test_resumed_curve_keeps_rows_up_to_the_checkpoint(tmp_path):
    # The bookkeeping alone: a resumed run keeps the rows up to its step and drops the rest.
    from types import SimpleNamespace

    from p2law.hf import P2LawCallback

    curve = tmp_path / "c.csv"
    curve.write_text("run,n0,rho,l0,d,loss,step\nr,1.0,0.5,3.0,128.0,3.5,1\nr,1.0,0.5,3.0,256.0,3.4,2\n"
                     "r,1.0,0.5,3.0,384.0,3.3,3\n")
    cb = P2LawCallback(None, curve=curve, run="r", n0=1.0, rho=0.5, l0=3.0, tokens_per_step=128)
    state = SimpleNamespace(global_step=2, is_world_process_zero=True, num_input_tokens_seen=0)
    args = SimpleNamespace(include_num_input_tokens_seen=False)
    cb.on_train_begin(args, state, None)
    state.global_step = 3
    cb.on_evaluate(args, state, None, metrics={"eval_loss": 3.25})
    assert curve.read_text().splitlines()[1:] == [
        "r,1.0,0.5,3.0,128.0,3.5,1", "r,1.0,0.5,3.0,256.0,3.4,2", "r,1.0,0.5,3.0,384.0,3.25,3",
    ]
    # A fresh run starts the file again.
    state.global_step = 0
    cb.on_train_begin(args, state, None)
    assert curve.read_text() == "run,n0,rho,l0,d,loss,step\n"


def test_bad_inputs_are_clear_errors(pruned_24, tmp_path):
    from p2law.hf import P2LawCallback

    with pytest.raises(ValueError, match="the curve needs l0"):
        P2LawCallback(None, curve=tmp_path / "c.csv", run="r", n0=1e6, rho=0.5)
    bad = tmp_path / "pruning.json"
    bad.write_text(json.dumps({"n0": 100, "rho": 1.5}))
    with pytest.raises(ValueError, match="`rho`: must be in"):
        P2LawCallback(tmp_path, curve=tmp_path / "c.csv")
    bad.write_text(json.dumps({"format": "p2law.pruning/2", "n0": 100, "rho": 0.5}))
    with pytest.raises(ValueError, match="`format`: \"p2law.pruning/2\" is not a format"):
        P2LawCallback(tmp_path, curve=tmp_path / "c.csv")
    from safetensors.torch import save_file
    import torch

    save_file({"model.layers.0.mlp.up_proj.weight": torch.full((64, 32), 2, dtype=torch.uint8)},
              str(tmp_path / "m.safetensors"))
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        P2LawCallback(masks=tmp_path / "m.safetensors")
