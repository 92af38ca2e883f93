//! The law subcommands end to end through the real binary: synth → fit (holdout, bootstrap, plot, FIT.json) →
//! predict / plan, compare (with a law of the user's own), the warnings for parameters named like misspelt
//! variables, and the one-line errors a user sees for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn p2law(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2law")).args(args).output().unwrap()
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = p2law(args);
    assert!(out.status.success(), "p2law {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON ({e})"))
}

/// The error line of a command that must fail.
fn error_of(args: &[&str]) -> String {
    let out = p2law(args);
    assert!(!out.status.success(), "p2law {args:?} should have failed");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "error is one line: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    err
}

fn synth(dir: &Path) -> String {
    let curves = dir.join("curves.csv");
    let out = p2law(&["synth", "-o", curves.to_str().unwrap(), "--points", "20"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    curves.to_str().unwrap().to_string()
}

#[test]
fn fit_then_predict_and_plan_from_the_fit_file() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let fit_json = dir.path().join("fit.json");
    let plot = dir.path().join("fit.png");
    let fit = ok_json(&[
        "fit",
        "--data",
        &curves,
        "--law",
        "p2",
        "--holdout",
        "data:0.2",
        "--bootstrap",
        "8",
        "--starts",
        "32",
        "--out",
        fit_json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--json",
    ]);
    // The spec's keys (docs/spec/formats.md, FIT.json).
    for key in ["law", "expr", "params", "intervals", "metrics", "n_points", "n_runs"] {
        assert!(fit.get(key).is_some(), "missing {key} in {fit}");
    }
    assert_eq!(fit["n_runs"], 12);
    let holdout = &fit["metrics"]["holdout"];
    for key in ["r2", "huber", "asd", "asd_log", "rmse", "mape"] {
        assert!(holdout[key].is_number(), "holdout.{key} in {holdout}");
    }
    assert!(holdout["r2"].as_f64().unwrap() > 0.99, "{holdout}");
    // synth's truth: gamma -0.8, beta 0.4.
    assert!((fit["params"]["beta"].as_f64().unwrap() - 0.4).abs() < 0.04, "{}", fit["params"]);
    let png = std::fs::read(&plot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let fit_path = fit_json.to_str().unwrap();
    let model = ["--n0", "3e8", "--rho", "0.35", "--l0", "3.1"];
    let mut args = vec!["predict", "--fit", fit_path, "--d", "1e9", "--d", "1e10", "--json"];
    args.extend(model);
    let pred = ok_json(&args);
    let p = pred["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    let (l9, l10) = (p[0]["loss"].as_f64().unwrap(), p[1]["loss"].as_f64().unwrap());
    assert!(l10 < l9, "more tokens, lower loss: {l9} vs {l10}");
    assert!(p[0]["lo"].as_f64().unwrap() <= l9 && l9 <= p[0]["hi"].as_f64().unwrap(), "{pred}");

    let mut args = vec!["plan", "--fit", fit_path, "--json"];
    args.extend(model);
    let plan = ok_json(&args);
    let plateau = plan["plateau_loss"].as_f64().unwrap();
    assert!(plateau > 3.1 && plateau < l10, "{plan}");
    assert!(plan["d_within"].as_f64().unwrap() > 1e6, "{plan}");
    assert!(plan["intervals"]["d_min_gain"].is_array(), "{plan}");
}

#[test]
fn compare_ranks_p2_above_the_pruned_size_rival() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let table = ok_json(&[
        "compare",
        "--data",
        &curves,
        "--laws",
        "p2,p2-pruned-size",
        "--holdout",
        "largest-n0",
        "--starts",
        "64",
        "--json",
    ]);
    let laws = table["laws"].as_array().unwrap();
    let r2 = |i: usize| laws[i]["metrics"]["holdout"]["r2"].as_f64().unwrap();
    assert_eq!(laws[0]["law"], "p2");
    assert!(r2(0) > r2(1), "p2 {} vs rival {}", r2(0), r2(1));
}

#[test]
fn a_custom_law_expression_fits() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let plot = dir.path().join("fit.svg");
    let fit = ok_json(&[
        "fit",
        "--data",
        &curves,
        "--plot",
        plot.to_str().unwrap(),
        "--law-expr",
        "l0 + a/d^b + c",
        "--param",
        "a=0:1000",
        "--param",
        "b=0:1",
        "--param",
        "c=0:3",
        "--starts",
        "32",
        "--json",
    ]);
    assert_eq!(fit["law"], "custom");
    assert!(fit["params"]["b"].as_f64().unwrap() > 0.0);
    // --plot takes an .svg too: one panel per model size of `synth`'s curves (1e8, 3e8, 1e9).
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("custom law"));
    assert_eq!(svg.matches("N0 = ").count(), 3, "a panel per size");
}

