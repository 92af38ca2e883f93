"""The P² Law for Python: fit post-training loss curves of pruned models, compare laws, predict and plan.

The computations are p2law's own (the Rust law engine, ``p2law._native``), with the command line's defaults,
so ``p2law.fit(...)`` gives the parameters ``p2law fit --json`` prints, to the bit, and ``Fit.to_json()`` is
the ``FIT.json`` that ``p2law fit --out`` writes. ``p2law.hf`` (a Hugging Face ``TrainerCallback``) is pure
Python and works without the native module. Reference: docs/spec/python.md.

    >>> import p2law
    >>> curves = p2law.read_curves("curves.csv")
    >>> fit = p2law.fit(curves, law="p2", holdout="data:0.2", bootstrap=100)
    >>> fit.params["beta"], fit.metrics["holdout"]["mape"]
    >>> fit.predict(n0=3e8, rho=0.35, l0=3.07, d=[1e9, 1e10])       # numpy array
    >>> fit.plan(3e8, 0.35, 3.07)["d_within"]
"""

from __future__ import annotations

import json
import os
import re
import warnings as _warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__version__ = "0.1.0"

__all__ = [
    "P2LawError",
    "P2LawWarning",
    "ExtrapolationWarning",
    "Curves",
    "Fit",
    "Comparison",
    "read_curves",
    "fit",
    "compare",
    "builtin_laws",
    "DEFAULT_COMPARE_LAWS",
]

try:  # The native module is absent when the package is used from source without a build (p2law.hf only).
    from . import _native
except ImportError as _e:  # pragma: no cover - exercised by a subprocess test
    _native = None
    _NATIVE_ERROR: Optional[ImportError] = _e

    class P2LawError(Exception):
        """A p2law failure (the native module is not built here, so only p2law.hf raises these)."""

else:
    _NATIVE_ERROR = None
    P2LawError = _native.P2LawError


class P2LawWarning(UserWarning):
    """Something p2law wants you to know that does not stop it (a parameter named like a misspelt
    variable, bootstrap replicates that failed)."""


class ExtrapolationWarning(P2LawWarning):
    """A prediction or plan asked outside the ranges the law was fitted on."""


#: The laws ``compare`` fits when none are named (``p2law compare``'s default).
DEFAULT_COMPARE_LAWS = ("p2", "p2-no-size", "p2-additive", "p2-pruned-size", "chinchilla")

PathLike = Union[str, "os.PathLike[str]"]


def _need_native() -> Any:
    if _native is None:
        raise ImportError(
            "p2law's native module (p2law._native) is not built in this installation "
            f"({_NATIVE_ERROR}); install the wheel (`maturin build -o target/wheels` then "
            "`pip install target/wheels/p2law-*.whl`, or `pip install .` with a Rust toolchain). "
            "p2law.hf works without it."
        )
    return _native


def builtin_laws() -> List[str]:
    """The built-in law names: ``p2``, ``p2-no-size``, ``p2-additive``, ``p2-pruned-size``, ``chinchilla``."""
    return list(_need_native().builtin_laws())


# ---------------------------------------------------------------------------------------------- curves


