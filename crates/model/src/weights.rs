//! Where a model's parameters come from while it is built: loaded tensors or a seeded random init.
//!
//! Every parameter becomes a `Var` in one `VarMap` under its Hugging Face name (`model.layers.0.mlp.up_proj.
//! weight`), so the whole model is trainable and the names round-trip to `safetensors`. Layers ask for their
//! tensors by literal name through [`Weights::pp`] / [`Weights::get`] (the shape of candle's `VarBuilder`),
//! and a loaded tensor that is missing or has the wrong shape is a typed error naming it. Unlike
//! `VarMap::load`, any shape the config implies is accepted, so pruned models load like any other.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use p2law_formats::SplitMix64;

use crate::error::{ModelError, Result};

/// How a freshly initialised parameter is filled.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Init {
    /// Normal(0, std) — transformers' `initializer_range` init for linear and embedding weights.
    Normal,
    Zeros,
    Ones,
}

enum Source {
    Tensors(RefCell<HashMap<String, Tensor>>),
    /// Normal draws from SplitMix64 ([`SplitMix64::normal_open`]), so a seed fixes the initial weights on every
    /// platform; candle's CPU device cannot be seeded.
    Random {
        rng: RefCell<SplitMix64>,
        std: f64,
    },
}

/// Owns the `VarMap` being filled and the source of values.
pub(crate) struct Store {
    source: Source,
    pub(crate) varmap: VarMap,
    pub(crate) dtype: DType,
    pub(crate) device: Device,
}

impl Store {
    pub(crate) fn from_tensors(tensors: HashMap<String, Tensor>, dtype: DType, device: &Device) -> Store {
        Store {
            source: Source::Tensors(RefCell::new(tensors)),
            varmap: VarMap::new(),
            dtype,
            device: device.clone(),
        }
    }

    pub(crate) fn random(seed: u64, std: f64, dtype: DType, device: &Device) -> Store {
        let rng = RefCell::new(SplitMix64::new(seed));
        Store { source: Source::Random { rng, std }, varmap: VarMap::new(), dtype, device: device.clone() }
    }

    /// Loaded tensors no layer asked for (empty for a random init).
    pub(crate) fn take_unused(&self) -> Vec<String> {
        match &self.source {
            Source::Tensors(map) => {
                let mut names: Vec<String> = map.borrow_mut().drain().map(|(k, _)| k).collect();
                names.sort();
                names
            }
            Source::Random { .. } => Vec::new(),
        }
    }

    /// Removes a loaded tensor that the model deliberately does not use (e.g. a tied `lm_head.weight`).
    pub(crate) fn discard(&self, name: &str) {
        if let Source::Tensors(map) = &self.source {
            map.borrow_mut().remove(name);
        }
    }

    pub(crate) fn root(&self) -> Weights<'_> {
        Weights { store: self, prefix: String::new() }
    }
}

/// A view of the store under a name prefix.
#[derive(Clone)]
pub(crate) struct Weights<'a> {
    store: &'a Store,
    prefix: String,
}

impl<'a> Weights<'a> {
    /// Descends into a sub-module: `vb.pp("mlp").pp("up_proj")`.
    pub(crate) fn pp(&self, name: impl std::fmt::Display) -> Weights<'a> {
        let prefix =
            if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Weights { store: self.store, prefix }
    }

    /// The parameter `prefix.name` with the given shape, registered as a `Var`.
    pub(crate) fn get(&self, shape: &[usize], name: &str, init: Init) -> Result<Tensor> {
        let full = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        let store = self.store;
        let value = match &store.source {
            Source::Tensors(map) => {
                let t = map
                    .borrow_mut()
                    .remove(&full)
                    .ok_or_else(|| ModelError::MissingTensor { name: full.clone() })?;
                if t.dims() != shape {
                    return Err(ModelError::WrongShape {
                        name: full,
                        expected: shape.to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                t.to_device(&store.device)?.to_dtype(store.dtype)?
            }
            Source::Random { rng, std } => {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Zeros => vec![0.0; n],
                    Init::Ones => vec![1.0; n],
                    Init::Normal => {
                        let mut rng = rng.borrow_mut();
                        (0..n).map(|_| (rng.normal_open() * std) as f32).collect()
                    }
                };
                Tensor::from_vec(values, shape, &store.device)?.to_dtype(store.dtype)?
            }
        };
        let var = Var::from_tensor(&value)?;
        let tensor = var.as_tensor().clone();
        store.varmap.data().lock().expect("varmap lock poisoned").insert(full, var);
        Ok(tensor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_misshapen_tensors_are_named() {
        let t = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let store = Store::from_tensors(HashMap::from([("a.w".to_string(), t)]), DType::F32, &Device::Cpu);
        let err = store.root().pp("a").get(&[3, 2], "w", Init::Zeros).unwrap_err().to_string();
        assert!(err.contains("a.w") && err.contains("[3, 2]"), "{err}");
        let err = store.root().get(&[1], "b", Init::Zeros).unwrap_err().to_string();
        assert!(err.contains("tensor b: missing"), "{err}");
    }
}
