//! Writes fit plots in both formats from synthetic P²-shaped curves and checks the files.

use p2law_law::{Curves, Point, Run, Var};
use p2law_report::{plot_fit, ReportError};

/// Five runs of two sizes and two methods from `l0 + (1/rho)^0.3 · (20 / d^0.25 + 0.1)`, with a small
/// deterministic wiggle as noise; the last two points of each run held out.
fn curves() -> (Curves, Vec<bool>) {
    let mut c = Curves::default();
    let mut held = Vec::new();
    let runs = [
        ("depth", 1.2e9, 0.25),
        ("depth", 1.2e9, 0.375),
        ("width", 1.2e9, 0.5),
        ("depth", 3e8, 0.25),
        ("width", 3e8, 0.25),
    ];
    for (r, (method, n0, rho)) in runs.into_iter().enumerate() {
        let name = format!("{method} n0={n0:e} rho={rho}");
        c.runs.push(Run { name, n0, rho, l0: 2.3, method: Some(method.into()), ..Run::default() });
        for k in 0..12 {
            let d = 5e7 * 1.5f64.powi(k);
            let wiggle = 0.01 * ((k * 7) as f64 + (r * 3) as f64).sin();
            let loss = law(rho, d) + wiggle;
            c.points.push(Point { run: r, vars: [n0, n0 * (1.0 - rho), rho, 2.3, d, loss] });
            held.push(k >= 10);
        }
    }
    (c, held)
}

fn law(rho: f64, d: f64) -> f64 {
    2.3 + (1.0 / rho).powf(0.3) * (20.0 / d.powf(0.25) + 0.1)
}

#[test]
fn writes_png_and_svg() {
    let (c, held) = curves();
    let dir = tempfile::tempdir().unwrap();
    let predict = |p: &Point| law(p.get(Var::Rho), p.d());
    let png = dir.path().join("fit.png");
    let svg = dir.path().join("fit.svg");
    plot_fit(&c, &held, &predict, &png, "P² law fit (synthetic), last 2 points held out").unwrap();
    plot_fit(&c, &held, &predict, &svg, "P² law fit (synthetic)").unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 10_000, "PNG is {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    // A panel per size, smallest first; the legend names each rate once, both methods and both line styles.
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} in the SVG"));
    assert!(at("N0 = 3.0e8") < at("N0 = 1.2e9"));
    for label in ["ρ = 0.25", "ρ = 0.375", "ρ = 0.5", "depth", "width", "extrapolated", "held out"] {
        assert_eq!(text.matches(&format!(">\n{label}\n<")).count(), 1, "{label}");
    }
    // Only the two plots: no temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // To look at the plots: P2LAW_KEEP_PLOTS=/some/dir cargo test -p p2law-report
    if let Ok(keep) = std::env::var("P2LAW_KEEP_PLOTS") {
        std::fs::copy(&png, std::path::Path::new(&keep).join("fit.png")).unwrap();
        std::fs::copy(&svg, std::path::Path::new(&keep).join("fit.svg")).unwrap();
    }
}

#[test]
fn bad_requests_are_errors() {
    let (c, held) = curves();
    let dir = tempfile::tempdir().unwrap();
    let predict = |_: &Point| 3.0;
    let r = plot_fit(&c, &held, &predict, &dir.path().join("fit.gif"), "t");
    assert!(matches!(r, Err(ReportError::UnknownFormat { .. })));
    let r = plot_fit(&c, &held[1..], &predict, &dir.path().join("fit.png"), "t");
    assert!(matches!(r, Err(ReportError::HeldLength { .. })));
    let r = plot_fit(&Curves::default(), &[], &predict, &dir.path().join("fit.png"), "t");
    assert!(matches!(r, Err(ReportError::Empty { .. })));
    // A law that is NaN everywhere still plots the data.
    plot_fit(&c, &[], &|_: &Point| f64::NAN, &dir.path().join("nan.svg"), "t").unwrap();
}
