//! Pruning a whole model: the model-level driver of this crate's algorithms.
//!
//! Input: a loaded [`Model`], a [`Request`] (a [`Method`] and a target rate) and a [`Calibration`] set.
//! Output: an [`Outcome`] — the pruned model (depth and width build a smaller one; sparse methods zero
//! weights of the same model), the masks of a sparse method, the non-embedding counts before and after, and
//! method details for `pruning.json` (Block Influence and removed layers, kept channels, N:M layers).
//!
//! [`Request::parse`] ([`parse`]) builds a request from text (the command line's flags, a sweep recipe);
//! [`Request::check`] validates everything that does not need data (rate range and reachability, N:M
//! divisibility, KV groups) against the config, so a bad request fails before any forward pass.
//!
//! ```
//! # use candle_core::{DType, Device};
//! use p2law_prune::apply::{prune, Calibration, Method, Request};
//! # let json = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
//! #   "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "vocab_size": 32,
//! #   "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
//! # let cfg = p2law_model::Config::from_hf_json(&json).unwrap();
//! let model = p2law_model::Model::new_random(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
//! let calib = Calibration::new(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 2, &Device::Cpu).unwrap();
//! let request = Request { method: Method::Depth { contiguous: false }, rate: 0.25 };
//! let out = prune(model, &request, &calib).unwrap();
//! assert_eq!(out.model.config().num_layers, 3);
//! assert!((out.rho() - 0.25).abs() < 0.01);
//! ```

mod calibrate;
mod depth;
pub mod parse;
mod sparse;
mod width;

use p2law_model::{Model, ParamCounts};

pub use calibrate::{sample_offsets, Calibration};
pub use parse::{RequestError, RequestField, RequestSpec, METHODS};
pub use width::WidthAxes;

use crate::criterion::Criterion;
use crate::error::Result;
use crate::mask::MaskSet;
use crate::nm::NmPattern;
use crate::rate::check_rate;

/// How to prune.
pub enum Method {
    /// Remove whole layers with the lowest Block Influence (`contiguous`: one run of consecutive layers).
    Depth { contiguous: bool },
    /// Narrow the chosen axes by activation importance.
    Width { axes: WidthAxes },
    /// N:M sparsity along the input dimension of (some of) the linear layers.
    Nm { pattern: NmPattern, criterion: Box<dyn Criterion> },
    /// Unstructured sparsity of every linear layer.
    Unstructured { criterion: Box<dyn Criterion> },
}

impl Method {
    /// `depth`, `width`, `nm` or `unstructured`, as in `pruning.json`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Depth { .. } => "depth",
            Method::Width { .. } => "width",
            Method::Nm { .. } => "nm",
            Method::Unstructured { .. } => "unstructured",
        }
    }

    /// The importance criterion: `block-influence`, `activation` or the sparse criterion's name.
    pub fn criterion(&self) -> &'static str {
        match self {
            Method::Depth { .. } => "block-influence",
            Method::Width { .. } => "activation",
            Method::Nm { criterion, .. } | Method::Unstructured { criterion } => criterion.name(),
        }
    }
}

/// A method and the target fraction of non-embedding parameters to remove.
pub struct Request {
    pub method: Method,
    pub rate: f64,
}

impl Request {
    /// Everything about the request that can be checked without data.
    pub fn check(&self, cfg: &p2law_model::Config) -> Result<()> {
        check_rate(self.rate)?;
        match &self.method {
            Method::Depth { contiguous } => depth::select(cfg, self.rate, *contiguous, None).map(drop),
            Method::Width { axes } => width::plan(cfg, *axes, self.rate).map(drop),
            Method::Nm { pattern, .. } => sparse::plan(cfg, Some(*pattern), self.rate).map(drop),
            Method::Unstructured { .. } => sparse::plan(cfg, None, self.rate).map(drop),
        }
    }
}

/// A pruned model and what it took.
pub struct Outcome {
    pub model: Model,
    /// 0/1 masks of the sparsified weights (sparse methods only).
    pub masks: Option<MaskSet>,
    /// Non-embedding parameters before pruning (the law's N0).
    pub n0: u64,
    /// Non-embedding parameters after: removed ones gone, zeroed ones not counted.
    pub n: u64,
    /// Method-specific record for `pruning.json`.
    pub details: serde_json::Value,
}

impl Outcome {
    /// Achieved rate `1 - n / n0`.
    pub fn rho(&self) -> f64 {
        crate::rate::achieved_rho(self.n0, self.n)
    }
}

/// Prunes `model` as `request` says, scoring with `calib`.
pub fn prune(model: Model, request: &Request, calib: &Calibration) -> Result<Outcome> {
    request.check(model.config())?;
    calib.check_vocab(model.config().vocab_size)?;
    let n0 = ParamCounts::from_config(model.config()).non_embedding as u64;
    let rate = request.rate;
    let structured = |(model, details): (Model, serde_json::Value)| {
        let n = ParamCounts::from_config(model.config()).non_embedding as u64;
        Outcome { model, masks: None, n0, n, details }
    };
    let (criterion, pattern) = match &request.method {
        Method::Depth { contiguous } => {
            return Ok(structured(depth::prune(&model, rate, *contiguous, calib)?))
        }
        Method::Width { axes } => return Ok(structured(width::prune(&model, *axes, rate, calib)?)),
        Method::Nm { pattern, criterion } => (criterion, Some(*pattern)),
        Method::Unstructured { criterion } => (criterion, None),
    };
    let (masks, details) = sparse::prune(&model, criterion.as_ref(), pattern, rate, calib)?;
    let n = n0 - masks.pruned()?;
    Ok(Outcome { model, masks: Some(masks), n0, n, details })
}
