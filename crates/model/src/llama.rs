//! One pre-norm decoder for Llama and Qwen2: embedding, `num_layers` blocks, final RMSNorm, LM head.
//!
//! Block: `h = x + o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(·)), v_proj(·)))`, `y = h + down_proj(
//! silu(gate_proj(n2(h))) * up_proj(n2(h)))`, with grouped-query attention (each key/value head serves
//! `num_heads / num_kv_heads` query heads) and a causal mask. Every op has a backward pass (see `ops`), and
//! every parameter is a `Var` in the model's `VarMap` under its Hugging Face name, spelled literally below.
//!
//! Shapes: ids (B, T) u32 → hidden (B, T, C) → logits (B, T, V).
//!
//! The block and the stack of blocks are written once, over a small trait of the block's layers
//! (`BlockOps`): run as candle's graph by [`Model::forward`], [`Model::loss`] and [`Block::forward`], and
//! recorded on a [`Tape`] of fused ops by [`Model::loss_and_grads`], whose backward runs by hand.
//!
//! Pruning code can run the stages one by one to capture hidden states between blocks:
//! ```
//! # use candle_core::{DType, Device, Tensor};
//! # let json = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
//! #   "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 32,
//! #   "rms_norm_eps": 1e-5, "max_position_embeddings": 64});
//! # let cfg = p2law_model::Config::from_hf_json(&json).unwrap();
//! let model = p2law_model::Model::new_random(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
//! let ids = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu).unwrap();
//! let ctx = model.context(3).unwrap();
//! let mut x = model.embed(&ids).unwrap();
//! for block in model.layers() {
//!     x = block.forward(&x, &ctx).unwrap(); // (B, T, C) after each block
//! }
//! let logits = model.lm_head(&model.final_norm(&x).unwrap()).unwrap();
//! assert_eq!(logits.dims(), &[1, 3, 32]);
//! ```

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarMap};

use crate::config::Config;
use crate::error::{ModelError, Result as ModelResult};
use crate::ops;
use crate::ops::fused::Tape;
use crate::weights::{Init, Store, Weights};

/// Gradients by the id of the tensor they belong to.
pub type Grads = HashMap<candle_core::TensorId, Tensor>;

/// Per-sequence-length tensors shared by all blocks: the rotary tables (T, D).
pub struct Context {
    pub cos: Tensor,
    pub sin: Tensor,
}

fn linear(vb: &Weights, in_dim: usize, out_dim: usize, bias: bool) -> ModelResult<Linear> {
    let weight = vb.get(&[out_dim, in_dim], "weight", Init::Normal)?;
    let bias = if bias { Some(vb.get(&[out_dim], "bias", Init::Zeros)?) } else { None };
    Ok(Linear { weight, bias })
}

/// `y = x · Wᵀ + b`, W (out, in) as Hugging Face stores it.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Computed in `x`'s dtype: narrower weights (bf16 under f32 activations) are widened for the call, a
    /// graph node, so gradients still reach them.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let wide = self.cast(x.dtype())?;
        ops::linear(x, &wide.weight, wide.bias.as_ref())
    }

    /// `residual + forward(x)`: a residual connection closed by this layer, one graph node on the CPU.
    pub fn forward_add(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let wide = self.cast(x.dtype())?;
        ops::linear_add(x, &wide.weight, wide.bias.as_ref(), residual)
    }

    fn cast(&self, dtype: DType) -> Result<Linear> {
        let bias = self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?;
        Ok(Linear { weight: self.weight.to_dtype(dtype)?, bias })
    }
}

/// RMSNorm with a learned per-channel scale.
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(vb: &Weights, size: usize, eps: f64) -> ModelResult<Self> {
        Ok(RmsNorm { weight: vb.get(&[size], "weight", Init::Ones)?, eps })
    }

    /// Computed in `x`'s dtype (the scale widened for the call if it is narrower).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::rms_norm(x, &self.weight.to_dtype(x.dtype())?, self.eps)
    }
}

/// Causal grouped-query self-attention with rotary position embeddings.
pub struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    head_dim: usize,
}

