//! Fused CPU kernels (f32, contiguous) with hand-written backward passes, as candle `CustomOp`s: linear
//! layers (alone or closing a residual connection), SwiGLU's gated layer, RMSNorm, causal grouped-query
//! self-attention with RoPE (from one packed q/k/v product), and cross-entropy (alone or with the LM head).
//!
//! Each op is one node of candle's graph where the plain composition is several: candle's backward gives
//! every node a zero-filled gradient buffer and adds into it, so fewer, larger nodes save most of that
//! memory traffic. Products use the `gemm` crate (module `gemm`); elementwise passes run in parallel over
//! rows with rayon, with AVX-512 code paths chosen at run time (module `simd`). Reductions run in a fixed
//! order whatever the thread count, so a step is reproducible bit for bit (a resumed run continues the
//! same trajectory). The backward ops are themselves not differentiable: second derivatives are out of
//! scope, as in candle.

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Shape, Storage, Tensor};

mod attention;
mod gemm;
mod linear;
mod norm;
mod simd;
mod swiglu;
#[cfg(test)]
mod tests;
mod xent;

pub use attention::self_attention;
pub use linear::{linear, linear_add};
pub use norm::rms_norm;
pub use swiglu::swiglu;
pub use xent::{cross_entropy_sum, linear_cross_entropy_sum};

/// Whether the fused kernels serve these tensors: all f32 on the CPU, and not switched off by
/// `P2LAW_FUSED=0`.
pub fn applies(tensors: &[&Tensor]) -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("P2LAW_FUSED").map_or(true, |v| v.trim() != "0"))
        && tensors.iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// The f32 elements of a contiguous input.
fn f32s<'a>(op: &str, storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: f32 input expected, got {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// The f32 elements of a contiguous CPU tensor's storage (for backward passes, which get tensors).
fn cpu_f32<'a>(op: &str, storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    match storage {
        Storage::Cpu(s) => f32s(op, s, layout),
        _ => candle_core::bail!("{op}: CPU tensors expected"),
    }
}

/// `n` zeros, written by all threads (a single-threaded memset of every activation-sized output was a
/// few percent of a training step).
fn zeros(n: usize) -> Vec<f32> {
    use rayon::iter::ParallelExtend;
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0f32, n));
    v
}

/// An f32 result of `shape`.
fn output(data: Vec<f32>, shape: &Shape) -> Result<(CpuStorage, Shape)> {
    Ok((CpuStorage::F32(data), shape.clone()))
}

/// Rows of `width` per parallel task: about 16k elements each, at least one row.
fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}
