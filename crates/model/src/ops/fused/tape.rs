//! A tape of fused ops: a forward pass outside candle's graph whose backward runs by hand.
//!
//! candle's backward gives every input of every node a zero-filled gradient buffer and adds the node's
//! gradient into it, even when the node is the input's only consumer. For a decoder that is a zero-fill and
//! an add over every activation of every layer (about 5 % of a training step of `bench/train_vs_torch`'s
//! config B). The tape hands a tensor's first gradient over as it is, adds only when a second one arrives
//! (the residual stream, tied embeddings), and drops each gradient as soon as its producer has used it.
//!
//! The ops are the same `CustomOp`s as in candle's graph (forward and backward), so both paths compute the
//! same numbers; `crate::llama`'s tests compare every parameter's gradient.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use candle_core::{CustomOp2, CustomOp3, Result, Tensor, TensorId};

use super::{attention, linear, norm, swiglu, xent};

/// The ops of a forward pass in order, with their inputs and outputs, for [`Tape::backward`].
#[derive(Default)]
pub struct Tape {
    steps: Vec<Step>,
}

struct Step {
    inputs: Vec<Tensor>,
    out: Tensor,
    op: Box<dyn Backward>,
}

/// An op's backward: the gradients of its inputs (in order) from its output's.
trait Backward {
    fn run(&self, inputs: &[Tensor], out: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>>;
}

struct Two<T>(T);
struct Three<T>(T);

impl<T: CustomOp2> Backward for Two<T> {
    fn run(&self, i: &[Tensor], out: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = self.0.bwd(&i[0], &i[1], out, grad)?;
        Ok(vec![a, b])
    }
}

impl<T: CustomOp3> Backward for Three<T> {
    fn run(&self, i: &[Tensor], out: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b, c) = self.0.bwd(&i[0], &i[1], &i[2], out, grad)?;
        Ok(vec![a, b, c])
    }
}

/// Row blocks of a stacked tensor: the gradient is cut back into the parts' rows.
struct Stack(Vec<usize>);

impl Backward for Stack {
    fn run(&self, _: &[Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut at = 0;
        let mut parts = Vec::with_capacity(self.0.len());
        for &rows in &self.0 {
            parts.push(Some(grad.narrow(0, at, rows)?.contiguous()?));
            at += rows;
        }
        Ok(parts)
    }
}

/// A bias (N) added to every row of `x` (…, N): `x`'s gradient is the output's, the bias's its column sums.
struct BiasAdd;

impl Backward for BiasAdd {
    fn run(&self, i: &[Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let columns = grad.reshape(((), i[1].elem_count()))?.sum(0)?;
        Ok(vec![Some(grad.clone()), Some(columns)])
    }
}

/// A sum of two tensors of one shape: both get the output's gradient.
struct Add;

impl Backward for Add {
    fn run(&self, _: &[Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.clone()), Some(grad.clone())])
    }
}

/// A reshape: the gradient takes the input's shape back.
struct Reshape;

impl Backward for Reshape {
    fn run(&self, i: &[Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.reshape(i[0].shape())?)])
    }
}

/// Inputs must be contiguous as they are: a contiguous copy would be another tensor, and its gradient
/// would never reach the original's producer.
fn contiguous(op: &str, inputs: &[&Tensor]) -> Result<()> {
    match inputs.iter().position(|t| !t.is_contiguous()) {
        Some(i) => candle_core::bail!("{op} on a tape: input {i} ({:?}) is not contiguous", inputs[i].dims()),
        None => Ok(()),
    }
}

impl Tape {
    pub fn new() -> Tape {
        Tape::default()
    }

    fn record(&mut self, inputs: Vec<Tensor>, out: &Tensor, op: Box<dyn Backward>) {
        self.steps.push(Step { inputs, out: out.clone(), op });
    }

