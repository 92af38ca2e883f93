"""The law engine from Python against the `p2law` command line on the same curves: fits (parameters to
1e-9, in fact every key of FIT.json equal), FIT.json round trips, predictions on numpy arrays, plans,
comparisons, and errors that carry the command line's messages."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import p2law

from conftest import REPO


def assert_params_close(a: dict, b: dict, rel: float = 1e-9) -> None:
    assert list(a) == list(b) or set(a) == set(b)
    for k in a:
        assert math.isclose(a[k], b[k], rel_tol=rel, abs_tol=1e-12), (k, a[k], b[k])


def test_the_package_under_test_is_the_built_wheel():
    # Not the source tree (python/p2law has no native module): the tests exercise what pip installed.
    assert p2law._native is not None
    assert Path(p2law.__file__).resolve().parent != (REPO / "python" / "p2law").resolve(), p2law.__file__


def test_fit_on_the_demo_curves_equals_the_command_line(cli, demo_curves):
    want = cli.json("fit", "--data", demo_curves)
    got = p2law.fit(p2law.read_curves(demo_curves), law="p2")
    assert_params_close(got.params, want["params"])
    # Not only close: the same computation, so the whole fit file is equal.
    assert got.params == want["params"]
    assert json.loads(got.to_json()) == want
    assert list(got.params) == want["param_order"]
    assert got.n_points == 480 and got.n_runs == 12
    assert got.metrics["fit"]["r2"] > 0.99


def test_holdout_bootstrap_and_bounds_match_the_command_line(cli, demo_curves, tmp_path):
    out = tmp_path / "cli.json"
    want = cli.json(
        "fit", "--data", demo_curves, "--holdout", "data:0.2", "--bootstrap", "6", "--starts", "32",
        "--seed", "3", "--bound", "beta=0.1:1", "--bound", "dc=0:", "--out", out,
    )
    got = p2law.fit(
        demo_curves, holdout="data:0.2", bootstrap=6, starts=32, seed=3, bounds={"beta": (0.1, 1), "dc": (0, None)}
    )
    assert json.loads(got.to_json()) == want
    assert got.bounds["beta"] == (0.1, 1.0) and got.bounds["dc"] == (0.0, None)
    assert got.bootstrap["resamples"] == 6 and got.intervals is not None
    assert set(got.baselines) == set(want["baselines"]) and got.metrics["holdout"] is not None
    # The file `p2law fit --out` wrote is the text Fit.to_json() gives, byte for byte.
    assert out.read_text() == got.to_json()


def test_a_law_of_ones_own_matches_the_command_line(cli, demo_curves):
    expr = "l0 + a*rho^g + b/d^c"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no lint warning for these names
        got = p2law.fit(demo_curves, law=expr, ranges={"a": (0, 5)}, starts=32)
    want = cli.json("fit", "--data", demo_curves, "--law-expr", expr, "--param", "a=0:5", "--starts", "32")
    assert json.loads(got.to_json()) == want
    assert got.law == "custom" and list(got.params) == ["a", "g", "b", "c"]


def test_unbounded_matches_the_command_line(cli, demo_curves):
    got = p2law.fit(demo_curves, law="p2-no-size", unbounded=True, starts=16)
    want = cli.json("fit", "--data", demo_curves, "--law", "p2-no-size", "--unbounded", "--starts", "16")
    assert json.loads(got.to_json()) == want
    assert got.bounds == {}


def test_fit_json_round_trip(cli, demo_curves, tmp_path):
    fit = p2law.fit(demo_curves, bootstrap=4, starts=16)
    text = fit.to_json()
    again = p2law.Fit.from_json(text)
    assert again.to_json() == text and again.params == fit.params
    path = tmp_path / "fit.json"
    fit.write(path)
    assert path.read_text() == text
    read = p2law.Fit.read(path)
    assert read.to_dict() == fit.to_dict()
    # The command line reads what Python wrote, and Python reads what the command line wrote.
    cli_pred = cli.json("predict", "--fit", path, "--n0", "3e8", "--rho", "0.35", "--l0", "3.07", "--d", "1e9")
    assert cli_pred["predictions"][0]["loss"] == fit.predict(3e8, 0.35, 3.07, 1e9)
    cli_out = tmp_path / "cli.json"
    cli.run("fit", "--data", demo_curves, "--starts", "16", "--out", cli_out)
    assert p2law.Fit.read(cli_out).to_json() == cli_out.read_text()


def test_predict_broadcasts_numpy_arrays_and_equals_the_command_line(cli, demo_curves, tmp_path):
    fit = p2law.fit(demo_curves, bootstrap=8, starts=16)
    path = tmp_path / "fit.json"
    fit.write(path)
    d = np.array([1e7, 1e8, 1e9])
    rho = np.array([[0.2], [0.5]])
    loss = fit.predict(n0=3e8, rho=rho, l0=3.07, d=d)
    assert isinstance(loss, np.ndarray) and loss.shape == (2, 3) and loss.dtype == np.float64
    for i, r in enumerate([0.2, 0.5]):
        want = cli.json(
            "predict", "--fit", path, "--n0", "3e8", "--rho", str(r), "--l0", "3.07",
            *[a for x in d for a in ("--d", repr(float(x)))],
        )
        assert [p["loss"] for p in want["predictions"]] == loss[i].tolist()
        assert [p["lo"] for p in want["predictions"]] == fit.predict(3e8, r, 3.07, d, interval=True)[1].tolist()
    # Loss falls with tokens and rises with the rate.
    assert np.all(np.diff(loss, axis=1) < 0) and np.all(loss[1] > loss[0])
    scalar = fit.predict(3e8, 0.2, 3.07, 1e9)
    assert isinstance(scalar, np.floating) and scalar == loss[0, 2]
    value, lo, hi = fit.predict(3e8, 0.2, 3.07, d, interval=True)
    assert np.all(lo <= value) and np.all(value <= hi)


def test_predict_warns_outside_the_fitted_domain(demo_curves):
    fit = p2law.fit(demo_curves, starts=16)
    with pytest.warns(p2law.ExtrapolationWarning, match="n0 = 1.00e10 is 10× the largest fitted n0"):
        fit.predict(1e10, 0.35, 3.0, 1e8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.predict(3e8, 0.35, 3.0, 1e8)  # inside: no warning


def test_plan_equals_the_command_line(cli, demo_curves, tmp_path):
    fit = p2law.fit(demo_curves, bootstrap=6, starts=16)
    path = tmp_path / "fit.json"
    fit.write(path)
    want = cli.json("plan", "--fit", path, "--n0", "3e8", "--rho", "0.35", "--l0", "3.07", "--within", "0.02")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", p2law.ExtrapolationWarning)
        got = fit.plan(3e8, 0.35, 3.07, within=0.02)
    assert got == want
    assert got["d_within"] > 0 and "intervals" in got


def test_compare_equals_the_command_line(cli, demo_curves):
    want = cli.json("compare", "--data", demo_curves, "--holdout", "highest-rho", "--starts", "16")
    rows = p2law.compare(demo_curves, holdout="highest-rho", starts=16, as_frame=False)
    assert isinstance(rows, p2law.Comparison) and rows.baselines == want["baselines"]
    assert (rows.n_points, rows.n_runs, rows.holdout) == (480, 12, "highest-rho")
    assert [r["law"] for r in rows] == [x["law"] for x in want["laws"] for _ in ("fit", "holdout")]
    for entry in want["laws"]:
        mine = [r for r in rows if r["law"] == entry["law"]]
        assert [r["set"] for r in mine] == ["fit", "holdout"]
        assert mine[0]["params"] == entry["params"] and mine[0]["warnings"] == entry["warnings"]
        for r in mine:
            assert {k: r[k] for k in p2law.compare.__globals__["METRIC_COLUMNS"]} == entry["metrics"][r["set"]]


def test_compare_returns_a_dataframe_with_pandas(demo_curves):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (scripts/requirements/py.txt has it)")
    df = p2law.compare(demo_curves, laws=["p2", "chinchilla", "l0 + b/d^c"], starts=8)
    assert isinstance(df, pd.DataFrame)
    assert df["law"].tolist() == ["p2", "chinchilla", "custom"] and (df["set"] == "fit").all()
    assert df.attrs["n_points"] == 480 and df.attrs["holdout"] is None
    assert df.loc[df["law"] == "p2", "r2"].item() > 0.99


def test_read_curves_from_a_dataframe_equals_the_file(demo_curves):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (scripts/requirements/py.txt has it)")
    from_file = p2law.read_curves(demo_curves)
    df = pd.read_csv(demo_curves)
    from_frame = p2law.read_curves(df)
    assert from_frame.to_csv() == from_file.to_csv()
    assert from_file.n_runs == 12 and len(from_file) == 480
    assert from_file.runs[0]["n0"] == 1e8 and set(from_file.runs[0]) >= {"name", "rho", "l0", "method"}
    assert p2law.fit(df, starts=16).params == p2law.fit(from_file, starts=16).params
    back = from_file.to_dataframe()
    assert list(back.columns[:7]) == ["run", "n0", "n", "rho", "l0", "d", "loss"] and len(back) == 480


def test_several_files_merge_like_the_command_line(cli, demo_curves, tmp_path):
    lines = demo_curves.read_text().splitlines()
    a, b = tmp_path / "a.csv", tmp_path / "b.jsonl"
    a.write_text("\n".join(lines[:200]) + "\n")
    header = lines[0].split(",")
    with b.open("w") as f:
        for line in lines[200:]:
            f.write(json.dumps(dict(zip(header, line.split(",")))) + "\n")
    merged = p2law.read_curves([a, b])
    assert len(merged) == 480 and merged.to_csv() == p2law.read_curves(demo_curves).to_csv()
    want = cli.json("fit", "--data", a, b, "--starts", "16")
    assert p2law.fit(merged, starts=16).params == want["params"]


def bad_curves(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("run,n0,rho,l0,d\na,1e9,0.5,2.1,1e8\n")
    return path


def test_errors_carry_the_command_line_messages(cli, demo_curves, tmp_path):
    bad = bad_curves(tmp_path)
    with pytest.raises(p2law.P2LawError) as e:
        p2law.read_curves(bad)
    assert str(e.value) == cli.error("fit", "--data", bad)
    assert "missing required column `loss`" in str(e.value)

    dup = tmp_path / "dup.csv"
    dup.write_text("run,n0,rho,l0,d,loss\na,1e9,0.5,2.1,1e8,2.6\na,1e9,0.5,2.1,1e8,2.5\n")
    with pytest.raises(p2law.P2LawError) as e:
        p2law.read_curves(dup)
    assert str(e.value) == cli.error("fit", "--data", dup)

    with pytest.raises(p2law.P2LawError) as e:
        p2law.fit(demo_curves, law="p3")
    assert str(e.value) == cli.error("fit", "--data", demo_curves, "--law", "p3")

    with pytest.raises(p2law.P2LawError) as e:
        p2law.fit(demo_curves, law="l0 + a*(d")
    assert str(e.value) == cli.error("fit", "--data", demo_curves, "--law-expr", "l0 + a*(d")

    with pytest.raises(p2law.P2LawError) as e:
        p2law.fit(demo_curves, bounds={"zeta": (0, 1)})
    assert str(e.value) == cli.error("fit", "--data", demo_curves, "--bound", "zeta=0:1")

    with pytest.raises(p2law.P2LawError, match="holdout \"data:2\": the fraction must be a number"):
        p2law.fit(demo_curves, holdout="data:2")
    assert "the fraction must be a number" in cli.error("fit", "--data", demo_curves, "--holdout", "data:2")

    missing = tmp_path / "nope.csv"
    with pytest.raises(p2law.P2LawError) as e:
        p2law.read_curves(missing)
    assert str(e.value).startswith(f"{missing}: cannot read: ")
    assert cli.error("fit", "--data", missing).startswith(str(e.value))


def test_bad_fit_files_and_questions_are_errors(cli, demo_curves, tmp_path):
    with pytest.raises(p2law.P2LawError, match="not a p2law fit file"):
        p2law.Fit.from_json('{"law": "p2"}')
    fit = p2law.fit(demo_curves, starts=16)
    doc = fit.to_dict()
    doc["param_order"] = list(reversed(doc["param_order"]))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(p2law.P2LawError) as e:
        p2law.Fit.read(path)
    assert str(e.value) == cli.error("predict", "--fit", path, "--n0", "1e8", "--rho", "0.3", "--l0", "3", "--d", "1e9")
    with pytest.raises(p2law.P2LawError, match="rho = 1.5 must be strictly between 0 and 1"):
        fit.predict(1e8, np.array([0.3, 1.5]), 3.0, 1e9)
    with pytest.raises(p2law.P2LawError, match="d = -1 must be a positive number of tokens"):
        fit.predict(1e8, 0.3, 3.0, [1e9, -1.0])
    with pytest.raises(p2law.P2LawError, match="the fit has no bootstrap draws"):
        fit.predict(1e8, 0.3, 3.0, 1e9, interval=True)
    with pytest.raises(p2law.P2LawError, match="n0 = 0 must be a positive parameter count"):
        fit.plan(0, 0.3, 3.0)
    with pytest.raises(ValueError, match="broadcast"):
        fit.predict([1e8, 2e8], 0.3, 3.0, [1e9, 1e10, 1e11])
    with pytest.raises(TypeError):
        p2law.read_curves(42)


def test_without_the_native_module_hf_imports_and_the_law_api_says_why():
    # The source tree has no native module: what a user gets where no wheel was built.
    code = (
        "import importlib.util, p2law\n"
        "assert p2law._native is None\n"
        "try:\n    p2law.fit('x.csv')\nexcept ImportError as e:\n    print('ImportError:', e)\n"
        "if all(importlib.util.find_spec(m) for m in ('torch', 'transformers', 'safetensors')):\n"
        "    import p2law.hf\n    print('hf ok', p2law.hf.P2LawCallback.__name__)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "ImportError: p2law's native module (p2law._native) is not built" in out.stdout
