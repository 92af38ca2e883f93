//! Fused CPU kernels (f32, contiguous) with hand-written backward passes, as candle `CustomOp`s: linear
//! layers (alone or closing a residual connection), SwiGLU's gated layer, RMSNorm, causal grouped-query
//! self-attention with RoPE (from one packed q/k/v product), and cross-entropy (alone or with the LM head).
//!
//! Each op is one node of candle's graph where the plain composition is several: candle's backward gives
//! every node a zero-filled gradient buffer and adds into it, so fewer, larger nodes save most of that
//! memory traffic. Training skips candle's graph altogether: [`Tape`] records the same ops and runs their
//! backward by hand (`crate::llama::Model::loss_and_grads`). Products use the `gemm` crate (module `gemm`),
//! split into row bands, one per thread; elementwise passes run in parallel over
//! rows with rayon, with AVX-512 code paths chosen at run time (module `simd`). Reductions run in a fixed
//! order whatever the thread count, so a step is reproducible bit for bit (a resumed run continues the
//! same trajectory). The backward ops are themselves not differentiable: second derivatives are out of
//! scope, as in candle.

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Shape, Storage, Tensor};

mod attention;
pub mod gemm;
mod linear;
mod norm;
mod simd;
mod swiglu;
mod tape;
#[cfg(test)]
mod tests;
mod xent;

pub use attention::self_attention;
pub use linear::{linear, linear_add};
pub use norm::rms_norm;
pub use swiglu::swiglu;
pub use tape::Tape;
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

/// `n` zeros, written by all threads in large blocks (for outputs that kernels add into).
fn zeros(n: usize) -> Vec<f32> {
    let [v] = filled(n, n.div_ceil(rayon::current_num_threads()).max(1 << 16), |_, _| {});
    v
}

/// `K` new buffers of `n` elements, written by `f(i, [chunk i of each])` on rayon's threads, chunks of
/// `chunk` elements (the last may be shorter). Each chunk is zeroed just before `f` sees it, while it is in
/// the core's cache: zero-filling whole activation-sized buffers first cost a second pass over memory (6 %
/// of a training step).
fn filled<const K: usize>(
    n: usize,
    chunk: usize,
    f: impl Fn(usize, [&mut [f32]; K]) + Sync,
) -> [Vec<f32>; K] {
    use rayon::prelude::*;
    let chunk = chunk.max(1);
    let mut bufs: [Vec<f32>; K] = std::array::from_fn(|_| Vec::with_capacity(n));
    let outs = bufs.each_mut().map(|b| self::gemm::Out::spare(b, n));
    (0..n.div_ceil(chunk)).into_par_iter().for_each(|i| {
        let (at, len) = (i * chunk, chunk.min(n - i * chunk));
        // SAFETY: chunk i is elements at..at + len of each buffer's allocation, touched by task i alone;
        // zeroing makes them valid f32s before they are seen as a slice.
        f(i, outs.map(|o| unsafe { o.zeroed_slice(at, len) }));
    });
    for b in &mut bufs {
        // SAFETY: every chunk of the first `n` elements was zeroed above.
        unsafe { b.set_len(n) };
    }
    bufs
}

#[cfg(test)]
#[test]
fn filled_zeroes_then_hands_out_every_chunk_once() {
    for (n, chunk) in [(0usize, 4usize), (1, 4), (10, 3), (1000, 64), (70_000, 16_384)] {
        let seen = std::sync::Mutex::new(vec![0u32; n.div_ceil(chunk)]);
        let [a, b] = filled(n, chunk, |i, [a, b]| {
            assert!(a.iter().chain(b.iter()).all(|v| *v == 0.0), "chunk {i} not zeroed");
            assert_eq!(a.len(), chunk.min(n - i * chunk));
            seen.lock().unwrap()[i] += 1;
            for (j, (a, b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                (*a, *b) = ((i * chunk + j) as f32, -1.0);
            }
        });
        assert!(seen.into_inner().unwrap().iter().all(|c| *c == 1));
        assert!(a.iter().enumerate().all(|(j, v)| *v == j as f32) && b.iter().all(|v| *v == -1.0));
        assert_eq!((a.len(), b.len()), (n, n));
    }
}

/// An f32 result of `shape`.
fn output(data: Vec<f32>, shape: &Shape) -> Result<(CpuStorage, Shape)> {
    Ok((CpuStorage::F32(data), shape.clone()))
}

/// Rows of `width` per parallel task: about 16k elements each, at least one row.
fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}
