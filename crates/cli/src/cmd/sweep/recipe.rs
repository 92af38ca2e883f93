//! The sweep recipe (TOML): the base family, how to pretrain it, the pruning grid and how to post-train.
//!
//! ```toml
//! name = "micro"
//! out = "../runs/micro"          # sweep directory, relative to the recipe
//! data = "../data/corpus"        # token shards from `p2law data build`
//!
//! [[models]]                     # the base family: `arch` (config.json keys) or `hf_dir`
//! name = "llama-s"
//! arch = { architectures = ["LlamaForCausalLM"], hidden_size = 32, ... }
//!
//! [pretrain]                     # RUN.toml sections for every base model trained from scratch
//! train = { tokens = 262144, batch_tokens = 4096, seq_len = 64, micro_batch = 16, lr = 3e-3 }
//! eval = { every_tokens = 65536, tokens = 16384 }
//!
//! [prune]                        # methods × rates (the sparse methods with `criterion`)
//! methods = ["depth", "width", "nm", "unstructured"]
//! rates = [0.15, 0.25, 0.35]
//! control = true                 # also post-train each base unpruned (run `<model>-control`, rho 0)
//!
//! [posttrain]                    # RUN.toml sections for every pruned model
//! train = { tokens = 131072, ... }
//! eval = { every_tokens = 8192, tokens = 16384 }
//! ```
//!
//! Unknown keys are errors. `pretrain` and `posttrain` are passed to `p2law train` as they are (see
//! `p2law_train::config` for their keys); the sweep adds `name`, `out`, `store`, `seed`, `[model]` and
//! `[data]`, and writes each generated RUN.toml under `<out>/configs/` so any run can be rerun by hand.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// `prune.calib_seq_len` when the recipe gives none.
pub const DEFAULT_CALIB_SEQ_LEN: usize = 128;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    /// Sweep directory: configs/, base/, pruned/, runs/, runs.sqlite, report/.
    pub out: PathBuf,
    /// Token-shard folder (pretrain, posttrain, heldout, calib splits).
    pub data: PathBuf,
    /// Seeds pretraining and post-training data order and calibration. Default 0.
    #[serde(default)]
    pub seed: u64,
    pub models: Vec<BaseModel>,
    pub pretrain: Option<toml::Table>,
    pub prune: PruneGrid,
    pub posttrain: toml::Table,
}

/// One member of the base family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseModel {
    /// Letters, digits, `.`, `_`, `-`; prefixes every run of this model.
    pub name: String,
    /// Pretrain from scratch with these config.json keys.
    pub arch: Option<toml::Table>,
    /// Or start from this Hugging Face directory (not pretrained by the sweep).
    pub hf_dir: Option<PathBuf>,
}

/// The pruning grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneGrid {
    /// Any of depth, width, nm, unstructured.
    pub methods: Vec<String>,
    /// Target rates, each in (0, 1).
    pub rates: Vec<f64>,
    /// Criterion of the sparse methods. Default wanda.
    pub criterion: Option<String>,
    /// N:M pattern. Default 2:4.
    pub pattern: Option<String>,
    /// Width axes. Default hidden.
    pub width_axes: Option<String>,
    /// Calibration sequences. Default 32.
    pub calib_samples: Option<usize>,
    /// Tokens per calibration sequence. Default 128. Also the context L0 is measured with, so it must equal
    /// `[posttrain]`'s `seq_len`, the context of the curves (checked).
    pub calib_seq_len: Option<usize>,
    /// Post-train every base model unpruned too, exactly like the pruned models (same `[posttrain]`, same
    /// data): the run `<model>-control`, whose curve has `rho` 0, method `control` and the base's L0 measured
    /// as the pruned models' is. `p2law report` checks the regime with it. Default false.
    #[serde(default)]
    pub control: bool,
}

