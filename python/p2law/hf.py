"""Post-train a model that ``p2law prune`` wrote in any Hugging Face ``Trainer`` run, and get a p2law curve.

``P2LawCallback`` is a ``transformers.TrainerCallback`` that

- loads ``masks.safetensors`` from the pruned directory (2:4 / N:M and unstructured sparsity), zeroes the
  masked entries of every gradient as it is computed (a hook per masked weight, so clipping, accumulation
  and the optimizer never see them) and re-applies the masks to the weights after every optimizer step, so
  the zeros stay exactly zero on any device and in any dtype;
- writes the run's held-out losses as a p2law curve file (``run,n0,rho,l0,d,loss,step`` and ``method``,
  ``n``, ``rho_target`` when known), with ``n0``, ``rho``, ``l0`` and ``method`` from ``pruning.json``, one
  fsynced row per evaluation, so ``p2law fit``/``watch``/``report`` read it while training goes on.

Pure Python and torch: it does not need p2law's native module. Reference: docs/spec/python.md.

    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments
    from p2law.hf import P2LawCallback

    model = AutoModelForCausalLM.from_pretrained("pruned/llama-nm-0.5")
    cb = P2LawCallback("pruned/llama-nm-0.5", curve="curves/llama-nm-0.5.csv")
    args = TrainingArguments("out", eval_strategy="steps", eval_steps=50, include_num_input_tokens_seen=True)
    Trainer(model=model, args=args, train_dataset=train, eval_dataset=held_out, callbacks=[cb]).train()
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple, Union

try:
    from transformers import TrainerCallback
except ImportError as e:  # pragma: no cover - the module is useless without transformers
    raise ImportError("p2law.hf needs transformers and torch: pip install torch transformers safetensors") from e

import torch

__all__ = ["P2LawCallback", "PruningMeta", "read_pruning_json", "load_masks", "nm_violations"]

PathLike = Union[str, "os.PathLike[str]"]


class PruningMeta:
    """The run constants of a ``pruning.json`` (``docs/spec/formats.md``): ``n0`` and ``n`` (non-embedding
    counts), ``rho``, ``l0`` (``None`` when pruning measured none), ``method``, ``rho_target``."""

    def __init__(
        self,
        n0: float,
        rho: float,
        l0: Optional[float],
        method: Optional[str] = None,
        n: Optional[float] = None,
        rho_target: Optional[float] = None,
    ) -> None:
        self.n0, self.rho, self.l0, self.method, self.n, self.rho_target = n0, rho, l0, method, n, rho_target

    def __repr__(self) -> str:
        return (
            f"PruningMeta(n0={self.n0!r}, rho={self.rho!r}, l0={self.l0!r}, method={self.method!r}, "
            f"n={self.n!r}, rho_target={self.rho_target!r})"
        )


PRUNING_FORMAT = "p2law.pruning/1"
"""The ``format`` of the ``pruning.json`` this package reads (files without one, written before it, too)."""


def read_pruning_json(path: PathLike) -> PruningMeta:
    """Reads ``pruning.json`` (a file, or the pruned directory holding it) as ``p2law train`` does: counts
    may be numbers or ``{"non_embedding": …}`` objects; ``rho`` must be in [0, 1); ``format``, when present,
    must be ``PRUNING_FORMAT``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "pruning.json")
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON: {e}") from None

    def bad(field: str, msg: str) -> ValueError:
        return ValueError(f"{path}: `{field}`: {msg}")

    fmt = data.get("format")
    if fmt is not None and fmt != PRUNING_FORMAT:
        raise bad(
            "format",
            f"{json.dumps(fmt)} is not a format this package reads ({json.dumps(PRUNING_FORMAT)}, or files without "
            "`format`): upgrade p2law to read it, or check the path",
        )

    def count(field: str) -> Optional[float]:
        v = data.get(field)
        if v is None:
            return None
        if isinstance(v, dict):
            ne = v.get("non_embedding")
            if not isinstance(ne, (int, float)) or isinstance(ne, bool):
                raise bad(field, "an object without a numeric `non_embedding`")
            return float(ne)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise bad(field, 'expected a number or {"non_embedding": …}')

    def number(field: str) -> Optional[float]:
        v = data.get(field)
        if v is None:
            return None
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise bad(field, "not a number")
        return float(v)

    n0 = count("n0")
    if n0 is None:
        raise bad("n0", "missing")
    rho = number("rho")
    if rho is None:
        raise bad("rho", "missing or not a number")
    if not 0.0 <= rho < 1.0:
        raise bad("rho", "must be in [0, 1)")
    method = data.get("method")
    if method is not None and not isinstance(method, str):
        raise bad("method", "not a string")
    return PruningMeta(n0, rho, number("l0"), method, count("n"), number("target_rho"))


