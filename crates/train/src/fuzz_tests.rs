//! Fuzz target of the train crate (see `p2law-fuzz`): `RUN.toml`, parsed and resolved. It must return (an
//! error of one line is fine) and never panic. `P2LAW_FUZZ_CASES` sets the executions.

use std::path::Path;

use p2law_fuzz::{assert_one_line, fuzz, inputs, text_dict, toml_values};

use crate::config::FileConfig;
use crate::error::parse_toml;

#[test]
fn fuzz_run_toml() {
    let full = br#"name = "fuzz-run"
out = "runs/a"
store = "runs.sqlite"
seed = 7
device = "cpu"
[model.arch]
architectures = ["LlamaForCausalLM"]
vocab_size = 300
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 1
num_attention_heads = 4
max_position_embeddings = 64
rms_norm_eps = 1e-5
[data]
dir = "tok"
[train]
tokens = 1024
batch_tokens = 128
seq_len = 16
micro_batch = 4
lr = 3e-3
min_lr = 3e-4
warmup_tokens = 128
grad_clip = 1.0
[eval]
tokens = 256
every_tokens = 256
[checkpoint]
every_tokens = 512
keep = 2
"#
    .to_vec();
    let post = br#"name = "post"
out = "runs/post"
[model]
hf_dir = "pruned/width-0.25"
[data]
dir = "tok"
train_split = "posttrain"
[train]
tokens = 10_000
batch_tokens = 1024
seq_len = 64
micro_batch = 4
lr = 1e-3
[eval]
points = 8
"#
    .to_vec();
    let dict = text_dict(&[
        "[model]",
        "[model.arch]",
        "[train]",
        "[eval]",
        "[data]",
        "[checkpoint]",
        "tokens = ",
        "batch_tokens = ",
        "seq_len = ",
        "micro_batch = ",
        "lr = ",
        "points = ",
        "every_tokens = ",
        "keep = ",
        "hf_dir = ",
        "config = ",
        "num_attention_heads = 0",
        "head_dim = 4611686018427387904",
        "vocab_size = ",
        "= 18446744073709551615",
        "= -1",
        "= nan",
        "= inf",
        "= 1e308",
        "= \"\"",
        "= []",
        "= {}",
    ]);
    let path = Path::new("/nonexistent-p2law-fuzz/RUN.toml");
    let values = toml_values(&["\"constant\"", "\"cosine\"", "\"linear\"", "\"cuda:0\"", "\"cpu\""]);
    fuzz("RUN.toml", 20_000, inputs(vec![full, post], dict, values, true), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let result = parse_toml::<FileConfig>(path, &text)
            .map_err(crate::TrainError::from)
            .and_then(|f| f.resolve(path));
        if let Err(e) = &result {
            assert_one_line(e, bytes);
        }
        result.is_ok()
    });
}
