//! `p2law report` end to end through the real binary: synthetic curves with two methods → report.md,
//! report.json and figures, the p2 fit recovering the parameters `synth` used; a tree of run directories with a
//! pretraining run to skip and a protocol that cannot run; paths relative to the report and the curves it
//! ships, which reproduce its fits; and the one-line errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = p2law(args);
    assert!(out.status.success(), "p2law {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The p2 entry of `group` in `report["fits"]`.
fn p2_fit<'a>(report: &'a serde_json::Value, group: &str) -> &'a serde_json::Value {
    let g = report["fits"].as_array().unwrap().iter().find(|g| g["group"] == group).unwrap();
    g["laws"].as_array().unwrap().iter().find(|l| l["law"] == "p2").unwrap()
}

#[test]
fn report_on_synthetic_curves_recovers_the_law() {
    let dir = tempfile::tempdir().unwrap();
    let curves = dir.path().join("curves/synth.csv");
    std::fs::create_dir(dir.path().join("curves")).unwrap();
    ok(&["synth", "-o", s(&curves), "--points", "15", "--methods", "depth,width"]);
    let out_dir = dir.path().join("report");
    let out = ok(&["report", s(&curves.with_file_name("")), "-o", s(&out_dir), "--starts", "32", "--json"]);

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let file = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert_eq!(
        report,
        serde_json::from_str::<serde_json::Value>(&file).unwrap(),
        "--json prints report.json"
    );
    assert_eq!(report["inputs"]["n_runs"], 24);

    // Groups: each method, then pooled; every law in each.
    let groups: Vec<&str> =
        report["fits"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["depth", "width", "pooled"]);
    for g in report["fits"].as_array().unwrap() {
        assert_eq!(g["laws"].as_array().unwrap().len(), 5, "{}", g["group"]);
    }
    // synth's truth: gamma -0.8, beta 0.4 (noise sd 0.01).
    for group in groups {
        let p2 = p2_fit(&report, group);
        assert!(p2["fit"]["r2"].as_f64().unwrap() > 0.99, "{group}: {}", p2["fit"]);
        let params = &p2["params"];
        assert!((params["gamma"].as_f64().unwrap() + 0.8).abs() < 0.05, "{group}: {params}");
        assert!((params["beta"].as_f64().unwrap() - 0.4).abs() < 0.04, "{group}: {params}");
    }
    // Three protocols per group, all run, p2 predicting the held-out points.
    let protocols = report["protocols"].as_array().unwrap();
    assert_eq!(protocols.len(), 9);
    for p in protocols {
        assert!(p.get("skipped").is_none(), "{p}");
        let p2 = p["laws"].as_array().unwrap().iter().find(|l| l["law"] == "p2").unwrap();
        assert!(p2["holdout"]["mape"].as_f64().unwrap() < 0.05, "{p}");
    }
    assert_eq!(report["plans"].as_array().unwrap().len(), 24);
    assert!(report["plans"].as_array().unwrap().iter().all(|p| p["d_within"].is_number()));
    assert_eq!(report["plan_settings"]["per"], 1e9, "a tenth of the largest d, 1e10");
    let trends = report["trends"].as_array().unwrap();
    assert_eq!(trends.len(), 3);
    // synth's truth follows the paper: loss grows with rho and falls with n0.
    assert_eq!(trends[0]["verdict"], "holds");
    assert_eq!(trends[1]["verdict"], "holds");

    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for section in
        ["## Inputs", "## Fits", "## Generalization", "## Token-budget plans", "## Trends", "## Figures"]
    {
        assert!(md.contains(section), "report.md lacks {section}");
    }
    let figures = report["figures"].as_array().unwrap();
    let names: Vec<&str> = figures.iter().map(|f| f["file"].as_str().unwrap()).collect();
    for want in ["curves_depth.png", "curves_width.png", "predicted_vs_observed.png", "residuals.png"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert_eq!(names.len(), 6);
    for (name, figure) in names.into_iter().zip(figures) {
        let png = std::fs::read(out_dir.join(name)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        assert!(md.contains(&format!("]({name})")), "report.md links {name}");
        // The same figure as SVG beside it, listed and linked.
        let svg = figure["svg"].as_str().unwrap();
        assert_eq!(svg, name.replace(".png", ".svg"));
        assert!(std::fs::read_to_string(out_dir.join(svg)).unwrap().starts_with("<svg"), "{svg}");
        assert!(md.contains(&format!("]({svg})")), "report.md links {svg}");
    }
    // Nothing else: every image the report writes is listed.
    let images = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png" || x == "svg"))
        .count();
    assert_eq!(images, 12);
}

#[test]
fn report_on_run_directories_skips_pretraining_and_unsupported_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth.csv");
    ok(&["synth", "-o", s(&synth), "--points", "10", "--n0", "1e6", "--rho", "0.25,0.5"]);
    // One run directory per run, as `p2law train` lays them out, plus a pretraining run (rho = 0).
    let text = std::fs::read_to_string(&synth).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let runs = dir.path().join("runs");
    for (i, prefix) in ["n0=1e6 rho=0.25,", "n0=1e6 rho=0.5,"].iter().enumerate() {
        let mine: Vec<&str> = rows.lines().filter(|l| l.starts_with(prefix)).collect();
        let run_dir = runs.join(format!("post{i}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(run_dir.join("curve.csv"), format!("{header}\n{}\n", mine.join("\n"))).unwrap();
    }
    std::fs::create_dir_all(runs.join("pre")).unwrap();
    std::fs::write(
        runs.join("pre/curve.csv"),
        "run,n0,rho,l0,d,loss,step,lr,train_loss,val_loss,tokens_per_s\n\
         pre,1e6,0,10.4,4096,7.1,1,0.001,7.3,7.1,5000\npre,1e6,0,10.4,8192,6.2,2,0.001,6.4,6.2,5000\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = ok(&["report", s(&runs), "-o", s(&out_dir), "--starts", "16"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 unpruned run(s) skipped"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["inputs"]["skipped_unpruned"], serde_json::json!(["pre"]));
    assert_eq!(report["inputs"]["files"].as_array().unwrap().len(), 3);
    let largest =
        report["protocols"].as_array().unwrap().iter().find(|p| p["protocol"] == "largest-n0").unwrap();
    assert!(largest["skipped"].as_str().unwrap().contains("one model size"), "{largest}");
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("`largest-n0` not run: only one model size"), "{md}");

    // --quiet prints nothing.
    let out = ok(&["report", s(&runs), "-o", s(&out_dir), "--starts", "16", "--quiet"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn report_names_files_relative_to_itself_and_its_shipped_curves_reproduce_it() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth.csv");
    ok(&["synth", "-o", s(&synth), "--points", "6", "--methods", "depth,width"]);
    // A run tree as a sweep leaves it: one directory per run, an unpruned control, the twins file.
    let text = std::fs::read_to_string(&synth).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let runs = dir.path().join("sweep/runs");
    let mut names: Vec<&str> = rows.lines().map(|l| l.split(',').next().unwrap()).collect();
    names.dedup();
    for name in &names {
        let mine: Vec<&str> = rows.lines().filter(|l| l.starts_with(&format!("{name},"))).collect();
        let run_dir = runs.join(name.replace(' ', "-"));
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(run_dir.join("curve.csv"), format!("{header}\n{}\n", mine.join("\n"))).unwrap();
    }
    std::fs::create_dir_all(runs.join("m-control")).unwrap();
    std::fs::write(
        runs.join("m-control/curve.csv"),
        "run,n0,rho,l0,d,loss,method\nm-control,1e8,0,3.3,1e7,3.31,control\nm-control,1e8,0,3.3,1e8,3.3,control\n",
    )
    .unwrap();
    std::fs::write(
        runs.join("twins.json"),
        r#"{"twins": [{"run": "m-depth-r0.3", "same_as": "m-depth-r0.2", "method": "depth", "rho": 0.2}]}"#,
    )
    .unwrap();
    let out_dir = dir.path().join("sweep/report");
    ok(&["report", s(&runs), "-o", s(&out_dir), "--starts", "8"]);
    let json_text = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    let tmp = dir.path().to_str().unwrap();
    assert!(!json_text.contains(tmp) && !md.contains(tmp), "an absolute path of this machine in the report");
    let report: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let inputs = &report["inputs"];
    assert_eq!(inputs["source"], "../runs");
    assert_eq!(inputs["twins_file"], "../runs/twins.json");
    let files = inputs["files"].as_array().unwrap();
    let shipped = inputs["shipped"].as_array().unwrap();
    assert_eq!((files.len(), shipped.len()), (names.len() + 1, names.len() + 1));
    for (file, copy) in files.iter().zip(shipped) {
        let (file, copy) = (file.as_str().unwrap(), copy.as_str().unwrap());
        assert!(file.starts_with("../runs/") && file.ends_with("/curve.csv"), "{file}");
        // Named after the run directory, byte for byte the file read.
        let run_dir = file.trim_start_matches("../runs/").trim_end_matches("/curve.csv");
        assert_eq!(copy, format!("curves/{run_dir}.csv"));
        assert_eq!(std::fs::read(out_dir.join(file)).unwrap(), std::fs::read(out_dir.join(copy)).unwrap());
    }
    let listed = std::fs::read_dir(out_dir.join("curves")).unwrap().count();
    assert_eq!(listed, names.len() + 2, "one file per run and the twins file");
    assert!(md.contains("source: `../runs`") && md.contains("## Regime"), "{md}");
    // The control is out of the fits but in the regime checks, and the twin fails the distinct-rates check.
    assert_eq!(inputs["skipped_unpruned"], serde_json::json!(["m-control"]));
    let regime = &report["regime"];
    assert_eq!(regime["in_regime"], false);
    let distinct =
        regime["checks"].as_array().unwrap().iter().find(|c| c["name"] == "distinct_rates").unwrap();
    assert_eq!(distinct["status"], "fails");
    assert!(regime["models"].as_array().unwrap().iter().any(|m| m["control"]["run"] == "m-control"));
    // Only one of the three sizes has a control, so the drift check cannot run on all of them.
    assert!(
        md.contains("**Not in regime** — fails: distinct_rates; cannot run: control_drift."),
        "{}",
        &md[md.find("## Regime").unwrap()..md.find("## Inputs").unwrap()]
    );

    // The shipped curves alone give the same fits, protocols and regime.
    let again_dir = dir.path().join("again");
    ok(&["report", s(&out_dir.join("curves")), "-o", s(&again_dir), "--starts", "8"]);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again_dir.join("report.json")).unwrap()).unwrap();
    for key in ["fits", "protocols", "plans", "trends", "regime"] {
        assert_eq!(report[key], again[key], "{key}");
    }
    assert_eq!(again["inputs"]["source"], "../sweep/report/curves");
    assert_eq!(again["inputs"]["shipped"], report["inputs"]["shipped"]);
    // And reporting on the shipped folder into its own report leaves it as it is.
    ok(&["report", s(&out_dir.join("curves")), "-o", s(&out_dir), "--starts", "8"]);
    assert_eq!(std::fs::read_dir(out_dir.join("curves")).unwrap().count(), names.len() + 2);
    let own: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(own["fits"], report["fits"]);
    assert_eq!(own["inputs"]["source"], "curves");
}

#[test]
fn bad_input_is_a_one_line_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out_dir = dir.path().join("out");
    for (input, want) in
        [(empty.clone(), "no curve files found"), (dir.path().join("missing"), "cannot read")]
    {
        let out = p2law(&["report", s(&input), "-o", s(&out_dir)]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(s(&input)) && err.contains(want), "{err}");
        assert!(out.stdout.is_empty());
    }
    // A malformed curve file: the reader's error, naming file and line.
    std::fs::write(empty.join("bad.csv"), "run,n0,rho,l0,d,loss\na,1e6,0.5,3,x,3\n").unwrap();
    let out = p2law(&["report", s(&empty), "-o", s(&out_dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.csv:2") && err.contains("`d`"), "{err}");
    assert!(!out_dir.exists(), "nothing written on bad input");
}