impl Attention {
    fn load(vb: &Weights, cfg: &Config) -> ModelResult<Self> {
        let (c, hd) = (cfg.hidden_size, cfg.head_dim);
        Ok(Attention {
            q_proj: linear(&vb.pp("q_proj"), c, cfg.num_heads * hd, cfg.qkv_bias)?,
            k_proj: linear(&vb.pp("k_proj"), c, cfg.num_kv_heads * hd, cfg.qkv_bias)?,
            v_proj: linear(&vb.pp("v_proj"), c, cfg.num_kv_heads * hd, cfg.qkv_bias)?,
            o_proj: linear(&vb.pp("o_proj"), cfg.num_heads * hd, c, cfg.o_bias)?,
            head_dim: hd,
        })
    }

    /// The per-head outputs before `o_proj`: (B, T, C) → (B, T, nh·D), head `h` in columns `h·D..(h+1)·D`.
    pub fn heads(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let (q, k, v) =
            (self.q_proj.cast(x.dtype())?, self.k_proj.cast(x.dtype())?, self.v_proj.cast(x.dtype())?);
        let weights = [&q.weight, &k.weight, &v.weight];
        let biases = [q.bias.as_ref(), k.bias.as_ref(), v.bias.as_ref()];
        ops::self_attention(x, weights, biases, &ctx.cos, &ctx.sin, self.head_dim)
    }
}

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
pub struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn load(vb: &Weights, cfg: &Config) -> ModelResult<Self> {
        let (c, f) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Mlp {
            gate_proj: linear(&vb.pp("gate_proj"), c, f, false)?,
            up_proj: linear(&vb.pp("up_proj"), c, f, false)?,
            down_proj: linear(&vb.pp("down_proj"), f, c, false)?,
        })
    }

    /// The input of `down_proj`, `silu(gate(x)) * up(x)`: (B, T, C) → (B, T, F).
    pub fn hidden(&self, x: &Tensor) -> Result<Tensor> {
        let (gate, up) =
            (self.gate_proj.weight.to_dtype(x.dtype())?, self.up_proj.weight.to_dtype(x.dtype())?);
        ops::swiglu(x, &gate, &up)
    }
}

/// One decoder block (pre-norm attention and MLP, each with a residual connection).
pub struct Block {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl Block {
    fn load(vb: &Weights, cfg: &Config) -> ModelResult<Self> {
        Ok(Block {
            input_layernorm: RmsNorm::load(&vb.pp("input_layernorm"), cfg.hidden_size, cfg.rms_norm_eps)?,
            self_attn: Attention::load(&vb.pp("self_attn"), cfg)?,
            post_attention_layernorm: RmsNorm::load(
                &vb.pp("post_attention_layernorm"),
                cfg.hidden_size,
                cfg.rms_norm_eps,
            )?,
            mlp: Mlp::load(&vb.pp("mlp"), cfg)?,
        })
    }

    /// (B, T, C) → (B, T, C).
    pub fn forward(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        self.run(&mut Graph, x, ctx, &mut |_, _| Ok(()))
    }

    /// [`Block::forward`] that also shows `tap` the inputs of every linear layer (see [`Tap`]), for
    /// calibration. The same arithmetic as `forward`, so the output is identical.
    pub fn forward_tapped(
        &self,
        x: &Tensor,
        ctx: &Context,
        tap: &mut dyn FnMut(Tap, &Tensor) -> Result<()>,
    ) -> Result<Tensor> {
        self.run(&mut Graph, x, ctx, tap)
    }

