#!/usr/bin/env python3
"""Model-level reference for `p2law prune`: Block Influence (depth), and Wanda and SparseGPT (unstructured and
N:M), in PyTorch with transformers, on the same calibration windows a `p2law prune` run used (read from its
pruning.json).

    python scripts/prune_model_reference.py MODEL_DIR PRUNED_DIR [--follow-ours]

Written from the papers (ShortGPT's Block Influence; Wanda, Sun et al. 2023; SparseGPT, Frantar & Alistarh
2023, Algorithm 1), not from their code. The sparse methods go layer by layer as in the papers: the
calibration hidden states enter layer i after the already-pruned layers 0..i-1; one forward of layer i
collects the input statistics of its linear layers (squared input norms for Wanda, the Gram matrix X^T X in
float64 for SparseGPT), all of them are pruned, then the states go through the pruned layer. Choices that
follow p2law so masks can be compared: Wanda unstructured compares each output row on its own and prunes
floor(rate * cols) entries per row; SparseGPT uses blocks of 128 columns, dampening 0.01 * mean(diag H), and
prunes floor(rate * rows * 128) entries of each block's OBS scores w^2 / [H^-1]_jj^2 (rate: pruning.json's
`details.layer_rate`); N:M groups lose their m-n lowest scores; every tie goes to the lower index.

With --follow-ours the states go on through p2law's pruned layer instead (its weights read from PRUNED_DIR),
so every layer is pruned from (nearly) the inputs p2law saw there, a difference of forward-pass rounding only:
mask agreement per layer then measures the two implementations of the algorithm on the same data, instead of
how far one flipped mask upstream carries downstream.

Prints JSON: wall time of the scoring/pruning (model loading and evaluation excluded, as in pruning.json's
prune_seconds), and agreement with p2law's result (Block Influence max |diff| and removed layers; the fraction
of mask entries equal, and for SparseGPT the largest relative difference of the pruned weights).
"""
import json
import math
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
    # 128-byte header (crates/formats/src/shard.rs): bytes per token u32 at 12, token count u64 at 16.
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


def prune_count(total, rate):
    """Entries to prune of `total` at `rate` (crates/prune/src/rate.rs)."""
    return int(math.floor(total * rate + 1e-9))


def lowest(scores, k):
    """Boolean mask of the k lowest entries along the last axis, ties to the lower index."""
    order = torch.sort(scores, dim=-1, stable=True).indices[..., :k]
    low = torch.zeros_like(scores, dtype=torch.bool)
    low.scatter_(-1, order, True)
    return low