#[test]
fn compare_fits_a_law_expression_beside_the_builtins() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let args = [
        "compare",
        "--data",
        &curves,
        "--laws",
        "p2,chinchilla",
        "--law-expr",
        "l0 + a*rho^g + b/d^c",
        "--param",
        "a=0:5",
        "--param",
        "c=0.1:1",
        "--starts",
        "32",
        "--json",
    ];
    let out = p2law(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "no misspelt names here");
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let laws = table["laws"].as_array().unwrap();
    let names: Vec<&str> = laws.iter().map(|l| l["law"].as_str().unwrap()).collect();
    assert_eq!(names, ["p2", "chinchilla", "custom"]);
    let custom = &laws[2];
    assert_eq!(custom["expr"], "l0 + a*rho^g + b/d^c");
    assert_eq!(custom["n_params"], 4);
    // Fitted and scored like the others: it ignores n0, so it fits less well than p2, the truth.
    let r2 = |i: usize| laws[i]["metrics"]["fit"]["r2"].as_f64().unwrap();
    assert!(r2(2) > 0.5 && r2(2) < r2(0), "custom {custom} vs p2 r2 {}", r2(0));
    // The table form has a row for it too.
    let out = p2law(&args[..args.len() - 1]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("custom ")), "custom row");
    // --param belongs to --law-expr (clap's usage error); a bad expression fails before any fit.
    let out = p2law(&["compare", "--data", &curves, "--param", "a=0:1"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--law-expr"));
    let err = error_of(&["compare", "--data", &curves, "--law-expr", "l0 + a/(d^b"]);
    assert!(err.contains("column"), "{err}");
}

#[test]
fn parameters_named_like_misspelt_variables_warn_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let expr = "l0 + a/d^b + dd + rh0*rho";
    for cmd in ["fit", "compare"] {
        let out = p2law(&[cmd, "--data", &curves, "--law-expr", expr, "--starts", "8", "--json"]);
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
        assert_eq!(
            warnings,
            [
                "warning: parameter 'dd' looks like a misspelt variable 'd' (variables: n0 n rho l0 d); if it is \
                 meant as a parameter, ignore this",
                "warning: parameter 'rh0' looks like a misspelt variable 'rho' (variables: n0 n rho l0 d); if it \
                 is meant as a parameter, ignore this",
            ],
            "{cmd}: {stderr}"
        );
        // stdout stays JSON.
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    }
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "run,n0,rho,l0,d,loss\na,1e9,1.5,2.0,1e8,3.0\n").unwrap();
    let err = error_of(&["fit", "--data", bad.to_str().unwrap()]);
    assert!(err.contains("bad.csv") && err.contains(":2") && err.contains("rho"), "{err}");

    let curves = synth(dir.path());
    let err = error_of(&["fit", "--data", &curves, "--law", "p3"]);
    assert!(err.contains("unknown law 'p3'") && err.contains("chinchilla"), "{err}");
    let err = error_of(&["fit", "--data", &curves, "--holdout", "data:1.5"]);
    assert!(err.contains("data:1.5"), "{err}");
    let err = error_of(&["fit", "--data", &curves, "--law-expr", "l0 + a/(d^b"]);
    assert!(err.contains("column"), "{err}");
    let err = error_of(&["fit", "--data", dir.path().join("missing.csv").to_str().unwrap()]);
    assert!(err.contains("missing.csv"), "{err}");
    // The same file twice repeats every (run, d): an error naming both rows, not a silent merge.
    let err = error_of(&["fit", "--data", &curves, &curves]);
    assert!(err.contains("curves.csv:2: run \"n0=1e8 rho=0.2\" has d = 10000000 twice (first at "), "{err}");

    let not_a_fit = dir.path().join("nofit.json");
    std::fs::write(&not_a_fit, "{\"law\": 1}").unwrap();
    let err =
        error_of(&["plan", "--fit", not_a_fit.to_str().unwrap(), "--n0", "1e9", "--rho", "0.5", "--l0", "2"]);
    assert!(err.contains("nofit.json") && err.contains("not a p2law fit file"), "{err}");
    let err = error_of(&[
        "predict",
        "--fit",
        not_a_fit.to_str().unwrap(),
        "--n0",
        "1e9",
        "--rho",
        "1",
        "--l0",
        "2",
        "--d",
        "1e9",
    ]);
    assert!(err.contains("--rho"), "{err}");

    // Outputs: checked before any work, nothing left behind, inputs never overwritten; sizes capped.
    let fit_json = dir.path().join("x.json");
    let gif = dir.path().join("x.gif");
    let err = error_of(&[
        "fit",
        "--data",
        &curves,
        "--out",
        fit_json.to_str().unwrap(),
        "--plot",
        gif.to_str().unwrap(),
    ]);
    assert!(err.contains("must be .png or .svg"), "{err}");
    assert!(!fit_json.exists() && !gif.exists(), "a failed fit leaves no output");
    let before = std::fs::read(&curves).unwrap();
    let err = error_of(&["fit", "--data", &curves, "--out", &curves]);
    assert!(err.contains("is an input"), "{err}");
    assert_eq!(std::fs::read(&curves).unwrap(), before, "the input is untouched");
    let err = error_of(&["fit", "--data", &curves, "--bootstrap", "1000000000"]);
    assert!(err.contains("more than 100000 replicates"), "{err}");
    let err =
        error_of(&["synth", "-o", dir.path().join("big.csv").to_str().unwrap(), "--points", "10000000"]);
    assert!(err.contains("--points 10000000"), "{err}");
    let long = format!("l0 + {}", vec!["a/d^b"; 300].join(" + "));
    let err = error_of(&["fit", "--data", &curves, "--law-expr", &long]);
    assert!(err.contains("longer than 1024 tokens"), "{err}");
}