def load_masks(path: PathLike) -> Dict[str, torch.Tensor]:
    """Reads ``masks.safetensors`` (one ``U8`` or ``BOOL`` tensor per sparsified weight, named like it,
    ``1`` keep / ``0`` pruned) into boolean CPU tensors; any other value is an error."""
    from safetensors.torch import load_file

    path = os.fspath(path)
    out: Dict[str, torch.Tensor] = {}
    for name, t in load_file(path).items():
        if t.dtype not in (torch.uint8, torch.bool):
            raise ValueError(f"{path}: mask {name} has dtype {t.dtype}; masks are U8 or BOOL")
        if t.dtype == torch.uint8 and bool(((t != 0) & (t != 1)).any()):
            raise ValueError(f"{path}: mask {name} has values other than 0 and 1")
        out[name] = t.bool()
    return out


def nm_violations(weight: torch.Tensor, n: int = 2, m: int = 4) -> int:
    """Number of groups of ``m`` consecutive weights along each row (the input dimension) with more than
    ``n`` non-zeros: 0 when the N:M pattern holds exactly."""
    w = weight.detach()
    if w.shape[-1] % m:
        raise ValueError(f"a row of {w.shape[-1]} weights does not divide into groups of {m}")
    nonzero = (w != 0).reshape(-1, m).sum(dim=1)
    return int((nonzero > n).sum())


