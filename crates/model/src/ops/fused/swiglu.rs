//! The gated half of a SwiGLU MLP as one op: `h = silu(x · W_gᵀ) ∘ (x · W_uᵀ)` for x (…, K) and
//! W_g, W_u (F, K), with `silu(g) = g · σ(g)`. (The down projection is a plain [`super::linear`].)
//!
//! The forward keeps the two pre-activations `g` and `u` for the backward:
//!
//! ```text
//! dg = dh · u · σ(g) · (1 + g · (1 − σ(g)))      du = dh · silu(g)
//! dx = dg · W_g + du · W_u      dW_g = dgᵀ · x      dW_u = duᵀ · x
//! ```
//!
//! One graph node instead of five (two linear layers, the activation, the product), each of which candle's
//! backward would give a zero-filled gradient buffer.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::gemm::{product_new, product_parallel, View};
use super::simd::{multiversion, sigmoid};
use super::{cpu_f32, f32s, filled, output};

/// Elements per parallel task.
const CHUNK: usize = 16_384;

/// `silu(x · W_gᵀ) ∘ (x · W_uᵀ)` for f32 x (…, K), W_g and W_u (F, K) on the CPU → (…, F).
pub fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&w_gate.contiguous()?, &w_up.contiguous()?, Swiglu::new())
}

/// The forward's pre-activations (g, u), each (M, F).
type PreActivations = Arc<(Vec<f32>, Vec<f32>)>;

pub(super) struct Swiglu {
    saved: Mutex<Option<PreActivations>>,
}

impl Swiglu {
    pub(super) fn new() -> Swiglu {
        Swiglu { saved: Mutex::new(None) }
    }
}

/// (M, K, F) for x (…, K) and two (F, K) weights.
fn sizes(op: &str, x: &[usize], wg: &[usize], wu: &[usize]) -> Result<(usize, usize, usize)> {
    match (x.split_last(), wg, wu) {
        (Some((&k, lead)), [f, k2], _) if k == *k2 && wg == wu && k > 0 && *f > 0 => {
            Ok((lead.iter().product(), k, *f))
        }
        _ => candle_core::bail!("{op}: x {x:?} needs two (F, {:?}) weights, got {wg:?} and {wu:?}", x.last()),
    }
}

impl CustomOp3 for Swiglu {
    fn name(&self) -> &'static str {
        "p2law-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = self.name();
        let (m, k, f) = sizes(n, l1.dims(), l2.dims(), l3.dims())?;
        let (x, wg, wu) = (f32s(n, s1, l1)?, f32s(n, s2, l2)?, f32s(n, s3, l3)?);
        let (xv, wv) = (View::rows(0, m, k, k), View::rows(0, f, k, k).t());
        let (g, u) = (product_new(x, xv, wg, wv), product_new(x, xv, wu, wv));
        let [h] = filled(m * f, CHUNK, |i, [h]| {
            let at = i * CHUNK;
            gate(h, &g[at..at + h.len()], &u[at..at + h.len()])
        });
        *self.saved.lock().expect("saved lock poisoned") = Some(Arc::new((g, u)));
        let mut dims = l1.dims().to_vec();
        *dims.last_mut().expect("x has a last dimension") = f;
        output(h, &Shape::from_dims(&dims))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_gate: &Tensor,
        w_up: &Tensor,
        _h: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = self.name();
        let saved = self.saved.lock().expect("saved lock poisoned").clone();
        let Some(saved) = saved else { candle_core::bail!("{n}: backward before forward") };
        let (g, u) = (&saved.0, &saved.1);
        let grad = grad.contiguous()?;
        let (m, k, f) = sizes(n, x.dims(), w_gate.dims(), w_up.dims())?;
        let guards = [x, w_gate, w_up, &grad].map(|t| t.storage_and_layout());
        let [x_s, wg, wu, dh] = [0, 1, 2, 3].map(|i| cpu_f32(n, &guards[i].0, guards[i].1));
        let (x_s, wg, wu, dh) = (x_s?, wg?, wu?, dh?);
        if dh.len() != m * f {
            candle_core::bail!("{n}: gradient {:?} for an output of {m} × {f}", grad.dims());
        }
        let [dg, du] = filled(m * f, CHUNK, |i, [dg, du]| {
            let at = i * CHUNK;
            let (g, u, dh) = (&g[at..at + dg.len()], &u[at..at + dg.len()], &dh[at..at + dg.len()]);
            gate_gradients(dg, du, g, u, dh);
        });
        let (xv, wv, dv) = (View::rows(0, m, k, k), View::rows(0, f, k, k), View::rows(0, m, f, f));
        let mut dx = product_new(&dg, dv, wg, wv);
        product_parallel(&mut dx, xv, &du, dv, wu, wv, true);
        let (dwg, dwu) = (product_new(&dg, dv.t(), x_s, xv), product_new(&du, dv.t(), x_s, xv));
        let dev = grad.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dwg, w_gate.shape(), dev)?),
            Some(Tensor::from_vec(dwu, w_up.shape(), dev)?),
        ))
    }
}

multiversion! {
    /// `h = silu(g) · u`.
    fn gate(h: &mut [f32], g: &[f32], u: &[f32]) {
        for ((h, &g), &u) in h.iter_mut().zip(g).zip(u) {
            *h = g * sigmoid(g) * u;
        }
    }
}

multiversion! {
    /// `dg = dh · u · σ(g) · (1 + g · (1 − σ(g)))`, `du = dh · silu(g)`.
    fn gate_gradients(dg: &mut [f32], du: &mut [f32], g: &[f32], u: &[f32], dh: &[f32]) {
        for ((((dg, du), &g), &u), &dh) in dg.iter_mut().zip(du.iter_mut()).zip(g).zip(u).zip(dh) {
            let sig = sigmoid(g);
            *dg = dh * u * sig * (1.0 + g * (1.0 - sig));
            *du = dh * g * sig;
        }
    }
}
