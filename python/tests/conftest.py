"""Shared fixtures of the p2law package's tests.

Services the tests need: the `p2law` command line (for parity; `P2LAW_BIN`, default `target/debug/p2law`)
and torch + transformers + safetensors (for the Trainer callback). A test whose service is missing is
skipped with the reason, unless `P2LAW_PY_REQUIRE` names the service (`cli`, `torch`, comma-separated):
then it fails. `scripts/py_check.sh` (CI) requires both, so nothing is silently skipped there.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {s.strip() for s in os.environ.get("P2LAW_PY_REQUIRE", "").split(",") if s.strip()}


def missing(service: str, reason: str) -> None:
    """Skips the test, or fails it when the service is required."""
    if service in REQUIRED:
        pytest.fail(f"{reason} (required by P2LAW_PY_REQUIRE={','.join(sorted(REQUIRED))})")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def p2law_bin() -> Path:
    path = Path(os.environ.get("P2LAW_BIN", REPO / "target" / "debug" / "p2law"))
    if not path.is_file() or not os.access(path, os.X_OK):
        missing("cli", f"the p2law command line is not built at {path} (cargo build -p p2law, or set P2LAW_BIN)")
    return path


class Cli:
    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([str(self.binary), *map(str, args)], capture_output=True, text=True)
        if check and out.returncode != 0:
            raise AssertionError(f"p2law {' '.join(map(str, args))} failed:\n{out.stderr}")
        return out

    def json(self, *args: str):
        import json

        return json.loads(self.run(*args, "--json").stdout)

    def error(self, *args: str) -> str:
        """The one-line error of a failing command, without `error: `."""
        out = self.run(*args, check=False)
        assert out.returncode == 1, f"expected exit code 1, got {out.returncode}: {out.stderr}"
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith("error: "), line
        return line[len("error: ") :]


@pytest.fixture(scope="session")
def cli(p2law_bin: Path) -> Cli:
    return Cli(p2law_bin)


@pytest.fixture(scope="session")
def demo_curves(cli: Cli, tmp_path_factory) -> Path:
    """The demo's curves (`p2law synth` with its defaults, as scripts/demo.sh makes them)."""
    path = tmp_path_factory.mktemp("demo") / "curves.csv"
    cli.run("synth", "-o", path)
    return path


@pytest.fixture(scope="session")
def hf_stack():
    """torch, transformers and safetensors, or a skip (a failure when `torch` is required)."""
    for mod in ("torch", "transformers", "safetensors"):
        if importlib.util.find_spec(mod) is None:
            missing(
                "torch",
                f"{mod} is not installed: the Trainer callback's tests need torch, transformers and safetensors "
                "(bash scripts/venv.sh model)",
            )
    import torch
    import transformers

    return torch, transformers
