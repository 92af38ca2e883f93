//! Metrics on a small two-and-a-half-run example against an independent pure-Python implementation of
//! `docs/spec/law.md` (Python 3.11, float64). The script, verbatim:
//!
//! ```python
//! import math
//! rows = [  # run, d, loss, pred
//!     (0, 1e8, 3.10, 3.05), (0, 2e8, 2.95, 2.97), (0, 4e8, 2.86, 2.88), (0, 8e8, 2.80, 2.81),
//!     (1, 1e8, 3.40, 3.46), (1, 3e8, 3.12, 3.10), (1, 9e8, 2.98, 2.99),
//!     (2, 5e8, 2.70, 2.69),
//! ]
//! y = [r[2] for r in rows]; p = [r[3] for r in rows]; n = len(rows)
//! ybar = sum(y) / n
//! ssr = sum((a - b) ** 2 for a, b in zip(y, p)); sst = sum((a - ybar) ** 2 for a in y)
//! def hub(r, d=1e-3):
//!     return 0.5 * r * r if abs(r) <= d else d * (abs(r) - 0.5 * d)
//! def asd(x):
//!     tot, k = 0.0, 0
//!     for run in {r[0] for r in rows}:
//!         pts = sorted([r for r in rows if r[0] == run], key=lambda r: r[1])
//!         for a, b in zip(pts, pts[1:]):
//!             dx = x(b[1]) - x(a[1])
//!             tot += abs((b[3] - a[3]) / dx - (b[2] - a[2]) / dx); k += 1
//!     return tot / k
//! print(1 - ssr / sst, sum(hub(math.log(a) - math.log(b)) for a, b in zip(y, p)) / n,
//!       asd(lambda d: d), asd(math.log), math.sqrt(ssr / n), sum(abs(b - a) / a for a, b in zip(y, p)) / n)
//! ```
//!
//! Rows are fed to Rust shuffled, so the per-run sort by `d` is exercised too.

use p2law_law::metrics::Metrics;
use p2law_law::Point;

const ROWS: [(usize, f64, f64, f64); 8] = [
    (1, 3e8, 3.12, 3.10),
    (0, 4e8, 2.86, 2.88),
    (2, 5e8, 2.70, 2.69),
    (0, 1e8, 3.10, 3.05),
    (1, 9e8, 2.98, 2.99),
    (0, 8e8, 2.80, 2.81),
    (1, 1e8, 3.40, 3.46),
    (0, 2e8, 2.95, 2.97),
];

#[test]
fn metrics_match_the_python_reference() {
    let points: Vec<Point> =
        ROWS.iter().map(|&(run, d, loss, _)| Point { run, vars: [1e9, 5e8, 0.5, 2.0, d, loss] }).collect();
    let preds: Vec<f64> = ROWS.iter().map(|r| r.3).collect();
    let m = Metrics::compute(&points, &preds).unwrap();
    let want = [
        ("r2", m.r2.unwrap(), 0.9773733765025491),
        ("huber", m.huber, 7.5669691093594175e-06),
        ("asd", m.asd.unwrap(), 2.3500000000000064e-10),
        ("asd_log", m.asd_log.unwrap(), 0.04310838364001398),
        ("rmse", m.rmse, 0.030822070014844983),
        ("mape", m.mape, 0.008073731559365714),
    ];
    for (name, got, want) in want {
        let rel = ((got - want) / want).abs();
        assert!(rel < 1e-12, "{name}: {got} vs Python {want} (relative difference {rel:e})");
    }
}