impl Recipe {
    /// Reads and checks `path`; relative paths become relative to its folder.
    pub fn load(path: &Path) -> anyhow::Result<Recipe> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut r: Recipe =
            toml::from_str(&text).with_context(|| format!("{}: invalid recipe", path.display()))?;
        // Absolute, because the generated RUN.toml files live in another folder.
        // `mini.toml` has the parent "", which `absolute` refuses: that is the current folder.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = std::path::absolute(parent)
            .with_context(|| format!("{}: cannot resolve its folder", path.display()))?;
        r.out = base.join(&r.out);
        r.data = base.join(&r.data);
        for m in &mut r.models {
            if let Some(d) = &m.hf_dir {
                m.hf_dir = Some(base.join(d));
            }
        }
        r.check().with_context(|| format!("{}", path.display()))?;
        Ok(r)
    }

    fn check(&self) -> anyhow::Result<()> {
        let name_ok =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok(&self.name) {
            bail!("name {:?}: use letters, digits, `.`, `_`, `-`", self.name);
        }
        if self.models.is_empty() {
            bail!("models: the recipe names no base model");
        }
        for (i, m) in self.models.iter().enumerate() {
            if !name_ok(&m.name) {
                bail!("models[{i}].name {:?}: use letters, digits, `.`, `_`, `-`", m.name);
            }
            if m.arch.is_some() == m.hf_dir.is_some() {
                bail!("models[{i}] ({}): give exactly one of `arch` or `hf_dir`", m.name);
            }
            if m.arch.is_some() && self.pretrain.is_none() {
                bail!("models[{i}] ({}): pretraining from `arch` needs a [pretrain] section", m.name);
            }
            if self.models[..i].iter().any(|o| o.name == m.name) {
                bail!("models[{i}]: the name {:?} is used twice", m.name);
            }
        }
        if self.prune.methods.is_empty() || self.prune.rates.is_empty() {
            bail!("prune: needs at least one method and one rate");
        }
        for m in &self.prune.methods {
            if !["depth", "width", "nm", "unstructured"].contains(&m.as_str()) {
                bail!("prune.methods: unknown method {m:?}; use depth, width, nm or unstructured");
            }
        }
        for r in &self.prune.rates {
            if !(r.is_finite() && *r > 0.0 && *r < 1.0) {
                bail!("prune.rates: {r} is outside (0, 1)");
            }
        }
        // Everything a unit would read later is checked now, so a typo fails in a second, not hours in.
        let grid = &self.prune;
        if let Some(c) = &grid.criterion {
            p2law_prune::by_name(c).with_context(|| format!("prune.criterion {c:?}"))?;
        }
        if let Some(p) = &grid.pattern {
            p.parse::<p2law_prune::NmPattern>().with_context(|| format!("prune.pattern {p:?}"))?;
        }
        if let Some(a) = &grid.width_axes {
            a.parse::<p2law_prune::apply::WidthAxes>().with_context(|| format!("prune.width_axes {a:?}"))?;
        }
        if grid.calib_samples == Some(0) || grid.calib_seq_len == Some(0) {
            bail!("prune: calib_samples and calib_seq_len must be positive");
        }
        if let Some(pretrain) = &self.pretrain {
            self.dry_resolve("pretrain", pretrain)?;
        }
        let post = self.dry_resolve("posttrain", &self.posttrain)?;
        // L0 and the pruned loss are measured in windows of the calibration length, the curves in windows
        // of post-training's: the law's L − L0 compares them, so they must score the same predictions.
        let l0_context = grid.calib_seq_len.unwrap_or(DEFAULT_CALIB_SEQ_LEN);
        if post.seq_len != l0_context {
            bail!(
                "prune.calib_seq_len {l0_context}{}: L0 is measured in windows of that many tokens and the \
                 post-training curves in windows of [posttrain] seq_len {}; set calib_seq_len = {}",
                if grid.calib_seq_len.is_none() { " (the default)" } else { "" },
                post.seq_len,
                post.seq_len
            );
        }
        Ok(())
    }

    /// Resolves a `[pretrain]` or `[posttrain]` section as `p2law train` will when the sweep hands it over
    /// (with a stand-in run name, model and output), so its values are checked before any work starts.
    fn dry_resolve(
        &self,
        section: &str,
        sections: &toml::Table,
    ) -> anyhow::Result<p2law_train::config::RunConfig> {
        let mut t = sections.clone();
        t.insert("name".into(), "check".into());
        t.insert("out".into(), "check".into());
        let mut model = toml::Table::new();
        model.insert("arch".into(), toml::Table::new().into());
        t.insert("model".into(), model.into());
        let mut data = toml::Table::new();
        data.insert("dir".into(), self.data.display().to_string().into());
        t.insert("data".into(), data.into());
        let file: p2law_train::FileConfig =
            toml::Value::Table(t).try_into().map_err(|e| anyhow::anyhow!("[{section}]: {e}"))?;
        Ok(file.resolve(Path::new(section))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2law_train::schedule::Decay;

    const GOOD: &str = r#"
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

    fn load(text: &str) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).unwrap();
        Recipe::load(&path)
    }

    #[test]
    fn good_recipe_resolves_paths() {
        let r = load(GOOD).unwrap();
        assert!(r.out.is_absolute() && r.out.ends_with("sweep"));
        assert!(!r.prune.control, "no control unless asked");
        let r = load(&GOOD.replace("rates = [0.25]", "rates = [0.25]\n        control = true")).unwrap();
        assert!(r.prune.control);
    }

    /// What `p2law train` makes of a recipe section, as the sweep hands it over (see `Sweep::train`).
    fn resolved(r: &Recipe, sections: &toml::Table, model: toml::Table) -> p2law_train::config::RunConfig {
        let mut t = sections.clone();
        t.insert("name".into(), "x".into());
        t.insert("out".into(), "/x/run".into());
        t.insert("model".into(), model.into());
        let mut data = toml::Table::new();
        data.insert("dir".into(), r.data.display().to_string().into());
        t.insert("data".into(), data.into());
        let file: p2law_train::FileConfig = toml::Value::Table(t).try_into().unwrap();
        file.resolve(Path::new("/x/RUN.toml")).unwrap()
    }

    #[test]
    fn shipped_recipes_load_and_regime_follows_issue_16s_design() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let r = Recipe::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                names.push(r.name);
            }
        }
        names.sort();
        assert_eq!(names, ["micro", "mini", "regime", "smollm2"]);
        let r = Recipe::load(&dir.join("regime.toml")).unwrap();
        // One Llama family of at least 4 sizes, all at least 8 layers deep, spanning at least 6× in N0.
        let mut n0s = Vec::new();
        for m in &r.models {
            let json = serde_json::to_value(m.arch.as_ref().unwrap()).unwrap();
            let config = p2law_model::Config::from_hf_json(&json).unwrap();
            assert!(config.num_layers >= 8, "{}", m.name);
            assert_eq!(json["architectures"][0], "LlamaForCausalLM");
            n0s.push(p2law_model::ParamCounts::from_config(&config).non_embedding as f64);
        }
        assert!(n0s.len() >= 4 && n0s[n0s.len() - 1] / n0s[0] >= 6.0, "{n0s:?}");
        assert!(n0s.windows(2).all(|w| w[0] < w[1]));
        // Depth, width and 2:4 at 0.15 / 0.25 / 0.35, with controls; L0 measured with the curves' context.
        assert_eq!(r.prune.methods, ["depth", "width", "nm"]);
        assert_eq!(r.prune.rates, [0.15, 0.25, 0.35]);
        assert!(r.prune.control);
        let mut model = toml::Table::new();
        model.insert("arch".into(), r.models[0].arch.clone().unwrap().into());
        let pre = resolved(&r, r.pretrain.as_ref().unwrap(), model);
        // Pretraining: at least 15M tokens, cosine down to about 1 % of the peak.
        assert!(pre.total_steps * pre.batch_tokens >= 15_000_000);
        assert_eq!(pre.schedule.decay, Decay::Cosine);
        assert!(pre.schedule.min_lr <= 0.011 * pre.schedule.peak_lr);
        // A model directory to post-train: what resolving checks of it is its config.json.
        let pruned = tempfile::tempdir().unwrap();
        let arch = serde_json::to_string(r.models[0].arch.as_ref().unwrap()).unwrap();
        std::fs::write(pruned.path().join("config.json"), arch).unwrap();
        let mut model = toml::Table::new();
        model.insert("hf_dir".into(), pruned.path().display().to_string().into());
        let post = resolved(&r, &r.posttrain, model);
        // Post-training: at least 256 steps and 0.5M tokens, log-spaced evaluations from step 4 on at least
        // 32k held-out tokens.
        assert!(post.total_steps >= 256 && post.total_steps * post.batch_tokens >= 500_000);
        assert!(post.eval_tokens >= 32_768);
        let steps = post.eval_log_steps.clone().unwrap();
        assert!(steps[0] >= 4 && steps.len() >= 12, "{steps:?}");
        assert_eq!(r.prune.calib_seq_len, Some(post.seq_len));
    }

    #[test]
    fn bad_recipes_name_the_field() {
        for (from, to, want) in [
            ("rates = [0.25]", "rates = [1.5]", "prune.rates"),
            ("methods = [\"depth\"]", "methods = [\"deep\"]", "unknown method"),
            ("name = \"a\"", "name = \"a/b\"", "models[0].name"),
            ("data = \"tokens\"", "data = \"tokens\"\ncolour = 1", "unknown field"),
            ("[pretrain]\n        train = { tokens = 64, batch_tokens = 32, seq_len = 8, micro_batch = 4, lr = 1e-3 }", "", "needs a [pretrain]"),
            // Values a unit reads hours into a sweep fail when the recipe is read.
            ("rates = [0.25]", "rates = [0.25]\n        criterion = \"wandaa\"", "prune.criterion"),
            ("rates = [0.25]", "rates = [0.25]\n        pattern = \"4:2\"", "prune.pattern"),
            ("rates = [0.25]", "rates = [0.25]\n        calib_samples = 0", "calib_samples"),
            // L0's windows and the curves' must be the same.
            ("calib_seq_len = 8", "calib_seq_len = 16", "set calib_seq_len = 8"),
            ("calib_seq_len = 8", "", "calib_seq_len 128 (the default)"),
            ("[posttrain]\n        train = {", "[posttrain]\n        train = { warmup_tokens = 128,", "posttrain: `train.warmup_tokens`"),
            ("[posttrain]\n        train = {", "[posttrain]\n        eval = { points = 0 }\n        train = {", "eval.points"),
        ] {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{from}");
            let e = format!("{:#}", load(&text).unwrap_err());
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
