//! The AdamW update for f32 parameters on the CPU as three in-place passes (first moment, second moment,
//! weight) instead of a dozen tensor ops that each allocate. The arithmetic is the tensor path's, operation
//! for operation (f32 constants, the same order), so both give the same bits; `tests` checks that.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

use super::AdamWParams;

/// Elements per parallel task.
const CHUNK: usize = 16_384;

/// Whether the fused update serves these tensors (all f32 on the CPU; `P2LAW_FUSED=0` switches it off).
pub fn applies(tensors: &[&Tensor]) -> bool {
    p2law_model::ops::fused::applies(tensors)
}

/// The per-step constants.
#[derive(Clone, Copy)]
pub struct Consts {
    pub p: AdamWParams,
    /// `1 − lr · wd` for decayed tensors, 1 otherwise.
    pub decay: f64,
    /// `lr / (1 − β1^t)`.
    pub step_size: f64,
    /// `√(1 − β2^t)`.
    pub bias2_sqrt: f64,
}

/// One update of `w` with gradient `g` (contiguous), moments `m` and `v` updated in place.
pub fn step(w: &Tensor, m: &Tensor, v: &Tensor, g: &Tensor, c: Consts) -> Result<()> {
    m.inplace_op2(g, &Moment { beta: c.p.beta1 as f32, one_minus: (1.0 - c.p.beta1) as f32, square: false })?;
    v.inplace_op2(g, &Moment { beta: c.p.beta2 as f32, one_minus: (1.0 - c.p.beta2) as f32, square: true })?;
    let update = Update {
        decay: c.decay as f32,
        inv_bias2: (1.0 / c.bias2_sqrt) as f32,
        eps: c.p.eps as f32,
        step_size: c.step_size as f32,
    };
    w.inplace_op3(m, v, &update)
}

fn slice_mut<'a>(op: &str, s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(d), Some((a, b))) => Ok(&mut d[a..b]),
        _ => candle_core::bail!("{op}: contiguous f32 tensors expected"),
    }
}

fn slice<'a>(op: &str, s: &'a CpuStorage, l: &Layout, len: usize) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(d), Some((a, b))) if b - a == len => Ok(&d[a..b]),
        _ => candle_core::bail!("{op}: contiguous f32 tensors of {len} elements expected"),
    }
}

/// `m ← m · β + g · (1 − β)`, or with `g · g` for the second moment.
struct Moment {
    beta: f32,
    one_minus: f32,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "p2law-adamw-moment"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        let m = slice_mut(self.name(), dst, dst_l)?;
        let g = slice(self.name(), g, gl, m.len())?;
        let (beta, one_minus, square) = (self.beta, self.one_minus, self.square);
        m.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(m, g)| {
            for (m, &g) in m.iter_mut().zip(g) {
                let g = if square { g * g } else { g };
                *m = (*m * beta + 0.0) + (g * one_minus + 0.0);
            }
        });
        Ok(())
    }
}

/// `w ← w · decay − (m / (√v / √(1 − β2^t) + ε)) · step_size`.
struct Update {
    decay: f32,
    inv_bias2: f32,
    eps: f32,
    step_size: f32,
}

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "p2law-adamw-update"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        m: &CpuStorage,
        ml: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> Result<()> {
        let w = slice_mut(self.name(), dst, dst_l)?;
        let (m, v) = (slice(self.name(), m, ml, w.len())?, slice(self.name(), v, vl, w.len())?);
        let Update { decay, inv_bias2, eps, step_size } = *self;
        w.par_chunks_mut(CHUNK).enumerate().for_each(|(k, w)| {
            let at = k * CHUNK;
            for (i, w) in w.iter_mut().enumerate() {
                let denom = (v[at + i].sqrt() * inv_bias2 + 0.0) * 1.0 + eps;
                *w = (*w * decay + 0.0) - ((m[at + i] / denom) * step_size + 0.0);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::super::{AdamW, AdamWParams};

    /// Fused and tensor paths give identical bits over several steps, for a decayed matrix and a vector.
    #[test]
    fn fused_update_equals_tensor_path_bit_for_bit() {
        let dev = Device::Cpu;
        let init = |n: usize, seed: f32| {
            let data: Vec<f32> = (0..n).map(|i| ((i as f32 * 0.37 + seed).sin()) * 0.5).collect();
            data
        };
        let prm = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
        let run = |fused: bool| {
            let w =
                Var::from_tensor(&Tensor::from_vec(init(40_000, 1.0), (200, 200), &dev).unwrap()).unwrap();
            let b = Var::from_tensor(&Tensor::from_vec(init(300, 2.0), 300, &dev).unwrap()).unwrap();
            let mut opt = AdamW::new(&[("w".into(), w.clone()), ("b".into(), b.clone())], prm).unwrap();
            opt.fused = fused;
            for k in 0..4 {
                let gw = Tensor::from_vec(init(40_000, k as f32), (200, 200), &dev).unwrap();
                let gb = Tensor::from_vec(init(300, 3.0 + k as f32), 300, &dev).unwrap();
                opt.step(&[gw, gb], 1e-3 * (k + 1) as f64).unwrap();
            }
            let flat = |v: &Var| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let state: Vec<Vec<f32>> = opt
                .state_tensors()
                .iter()
                .map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect();
            (flat(&w), flat(&b), state)
        };
        let (fused, plain) = (run(true), run(false));
        assert_eq!(fused.0, plain.0, "matrix");
        assert_eq!(fused.1, plain.1, "vector");
        assert_eq!(fused.2, plain.2, "moments");
        assert_ne!(fused.0, init(40_000, 1.0), "the weights moved");
    }
}