    /// The block, once for every way of running it: `ops` evaluates each layer (as nodes of candle's graph,
    /// or recorded on a [`Tape`]), `tap` sees the input of every linear layer.
    fn run<O: BlockOps>(
        &self,
        ops: &mut O,
        x: &Tensor,
        ctx: &Context,
        tap: &mut dyn FnMut(Tap, &Tensor) -> Result<()>,
    ) -> Result<Tensor> {
        let normed = ops.rms_norm(x, &self.input_layernorm)?;
        tap(Tap::AttnInput, &normed)?;
        let heads = ops.attention(&normed, &self.self_attn, ctx)?;
        tap(Tap::AttnHeads, &heads)?;
        let h = ops.linear_add(&heads, &self.self_attn.o_proj, x)?;
        let normed = ops.rms_norm(&h, &self.post_attention_layernorm)?;
        tap(Tap::MlpInput, &normed)?;
        let hidden = ops.swiglu(&normed, &self.mlp)?;
        tap(Tap::MlpHidden, &hidden)?;
        ops.linear_add(&hidden, &self.mlp.down_proj, &h)
    }
}

/// The layers a decoder block is made of, as one way of running them. [`Block::run`] and
/// [`Model::trunk`] are written once against this trait: [`Graph`] builds candle's graph (inference,
/// calibration, and training off the fused path), a [`Tape`] records the fused ops for
/// [`Model::loss_and_grads`]' hand-run backward. Both evaluate the same ops in the same arithmetic.
trait BlockOps {
    /// RMSNorm (…, C) → (…, C).
    fn rms_norm(&mut self, x: &Tensor, norm: &RmsNorm) -> Result<Tensor>;
    /// The attention heads before `o_proj` (see [`Attention::heads`]).
    fn attention(&mut self, x: &Tensor, attn: &Attention, ctx: &Context) -> Result<Tensor>;
    /// `residual + layer(x)`: a residual connection closed by a projection.
    fn linear_add(&mut self, x: &Tensor, layer: &Linear, residual: &Tensor) -> Result<Tensor>;
    /// The input of `down_proj` (see [`Mlp::hidden`]).
    fn swiglu(&mut self, x: &Tensor, mlp: &Mlp) -> Result<Tensor>;
}

/// The layers as nodes of candle's graph (the `ops` functions: fused kernels for f32 on the CPU, plain
/// candle ops elsewhere).
struct Graph;

impl BlockOps for Graph {
    fn rms_norm(&mut self, x: &Tensor, norm: &RmsNorm) -> Result<Tensor> {
        norm.forward(x)
    }

    fn attention(&mut self, x: &Tensor, attn: &Attention, ctx: &Context) -> Result<Tensor> {
        attn.heads(x, ctx)
    }

    fn linear_add(&mut self, x: &Tensor, layer: &Linear, residual: &Tensor) -> Result<Tensor> {
        layer.forward_add(x, residual)
    }

    fn swiglu(&mut self, x: &Tensor, mlp: &Mlp) -> Result<Tensor> {
        mlp.hidden(x)
    }
}

/// candle's graph with every result detached, for inference: the weights are trainable variables, so an
/// attached result would keep every earlier activation alive for a backward pass that never comes (a
/// 30-layer model held ~0.6 GB per 512-token window that way). Detached, each activation is freed as soon
/// as the next one exists. The same ops as [`Graph`], so the same numbers.
struct NoGrad;

impl BlockOps for NoGrad {
    fn rms_norm(&mut self, x: &Tensor, norm: &RmsNorm) -> Result<Tensor> {
        Ok(Graph.rms_norm(x, norm)?.detach())
    }

    fn attention(&mut self, x: &Tensor, attn: &Attention, ctx: &Context) -> Result<Tensor> {
        Ok(Graph.attention(x, attn, ctx)?.detach())
    }

    fn linear_add(&mut self, x: &Tensor, layer: &Linear, residual: &Tensor) -> Result<Tensor> {
        Ok(Graph.linear_add(x, layer, residual)?.detach())
    }

    fn swiglu(&mut self, x: &Tensor, mlp: &Mlp) -> Result<Tensor> {
        Ok(Graph.swiglu(x, mlp)?.detach())
    }
}

/// The layers recorded on a tape of fused ops, whose backward [`Tape::backward`] runs by hand.
impl BlockOps for Tape {
    fn rms_norm(&mut self, x: &Tensor, norm: &RmsNorm) -> Result<Tensor> {
        Tape::rms_norm(self, x, &norm.weight, norm.eps)
    }

    fn attention(&mut self, x: &Tensor, attn: &Attention, ctx: &Context) -> Result<Tensor> {
        let (q, k, v) = (&attn.q_proj, &attn.k_proj, &attn.v_proj);
        let weights = [&q.weight, &k.weight, &v.weight];
        // The packed product takes the three biases or none; a model's config gives all three or none.
        let Some(biases) = ops::packed_bias([q.bias.as_ref(), k.bias.as_ref(), v.bias.as_ref()]) else {
            candle_core::bail!("self-attention on a tape: q, k and v must all have a bias or none")
        };
        Tape::self_attention(self, x, weights, biases, &ctx.cos, &ctx.sin, attn.head_dim)
    }

