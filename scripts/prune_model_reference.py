#!/usr/bin/env python3
"""Model-level reference for `p2law prune`: Block Influence (depth) and sequential Wanda N:M, in PyTorch with
transformers, on the same calibration windows a `p2law prune` run used (read from its pruning.json).

    python scripts/prune_model_reference.py MODEL_DIR PRUNED_DIR

Written from the papers (ShortGPT's Block Influence; Wanda, Sun et al. 2023), not from their code. Wanda is
layer by layer as in the paper: the calibration hidden states enter layer i after the already-pruned
layers 0..i-1; one forward of layer i collects the input norms of its linear layers, all of them are pruned
(N:M groups along the input dimension, the m-n lowest |W|·||X|| of each group, ties by lower index), then
the states go through the pruned layer. Prints JSON: wall time of the scoring/pruning (model loading and
evaluation excluded, as in `pruning.json`'s prune_seconds), and agreement with p2law's result (Block
Influence max |diff| and removed layers; fraction of mask entries equal).
"""
import json
import pathlib
import struct
import sys
import time

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file


def sample_offsets(stream_len, samples, seq_len, seed):
    """The window starts p2law draws (crates/prune/src/apply/calibrate.rs: SplitMix64, partial Fisher-Yates)."""
    mask = (1 << 64) - 1
    state = seed
    slots = stream_len // seq_len
    slot = list(range(slots))
    for i in range(samples):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = i + (z ^ (z >> 31)) % (slots - i)
        slot[i], slot[j] = slot[j], slot[i]
    return sorted(s * seq_len for s in slot[:samples])


def read_windows(shard, cal):
    raw = pathlib.Path(shard).read_bytes()
    # 128-byte header (crates/data/src/shard.rs): bytes per token u32 at 12, token count u64 at 16.
    bpt = struct.unpack_from("<I", raw, 12)[0]
    tokens = struct.unpack_from("<Q", raw, 16)[0]
    ids = np.frombuffer(raw, dtype={2: np.uint16, 4: np.uint32}[bpt], offset=128, count=tokens)
    offsets = cal.get("offsets") or sample_offsets(tokens, cal["samples"], cal["seq_len"], cal["seed"])
    seq_len = cal["seq_len"]
    return torch.tensor(np.stack([ids[o:o + seq_len] for o in offsets]).astype(np.int64))


def layer_inputs(model, ids, batch):
    """Hidden states entering layer 0 and the keyword arguments the model passes its layers."""
    captured = {"x": [], "kwargs": None}

    class Stop(Exception):
        pass

    def hook(_module, args, kwargs):
        captured["x"].append(args[0] if args else kwargs["hidden_states"])
        # No KV cache: layers are replayed batch by batch, and a cache would let one batch attend to another.
        skip = {"hidden_states", "cache", "past_key_values", "past_key_value", "use_cache"}
        captured["kwargs"] = {k: v for k, v in kwargs.items() if k not in skip}
        raise Stop

    handle = model.model.layers[0].register_forward_pre_hook(hook, with_kwargs=True)
    for b in range(0, ids.shape[0], batch):
        try:
            model(ids[b:b + batch], use_cache=False)
        except Stop:
            pass
    handle.remove()
    return captured["x"], captured["kwargs"]


def run_layer(layer, x, kwargs):
    out = layer(x, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def block_influence(model, xs, kwargs):
    bi = []
    for layer in model.model.layers:
        total, count, nxt = 0.0, 0, []
        for x in xs:
            y = run_layer(layer, x, kwargs)
            cos = torch.nn.functional.cosine_similarity(x.double(), y.double(), dim=-1)
            total += float((1 - cos).sum())
            count += cos.numel()
            nxt.append(y)
        bi.append(total / count)
        xs = nxt
    return bi


LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def wanda_nm(model, xs, kwargs, n, m, chosen):
    masks = {}
    for i, layer in enumerate(model.model.layers):
        names = [f"model.layers.{i}.{l}.weight" for l in LINEARS]
        todo = [l for l, name in zip(LINEARS, names) if name in chosen]
        sq = {l: None for l in todo}
        hooks = []
        for l in todo:
            mod = layer.get_submodule(l)

            def hook(_m, args, _out, l=l):
                a = args[0].reshape(-1, args[0].shape[-1]).double()
                s = (a * a).sum(0)
                sq[l] = s if sq[l] is None else sq[l] + s

            hooks.append(mod.register_forward_hook(hook))
        for x in xs:
            run_layer(layer, x, kwargs)
        for h in hooks:
            h.remove()
        for l in todo:
            mod = layer.get_submodule(l)
            w = mod.weight.data
            scores = w.double().abs() * sq[l].sqrt()[None, :]
            rows, cols = scores.shape
            g = scores.reshape(rows, cols // m, m)
            # m-n lowest of each group; stable sort gives ties to the lower index.
            order = torch.sort(g, dim=-1, stable=True).indices[..., : m - n]
            keep = torch.ones_like(g, dtype=torch.bool)
            keep.scatter_(-1, order, False)
            keep = keep.reshape(rows, cols)
            w[~keep] = 0
            masks[f"model.layers.{i}.{l}.weight"] = keep.numpy().astype(np.uint8)
        xs = [run_layer(layer, x, kwargs) for x in xs]
    return masks


def main(model_dir, pruned_dir):
    record = json.loads((pathlib.Path(pruned_dir) / "pruning.json").read_text())
    cal = record["calibration"]
    torch.set_num_threads(torch.get_num_threads())
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = read_windows(cal["source"], cal)
    out = {"method": record["method"], "criterion": record["criterion"], "ours_seconds": record["prune_seconds"],
           "threads": torch.get_num_threads(), "torch": torch.__version__}
    with torch.no_grad():
        start = time.perf_counter()
        xs, kwargs = layer_inputs(model, ids, 8)
        if record["method"] == "depth":
            bi = block_influence(model, xs, kwargs)
            out["reference_seconds"] = time.perf_counter() - start
            ours = record["details"]["block_influence"]
            out["block_influence_max_abs_diff"] = max(abs(a - b) for a, b in zip(bi, ours))
            k = len(record["details"]["removed_layers"])
            out["removed_ours"] = record["details"]["removed_layers"]
            out["removed_reference"] = sorted(int(i) for i in np.argsort(bi, kind="stable")[:k])
        elif record["method"] == "nm" and record["criterion"] == "wanda":
            n, m = (int(v) for v in record["details"]["pattern"].split(":"))
            chosen = set(record["details"]["nm_layers"])
            masks = wanda_nm(model, xs, kwargs, n, m, chosen)
            out["reference_seconds"] = time.perf_counter() - start
            ours = load_file(str(pathlib.Path(pruned_dir) / "masks.safetensors"))
            same = sum(int((ours[k] == v).sum()) for k, v in masks.items())
            total = sum(v.size for v in masks.values())
            out["mask_agreement"] = same / total
            out["layers"] = len(masks)
        else:
            sys.exit(f"no reference for method {record['method']} / {record['criterion']}")
    out["ratio_reference_over_ours"] = out["reference_seconds"] / out["ours_seconds"]
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