    fn op2<T: CustomOp2 + 'static>(&mut self, a: &Tensor, b: &Tensor, op: T) -> Result<Tensor> {
        contiguous(op.name(), &[a, b])?;
        let out = a.apply_op2_no_bwd(b, &op)?;
        self.record(vec![a.clone(), b.clone()], &out, Box::new(Two(op)));
        Ok(out)
    }

    fn op3<T: CustomOp3 + 'static>(&mut self, a: &Tensor, b: &Tensor, c: &Tensor, op: T) -> Result<Tensor> {
        contiguous(op.name(), &[a, b, c])?;
        let out = a.apply_op3_no_bwd(b, c, &op)?;
        self.record(vec![a.clone(), b.clone(), c.clone()], &out, Box::new(Three(op)));
        Ok(out)
    }

    /// [`super::rms_norm`].
    pub fn rms_norm(&mut self, x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
        self.op2(x, weight, norm::RmsNorm::new(eps))
    }

    /// [`crate::ops::linear_add`]: `residual + x · Wᵀ + b`, one fused op when there is no bias.
    pub fn linear_add(
        &mut self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        residual: &Tensor,
    ) -> Result<Tensor> {
        match bias {
            None => self.op3(x, w, residual, linear::LinearAdd),
            // As `ops::linear_add` does with a bias: the residual plus the biased product.
            Some(b) => {
                let y = self.linear(x, w, Some(b))?;
                self.add(residual, &y)
            }
        }
    }

    /// [`super::swiglu`].
    pub fn swiglu(&mut self, x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
        self.op3(x, w_gate, w_up, swiglu::Swiglu::new())
    }

    /// [`super::self_attention`].
    pub fn self_attention(
        &mut self,
        x: &Tensor,
        w: [&Tensor; 3],
        bias: Option<[&Tensor; 3]>,
        cos: &Tensor,
        sin: &Tensor,
        head_dim: usize,
    ) -> Result<Tensor> {
        let (hq, hk) = attention::head_counts(w, head_dim)?;
        let stacked = self.stack(w)?;
        let mut qkv = self.linear(x, &stacked, None)?;
        if let Some(b) = bias {
            let b = self.stack(b)?;
            qkv = self.bias_add(&qkv, &b)?;
        }
        self.op3(&qkv, cos, sin, attention::Attention::new(hq, hk, head_dim)?)
    }

    /// [`crate::ops::linear`]: `x · Wᵀ`, plus the bias on every row when there is one.
    fn linear(&mut self, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let y = self.op2(x, w, linear::Product::linear())?;
        match bias {
            Some(b) => self.bias_add(&y, b),
            None => Ok(y),
        }
    }

    /// `x` (…, N) plus `bias` (N) on every row.
    fn bias_add(&mut self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let sum = x.broadcast_add(&bias.detach())?;
        self.record(vec![x.clone(), bias.clone()], &sum, Box::new(BiasAdd));
        Ok(sum)
    }

    /// `a + b` for tensors of one shape.
    fn add(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let sum = (a.detach() + b.detach())?;
        self.record(vec![a.clone(), b.clone()], &sum, Box::new(Add));
        Ok(sum)
    }

    /// The tensors' rows one after another (weights or biases of the q, k and v projections).
    fn stack(&mut self, parts: [&Tensor; 3]) -> Result<Tensor> {
        // Detached copies (new ids) for the concatenation only, so that candle records no graph; the step
        // keeps the originals, whose ids the gradients must carry.
        let stacked = Tensor::cat(&parts.map(|p| p.detach()), 0)?;
        let rows = parts.iter().map(|p| p.dim(0)).collect::<Result<Vec<_>>>()?;
        self.record(parts.map(|p| p.clone()).to_vec(), &stacked, Box::new(Stack(rows)));
        Ok(stacked)
    }

    /// `x` in another shape with the same elements.
    pub fn reshape(&mut self, x: &Tensor, dims: &[usize]) -> Result<Tensor> {
        let out = x.reshape(dims)?;
        self.record(vec![x.clone()], &out, Box::new(Reshape));
        Ok(out)
    }

    /// [`super::linear_cross_entropy_sum`].
    pub fn linear_cross_entropy_sum(
        &mut self,
        x: &Tensor,
        w: &Tensor,
        targets: Vec<u32>,
        keep: Vec<bool>,
    ) -> Result<Tensor> {
        self.op2(x, w, xent::LinearCrossEntropy::new(targets, keep))
    }

    /// Runs the steps backward from `out` with gradient `grad`: the gradient of every tensor the steps
    /// read that `out` depends on and no step produced (the weights, the first input), by tensor id.
    pub fn backward(self, out: &Tensor, grad: Tensor) -> Result<HashMap<TensorId, Tensor>> {
        let mut grads = HashMap::from([(out.id(), grad)]);
        for step in self.steps.into_iter().rev() {
            let Some(grad) = grads.remove(&step.out.id()) else { continue };
            let input_grads = step.op.run(&step.inputs, &step.out, &grad)?;
            for (input, g) in step.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                match grads.entry(input.id()) {
                    Entry::Vacant(e) => {
                        e.insert(g);
                    }
                    Entry::Occupied(mut e) => {
                        let sum = (e.get() + &g)?;
                        e.insert(sum);
                    }
                }
            }
        }
        Ok(grads)
    }
}