    fn linear_add(&mut self, x: &Tensor, layer: &Linear, residual: &Tensor) -> Result<Tensor> {
        Tape::linear_add(self, x, &layer.weight, layer.bias.as_ref(), residual)
    }

    fn swiglu(&mut self, x: &Tensor, mlp: &Mlp) -> Result<Tensor> {
        Tape::swiglu(self, x, &mlp.gate_proj.weight, &mlp.up_proj.weight)
    }
}

/// The activations [`Block::forward_tapped`] shows, each the input of some linear layers of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tap {
    /// `input_layernorm(x)`, (B, T, C): input of `q_proj`, `k_proj`, `v_proj`.
    AttnInput,
    /// Attention heads before `o_proj`, (B, T, nh·D): input of `o_proj`.
    AttnHeads,
    /// `post_attention_layernorm(h)`, (B, T, C): input of `gate_proj`, `up_proj`.
    MlpInput,
    /// `silu(gate) · up`, (B, T, F): input of `down_proj`.
    MlpHidden,
}

impl Tap {
    /// Names (below `model.layers.{i}.`) of the linear layers whose input this is.
    pub fn linears(self) -> &'static [&'static str] {
        match self {
            Tap::AttnInput => &["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
            Tap::AttnHeads => &["self_attn.o_proj"],
            Tap::MlpInput => &["mlp.gate_proj", "mlp.up_proj"],
            Tap::MlpHidden => &["mlp.down_proj"],
        }
    }
}

/// The most bytes of logits [`Model::loss_sum_no_grad`] forms at once (256 MiB: 1,365 rows of a 49,152-token
/// vocabulary in f32, 441 of Qwen2's 151,936). Fewer rows cost speed twice: the head's product splits its
/// rows into bands of at least 64 per thread (64 MiB gave Qwen2 one band of 110 rows, one thread for a
/// quarter of the model's flops), and every chunk reads the whole head weight again.
pub const HEAD_CHUNK_BYTES: usize = 256 << 20;

/// Rows of hidden states whose logits over a vocabulary of `v` fit in [`HEAD_CHUNK_BYTES`] (at least one).
/// Logits are computed in f32 whatever the model dtype.
fn head_chunk_rows(v: usize, dtype: DType) -> usize {
    let bytes = v * dtype.size_in_bytes().max(DType::F32.size_in_bytes());
    (HEAD_CHUNK_BYTES / bytes.max(1)).max(1)
}

/// The causal language model.
pub struct Model {
    config: Config,
    varmap: VarMap,
    embed_tokens: Embedding,
    layers: Vec<Block>,
    norm: RmsNorm,
    /// Shares its weight tensor with `embed_tokens` when embeddings are tied (gradients add up).
    lm_head: Linear,
    inv_freq: Vec<f64>,
    dtype: DType,
    device: Device,
}

