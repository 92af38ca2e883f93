#!/usr/bin/env python3
"""Reference magnitude, Wanda and SparseGPT pruning for p2law-prune's golden tests.

Written from the papers' descriptions (not from the authors' code):
  * Wanda (Sun et al., 2023): score |W_ij| * ||X_j||_2 over all calibration tokens; unstructured pruning
    compares within each output row; N:M keeps the N highest of each group of M consecutive inputs.
  * SparseGPT (Frantar & Alistarh, 2023): H = 2 X^T X, dead inputs (H_jj = 0) get H_jj = 1 and zero
    weights, dampening lambda = 0.01 * mean(diag H), U = upper Cholesky factor of H^-1, columns in blocks
    of 128, mask by w^2 / U_jj^2 (unstructured: once per block over all its rows x columns, "block", or per
    row, "row"; N:M: at each group start), OBS error compensation inside the block and lazily after it.
  * Magnitude: score |W_ij|; unstructured compares over the whole matrix.

Conventions shared with the Rust crate (crates/prune/src/mask.rs):
  * a group of k scores loses floor(k * rate + 1e-9) entries (SparseGPT's code prunes one more through
    `<= sorted[int(k * rate)]`; both sides here prune exactly floor);
  * ties: the lowest scores go first, equal scores by lower (row-major flat) index -- a stable ascending
    argsort;
  * everything in float64; inputs and stored weights are float32.

Usage: python scripts/prune_reference.py [OUT.safetensors]
  (default crates/prune/tests/fixtures/prune_reference.safetensors; python from `scripts/venv.sh prune`)
"""
import json
import pathlib
import struct
import sys

import numpy as np

SEED = 20241115
BLOCK = 128
DAMP = 0.01


def prune_count(total, rate):
    return int(np.floor(total * rate + 1e-9))


def lowest(scores, k):
    """Indices of the k lowest scores, ties by index (stable sort)."""
    return np.argsort(scores, kind="stable")[:k]


def unstructured_keep(scores, rate, per_row):
    keep = np.ones(scores.shape, dtype=bool)
    if per_row:
        for r in range(scores.shape[0]):
            keep[r, lowest(scores[r], prune_count(scores.shape[1], rate))] = False
    else:
        flat = keep.reshape(-1)
        flat[lowest(scores.reshape(-1), prune_count(scores.size, rate))] = False
    return keep


def nm_keep_into(keep, scores, n, m):
    """In each row of `scores` (rows x m), mark the m - n lowest as pruned in `keep` (same shape)."""
    for r in range(scores.shape[0]):
        keep[r, lowest(scores[r], m - n)] = False


def nm_keep(scores, n, m):
    keep = np.ones(scores.shape, dtype=bool)
    for g in range(0, scores.shape[1], m):
        nm_keep_into(keep[:, g:g + m], scores[:, g:g + m], n, m)
    return keep


def magnitude(w, sparsity):
    scores = np.abs(w.astype(np.float64))
    if sparsity[0] == "unstructured":
        return unstructured_keep(scores, sparsity[1], per_row=False)
    return nm_keep(scores, *sparsity[1:])


def wanda(w, x, sparsity):
    norms = np.sqrt((x.astype(np.float64) ** 2).sum(axis=0))
    scores = np.abs(w.astype(np.float64)) * norms[None, :]
    if sparsity[0] == "unstructured":
        return unstructured_keep(scores, sparsity[1], per_row=True)
    return nm_keep(scores, *sparsity[1:])


