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
//! `[data]` ([`Recipe::run_toml`]), and writes each generated RUN.toml under `<out>/configs/` so any run can
//! be rerun by hand.
//!
//! [`Recipe::load`] checks everything a unit would read later, so a typo fails in a second, not hours in:
//! names, the grid's requests (each method parsed by [`Request::parse`], as the pruning units parse it, and
//! the criterion, pattern and width axes even where no method of the recipe uses them), and `[pretrain]`
//! and `[posttrain]` resolved as `p2law train` will resolve them.

use std::path::{Path, PathBuf};

use p2law_prune::apply::{Request, RequestField, RequestSpec, METHODS};
use serde::Deserialize;

use crate::SweepError;

/// Why a recipe cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    /// Not TOML, or keys and types a recipe does not have; the parser's error is the source (it knows the
    /// line and column).
    #[error("{}: invalid recipe", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        error: toml::de::Error,
    },
    #[error("{}: cannot resolve its folder: {error}", path.display())]
    Folder { path: PathBuf, error: std::io::Error },
    /// A value the sweep cannot work with; the problem names the key.
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

/// `prune.calib_seq_len` when the recipe gives none.
pub const DEFAULT_CALIB_SEQ_LEN: usize = 128;
/// `prune.calib_samples` when the recipe gives none.
pub const DEFAULT_CALIB_SAMPLES: usize = 32;

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
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| RecipeError::Read { path: path.into(), error })?;
        let mut r: Recipe =
            toml::from_str(&text).map_err(|error| RecipeError::Parse { path: path.into(), error })?;
        // Absolute, because the generated RUN.toml files live in another folder.
        // `mini.toml` has the parent "", which `absolute` refuses: that is the current folder.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base =
            std::path::absolute(parent).map_err(|error| RecipeError::Folder { path: path.into(), error })?;
        r.out = base.join(&r.out);
        r.data = base.join(&r.data);
        for m in &mut r.models {
            if let Some(d) = &m.hf_dir {
                m.hf_dir = Some(base.join(d));
            }
        }
        r.check().map_err(|problem| RecipeError::Invalid { path: path.into(), problem })?;
        Ok(r)
    }

    /// Everything a unit would read later; the problem names the key.
    fn check(&self) -> Result<(), String> {
        let name_ok =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok(&self.name) {
            return Err(format!("name {:?}: use letters, digits, `.`, `_`, `-`", self.name));
        }
        if self.models.is_empty() {
            return Err("models: the recipe names no base model".into());
        }
        for (i, m) in self.models.iter().enumerate() {
            if !name_ok(&m.name) {
                return Err(format!("models[{i}].name {:?}: use letters, digits, `.`, `_`, `-`", m.name));
            }
            if m.arch.is_some() == m.hf_dir.is_some() {
                return Err(format!("models[{i}] ({}): give exactly one of `arch` or `hf_dir`", m.name));
            }
            if m.arch.is_some() && self.pretrain.is_none() {
                return Err(format!(
                    "models[{i}] ({}): pretraining from `arch` needs a [pretrain] section",
                    m.name
                ));
            }
            if self.models[..i].iter().any(|o| o.name == m.name) {
                return Err(format!("models[{i}]: the name {:?} is used twice", m.name));
            }
        }
        let grid = &self.prune;
        if grid.methods.is_empty() || grid.rates.is_empty() {
            return Err("prune: needs at least one method and one rate".into());
        }
        if let Some(r) = grid.rates.iter().find(|r| !(r.is_finite() && **r > 0.0 && **r < 1.0)) {
            return Err(format!("prune.rates: {r} is outside (0, 1)"));
        }
        for method in grid.methods.iter().map(String::as_str).chain(METHODS) {
            Request::parse(&self.request_spec(method, Some(grid.rates[0]))).map_err(|e| {
                let key = match e.field() {
                    RequestField::Method => "prune.methods",
                    RequestField::Criterion => "prune.criterion",
                    RequestField::Rate => "prune.rates",
                    RequestField::Pattern => "prune.pattern",
                    RequestField::WidthAxes => "prune.width_axes",
                };
                format!("{key}: {e}")
            })?;
        }
        if grid.calib_samples == Some(0) || grid.calib_seq_len == Some(0) {
            return Err("prune: calib_samples and calib_seq_len must be positive".into());
        }
        if let Some(pretrain) = &self.pretrain {
            self.dry_resolve("pretrain", pretrain)?;
        }
        let post = self.dry_resolve("posttrain", &self.posttrain)?;
        // L0 and the pruned loss are measured in windows of the calibration length, the curves in windows
        // of post-training's: the law's L − L0 compares them, so they must score the same predictions.
        let l0_context = self.l0_context();
        if post.seq_len != l0_context {
            return Err(format!(
                "prune.calib_seq_len {l0_context}{}: L0 is measured in windows of that many tokens and the \
                 post-training curves in windows of [posttrain] seq_len {}; set calib_seq_len = {}",
                if grid.calib_seq_len.is_none() { " (the default)" } else { "" },
                post.seq_len,
                post.seq_len
            ));
        }
        Ok(())
    }

    /// The request of pruning `method` at `rate` as the recipe's `[prune]` gives it (the criterion for the
    /// sparse methods only), for [`Request::parse`].
    pub fn request_spec<'a>(&'a self, method: &'a str, rate: Option<f64>) -> RequestSpec<'a> {
        let sparse = ["nm", "unstructured"].contains(&method);
        RequestSpec {
            method,
            criterion: self.prune.criterion.as_deref().filter(|_| sparse),
            rate,
            pattern: self.prune.pattern.as_deref(),
            contiguous: false,
            width_axes: self.prune.width_axes.as_deref(),
        }
    }

    /// The context L0 and the pruned loss are measured with (the calibration sequence length).
    pub fn l0_context(&self) -> usize {
        self.prune.calib_seq_len.unwrap_or(DEFAULT_CALIB_SEQ_LEN)
    }

    /// The held-out tokens the post-training runs evaluate on, which L0 is measured on too.
    pub fn eval_tokens(&self) -> usize {
        let tokens = self.posttrain.get("eval").and_then(|e| e.get("tokens")).and_then(|v| v.as_integer());
        tokens.map_or(65_536, |t| t as usize)
    }

    /// The RUN.toml the sweep hands `p2law train` for run `name`: the recipe's `sections` with the run's
    /// name, output folder and model, the data folder and the `split` it trains on, the sweep's run store
    /// and seed.
    pub fn run_toml(
        &self,
        sections: &toml::Table,
        name: &str,
        out: &Path,
        model: toml::Table,
        split: &str,
    ) -> toml::Table {
        let mut t = sections.clone();
        t.insert("name".into(), name.into());
        t.insert("out".into(), out.display().to_string().into());
        t.insert("store".into(), self.out.join("runs.sqlite").display().to_string().into());
        t.insert("seed".into(), (self.seed as i64).into());
        t.insert("model".into(), model.into());
        let mut data = toml::Table::new();
        data.insert("dir".into(), self.data.display().to_string().into());
        data.insert("train_split".into(), split.into());
        t.insert("data".into(), data.into());
        t
    }

    /// Every token shard a sweep reads exists (checked before any work; `--plan` needs none).
    pub fn check_shards(&self) -> Result<(), SweepError> {
        for split in ["pretrain", "posttrain", "heldout", "calib"] {
            let path = self.data.join(format!("{split}.bin"));
            if !path.is_file() {
                return Err(SweepError::MissingShard(path));
            }
        }
        Ok(())
    }

    /// Resolves a `[pretrain]` or `[posttrain]` section as `p2law train` will when the sweep hands it over
    /// (with a stand-in run name, model and output), so its values are checked before any work starts.
    fn dry_resolve(&self, section: &str, sections: &toml::Table) -> Result<p2law_train::RunConfig, String> {
        let mut model = toml::Table::new();
        model.insert("arch".into(), toml::Table::new().into());
        let t = self.run_toml(sections, "check", Path::new("check"), model, section);
        let file: p2law_train::FileConfig =
            toml::Value::Table(t).try_into().map_err(|e| format!("[{section}]: {e}"))?;
        file.resolve(Path::new(section)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{load_in, GOOD};
    use p2law_train::schedule::Decay;

    fn load(text: &str) -> Result<Recipe, RecipeError> {
        load_in(tempfile::tempdir().unwrap().path(), text)
    }

    #[test]
    fn good_recipe_resolves_paths() {
        let r = load(GOOD).unwrap();
        assert!(r.out.is_absolute() && r.out.ends_with("sweep"));
        assert!(!r.prune.control, "no control unless asked");
        let r = load(&GOOD.replace("rates = [0.25]", "rates = [0.25]\n        control = true")).unwrap();
        assert!(r.prune.control);
    }

    /// What `p2law train` makes of a recipe section, as the sweep hands it over.
    fn resolved(r: &Recipe, sections: &toml::Table, model: toml::Table) -> p2law_train::config::RunConfig {
        let t = r.run_toml(sections, "x", Path::new("/x/run"), model, "posttrain");
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
                let r = Recipe::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
            ("rates = [0.25]", "rates = [0.25]\n        width_axes = \"tall\"", "prune.width_axes"),
            ("rates = [0.25]", "rates = [0.25]\n        calib_samples = 0", "calib_samples"),
            // L0's windows and the curves' must be the same.
            ("calib_seq_len = 8", "calib_seq_len = 16", "set calib_seq_len = 8"),
            ("calib_seq_len = 8", "", "calib_seq_len 128 (the default)"),
            ("[posttrain]\n        train = {", "[posttrain]\n        train = { warmup_tokens = 128,", "posttrain: `train.warmup_tokens`"),
            ("[posttrain]\n        train = {", "[posttrain]\n        eval = { points = 0 }\n        train = {", "eval.points"),
        ] {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{from}");
            // The whole chain: a TOML error is the source of its message.
            let e = load(&text).unwrap_err();
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message += &format!(": {c}");
                cause = c.source();
            }
            assert!(message.contains(want), "{want}: {message}");
        }
    }
}
