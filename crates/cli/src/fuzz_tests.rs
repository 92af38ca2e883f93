//! Fuzz target of the command line (see `p2law-fuzz`): sweep recipes, read as `p2law sweep` reads them
//! (from a file, then checked). Loading must return (an error, printed as one line, is fine) and never
//! panic. `P2LAW_FUZZ_CASES` sets the executions.

use p2law_fuzz::{fuzz, inputs, text_dict, toml_values};

use p2law_sweep::Recipe;

#[test]
fn fuzz_recipe() {
    let seeds = vec![
        include_bytes!("../../../recipes/micro.toml").to_vec(),
        include_bytes!("../../../recipes/mini.toml").to_vec(),
    ];
    let dict = text_dict(&[
        "[[models]]",
        "[prune]",
        "[posttrain]",
        "[pretrain]",
        "[data]",
        "rates = ",
        "methods = ",
        "criterion = ",
        "pattern = ",
        "calib_samples = 0",
        "hf_dir = ",
        "tokens = ",
        "\"2:4\"",
        "\"0:0\"",
        "\"depth\"",
        "\"nm\"",
        "= 18446744073709551615",
        "= -1",
        "= nan",
        "= inf",
        "= []",
        "= {}",
        "= \"\"",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipe.toml");
    let values = toml_values(&[
        "\"depth\"",
        "\"width\"",
        "\"nm\"",
        "\"unstructured\"",
        "\"wanda\"",
        "\"magnitude\"",
        "\"sparsegpt\"",
        "\"2:4\"",
        "\"0:4\"",
        "\"4:2\"",
        "[0.0]",
        "[1.0]",
        "[0.5, 0.5]",
        "[\"depth\", \"depth\"]",
    ]);
    fuzz("recipe", 3_000, inputs(seeds, dict, values, true), |bytes| {
        std::fs::write(&path, bytes).unwrap();
        match Recipe::load(&path) {
            Ok(_) => true,
            Err(e) => {
                // What `p2law sweep` prints: one line, whatever the recipe quotes.
                let line = crate::error_line(&e.into(), false);
                assert!(!line.contains('\n') && !line.is_empty(), "multi-line error: {line}");
                false
            }
        }
    });
}