def sparsegpt(w, x, sparsity, scope="block"):
    W = w.astype(np.float64).copy()
    X = x.astype(np.float64)
    rows, cols = W.shape
    H = 2.0 * X.T @ X
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices(cols)] += DAMP * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    U = np.linalg.cholesky(Linv.T @ Linv).T  # H^-1 = U^T U, U upper triangular
    keep = np.ones((rows, cols), dtype=bool)
    for i1 in range(0, cols, BLOCK):
        i2 = min(i1 + BLOCK, cols)
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        d1 = np.diag(U1)
        keep1 = np.ones(W1.shape, dtype=bool)
        if sparsity[0] == "unstructured":
            keep1 = unstructured_keep(W1 ** 2 / d1[None, :] ** 2, sparsity[1], per_row=(scope == "row"))
        for i in range(i2 - i1):
            if sparsity[0] == "nm" and i % sparsity[2] == 0:
                n, m = sparsity[1:]
                nm_keep_into(keep1[:, i:i + m], W1[:, i:i + m] ** 2 / d1[None, i:i + m] ** 2, n, m)
            w_col = W1[:, i].copy()
            q = np.where(keep1[:, i], w_col, 0.0)
            err = (w_col - q) / U1[i, i]
            W1[:, i:] -= np.outer(err, U1[i, i:])
            Q1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        keep[:, i1:i2] = keep1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return keep, W.astype(np.float32)


def make_case(rng, rows, cols, tokens, dead=()):
    """Weights and correlated, unevenly scaled activations (a few outlier features, like real LLMs)."""
    w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    scales = np.exp(rng.normal(0.0, 1.0, cols))
    low_rank = rng.standard_normal((tokens, 16)) @ rng.standard_normal((16, cols)) * 0.3
    x = ((low_rank + rng.standard_normal((tokens, cols))) * scales[None, :]).astype(np.float32)
    for j in dead:
        x[:, j] = 0.0
    return w, x


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}[arr.dtype]
        blob = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    tmp.replace(path)


def output_error(w, w_hat, x):
    d = (w.astype(np.float64) - w_hat.astype(np.float64)) @ x.astype(np.float64).T
    return float((d ** 2).sum())


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "crates/prune/tests/fixtures/prune_reference.safetensors"
    rng = np.random.default_rng(SEED)
    t = {}
    # Case a: two full SparseGPT blocks.
    w, x = make_case(rng, 48, 256, 512)
    t["a.w"], t["a.x"] = w, x
    t["a.magnitude_unstructured_50.mask"] = magnitude(w, ("unstructured", 0.5))
    t["a.magnitude_2_4.mask"] = magnitude(w, ("nm", 2, 4))
    t["a.wanda_unstructured_50.mask"] = wanda(w, x, ("unstructured", 0.5))
    t["a.wanda_2_4.mask"] = wanda(w, x, ("nm", 2, 4))
    t["a.wanda_4_8.mask"] = wanda(w, x, ("nm", 4, 8))
    for tag, sp, scope in [("unstructured_50", ("unstructured", 0.5), "block"), ("2_4", ("nm", 2, 4), "block"),
                           ("row_unstructured_50", ("unstructured", 0.5), "row")]:
        keep, w_hat = sparsegpt(w, x, sp, scope)
        t[f"a.sparsegpt_{tag}.mask"], t[f"a.sparsegpt_{tag}.weight"] = keep, w_hat
        plain = output_error(w, w * keep, x)
        print(f"a sparsegpt {tag}: sparsity {1 - keep.mean():.4f}, output error {output_error(w, w_hat, x):.4f} vs masked {plain:.4f}")
    # Case b: a partial last block (136 = 128 + 8), a dead input, fewer tokens than inputs (rank deficient H).
    w, x = make_case(rng, 16, 136, 96, dead=(5,))
    t["b.w"], t["b.x"] = w, x
    t["b.magnitude_unstructured_60.mask"] = magnitude(w, ("unstructured", 0.6))
    t["b.wanda_unstructured_60.mask"] = wanda(w, x, ("unstructured", 0.6))
    for tag, sp in [("unstructured_60", ("unstructured", 0.6)), ("2_4", ("nm", 2, 4))]:
        keep, w_hat = sparsegpt(w, x, sp)
        t[f"b.sparsegpt_{tag}.mask"], t[f"b.sparsegpt_{tag}.weight"] = keep, w_hat
    t = {k: (v.astype(np.uint8) if v.dtype == bool else v) for k, v in t.items()}
    meta = {"format": "pt", "generator": "scripts/prune_reference.py", "seed": str(SEED), "numpy": np.__version__}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(out, t, meta)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(t)} tensors)")


if __name__ == "__main__":
    main()