class Curves:
    """Loss curves (runs and their points), read and checked as every p2law command reads them."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def n_points(self) -> int:
        return self._native.n_points

    @property
    def n_runs(self) -> int:
        return self._native.n_runs

    def __len__(self) -> int:
        return self._native.n_points

    @property
    def runs(self) -> List[Dict[str, Any]]:
        """One dict per run: ``name, n0, rho, l0, method, model, family, rho_target`` (``None`` when unknown)."""
        return json.loads(self._native.runs_json())

    def to_csv(self) -> str:
        """The curves as curve-file CSV (``run,n0,n,rho,l0,d,loss`` and the labels)."""
        return self._native.to_csv()

    def to_dataframe(self) -> Any:
        """The points as a pandas DataFrame (needs pandas)."""
        import io

        import pandas as pd

        return pd.read_csv(io.StringIO(self.to_csv()))

    def __repr__(self) -> str:
        return f"Curves({self.n_runs} runs, {self.n_points} points)"


def read_curves(source: Any, format: Optional[str] = None) -> Curves:
    """Reads curves from a curve file, a list of files (merged, as ``p2law fit --data A B``), or a pandas
    DataFrame with the curve-file columns (``run, n0, rho, l0, d, loss``; optional ``n, method, model,
    family, rho_target``; others ignored). ``format`` (``"csv"`` or ``"jsonl"``) overrides the file
    extension. A ``Curves`` is returned as it is. Errors are ``P2LawError`` with the command line's message
    (file, line and column at fault)."""
    native = _need_native()
    if isinstance(source, Curves):
        return source
    if hasattr(source, "to_csv") and hasattr(source, "columns"):
        if format is not None:
            raise ValueError("format applies to files, not to a DataFrame")
        return Curves(native.parse_curve_csv(source.to_csv(index=False), "<dataframe>"))
    if isinstance(source, (str, bytes, os.PathLike)):
        paths = [source]
    elif isinstance(source, Iterable):
        paths = list(source)
    else:
        raise TypeError(
            f"read_curves: expected a path, a list of paths or a pandas DataFrame, not {type(source).__name__}"
        )
    paths = [os.fsdecode(p) for p in paths]
    return Curves(native.read_curve_files(paths, format))


def _curves(curves: Any) -> Curves:
    return curves if isinstance(curves, Curves) else read_curves(curves)


# ---------------------------------------------------------------------------------------------- fits


def _range(name: str, value: Any, open_sides: bool) -> str:
    """``name=lo:hi`` from a ``(lo, hi)`` pair (``None`` for an open side where allowed) or a ``"lo:hi"``."""
    if isinstance(value, str):
        return f"{name}={value}"
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a (lo, hi) pair or a 'lo:hi' string, got {value!r}") from None

    def side(x: Any) -> str:
        if x is None:
            if not open_sides:
                raise ValueError(f"{name}: a start range needs both ends, got {value!r}")
            return ""
        if isinstance(x, int) and not isinstance(x, bool):
            return str(x)  # as written on the command line: `beta=0:2`
        return repr(float(x))

    return f"{name}={side(lo)}:{side(hi)}"


def _specs(mapping: Optional[Mapping[str, Any]], open_sides: bool) -> List[str]:
    if not mapping:
        return []
    return [_range(str(k), v, open_sides) for k, v in mapping.items()]


def _warn_lint(messages: Sequence[str]) -> None:
    for m in messages:
        _warnings.warn(m, P2LawWarning, stacklevel=3)


#: A law given as one word (letters, digits, `-`, `_`) is a built-in's name: a misspelt name is an error
#: (as `p2law fit --law`), never a one-parameter expression.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _is_name(law: str) -> bool:
    return _NAME.fullmatch(law.strip()) is not None


def fit(
    curves: Any,
    law: str = "p2",
    *,
    holdout: Optional[str] = None,
    bootstrap: int = 0,
    bounds: Optional[Mapping[str, Any]] = None,
    ranges: Optional[Mapping[str, Any]] = None,
    unbounded: bool = False,
    starts: int = 256,
    seed: int = 0,
) -> "Fit":
    """Fits one law, as ``p2law fit`` does with the same options.

    ``curves``: a ``Curves`` or anything ``read_curves`` takes. ``law``: a built-in name (``p2``, …) or an
    expression of your own (variables ``n0 n rho l0 d``; every other name is a parameter; named
    ``custom``), with start ``ranges`` ``{"a": (0, 5)}`` (default ``0:1``). ``holdout``: ``data:F``,
    ``largest-n0``, ``highest-rho`` or ``where:EXPR``. ``bootstrap``: run-level replicates for intervals.
    ``bounds``: ``{"beta": (0.1, 1), "dc": (0, None)}`` (``None`` = open side; replaces a built-in's bound).
    ``unbounded``: drop every bound. ``starts``/``seed``: the multi-start grid (256, 0)."""
    native = _need_native()
    c = _curves(curves)
    if not isinstance(law, str):
        raise TypeError(f"law must be a built-in name or an expression string, not {type(law).__name__}")
    is_builtin = _is_name(law)
    if is_builtin and ranges:
        raise ValueError("ranges are for a law given as an expression, not the built-in " + repr(law))
    nf, lint, failed = native.fit(
        c._native,
        law=law.strip() if is_builtin else None,
        expr=None if is_builtin else law,
        ranges=_specs(ranges, open_sides=False),
        bounds=_specs(bounds, open_sides=True),
        holdout=holdout,
        bootstrap=int(bootstrap),
        starts=int(starts),
        seed=int(seed),
        unbounded=bool(unbounded),
    )
    _warn_lint(lint)
    if failed:
        _warnings.warn(
            f"bootstrap: {failed} of {bootstrap} replicate fits failed and are left out",
            P2LawWarning,
            stacklevel=2,
        )
    return Fit(nf)


class Fit:
    """A fitted law: the contents of a ``FIT.json`` (``p2law fit --out``) with predict and plan.

    Attributes (read from the fit file): ``law``, ``expr``, ``params`` (dict in the law's parameter order),
    ``intervals`` (``{name: (lo, hi)}`` with a bootstrap, else ``None``), ``bounds``, ``metrics``
    (``{"fit": {...}, "holdout": {...}}``), ``warnings`` (``[{"kind", "message"}]``, the checks after the
    fit), ``baselines``, ``domain``, ``n_points``, ``n_runs``, ``holdout``, ``method``, ``objective``,
    ``condition``, ``bootstrap`` (draws, or ``None``)."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self._data: Dict[str, Any] = json.loads(native.to_json())

    # -- the file's content
    def to_dict(self) -> Dict[str, Any]:
        """The fit file as a dict (a copy)."""
        return json.loads(json.dumps(self._data))

    def to_json(self) -> str:
        """The fit file's text, exactly as ``p2law fit --out`` writes it."""
        return self._native.to_json()

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Fit":
        """A fit from a ``FIT.json``'s text (checked as ``p2law predict --fit`` checks a file)."""
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return cls(_need_native().NativeFit.from_json(text))

    @classmethod
    def read(cls, path: PathLike) -> "Fit":
        """Reads a ``FIT.json`` file."""
        return cls(_need_native().NativeFit.read(os.fspath(path)))

    def write(self, path: PathLike) -> None:
        """Writes the ``FIT.json`` file (atomically), as ``p2law fit --out`` does."""
        self._native.write(os.fspath(path))

    @property
    def law(self) -> str:
        return self._data["law"]

    @property
    def expr(self) -> str:
        return self._data["expr"]

    @property
    def params(self) -> Dict[str, float]:
        return {name: self._data["params"][name] for name in self._data["param_order"]}

    @property
    def intervals(self) -> Optional[Dict[str, Tuple[float, float]]]:
        iv = self._data.get("intervals")
        if iv is None:
            return None
        return {name: tuple(iv[name]) for name in self._data["param_order"] if name in iv}

    @property
    def bounds(self) -> Dict[str, Tuple[Optional[float], Optional[float]]]:
        return {k: tuple(v) for k, v in self._data.get("bounds", {}).items()}

    @property
    def metrics(self) -> Dict[str, Any]:
        return json.loads(json.dumps(self._data["metrics"]))

    @property
    def warnings(self) -> List[Dict[str, str]]:
        return [dict(w) for w in self._data.get("warnings", [])]

    @property
    def baselines(self) -> Dict[str, Dict[str, float]]:
        return {k: dict(v) for k, v in self._data.get("baselines", {}).items()}

    @property
    def domain(self) -> Optional[Dict[str, Any]]:
        d = self._data.get("domain")
        return None if d is None else dict(d)

    @property
    def bootstrap(self) -> Optional[Dict[str, Any]]:
        b = self._data.get("bootstrap")
        return None if b is None else json.loads(json.dumps(b))

    @property
    def n_points(self) -> int:
        return self._data["n_points"]

    @property
    def n_runs(self) -> int:
        return self._data["n_runs"]

    @property
    def holdout(self) -> Optional[str]:
        return self._data.get("holdout")

    @property
    def method(self) -> str:
        return self._data["method"]

    @property
    def objective(self) -> float:
        return self._data["objective"]

    @property
    def condition(self) -> Optional[float]:
        return self._data.get("condition")

    # -- using the law
    def predict(self, n0: Any, rho: Any, l0: Any, d: Any, *, interval: bool = False) -> Any:
        """The law's loss for pruned models (``p2law predict``): ``n0``, ``rho``, ``l0``, ``d`` are scalars
        or arrays, broadcast together (numpy rules); the result has the broadcast shape (a numpy float for
        all-scalar input). ``interval=True`` (needs bootstrap draws) returns ``(loss, lo, hi)``, the 95 %
        bootstrap interval. Questions outside the fitted domain give an ``ExtrapolationWarning``."""
        import numpy as np

        arrays = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (n0, rho, l0, d)))
        shape = arrays[0].shape
        flat = [a.ravel().tolist() for a in arrays]
        loss, lo, hi, outside = self._native.predict(*flat)
        for m in outside:
            _warnings.warn(
                f"outside the fitted domain: {m}; the law is extrapolating", ExtrapolationWarning, stacklevel=2
            )

        def shaped(values: List[float]) -> Any:
            out = np.asarray(values, dtype=np.float64).reshape(shape)
            return out[()] if out.ndim == 0 else out

        if not interval:
            return shaped(loss)
        if lo is None:
            raise P2LawError("predict(interval=True): the fit has no bootstrap draws (fit with bootstrap=B)")
        return shaped(loss), shaped(lo), shaped(hi)

    def plan(
        self,
        n0: float,
        rho: float,
        l0: float,
        *,
        min_gain: float = 1e-3,
        per: float = 1e9,
        within: float = 1e-2,
    ) -> Dict[str, Any]:
        """How many post-training tokens the pruned model is worth (``p2law plan --json``'s object):
        ``d_min_gain`` (the next ``per`` tokens gain less than ``min_gain``), ``d_within`` (within ``within``
        of the plateau), ``plateau_loss``, and ``intervals`` when the fit has bootstrap draws."""
        out = json.loads(
            self._native.plan(float(n0), float(rho), float(l0), float(min_gain), float(per), float(within))
        )
        for m in out.get("outside_domain", []):
            _warnings.warn(
                f"outside the fitted domain: {m}; the law is extrapolating", ExtrapolationWarning, stacklevel=2
            )
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v:.5g}" for k, v in self.params.items())
        return f"Fit(law={self.law!r}, {params}, n_points={self.n_points})"