#[test]
fn fits_carry_bounds_checks_baselines_and_their_domain() {
    let dir = tempfile::tempdir().unwrap();
    let curves = synth(dir.path());
    let fit_json = dir.path().join("fit.json");
    let fit_path = fit_json.to_str().unwrap();
    let fit = ok_json(&[
        "fit",
        "--data",
        &curves,
        "--holdout",
        "largest-n0",
        "--starts",
        "32",
        "--out",
        fit_path,
        "--json",
    ]);
    assert_eq!(fit["bounds"]["beta"], serde_json::json!([0.0, 2.0]), "{}", fit["bounds"]);
    assert_eq!(fit["bounds"]["dc"], serde_json::json!([0.0, null]));
    assert!(fit["bounds"].get("nc").is_none(), "nc is free");
    // The condition number is absent when the Jacobian is singular (as here, see below).
    assert!(fit["condition"].as_f64().is_none_or(|c| c >= 1.0), "{fit}");
    for name in ["last-value", "nearest-run"] {
        assert!(fit["baselines"][name]["rmse"].as_f64().unwrap() > 0.0, "{}", fit["baselines"]);
    }
    assert_eq!(fit["domain"]["n0"], serde_json::json!([1e8, 3e8]), "fitted on the two smaller sizes");
    // Three sizes: one held out leaves two, on which the size terms are a valley the checks name.
    let kinds: Vec<&str> =
        fit["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"ill-conditioned"), "{kinds:?}");

    // predict 10× beyond the largest fitted n0: a warning on stderr, and the JSON says so.
    let out = p2law(&[
        "predict", "--fit", fit_path, "--n0", "3e9", "--rho", "0.35", "--l0", "3.0", "--d", "1e9", "--json",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("n0 = 3.00e9 is 10× the largest fitted n0 (3.00e8)"), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outside_domain"].as_array().unwrap().len(), 1, "{json}");
    let inside =
        p2law(&["predict", "--fit", fit_path, "--n0", "2e8", "--rho", "0.35", "--l0", "3.0", "--d", "1e9"]);
    assert!(
        inside.status.success() && inside.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );

    // Unbounded: no bounds recorded. A bound of the user's own replaces the built-in's.
    let free = ok_json(&["fit", "--data", &curves, "--starts", "16", "--unbounded", "--json"]);
    assert!(free.get("bounds").is_none(), "{}", free["bounds"]);
    let tight = ok_json(&["fit", "--data", &curves, "--starts", "16", "--bound", "beta=0:0.3", "--json"]);
    assert_eq!(tight["params"]["beta"], 0.3, "truth 0.4 lies beyond the bound");
    assert!(
        tight["warnings"].as_array().unwrap().iter().any(|w| w["kind"] == "at-bound"),
        "{}",
        tight["warnings"]
    );
    let bad = error_of(&["fit", "--data", &curves, "--bound", "beta=2:1"]);
    assert!(bad.contains("parameter bound 'beta=2:1'"), "{bad}");
}

#[test]
fn advise_ranks_methods_from_fit_files_and_from_curves() {
    let dir = tempfile::tempdir().unwrap();
    let curves = dir.path().join("m.csv");
    let out = p2law(&["synth", "-o", curves.to_str().unwrap(), "--methods", "depth,width", "--points", "12"]);
    assert!(out.status.success());
    let curves = curves.to_str().unwrap();
    let q = ["--n0", "3e8", "--l0", "3.07", "--target-rate", "0.3", "--budget", "3e9", "--layers", "24"];
    let mut args = vec!["advise", "--curves", curves, "--bootstrap", "20", "--json"];
    args.extend(q);
    let a = ok_json(&args);
    // Same truth for both methods; depth must round 0.3 up to 8 of 24 layers, so width wins.
    assert_eq!(a["best"], "width", "{a}");
    let depth = a["options"].as_array().unwrap().iter().find(|o| o["method"] == "depth").unwrap();
    assert!(
        (depth["rho"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12 && depth["note"] == "8 of 24 layers",
        "{depth}"
    );
    assert!(a["options"][0]["interval"].is_array(), "{a}");

    // The same from a folder of FIT.json files, one per method; 2:4 cannot reach rate 0.6.
    let fits = dir.path().join("fits");
    std::fs::create_dir(&fits).unwrap();
    for m in ["depth", "width"] {
        let sub = dir.path().join(format!("{m}.csv"));
        let text = std::fs::read_to_string(curves).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let col = header.split(',').position(|c| c == "method").unwrap();
        let rows: Vec<&str> = lines.filter(|l| l.split(',').nth(col) == Some(m)).collect();
        std::fs::write(&sub, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        let fit_json = fits.join(format!("{m}.json"));
        ok_json(&[
            "fit",
            "--data",
            sub.to_str().unwrap(),
            "--starts",
            "16",
            "--out",
            fit_json.to_str().unwrap(),
            "--json",
        ]);
    }
    let nm = fits.join("nm.json");
    std::fs::copy(fits.join("width.json"), &nm).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&nm).unwrap()).unwrap();
    v["domain"]["methods"] = serde_json::json!(["nm"]);
    std::fs::write(&nm, v.to_string()).unwrap();
    let a = ok_json(&[
        "advise",
        "--fit-dir",
        fits.to_str().unwrap(),
        "--n0",
        "3e8",
        "--l0",
        "3.07",
        "--target-rate",
        "0.6",
        "--budget",
        "3e9",
        "--json",
    ]);
    let nm = a["options"].as_array().unwrap().iter().find(|o| o["method"] == "nm").unwrap();
    assert!(nm["rho"].is_null() && nm["note"].as_str().unwrap().contains("at most half"), "{nm}");
    assert!(a["confidence"].as_str().unwrap().starts_with("unknown"), "no bootstrap draws: {a}");
    let err = error_of(&[
        "advise",
        "--fit-dir",
        fits.to_str().unwrap(),
        "--n0",
        "3e8",
        "--l0",
        "3",
        "--target-rate",
        "1.5",
        "--budget",
        "1e9",
    ]);
    assert!(err.contains("--target-rate 1.5"), "{err}");
}

#[test]
fn watch_forecasts_a_growing_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.csv");
    let out = p2law(&[
        "synth",
        "-o",
        full.to_str().unwrap(),
        "--n0",
        "3e8",
        "--rho",
        "0.35",
        "--points",
        "40",
        "--noise",
        "0.003",
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let truth_end: f64 = lines.last().unwrap().rsplit(',').next().unwrap().parse().unwrap();
    // The first 30 % of the run, with a run.toml beside it planning 1e10 tokens.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("curve.csv"), format!("{}\n", lines[..13].join("\n"))).unwrap();
    std::fs::write(run.join("run.toml"), "[train]\ntokens = 10000000000\n").unwrap();
    let log = run.join("curve.csv");
    let f = ok_json(&["watch", log.to_str().unwrap(), "--once", "--json"]);
    assert_eq!(f["points"], 12);
    assert_eq!(f["planned_d"], 1e10);
    let [lo, hi] = [f["final_interval"][0].as_f64().unwrap(), f["final_interval"][1].as_f64().unwrap()];
    assert!(lo - 0.01 <= truth_end && truth_end <= hi + 0.01, "truth {truth_end} vs [{lo}, {hi}]: {f}");
    assert!((f["final_loss"].as_f64().unwrap() - truth_end).abs() < 0.05, "{f}");
    assert_eq!(f["basis"], "single-run");
    let err = error_of(&["watch", dir.path().join("nope.csv").to_str().unwrap(), "--once"]);
    assert!(err.contains("nope.csv"), "{err}");
}