impl Model {
    /// Builds a model from named tensors (Hugging Face names), converting them to `dtype` on `device`.
    /// Every tensor the config implies must be present with its exact shape, and no other may be: errors
    /// name the tensor. A tied model ignores a redundant `lm_head.weight`.
    pub fn from_tensors(
        config: &Config,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> ModelResult<Model> {
        Model::build(config, Store::from_tensors(tensors, dtype, device))
    }

    /// A freshly initialised model: linear and embedding weights Normal(0, 0.02), biases 0, norms 1; the
    /// same seed gives the same weights.
    pub fn new_random(config: &Config, seed: u64, dtype: DType, device: &Device) -> ModelResult<Model> {
        Model::build(config, Store::random(seed, 0.02, dtype, device))
    }

    fn build(config: &Config, store: Store) -> ModelResult<Model> {
        config.check()?;
        let vb = store.root();
        let embed_weight = vb.pp("model.embed_tokens").get(
            &[config.vocab_size, config.hidden_size],
            "weight",
            Init::Normal,
        )?;
        let embed_tokens = Embedding::new(embed_weight.clone(), config.hidden_size);
        let layers = (0..config.num_layers)
            .map(|i| Block::load(&vb.pp("model.layers").pp(i), config))
            .collect::<ModelResult<Vec<_>>>()?;
        let norm = RmsNorm::load(&vb.pp("model.norm"), config.hidden_size, config.rms_norm_eps)?;
        let lm_head = if config.tie_word_embeddings {
            store.discard("lm_head.weight");
            Linear { weight: embed_weight, bias: None }
        } else {
            linear(&vb.pp("lm_head"), config.hidden_size, config.vocab_size, false)?
        };
        // Buffers some exporters include; they are recomputed from the config.
        let unused: Vec<String> =
            store.take_unused().into_iter().filter(|n| !n.ends_with("rotary_emb.inv_freq")).collect();
        if let Some(name) = unused.into_iter().next() {
            return Err(ModelError::UnexpectedTensor { name });
        }
        Ok(Model {
            config: config.clone(),
            inv_freq: ops::inv_freq(config),
            varmap: store.varmap,
            embed_tokens,
            layers,
            norm,
            lm_head,
            dtype: store.dtype,
            device: store.device,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// All parameters, keyed by Hugging Face name (for optimizers and checkpointing).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Parameters sorted by name; a tied model lists the embedding once.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let data = self.varmap.data().lock().expect("varmap lock poisoned");
        let mut out: Vec<(String, Tensor)> =
            data.iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Replaces parameter `name` with `value` (same shape; converted to the model's dtype and device), e.g.
    /// a pruned weight. A tied model's `lm_head` follows `model.embed_tokens.weight`.
    pub fn set_weight(&self, name: &str, value: &Tensor) -> ModelResult<()> {
        let data = self.varmap.data().lock().expect("varmap lock poisoned");
        let var = data.get(name).ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
        if var.dims() != value.dims() {
            return Err(ModelError::WrongShape {
                name: name.into(),
                expected: var.dims().to_vec(),
                found: value.dims().to_vec(),
            });
        }
        var.set(&value.to_dtype(self.dtype)?.to_device(&self.device)?)?;
        Ok(())
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn layers(&self) -> &[Block] {
        &self.layers
    }

    /// Rotary tables for sequences of length `t`, in the activations' dtype.
    pub fn context(&self, t: usize) -> Result<Context> {
        let (cos, sin) = ops::rope_tables(&self.inv_freq, t, self.activation_dtype(), &self.device)?;
        Ok(Context { cos, sin })
    }

    /// The dtype of the activations: f32 on the CPU whatever the weights' dtype (bf16 or f16 weights are
    /// widened one layer at a time as they are used, so a bf16 model takes half the memory and computes
    /// with f32 accumulation in the fused kernels), the weights' dtype on other devices.
    pub fn activation_dtype(&self) -> DType {
        if self.device.is_cpu() {
            DType::F32
        } else {
            self.dtype
        }
    }

    /// Token embeddings: ids (B, T) → (B, T, C), in [`Model::activation_dtype`].
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed_tokens.forward(ids)?.to_dtype(self.activation_dtype())
    }

    /// Final RMSNorm (B, T, C) → (B, T, C).
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.norm.forward(x)
    }

    /// Output projection (B, T, C) → (B, T, V).
    pub fn lm_head(&self, x: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(x)
    }

    /// Logits (B, T, V) for ids (B, T) (u32), in [`Model::activation_dtype`].
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.lm_head(&self.hidden(ids)?)
    }

    /// The LM head's input for ids (B, T): the final-normed hidden states (B, T, C).
    fn hidden(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        self.trunk(&mut Graph, &self.embed(ids)?, &self.context(t)?)
    }

    /// Every block, then the final RMSNorm: embeddings (B, T, C) → the LM head's input (B, T, C).
    fn trunk<O: BlockOps>(&self, ops: &mut O, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let mut x = x.clone();
        for block in &self.layers {
            x = block.run(ops, &x, ctx, &mut |_, _| Ok(()))?;
        }
        ops.rms_norm(&x, &self.norm)
    }

    /// Mean next-token cross-entropy of the logits for `ids` against `targets` (both (B, T)); targets equal
    /// to [`crate::IGNORE_INDEX`] (i64 targets only) are left out.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden(ids)?;
        crate::loss::linear_cross_entropy(&hidden, &self.lm_head.weight.to_dtype(hidden.dtype())?, targets)
    }

    /// Summed next-token cross-entropy of `ids` against `targets` (both (B, T)) and the number of targets
    /// counted, for evaluation: no autograd graph is kept (see [`NoGrad`]), and the LM head's logits exist
    /// at most [`HEAD_CHUNK_BYTES`] at a time, so memory does not grow with batch × context × vocabulary.
    /// Each chunk's sum is added in f64.
    pub fn loss_sum_no_grad(&self, ids: &Tensor, targets: &Tensor) -> Result<(f64, usize)> {
        self.loss_sum_in_chunks(
            ids,
            targets,
            head_chunk_rows(self.config.vocab_size, self.activation_dtype()),
        )
    }

    /// [`Model::loss_sum_no_grad`] with the logits formed `rows` hidden states at a time.
    fn loss_sum_in_chunks(&self, ids: &Tensor, targets: &Tensor, rows: usize) -> Result<(f64, usize)> {
        let (b, t) = ids.dims2()?;
        let c = self.config.hidden_size;
        let x = self.embed(ids)?.detach();
        let normed = self.trunk(&mut NoGrad, &x, &self.context(t)?)?.reshape((b * t, c))?;
        let targets = targets.flatten_all()?;
        if targets.dim(0)? != b * t {
            candle_core::bail!("loss: {} targets for ids of shape ({b}, {t})", targets.dim(0)?);
        }
        // Widened once for all chunks when the weights are narrower than the activations.
        let head = self.lm_head.weight.detach().to_dtype(normed.dtype())?;
        let (mut total, mut count) = (0f64, 0usize);
        for start in (0..b * t).step_by(rows) {
            let n = rows.min(b * t - start);
            let (sum, k) = crate::loss::linear_cross_entropy_sum(
                &normed.narrow(0, start, n)?,
                &head,
                &targets.narrow(0, start, n)?,
            )?;
            total += sum.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            count += k;
        }
        Ok((total, count))
    }

    /// [`Model::loss`] and its gradient with respect to every weight tensor (by tensor id: the ids of the
    /// `VarMap`'s variables), computed on a [`Tape`] of the fused kernels instead of candle's graph: the
    /// same ops and arithmetic, without candle's zero-filled gradient buffer for every activation. `None`
    /// where the fused kernels do not serve the model (not f32 on the CPU, `P2LAW_FUSED=0`): use
    /// [`Model::loss`] and candle's `backward` there.
    pub fn loss_and_grads(&self, ids: &Tensor, targets: &Tensor) -> Result<Option<(Tensor, Grads)>> {
        let embeddings = self.embed_tokens.embeddings();
        if !ops::fused::applies(&[embeddings, &self.lm_head.weight]) {
            return Ok(None);
        }
        let (b, t) = ids.dims2()?;
        let (c, v) = (self.config.hidden_size, self.config.vocab_size);
        let ctx = self.context(t)?;
        let flat_ids = ids.flatten_all()?;
        // The embedding lookup outside the graph (no gradient is tracked through a detached weight).
        let x0 = embeddings.detach().index_select(&flat_ids, 0)?.reshape((b, t, c))?;
        let mut tape = Tape::new();
        let normed = self.trunk(&mut tape, &x0, &ctx)?;
        let normed = tape.reshape(&normed, &[b * t, c])?;
        let (picks, keep, count) = crate::loss::parse_targets(targets, b * t, v)?;
        let sum = tape.linear_cross_entropy_sum(&normed, &self.lm_head.weight, picks, keep)?;
        let loss = crate::loss::mean((sum.clone(), count))?;
        let upstream = Tensor::new(1.0 / count as f32, &self.device)?;
        let mut grads = tape.backward(&sum, upstream)?;
        // The lookup's backward: each position's gradient added into its token's row.
        if let Some(dx0) = grads.remove(&x0.id()) {
            let rows = embeddings.zeros_like()?.index_add(&flat_ids, &dx0.reshape((b * t, c))?, 0)?;
            let total = match grads.remove(&embeddings.id()) {
                Some(head) => (head + rows)?, // tied: the head's gradient is the same tensor's
                None => rows,
            };
            grads.insert(embeddings.id(), total);
        }
        Ok(Some((loss, grads)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tapped_forward_equals_forward_and_shows_every_linear_input() {
        let json = serde_json::json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 16,
            "intermediate_size": 24, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 32, "rms_norm_eps": 1e-6, "max_position_embeddings": 64});
        let cfg = Config::from_hf_json(&json).unwrap();
        let model = Model::new_random(&cfg, 3, DType::F32, &Device::Cpu).unwrap();
        let ids = Tensor::new(&[[1u32, 5, 7, 2]], &Device::Cpu).unwrap();
        let ctx = model.context(4).unwrap();
        let x = model.embed(&ids).unwrap();
        let mut seen = Vec::new();
        let y = model.layers()[0]
            .forward_tapped(&x, &ctx, &mut |tap, a| {
                seen.push((tap, a.dims().to_vec()));
                Ok(())
            })
            .unwrap();
        let direct = model.layers()[0].forward(&x, &ctx).unwrap();
        let diff = (y - direct).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0);
        let dims: Vec<_> = seen.iter().map(|(t, d)| (*t, d[2])).collect();
        assert_eq!(
            dims,
            [(Tap::AttnInput, 16), (Tap::AttnHeads, 16), (Tap::MlpInput, 16), (Tap::MlpHidden, 24)]
        );
        let w = Tensor::zeros((24, 16), DType::F32, &Device::Cpu).unwrap();
        model.set_weight("model.layers.0.mlp.up_proj.weight", &w).unwrap();
        assert!(model.set_weight("model.layers.0.mlp.down_proj.weight", &w).is_err(), "wrong shape");
        assert!(model.set_weight("nope", &w).is_err());
    }

    /// Evaluation without the graph, its logits in chunks of rows (one row, 5 rows, all at once), sums the
    /// same loss as [`Model::loss`] over the same targets, ignored ones left out.
    #[test]
    fn loss_sum_no_grad_equals_the_graphs_loss_in_any_chunking() {
        let json = serde_json::json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 16,
            "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 40, "rms_norm_eps": 1e-6, "max_position_embeddings": 64});
        let cfg = Config::from_hf_json(&json).unwrap();
        let model = Model::new_random(&cfg, 5, DType::F32, &Device::Cpu).unwrap();
        let ids: Vec<u32> = (0..2 * 7).map(|i| (i * 13 + 1) % 40).collect();
        let ids = Tensor::from_vec(ids, (2, 7), &Device::Cpu).unwrap();
        let targets: Vec<i64> = (0..2 * 7).map(|i| if i == 3 { -100 } else { (i * 5 + 2) % 40 }).collect();
        let targets = Tensor::from_vec(targets, (2, 7), &Device::Cpu).unwrap();
        let mean = model.loss(&ids, &targets).unwrap().to_scalar::<f32>().unwrap() as f64;
        for rows in [1, 5, 14, 100] {
            let (sum, count) = model.loss_sum_in_chunks(&ids, &targets, rows).unwrap();
            assert_eq!(count, 13, "rows {rows}");
            assert!((sum / 13.0 - mean).abs() < 1e-6 * mean, "rows {rows}: {} vs {mean}", sum / 13.0);
        }
        assert_eq!(
            model.loss_sum_no_grad(&ids, &targets).unwrap(),
            model.loss_sum_in_chunks(&ids, &targets, 14).unwrap()
        );
        let short = Tensor::zeros((2, 6), DType::U32, &Device::Cpu).unwrap();
        assert!(model.loss_sum_no_grad(&ids, &short).is_err(), "targets of another shape");
        assert_eq!(head_chunk_rows(49_152, DType::F32), 1365);
        assert_eq!(head_chunk_rows(151_936, DType::BF16), 441);
        assert_eq!(head_chunk_rows(usize::MAX / 8, DType::F32), 1);
    }

    /// A bf16 model computes with f32 activations: its loss, logits and hidden states are those of an f32
    /// model holding the same (bf16-rounded) weights, for the no-graph evaluation and the graph alike, with
    /// Qwen2's q/k/v biases and untied embeddings.
    #[test]
    fn bf16_weights_compute_in_f32_like_an_f32_model_of_the_rounded_weights() {
        let json = serde_json::json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 16,
            "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 40, "rms_norm_eps": 1e-6, "max_position_embeddings": 64, "tie_word_embeddings": false});
        let cfg = Config::from_hf_json(&json).unwrap();
        let cpu = Device::Cpu;
        let random = Model::new_random(&cfg, 9, DType::F32, &cpu).unwrap();
        let rounded = |t: &Tensor| t.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap();
        let tensors: HashMap<String, Tensor> =
            random.named_tensors().into_iter().map(|(name, t)| (name, rounded(&t))).collect();
        let narrow = Model::from_tensors(&cfg, tensors.clone(), DType::BF16, &cpu).unwrap();
        let wide = Model::from_tensors(&cfg, tensors, DType::F32, &cpu).unwrap();
        assert_eq!(narrow.dtype(), DType::BF16);
        assert_eq!(narrow.activation_dtype(), DType::F32);
        let ids = Tensor::from_vec((0..14u32).map(|i| (i * 7 + 3) % 40).collect(), (2, 7), &cpu).unwrap();
        let targets = Tensor::from_vec((0..14i64).map(|i| (i * 5 + 1) % 40).collect(), (2, 7), &cpu).unwrap();
        assert_eq!(
            narrow.loss_sum_no_grad(&ids, &targets).unwrap(),
            wide.loss_sum_no_grad(&ids, &targets).unwrap()
        );
        let (a, b) = (narrow.forward(&ids).unwrap(), wide.forward(&ids).unwrap());
        assert_eq!(a.dtype(), DType::F32);
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "logits");
        let (a, b) = (narrow.loss(&ids, &targets).unwrap(), wide.loss(&ids, &targets).unwrap());
        assert_eq!(a.to_scalar::<f32>().unwrap(), b.to_scalar::<f32>().unwrap());
    }

    /// The tape's loss and gradients against candle's autograd through the same fused ops, for untied and
    /// tied embeddings, q/k/v biases (Qwen2), biases on all four projections (Llama's `attention_bias`),
    /// grouped-query heads and ignored targets.
    #[test]
    fn loss_and_grads_on_the_tape_equal_candles_backward() {
        let cases = [
            ("LlamaForCausalLM", false, false),
            ("LlamaForCausalLM", true, true),
            ("Qwen2ForCausalLM", true, false),
        ];
        for (arch, tied, attention_bias) in cases {
            let json = serde_json::json!({"architectures": [arch], "hidden_size": 32,
                "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": 50, "rms_norm_eps": 1e-5,
                "max_position_embeddings": 64, "tie_word_embeddings": tied, "attention_bias": attention_bias});
            let cfg = Config::from_hf_json(&json).unwrap();
            let model = Model::new_random(&cfg, 7, DType::F32, &Device::Cpu).unwrap();
            // Biases start at zero: give them values, so that they act on the forward pass.
            let biases: Vec<(String, Tensor)> =
                model.named_tensors().into_iter().filter(|(n, _)| n.ends_with(".bias")).collect();
            assert_eq!(biases.is_empty(), arch == "LlamaForCausalLM" && !attention_bias);
            for (name, b) in biases {
                model.set_weight(&name, &Tensor::randn(0f32, 0.5, b.dims(), &Device::Cpu).unwrap()).unwrap();
            }
            let ids: Vec<u32> = (0..3 * 9).map(|i| (i * 17 + 3) % 50).collect();
            let ids = Tensor::from_vec(ids, (3, 9), &Device::Cpu).unwrap();
            let targets: Vec<i64> =
                (0..3 * 9).map(|i| if i % 5 == 4 { -100 } else { (i * 7 + 1) % 50 }).collect();
            let targets = Tensor::from_vec(targets, (3, 9), &Device::Cpu).unwrap();

            let loss = model.loss(&ids, &targets).unwrap();
            let reference = loss.backward().unwrap();
            let (tape_loss, grads) =
                model.loss_and_grads(&ids, &targets).unwrap().expect("served by the tape");
            let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
            assert_eq!(scalar(&tape_loss), scalar(&loss), "tied {tied}: loss");
            let vars = model.varmap().all_vars();
            assert_eq!(grads.len(), vars.len(), "tied {tied}: one gradient per parameter");
            for var in vars {
                let want = reference.get(var.as_tensor()).expect("candle's gradient");
                let got = grads.get(&var.as_tensor().id()).expect("the tape's gradient");
                let scale = want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
                let diff =
                    (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(
                    diff <= 1e-6 * scale,
                    "tied {tied}: {:?} differs by {diff} (scale {scale})",
                    var.dims()
                );
            }
        }
    }
}