# ---------------------------------------------------------------------------------------------- compare


class Comparison(list):
    """``compare``'s rows (a list of dicts) when pandas is not installed, with the table's context as
    attributes: ``holdout``, ``n_points``, ``n_runs``, ``baselines``."""

    holdout: Optional[str]
    n_points: int
    n_runs: int
    baselines: Dict[str, Dict[str, float]]


METRIC_COLUMNS = ("r2", "r2_within", "huber", "asd", "asd_log", "rmse", "mape")


def compare(
    curves: Any,
    laws: Optional[Sequence[str]] = None,
    *,
    holdout: Optional[str] = None,
    ranges: Optional[Mapping[str, Any]] = None,
    unbounded: bool = False,
    starts: int = 256,
    seed: int = 0,
    as_frame: Optional[bool] = None,
) -> Any:
    """Fits several laws to the same points and scores them (``p2law compare``). ``laws``: built-in names
    (default ``DEFAULT_COMPARE_LAWS``) and at most one expression of your own (named ``custom``, fitted
    last, with start ``ranges``). One row per law and scored set (``set``: ``fit``, and ``holdout`` with a
    holdout): ``law, expr, k, set, r2, r2_within, huber, asd, asd_log, rmse, mape, params, warnings``.

    Returns a pandas DataFrame when pandas is installed (context in ``df.attrs``: ``holdout``,
    ``n_points``, ``n_runs``, ``baselines``), else a ``Comparison`` (a list of dicts with those
    attributes). ``as_frame`` forces one or the other."""
    native = _need_native()
    c = _curves(curves)
    names = list(DEFAULT_COMPARE_LAWS if laws is None else laws)
    if isinstance(laws, str):
        raise TypeError("laws must be a list of law names or expressions, not one string")
    exprs = [n for n in names if not _is_name(n)]
    if len(exprs) > 1:
        raise ValueError(f"compare takes at most one law given as an expression, got {len(exprs)}: {exprs}")
    text, lint = native.compare(
        c._native,
        [n for n in names if _is_name(n)],
        expr=exprs[0] if exprs else None,
        ranges=_specs(ranges, open_sides=False),
        holdout=holdout,
        starts=int(starts),
        seed=int(seed),
        unbounded=bool(unbounded),
    )
    _warn_lint(lint)
    result = json.loads(text)
    rows = []
    for entry in result["laws"]:
        for set_name in ("fit", "holdout"):
            m = entry["metrics"].get(set_name)
            if m is None:
                continue
            row: Dict[str, Any] = {"law": entry["law"], "expr": entry["expr"], "k": entry["n_params"], "set": set_name}
            row.update({k: m.get(k) for k in METRIC_COLUMNS})
            row["params"] = entry["params"]
            row["warnings"] = entry["warnings"]
            rows.append(row)
    context = {
        "holdout": result["holdout"],
        "n_points": result["n_points"],
        "n_runs": result["n_runs"],
        "baselines": result["baselines"],
    }
    if as_frame is None:
        try:
            import pandas  # noqa: F401

            as_frame = True
        except ImportError:
            as_frame = False
    if as_frame:
        import pandas as pd

        df = pd.DataFrame(rows, columns=["law", "expr", "k", "set", *METRIC_COLUMNS, "params", "warnings"])
        df.attrs.update(context)
        return df
    out = Comparison(rows)
    for k, v in context.items():
        setattr(out, k, v)
    return out