def wanda(w, sq, sparsity):
    """Wanda's keep mask: |W| * ||x_j||, per output row (unstructured) or per group of m inputs (n, m)."""
    scores = w.double().abs() * sq.sqrt()[None, :]
    rows, cols = scores.shape
    if isinstance(sparsity, tuple):
        n, m = sparsity
        return ~lowest(scores.reshape(rows, cols // m, m), m - n).reshape(rows, cols), None
    return ~lowest(scores, prune_count(cols, sparsity)), None


def sparsegpt(w, gram, sparsity, block=128, damp=0.01):
    """SparseGPT (Algorithm 1 of the paper) on float64 copies: the keep mask and the updated weight."""
    W = w.double().clone()
    rows, cols = W.shape
    H = 2 * gram.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    keep = torch.ones(rows, cols, dtype=torch.bool)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        d = torch.diag(U1)
        K1 = torch.ones_like(W1, dtype=torch.bool)
        if not isinstance(sparsity, tuple):
            scores = (W1 / d[None, :]) ** 2
            K1 = ~lowest(scores.flatten(), prune_count(scores.numel(), sparsity)).reshape(W1.shape)
        Err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            if isinstance(sparsity, tuple) and i % sparsity[1] == 0:
                n, m = sparsity
                K1[:, i:i + m] = ~lowest((W1[:, i:i + m] / d[None, i:i + m]) ** 2, m - n)
            q = torch.where(K1[:, i], W1[:, i], torch.zeros_like(W1[:, i]))
            err = (W1[:, i] - q) / d[i]
            W1[:, i + 1:] -= err[:, None] * U1[i, i + 1:][None, :]
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        keep[:, i1:i2] = K1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return keep, W


def sequential(model, xs, kwargs, chosen, criterion, sparsity, follow=None):
    """Prunes the chosen linear layers layer by layer; returns keep masks and (SparseGPT) updated weights.
    `follow`: p2law's pruned weights by name, put in place of this script's before the states move on."""
    masks, weights = {}, {}
    for i, layer in enumerate(model.model.layers):
        names = {l: f"model.layers.{i}.{l}.weight" for l in LINEARS}
        todo = [l for l in LINEARS if names[l] in chosen]
        stats = {l: None for l in todo}
        hooks = []
        for l in todo:
            def hook(_m, args, _out, l=l):
                a = args[0].reshape(-1, args[0].shape[-1]).double()
                s = (a * a).sum(0) if criterion == "wanda" else a.T @ a
                stats[l] = s if stats[l] is None else stats[l] + s

            hooks.append(layer.get_submodule(l).register_forward_hook(hook))
        for x in xs:
            run_layer(layer, x, kwargs)
        for h in hooks:
            h.remove()
        for l in todo:
            w = layer.get_submodule(l).weight.data
            prune = wanda if criterion == "wanda" else sparsegpt
            keep, new = prune(w, stats[l], sparsity)
            w.copy_((new if new is not None else w.double() * keep).to(w.dtype))
            masks[names[l]] = keep.numpy().astype(np.uint8)
            if new is not None:
                weights[names[l]] = w.clone()
            if follow is not None:
                w.copy_(torch.from_numpy(follow[names[l]]).to(w.dtype))
        xs = [run_layer(layer, x, kwargs) for x in xs]
    return masks, weights


def main(model_dir, pruned_dir, *flags):
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
        elif record["method"] in ("nm", "unstructured") and record["criterion"] in ("wanda", "sparsegpt"):
            details = record["details"]
            if record["method"] == "nm":
                sparsity = tuple(int(v) for v in details["pattern"].split(":"))
                chosen = set(details["nm_layers"])
            else:
                sparsity = float(details["layer_rate"])
                chosen = {f"model.layers.{i}.{l}.weight" for i in range(len(model.model.layers)) for l in LINEARS}
            follow = None
            if "--follow-ours" in flags:
                follow = load_file(str(pathlib.Path(pruned_dir) / "model.safetensors"))
                out["inputs"] = "p2law's pruned layers (--follow-ours)"
            masks, weights = sequential(model, xs, kwargs, chosen, record["criterion"], sparsity, follow)
            out["reference_seconds"] = time.perf_counter() - start
            ours = load_file(str(pathlib.Path(pruned_dir) / "masks.safetensors"))
            same = sum(int((ours[k] == v).sum()) for k, v in masks.items())
            total = sum(v.size for v in masks.values())
            out["mask_agreement"] = same / total
            out["layers"] = len(masks)
            # By decoder layer: where disagreement starts shows whether it grows from near-ties downstream.
            by_layer = {}
            for k, v in masks.items():
                i = int(k.split(".")[2])
                e, t = by_layer.get(i, (0, 0))
                by_layer[i] = (e + int((ours[k] == v).sum()), t + v.size)
            out["mask_agreement_by_layer"] = [round(by_layer[i][0] / by_layer[i][1], 6) for i in sorted(by_layer)]
            if weights:
                pruned = load_file(str(pathlib.Path(pruned_dir) / "model.safetensors"))
                out["weight_max_rel_diff"] = max(
                    float(np.abs(pruned[k] - v.numpy()).max() / max(np.abs(v.numpy()).max(), 1e-30))
                    for k, v in weights.items())
        else:
            sys.exit(f"no reference for method {record['method']} / {record['criterion']}")
    out["ratio_reference_over_ours"] = out["reference_seconds"] / out["ours_seconds"]
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
