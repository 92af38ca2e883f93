"""SciPy side of bench/fit_vs_scipy: the same data, starts and objectives as crates/law/examples/fit_bench.rs.

(a) one Levenberg-Marquardt fit of p2 from lm_start.csv: scipy.optimize.curve_fit(method="lm") with the
    analytic Jacobian (MINPACK lmder, default tolerances);
(b) the robust fit: sum of Huber(delta=1e-3) on ln(loss) - ln(pred), scipy.optimize.minimize(
    method="L-BFGS-B", jac=True) with the analytic gradient and p2's bounds (the same as
    crates/law/src/laws.rs) from every row of starts.csv; best kept.
Prints JSON with wall and CPU seconds and objectives.  Usage: python scipy_side.py DIR
"""
import csv
import json
import sys
import time

import numpy as np
from scipy.optimize import curve_fit, minimize

DELTA = 1e-3
# p2's parameter bounds in the law crate (gamma, delta, nc, alpha, dc, beta, e); None is an open side.
BOUNDS = [(-4, 4), (-1, 1), (None, None), (-2, 2), (0, None), (0, 2), (None, None)]


def load(d):
    with open(f"{d}/curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    col = lambda k: np.array([float(r[k]) for r in rows])
    return np.vstack([col("n0"), col("rho"), col("l0"), col("d")]), col("loss")


def p2_and_jac(x, p):
    """p2 = l0 + rho^-g * n0^-dl * (nc/n0^a + dc/d^b + e) and its 7 partial derivatives."""
    n0, rho, l0, d = x
    g, dl, nc, a, dc, b, e = p
    ln_rho, ln_n0, ln_d = np.log(rho), np.log(n0), np.log(d)
    amp = np.exp(-g * ln_rho - dl * ln_n0)
    tn, td = np.exp(-a * ln_n0), np.exp(-b * ln_d)
    inner = nc * tn + dc * td + e
    pred = l0 + amp * inner
    jac = np.empty((len(l0), 7))
    jac[:, 0] = -ln_rho * amp * inner
    jac[:, 1] = -ln_n0 * amp * inner
    jac[:, 2] = amp * tn
    jac[:, 3] = -amp * nc * tn * ln_n0
    jac[:, 4] = amp * td
    jac[:, 5] = -amp * dc * td * ln_d
    jac[:, 6] = amp
    return pred, jac


def huber_obj(p, x, ln_y):
    pred, jac = p2_and_jac(x, p)
    if not np.all(pred > 0) or not np.all(np.isfinite(pred)):
        return np.inf, np.zeros_like(p)
    r = ln_y - np.log(pred)
    small = np.abs(r) <= DELTA
    h = np.where(small, 0.5 * r * r, DELTA * (np.abs(r) - 0.5 * DELTA))
    dh = np.where(small, r, DELTA * np.sign(r))
    return h.sum(), -(dh / pred) @ jac


def main(d):
    x, y = load(d)
    ln_y = np.log(y)
    lm_start = np.loadtxt(f"{d}/lm_start.csv", delimiter=",", skiprows=1)
    starts = np.loadtxt(f"{d}/starts.csv", delimiter=",", skiprows=1, ndmin=2)
    out = {"points": len(y), "starts": len(starts)}

    f = lambda xx, *p: p2_and_jac(xx, p)[0]
    j = lambda xx, *p: p2_and_jac(xx, p)[1]
    w, c = time.perf_counter(), time.process_time()
    popt, _ = curve_fit(f, x, y, p0=lm_start, jac=j, method="lm")
    lm_wall, lm_cpu = time.perf_counter() - w, time.process_time() - c
    r = f(x, *popt) - y
    out["lm"] = {"wall_s": lm_wall, "cpu_s": lm_cpu, "half_sse": 0.5 * float(r @ r), "params": popt.tolist()}

    w, c = time.perf_counter(), time.process_time()
    best, evals, failed = None, 0, 0
    for s in starts:
        with np.errstate(all="ignore"):
            res = minimize(huber_obj, s, args=(x, ln_y), jac=True, method="L-BFGS-B", bounds=BOUNDS)
        evals += res.nfev
        if not np.isfinite(res.fun):
            failed += 1
            continue
        if best is None or res.fun < best.fun:
            best = res
    rb_wall, rb_cpu = time.perf_counter() - w, time.process_time() - c
    out["robust"] = {
        "wall_s": rb_wall,
        "cpu_s": rb_cpu,
        "huber": float(best.fun) if best is not None else None,
        "params": best.x.tolist() if best is not None else None,
        "evaluations": int(evals),
        "non_finite_starts": failed,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
