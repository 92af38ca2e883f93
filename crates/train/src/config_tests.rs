use super::*;

const BASE: &str = r#"
name = "tiny"
out = "runs/tiny"
[model]
arch = { architectures = ["LlamaForCausalLM"], hidden_size = 16 }
[data]
dir = "tok"
[train]
tokens = 10_000
batch_tokens = 1024
seq_len = 64
micro_batch = 4
lr = 1e-3
"#;

fn resolve(text: &str) -> Result<RunConfig> {
    let file: FileConfig = crate::error::parse_toml(Path::new("RUN.toml"), text)?;
    file.resolve(Path::new("/w/RUN.toml"))
}

fn err(text: &str) -> String {
    resolve(text).unwrap_err().to_string()
}

#[test]
fn defaults_and_derived_steps() {
    let c = resolve(BASE).unwrap();
    assert_eq!(c.total_steps, 9); // 10_000 / 1024, rounded down
    assert_eq!(c.accum, 4);
    assert_eq!(c.schedule.min_lr, 1e-4);
    assert_eq!(c.schedule.decay, Decay::Cosine);
    assert_eq!(c.eval_every_steps, 1); // tokens / 10 = 1000 → one step
    assert_eq!(c.checkpoint_every_steps, 1);
    assert_eq!(c.store, PathBuf::from("/w/runs/runs.sqlite"));
    assert_eq!(c.data_dir, PathBuf::from("/w/tok"));
    assert_eq!((c.train_split.as_str(), c.heldout_split.as_str()), ("pretrain", "heldout"));
    assert_eq!(c.device, "cpu");
    match &c.model {
        ModelSource::Scratch(v) => assert_eq!(v["hidden_size"], 16),
        other => panic!("{other:?}"),
    }
}

#[test]
fn run_toml_is_itself_a_config_that_resolves_identically() {
    let c = resolve(BASE).unwrap();
    let text = c.to_run_toml();
    assert!(text.contains("# Resolved: 9 steps of 1024 tokens"), "{text}");
    let again = resolve(&text).unwrap();
    assert_eq!(again, c);
    assert!(again.same_run(&c));
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let e = err(&format!("{BASE}\nlearning_rate = 1"));
    assert!(e.contains("learning_rate"), "{e}");
    let e = err(&BASE.replace("lr = 1e-3", "lr = 1e-3\nwarmup = 5"));
    assert!(e.contains("warmup"), "{e}");
}

#[test]
fn bad_values_name_their_field() {
    let cases = [
        (BASE.replace("lr = 1e-3", "lr = -1e-3"), "`train.lr`"),
        (BASE.replace("lr = 1e-3", "lr = 1e-3\nmin_lr = 1.0"), "`train.min_lr`"),
        (BASE.replace("batch_tokens = 1024", "batch_tokens = 1000"), "not a positive multiple"),
        (BASE.replace("tokens = 10_000", "tokens = 100"), "less than one batch"),
        (BASE.replace("name = \"tiny\"", "name = \"a b\""), "`name`"),
        (BASE.replace("lr = 1e-3", "lr = 1e-3\nbeta2 = 1.0"), "`train.beta2`"),
        (BASE.replace("lr = 1e-3", "lr = 1e-3\ngrad_clip = -1"), "`train.grad_clip`"),
        (format!("{BASE}\n[eval]\ntokens = 10"), "`eval.tokens`"),
        (BASE.replace("name = \"tiny\"", "name = \"tiny\"\ndevice = \"tpu\""), "`device`"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "want {want}: {e}");
    }
}

#[test]
fn negative_token_count_is_a_parse_error() {
    let e = err(&BASE.replace("tokens = 10_000", "tokens = -5"));
    assert!(e.contains("RUN.toml"), "{e}");
}

#[test]
fn model_must_be_given_exactly_once() {
    let none = BASE.replace("arch = { architectures = [\"LlamaForCausalLM\"], hidden_size = 16 }", "");
    assert!(err(&none).contains("`model`: missing"), "{}", err(&none));
    let two = BASE.replace("[model]\n", "[model]\nconfig = \"c.json\"\n");
    assert!(err(&two).contains("only one"), "{}", err(&two));
    let missing_dir = BASE
        .replace("arch = { architectures = [\"LlamaForCausalLM\"], hidden_size = 16 }", "hf_dir = \"nope\"");
    assert!(err(&missing_dir).contains("no config.json"), "{}", err(&missing_dir));
    let missing_file = BASE.replace(
        "arch = { architectures = [\"LlamaForCausalLM\"], hidden_size = 16 }",
        "config = \"nope.json\"",
    );
    assert!(err(&missing_file).contains("`model.config`"), "{}", err(&missing_file));
}

#[test]
fn log_spaced_evaluation_points() {
    let text = BASE.replace("tokens = 10_000", "tokens = 102_400") + "[eval]\npoints = 5\n";
    let c = resolve(&text).unwrap();
    assert_eq!(c.total_steps, 100);
    assert_eq!(c.eval_log_steps.as_deref(), Some(&[1, 3, 10, 32, 100][..]));
    let evaluated: Vec<u64> = (1..=100).filter(|&s| c.evaluates_after(s)).collect();
    assert_eq!(evaluated, [1, 3, 10, 32, 100]);
    // run.toml keeps `points` and resolves to the same run.
    let again = resolve(&c.to_run_toml()).unwrap();
    assert_eq!(again, c);
    assert!(c.to_run_toml().contains("eval at steps [1, 3, 10, 32, 100]"));
    // More points than steps: every step once.
    let dense = resolve(&(BASE.to_string() + "[eval]\npoints = 50\n")).unwrap();
    assert_eq!(dense.eval_log_steps.unwrap(), (1..=9).collect::<Vec<_>>());
    let both = BASE.to_string() + "[eval]\npoints = 5\nevery_tokens = 1024\n";
    assert!(err(&both).contains("not both"), "{}", err(&both));
    assert!(err(&(BASE.to_string() + "[eval]\npoints = 0\n")).contains("eval.points"));
    // From a later first step: 4 … 100 spaced evenly in log(step).
    let later = resolve(&(text.clone() + "first_step = 4\n")).unwrap();
    assert_eq!(later.eval_log_steps.as_deref(), Some(&[4, 9, 20, 45, 100][..]));
    assert_eq!(resolve(&later.to_run_toml()).unwrap(), later);
    assert!(err(&(text.clone() + "first_step = 101\n")).contains("eval.first_step"));
    let without_points = BASE.to_string() + "[eval]\nfirst_step = 4\n";
    assert!(err(&without_points).contains("only applies with eval.points"), "{}", err(&without_points));
}
