//! AdamW with decoupled weight decay (Loshchilov & Hutter), with state that can be saved and restored.
//!
//! candle-nn's `AdamW` keeps its moments private, so a run could not be resumed exactly; this one exposes
//! them as named tensors. One step at rate `lr`, step count `t` (1-based), for every parameter `p` with
//! gradient `g`, in the order PyTorch's `torch.optim.AdamW` (single-tensor path) applies it:
//!
//! ```text
//! p ← p · (1 − lr · wd)                      (decoupled decay; only tensors of rank ≥ 2, see below)
//! m ← β1 · m + (1 − β1) · g
//! v ← β2 · v + (1 − β2) · g²
//! p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
//! ```
//!
//! Like nanoGPT, weight decay applies to matrices and embeddings only: decaying norm gains and biases
//! pulls them toward zero for no regularisation benefit.

use candle_core::{Tensor, Var};

use crate::error::{Result, TrainError};

mod fused;

/// AdamW hyper-parameters other than the learning rate (which the schedule supplies per step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    /// PyTorch's defaults.
    fn default() -> Self {
        AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

/// The optimizer: one (m, v) pair per parameter and the number of steps taken.
pub struct AdamW {
    params: AdamWParams,
    slots: Vec<Slot>,
    steps: u64,
    /// Use the fused in-place CPU update where it applies (tests turn it off to compare).
    fused: bool,
}

impl AdamW {
    /// Zero moments for each named parameter. Gradients passed to [`AdamW::step`] follow this order.
    pub fn new(vars: &[(String, Var)], params: AdamWParams) -> Result<Self> {
        let slots = vars
            .iter()
            .map(|(name, var)| {
                // Separate buffers: the fused update writes them in place.
                Ok(Slot {
                    name: name.clone(),
                    var: var.clone(),
                    m: var.as_tensor().zeros_like()?,
                    v: var.as_tensor().zeros_like()?,
                    decay: var.as_tensor().rank() >= 2,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW { params, slots, steps: 0, fused: true })
    }

    /// Steps taken so far (`t` of the last update).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies one update at rate `lr`; `grads[i]` is the gradient of the `i`-th parameter given to `new`.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        assert_eq!(grads.len(), self.slots.len(), "one gradient per parameter");
        self.steps += 1;
        let p = self.params;
        let t = self.steps as i32;
        let bias1 = 1.0 - p.beta1.powi(t);
        let bias2_sqrt = (1.0 - p.beta2.powi(t)).sqrt();
        let step_size = lr / bias1;
        for (slot, g) in self.slots.iter_mut().zip(grads) {
            let decay = if slot.decay { 1.0 - lr * p.weight_decay } else { 1.0 };
            if self.fused && fused::applies(&[slot.var.as_tensor(), &slot.m, &slot.v, g]) {
                let c = fused::Consts { p, decay, step_size, bias2_sqrt };
                fused::step(slot.var.as_tensor(), &slot.m, &slot.v, &g.contiguous()?, c)?;
                continue;
            }
            let mut w = slot.var.as_tensor().detach();
            if slot.decay && p.weight_decay != 0.0 {
                w = w.affine(1.0 - lr * p.weight_decay, 0.0)?;
            }
            slot.m = ((&slot.m * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            slot.v = ((&slot.v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let denom = ((slot.v.sqrt()? / bias2_sqrt)? + p.eps)?;
            let update = (slot.m.div(&denom)? * step_size)?;
            slot.var.set(&(w - update)?)?;
        }
        Ok(())
    }

    /// The state as named tensors: `m.<param>` and `v.<param>` (for a safetensors file).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((format!("m.{}", s.name), s.m.clone()));
            out.push((format!("v.{}", s.name), s.v.clone()));
        }
        out
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count. Every parameter must be present
    /// with its shape; `origin` names the file for errors.
    pub fn load_state(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        steps: u64,
        origin: &std::path::Path,
    ) -> Result<()> {
        for s in &mut self.slots {
            let dims = s.var.as_tensor().dims().to_vec();
            for (key, dst) in [(format!("m.{}", s.name), &mut s.m), (format!("v.{}", s.name), &mut s.v)] {
                let t = tensors.get(&key).ok_or_else(|| TrainError::Checkpoint {
                    path: origin.to_path_buf(),
                    msg: format!("optimizer state has no `{key}`"),
                })?;
                if t.dims() != dims.as_slice() {
                    return Err(TrainError::Checkpoint {
                        path: origin.to_path_buf(),
                        msg: format!("`{key}` has shape {:?}, the parameter {:?}", t.dims(), dims),
                    });
                }
                // A copy: the fused update writes the moments in place, never into the caller's tensors.
                *dst = t.to_device(s.var.device())?.to_dtype(s.var.dtype())?.copy()?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on p = [1, -2] (rank 2, so decayed) with g = [0.5, 0.25] then [-1, 2], lr 0.1, β = (0.9,
    /// 0.999), ε = 1e-8, wd = 0.1, computed by hand from the formula in the module doc (f64). PyTorch:
    /// `p = torch.tensor([[1., -2.]], requires_grad=True); o = torch.optim.AdamW([p], lr=.1, weight_decay=.1)`
    /// then two `p.grad = ...; o.step()` gives the same numbers to f32 precision.
    #[test]
    fn two_steps_match_hand_computation() {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[[1f32, -2.0]], &dev).unwrap()).unwrap();
        let prm = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
        let mut opt = AdamW::new(&[("w".into(), var.clone())], prm).unwrap();
        let grads = [[0.5f64, 0.25], [-1.0, 2.0]];
        let (mut p, mut m, mut v) = ([1f64, -2.0], [0f64; 2], [0f64; 2]);
        for (t, g) in grads.iter().enumerate() {
            let t = (t + 1) as i32;
            for i in 0..2 {
                p[i] *= 1.0 - 0.1 * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let denom = v[i].sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8;
                p[i] -= 0.1 / (1.0 - 0.9f64.powi(t)) * m[i] / denom;
            }
            let gt = Tensor::new(&[[g[0] as f32, g[1] as f32]], &dev).unwrap();
            opt.step(&[gt], 0.1).unwrap();
        }
        let got = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for i in 0..2 {
            assert!((got[i] as f64 - p[i]).abs() < 1e-6, "{got:?} vs {p:?}");
        }
        assert_eq!(opt.steps(), 2);
    }

    /// Adam's first step moves every weight by lr · sign(g) (up to ε), after the decay: 1 · 0.99 − 0.1 and
    /// −2 · 0.99 − 0.1.
    #[test]
    fn first_step_is_sign_times_lr_after_decay() {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[[1f32, -2.0]], &dev).unwrap()).unwrap();
        let prm = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
        let mut opt = AdamW::new(&[("w".into(), var.clone())], prm).unwrap();
        opt.step(&[Tensor::new(&[[0.5f32, 0.25]], &dev).unwrap()], 0.1).unwrap();
        let got = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!((got[0] - 0.89).abs() < 1e-6 && (got[1] + 2.08).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn vectors_are_not_decayed() {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[3f32], &dev).unwrap()).unwrap();
        let prm = AdamWParams { weight_decay: 0.5, ..Default::default() };
        let mut opt = AdamW::new(&[("gain".into(), var.clone())], prm).unwrap();
        opt.step(&[Tensor::new(&[0f32], &dev).unwrap()], 0.1).unwrap();
        assert_eq!(var.as_tensor().to_vec1::<f32>().unwrap(), vec![3.0]);
    }

    #[test]
    fn state_round_trips_and_continues_identically() {
        let dev = Device::Cpu;
        let make = || Var::from_tensor(&Tensor::new(&[[0.3f32, -0.7], [1.5, 0.2]], &dev).unwrap()).unwrap();
        let g = |k: f32| Tensor::new(&[[k, -k], [0.5 * k, 2.0 * k]], &dev).unwrap();
        let prm = AdamWParams::default();
        // Straight: three steps.
        let a = make();
        let mut oa = AdamW::new(&[("w".into(), a.clone())], prm).unwrap();
        for k in [1.0, -0.5, 0.25] {
            oa.step(&[g(k)], 0.01).unwrap();
        }
        // Interrupted after one step: state copied out, a fresh optimizer restored from it.
        let b = make();
        let mut ob = AdamW::new(&[("w".into(), b.clone())], prm).unwrap();
        ob.step(&[g(1.0)], 0.01).unwrap();
        let saved: std::collections::HashMap<_, _> = ob.state_tensors().into_iter().collect();
        let mut oc = AdamW::new(&[("w".into(), b.clone())], prm).unwrap();
        oc.load_state(&saved, ob.steps(), std::path::Path::new("mem")).unwrap();
        for k in [-0.5, 0.25] {
            oc.step(&[g(k)], 0.01).unwrap();
        }
        let va = a.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let vb = b.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(va, vb);
    }

    #[test]
    fn load_state_rejects_missing_and_misshaped() {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::zeros((2, 2), candle_core::DType::F32, &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(&[("w".into(), var)], AdamWParams::default()).unwrap();
        let mut st = std::collections::HashMap::new();
        let err = opt.load_state(&st, 1, std::path::Path::new("opt.safetensors")).unwrap_err();
        assert!(err.to_string().contains("no `m.w`"), "{err}");
        st.insert("m.w".to_string(), Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap());
        let err = opt.load_state(&st, 1, std::path::Path::new("opt.safetensors")).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
    }
}
