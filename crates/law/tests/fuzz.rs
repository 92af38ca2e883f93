//! Fuzz targets of the law crate (see `p2law-fuzz`): the curve reader (CSV and JSONL), the expression
//! parser, `FIT.json` (then predict and plan with it) and `trainer_state.json` import. Each must return
//! (an error of one line is fine) and never panic. `P2LAW_FUZZ_CASES` sets the executions.

use std::path::Path;

use p2law_fuzz::{assert_one_line, fuzz, inputs, json_values, text_dict};
use p2law_law::curves::{parse_curves, CurveFormat};
use p2law_law::expr::Expr;
use p2law_law::import::{import_log_bytes, ImportOptions, LogFormat, RunInfo};
use p2law_law::{plan, FitFile, PlanQuery};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

#[test]
fn fuzz_curve_reader() {
    let csv = b"run,n0,rho,l0,d,loss,method,n\n\
        a,1e9,0.25,3.1,1e6,3.4,width,7.5e8\na,1e9,0.25,3.1,2e6,3.2,width,7.5e8\n\
        b,1e9,0.5,3.1,1e6,3.9,depth,5e8\nb,1e9,0.5,3.1,4e6,3.5,depth,5e8\n"
        .to_vec();
    let jsonl = br#"{"run":"a","n0":1e9,"rho":0.25,"l0":3.1,"d":1e6,"loss":3.4}
{"run":"a","n0":1e9,"rho":0.25,"l0":3.1,"d":2e6,"loss":3.2,"method":"nm"}
{"run":"b","n0":1e9,"rho":0.5,"l0":3.1,"d":1e6,"loss":3.9}
"#
    .to_vec();
    let dict =
        text_dict(&["run", "n0", "rho", "l0", "d", "loss", "method", "n", "\"run\":", "\"d\":", ",,,,,"]);
    let path = Path::new("curves.csv");
    let values = json_values(&["nan", "inf", "-inf", "", "-", "\"a,b\"", "1e-300", "width"]);
    fuzz("curve reader", 20_000, inputs(vec![csv, jsonl], dict, values, true), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let mut accepted = false;
        for format in [CurveFormat::Csv, CurveFormat::Jsonl] {
            match parse_curves(&text, format, path) {
                Ok(_) => accepted = true,
                Err(e) => assert_one_line(&e, bytes),
            }
        }
        accepted
    });
}

#[test]
fn fuzz_expression_parser() {
    let seeds: Vec<Vec<u8>> = [
        "E + A / N^alpha + B / D^beta",
        "l0 + (E - l0) * exp(-k * rho) + A * (N0 * (1 - rho))^(-a) + B * d^(-b)",
        "log(d) * c1 - log10(N) / c2 + sqrt(rho) - 2.5e-3 * -x",
        "max(a, min(b, d)) ^ 0.5",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dict = text_dict(&[
        "^",
        "^-",
        "*",
        "/",
        "+",
        "-",
        "(",
        ")",
        "exp(",
        "log(",
        "log2(",
        "log10(",
        "sqrt(",
        "rho",
        "l0",
        "N0",
        "d",
        "N",
        "1e309",
        "x^x^x^x^x^x^x^x^x^x",
        "-(-(-(-(-(-(",
        "a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a",
    ]);
    let vars = [1e9, 0.25, 3.0, 1e6, 7.5e8, 2.0];
    fuzz("expression parser", 30_000, inputs(seeds, dict, vec![], true), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match Expr::parse(&text) {
            Ok(expr) => {
                let params = vec![0.5; expr.params().len()];
                let mut grad = vec![0.0; params.len()];
                let _ = expr.eval(&vars, &params);
                let _ = expr.eval_grad(&vars, &params, &mut grad);
                let _ = Expr::parse(&expr.to_string());
                true
            }
            Err(e) => {
                assert_one_line(&e, bytes);
                false
            }
        }
    });
}

#[test]
fn fuzz_fit_json() {
    let seeds = vec![fixture("FIT.json")];
    let dict = text_dict(&[
        "\"expr\"",
        "\"params\"",
        "\"param_order\"",
        "\"bootstrap\"",
        "\"draws\"",
        "\"ranges\"",
        "\"bounds\"",
        "\"metrics\"",
        "\"warnings\"",
        "\"domain\"",
        "\"E\"",
        "\"alpha\"",
        "[[1,2],[3]]",
        "\"E + E + E\"",
    ]);
    let values = json_values(&["\"E + E\"", "\"l0 + a/d^b\"", "[1, 2]", "[[1, 2], [3]]", "{\"a\": 1}"]);
    fuzz("FIT.json", 10_000, inputs(seeds, dict, values, true), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match FitFile::parse(&text, "FIT.json") {
            Ok(file) => {
                let law = file.law().expect("parse checked the law");
                let params = file.values();
                let _ = law.predict(&params, &[1e9, 0.25, 3.0, 1e6, 7.5e8, 2.0]);
                if let Err(e) = plan(&law, &params, &PlanQuery::new(1e9, 0.25, 3.0)) {
                    assert_one_line(&e, bytes)
                }
                true
            }
            Err(e) => {
                assert_one_line(&e, bytes);
                false
            }
        }
    });
}

#[test]
fn fuzz_trainer_state_json() {
    let seeds = vec![fixture("trainer_state.json"), fixture("trainer_state_tokens.json")];
    let dict = text_dict(&[
        "\"log_history\"",
        "\"loss\"",
        "\"eval_loss\"",
        "\"step\"",
        "\"num_input_tokens_seen\"",
        "\"epoch\"",
        "\"global_step\"",
        "{}",
        "[]",
    ]);
    let run = RunInfo::new("r", 1e9, 0.25, 3.1);
    let path = Path::new("trainer_state.json");
    let values = json_values(&["[{}]", "[{\"loss\": 1}]", "[{\"step\": -1, \"loss\": 2}]"]);
    fuzz("trainer_state.json", 10_000, inputs(seeds, dict, values, true), |bytes| {
        let mut accepted = false;
        for opts in
            [ImportOptions::default(), ImportOptions { tokens_per_step: Some(4096.0), ..Default::default() }]
        {
            match import_log_bytes(bytes, LogFormat::TrainerState, path, &run, &opts) {
                Ok(_) => accepted = true,
                Err(e) => assert_one_line(&e, bytes),
            }
        }
        accepted
    });
}
