//! The model core of p2law: a Llama/Qwen2 decoder on candle whose every weight is trainable.
//!
//! A tour, in pipeline order:
//! - [`config`]: `config.json` → checked [`Config`] (GQA, head_dim, Llama-3 rope scaling, tied embeddings,
//!   Qwen2 biases); unknown keys and architectures are errors.
//! - [`ops`]: the decoder's differentiable building blocks (RMSNorm, rotary embeddings, causal grouped-query
//!   attention, SwiGLU, linear layers), each as a fused CPU kernel with a hand-written backward for f32 and
//!   as plain candle ops everywhere else (candle's own fused kernels have no backward).
//! - [`llama`]: the decoder ([`Model`]), built from named tensors or a seeded init into a `VarMap`;
//!   per-stage access (embed, blocks, final norm, LM head) for pruning.
//! - [`loss`]: cross-entropy with ignore index, optionally fused with the LM head.
//! - [`checkpoint`]: Hugging Face directories in and out (single or sharded safetensors, bf16/f16/f32).
//! - [`gguf`]: llama.cpp GGUF → Hugging Face directory, with a `tokenizer.json` rebuilt from the vocabulary.
//! - [`params`]: total and non-embedding parameter counts.
//! - [`staging`]: output folders built under a locked temporary name and moved into place when complete;
//!   [`staging::OutDir`] first checks a command's output against its inputs.
//!
//! CPU by default; the `cuda` feature compiles the same code with candle's CUDA backend.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod eval;
#[cfg(test)]
mod fuzz_tests;
pub mod gguf;
mod gguf_read;
mod gguf_tokenizer;
pub mod llama;
pub mod loss;
pub mod ops;
pub mod params;
mod safetensors_io;
pub mod staging;
mod weights;

pub use checkpoint::{
    copy_tokenizer_files, load_hf_dir, load_tensors, save_hf_dir, tensor_shapes, torch_dtype_name,
    SaveOptions,
};
pub use config::{Architecture, Config, RopeScaling};
pub use error::{ModelError, Result};
pub use gguf::{convert_gguf, Converted};
pub use llama::{Block, Context, Model, Tap};
pub use loss::{cross_entropy, cross_entropy_sum, IGNORE_INDEX};
pub use params::ParamCounts;
