//! What the unit tests of this crate share: a small valid recipe, and a way to load a variant of it.

use std::path::Path;

use crate::recipe::{Recipe, RecipeError};

/// One base model pretrained from `arch`, depth pruning at 0.25, windows of 8 tokens throughout.
pub(crate) const GOOD: &str = r#"
        name = "t"
        out = "sweep"
        data = "tokens"
        [[models]]
        name = "a"
        arch = { architectures = ["LlamaForCausalLM"] }
        [pretrain]
        train = { tokens = 64, batch_tokens = 32, seq_len = 8, micro_batch = 4, lr = 1e-3 }
        [prune]
        methods = ["depth"]
        rates = [0.25]
        calib_seq_len = 8
        [posttrain]
        train = { tokens = 64, batch_tokens = 32, seq_len = 8, micro_batch = 4, lr = 1e-3 }
    "#;

/// Writes `text` as `dir/r.toml` and loads it.
pub(crate) fn load_in(dir: &Path, text: &str) -> Result<Recipe, RecipeError> {
    let path = dir.join("r.toml");
    std::fs::write(&path, text).unwrap();
    Recipe::load(&path)
}