class P2LawCallback(TrainerCallback):
    """Keeps a pruned model's masks exact and writes its held-out losses as a p2law curve file.

    ``pruned``: the directory ``p2law prune`` wrote (``masks.safetensors``, ``pruning.json``), or ``None``.
    ``curve``: where to write the curve file (``None``: no curve). ``masks``: a masks file other than
    ``<pruned>/masks.safetensors``; ``masks=False`` keeps none. ``run``: the run's name in the curve (default:
    the pruned directory's name). ``n0``, ``rho``, ``l0``, ``method``: override ``pruning.json`` (``l0`` is
    needed when it has none). ``metric``: the evaluation metric written as ``loss`` (``eval_loss``).
    ``tokens_per_step``: tokens per optimizer step, for ``d = step × tokens_per_step``; without it ``d`` is
    the Trainer's ``num_input_tokens_seen`` (``TrainingArguments(include_num_input_tokens_seen=True)``).

    A fresh run (global step 0) truncates an existing curve file; a run resumed from a checkpoint keeps its
    rows up to the checkpoint's step and drops the later ones (they are measured again). An evaluation at
    ``d = 0`` is not written (a curve file needs ``d > 0``). Only the main process writes.
    """

    def __init__(
        self,
        pruned: Optional[PathLike] = None,
        curve: Optional[PathLike] = None,
        *,
        masks: Union[None, bool, PathLike] = None,
        run: Optional[str] = None,
        n0: Optional[float] = None,
        rho: Optional[float] = None,
        l0: Optional[float] = None,
        method: Optional[str] = None,
        metric: str = "eval_loss",
        tokens_per_step: Optional[float] = None,
    ) -> None:
        super().__init__()
        self.pruned = None if pruned is None else os.fspath(pruned)
        self.curve = None if curve is None else os.fspath(curve)
        self.metric = metric
        if tokens_per_step is not None and not (tokens_per_step > 0 and math.isfinite(tokens_per_step)):
            raise ValueError(f"tokens_per_step = {tokens_per_step} must be a positive number of tokens")
        self.tokens_per_step = tokens_per_step

        masks_path: Optional[str] = None
        if masks is None and self.pruned is not None:
            candidate = os.path.join(self.pruned, "masks.safetensors")
            masks_path = candidate if os.path.exists(candidate) else None
        elif masks not in (None, False, True):
            masks_path = os.fspath(masks)  # type: ignore[arg-type]
        elif masks is True:
            if self.pruned is None:
                raise ValueError("masks=True needs the pruned directory")
            masks_path = os.path.join(self.pruned, "masks.safetensors")
        self.masks_path = masks_path
        self.masks: Dict[str, torch.Tensor] = load_masks(masks_path) if masks_path else {}

        meta = None
        if self.pruned is not None and os.path.exists(os.path.join(self.pruned, "pruning.json")):
            meta = read_pruning_json(self.pruned)
        self.meta = meta
        self.run = run or (os.path.basename(os.path.normpath(self.pruned)) if self.pruned else None)
        self.n0 = n0 if n0 is not None else (meta.n0 if meta else None)
        self.rho = rho if rho is not None else (meta.rho if meta else None)
        self.l0 = l0 if l0 is not None else (meta.l0 if meta else None)
        self.method = method if method is not None else (meta.method if meta else None)
        self.n = meta.n if meta and n0 is None and rho is None else None
        self.rho_target = meta.rho_target if meta else None
        if self.curve is not None:
            missing = [k for k in ("run", "n0", "rho", "l0") if getattr(self, k) is None]
            if missing:
                where = f"{self.pruned}/pruning.json" if meta else "no pruning.json"
                raise ValueError(
                    f"P2LawCallback: the curve needs {', '.join(missing)} ({where} does not give "
                    f"{'it' if len(missing) == 1 else 'them'}); pass {', '.join(m + '=' for m in missing)}"
                )

        self._bound: List[Tuple[torch.nn.Parameter, torch.Tensor]] = []
        self._hooks: List[Any] = []
        self._columns: Optional[List[str]] = None

    # ------------------------------------------------------------------------------------------ masks

    def _resolve(self, model: torch.nn.Module) -> List[Tuple[str, torch.nn.Parameter, torch.Tensor]]:
        params = dict(model.named_parameters())
        out = []
        for key, mask in self.masks.items():
            p = params.get(key)
            if p is None:
                hits = [name for name in params if name.endswith("." + key)]
                if len(hits) != 1:
                    raise ValueError(
                        f"{self.masks_path}: mask {key} matches {len(hits) or 'no'} parameter(s) of the model"
                        + (f" ({', '.join(hits)})" if hits else "")
                    )
                p = params[hits[0]]
            if tuple(p.shape) != tuple(mask.shape):
                raise ValueError(
                    f"{self.masks_path}: mask {key} has shape {tuple(mask.shape)} but the weight has "
                    f"{tuple(p.shape)} (a sharded or different model?)"
                )
            out.append((key, p, mask))
        return out

    def bind(self, model: torch.nn.Module) -> None:
        """Applies the masks to ``model``'s weights and hooks its gradients (done at the start of training;
        call it yourself to use the masks outside a Trainer)."""
        self.unbind()
        for _key, p, mask in self._resolve(model):
            keep = mask.to(p.device)
            self._bound.append((p, keep))
            with torch.no_grad():
                p.masked_fill_(~keep, 0)
            if p.requires_grad:
                self._hooks.append(p.register_hook(lambda g, keep=keep: g.masked_fill(~keep.to(g.device), 0)))

    def unbind(self) -> None:
        """Removes the gradient hooks."""
        for h in self._hooks:
            h.remove()
        self._hooks, self._bound = [], []

    def apply_masks(self) -> None:
        """Zeroes the masked weights (after every optimizer step)."""
        with torch.no_grad():
            for i, (p, keep) in enumerate(self._bound):
                if keep.device != p.device:  # the model moved
                    keep = keep.to(p.device)
                    self._bound[i] = (p, keep)
                p.masked_fill_(~keep, 0)

    def masked_nonzeros(self) -> int:
        """How many masked weights are not exactly zero (0 while the masks hold)."""
        return sum(int((p.detach()[~keep.to(p.device)] != 0).sum()) for p, keep in self._bound)

    # ------------------------------------------------------------------------------------------ curve

    def _d(self, state: Any) -> float:
        if self.tokens_per_step is not None:
            return float(state.global_step) * float(self.tokens_per_step)
        return float(getattr(state, "num_input_tokens_seen", 0) or 0)

    def _start_curve(self, args: Any, state: Any) -> None:
        if self.curve is None or not state.is_world_process_zero:
            return
        if self.tokens_per_step is None and not _counts_tokens(args):
            raise ValueError(
                "P2LawCallback: the curve's d (tokens) needs tokens_per_step=… or "
                "TrainingArguments(include_num_input_tokens_seen=True)"
            )
        parent = os.path.dirname(os.path.abspath(self.curve))
        os.makedirs(parent, exist_ok=True)
        self._columns = ["run", "n0", "rho", "l0", "d", "loss", "step"]
        optional = (("method", self.method), ("n", self.n), ("rho_target", self.rho_target))
        self._columns += [c for c, v in optional if v is not None]
        kept: List[str] = []
        if state.global_step > 0 and os.path.exists(self.curve):
            # Resumed: keep the rows up to the checkpoint's step, in the existing file's columns.
            with open(self.curve, encoding="utf-8") as f:
                lines = f.read().splitlines()
            if lines:
                header = lines[0].split(",")
                step_at = header.index("step") if "step" in header else None
                self._columns = header
                for line in lines[1:]:
                    cells = line.split(",")
                    step = cells[step_at] if step_at is not None and step_at < len(cells) else ""
                    if step and int(float(step)) <= state.global_step:
                        kept.append(line)
        tmp = self.curve + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(",".join(self._columns) + "\n")
            for line in kept:
                f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.curve)

    def _write_row(self, state: Any, loss: float) -> None:
        assert self.curve is not None and self._columns is not None
        d = self._d(state)
        if not d > 0:
            return
        values = {
            "run": self.run,
            "n0": self.n0,
            "rho": self.rho,
            "l0": self.l0,
            "d": d,
            "loss": loss,
            "step": state.global_step,
            "method": self.method,
            "n": self.n,
            "rho_target": self.rho_target,
        }
        cells = []
        for c in self._columns:
            v = values.get(c)
            cells.append("" if v is None else (repr(float(v)) if isinstance(v, float) else str(v)))
        with open(self.curve, "a", encoding="utf-8") as f:
            f.write(",".join(cells) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------------------------------ events

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: D102
        if self.masks:
            if model is None:
                raise ValueError("P2LawCallback: the Trainer passed no model to on_train_begin")
            self.bind(model)
        self._start_curve(args, state)

    def on_optimizer_step(self, args, state, control, **kwargs):  # noqa: D102
        self.apply_masks()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: D102
        # Transformers without on_optimizer_step (before 4.41) still get exact masks at every step's end.
        if not _HAS_OPTIMIZER_STEP:
            self.apply_masks()

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: D102
        if self.curve is None or not state.is_world_process_zero or not metrics:
            return
        if self.metric not in metrics:
            raise ValueError(
                f"P2LawCallback: the evaluation reported no {self.metric!r} "
                f"(it has {', '.join(sorted(metrics))}); pass metric=…"
            )
        loss = float(metrics[self.metric])
        if self._columns is None:  # evaluate() called outside train()
            return
        self._write_row(state, loss)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: D102
        self.apply_masks()
        self.unbind()


_HAS_OPTIMIZER_STEP = hasattr(TrainerCallback, "on_optimizer_step")


def _counts_tokens(args: Any) -> bool:
    v = getattr(args, "include_num_input_tokens_seen", False)
    if isinstance(v, str):
        return v.lower() not in ("no", "false", "")
    return bool(v)
