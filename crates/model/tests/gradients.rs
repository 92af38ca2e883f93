//! Every parameter is trainable: one backward pass through the loss reaches all of them.

mod common;

use candle_core::{DType, Device};
use common::{fixture, reference};
use p2law_model::load_hf_dir;

fn all_parameters_get_gradients(name: &str) {
    let (_, model) = load_hf_dir(&fixture(name), DType::F32, &Device::Cpu).unwrap();
    let r = reference(name);
    let grads = model.loss(&r.ids, &r.targets).unwrap().backward().unwrap();
    let params = model.named_tensors();
    assert!(params.len() > 10);
    for (pname, t) in params {
        let g = grads.get(&t).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        assert_eq!(g.dims(), t.dims(), "{pname}");
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient of {pname} has norm² {norm}");
    }
}

#[test]
fn llama_every_parameter_has_a_gradient() {
    all_parameters_get_gradients("llama");
}

#[test]
fn qwen2_every_parameter_has_a_gradient() {
    all_parameters_get_gradients("qwen2");
}
