//! A linear layer without bias, `y = x · Wᵀ` for x (…, K) and W (N, K), as one op.
//!
//! Composed from candle ops, a linear layer is reshape → transpose → matmul → reshape, and candle's backward
//! gives every one of those nodes a zero-filled gradient buffer that the incoming gradient is then added
//! into. Here it is one node; the backward is two products, `dx = dy · W` and `dW = dyᵀ · x`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::gemm::{product_new, product_parallel, View};
use super::{f32s, output};

/// `residual + x · Wᵀ` for f32 x (…, K), W (N, K) and residual (…, N) on the CPU: the product accumulates
/// into a copy of the residual, and the residual's gradient is the output's.
pub fn linear_add(x: &Tensor, w: &Tensor, residual: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&w.contiguous()?, &residual.contiguous()?, LinearAdd)
}

pub(super) struct LinearAdd;

impl CustomOp3 for LinearAdd {
    fn name(&self) -> &'static str {
        "p2law-linear-add"
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
        let product = Product { ta: false, tb: true };
        let (av, bv, shape) = product.plan(self.name(), l1, l2)?;
        if l3.shape() != &shape {
            candle_core::bail!(
                "{}: residual {:?} for a product of shape {:?}",
                self.name(),
                l3.dims(),
                shape.dims()
            );
        }
        let (a, b) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        let mut y = f32s(self.name(), s3, l3)?.to_vec();
        product_parallel(&mut y, View::rows(0, av.rows, bv.cols, bv.cols), a, av, b, bv, true);
        output(y, &shape)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _residual: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = Product { ta: false, tb: true }.gradients(x, w, grad)?;
        Ok((Some(dx), Some(dw), Some(grad.clone())))
    }
}

/// `x · Wᵀ` for f32 x (…, K) and W (N, K) on the CPU → (…, N).
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, Product::linear())
}

/// `a · b` for the row-major matrices behind two contiguous tensors, each optionally transposed; a tensor
/// of rank > 2 is the matrix (product of leading dims, last dim). See [`Product::plan`] for the shape.
pub(super) struct Product {
    ta: bool,
    tb: bool,
}

/// A tensor as a matrix: (product of leading dims, last dim).
fn as_matrix(dims: &[usize]) -> (usize, usize) {
    match dims.split_last() {
        Some((&last, lead)) => (lead.iter().product(), last),
        None => (1, 1),
    }
}

impl Product {
    /// The product of a linear layer, `x · Wᵀ` (the only one with a backward).
    pub(super) fn linear() -> Product {
        Product { ta: false, tb: true }
    }

    /// Views of a and b as the (possibly transposed) factors, and the result's shape: the leading dims of
    /// `a` (when not transposed) with the product's column count, else a plain matrix.
    fn plan(&self, op: &str, la: &Layout, lb: &Layout) -> Result<(View, View, Shape)> {
        let ((ar, ac), (br, bc)) = (as_matrix(la.dims()), as_matrix(lb.dims()));
        let av = View::rows(0, ar, ac, ac);
        let bv = View::rows(0, br, bc, bc);
        let (av, bv) = (if self.ta { av.t() } else { av }, if self.tb { bv.t() } else { bv });
        if av.cols != bv.rows || av.rows == 0 || bv.cols == 0 || av.cols == 0 {
            candle_core::bail!(
                "{op}: cannot multiply {:?} by {:?} (transposed: {}, {})",
                la.dims(),
                lb.dims(),
                self.ta,
                self.tb
            );
        }
        let shape = match (self.ta, la.dims().split_last()) {
            (false, Some((_, lead))) if !lead.is_empty() => {
                let mut dims = lead.to_vec();
                dims.push(bv.cols);
                Shape::from_dims(&dims)
            }
            _ => Shape::from_dims(&[av.rows, bv.cols]),
        };
        Ok((av, bv, shape))
    }
}

impl Product {
    /// `(dx, dW) = (dy · W, dyᵀ · x)` for `y = x · Wᵀ`.
    fn gradients(&self, x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.ta || !self.tb {
            candle_core::bail!("{}: backward is defined for x · Wᵀ only", self.name());
        }
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(w, &Product { ta: false, tb: false })?; // (…, N)·(N, K)
        let dw = grad.apply_op2_no_bwd(x, &Product { ta: true, tb: false })?; // (N, M)·(M, K)
        Ok((dx, dw))
    }
}

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        "p2law-product"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (av, bv, shape) = self.plan(self.name(), l1, l2)?;
        let (a, b) = (f32s(self.name(), s1, l1)?, f32s(self.name(), s2, l2)?);
        output(product_new(a, av, b, bv), &shape)
    }

    /// For the layer's `y = x · Wᵀ` only (the op as [`linear`] builds it).
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if self.ta || !self.tb {
            candle_core::bail!("{}: backward is defined for x · Wᵀ only", self.name());
        }
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(w, &Product { ta: false, tb: false })?; // (…, N)·(N, K)
        let dw = grad.apply_op2_no_bwd(x, &Product { ta: true, tb: false })?; // (N, M)·(M, K)
        Ok((Some(dx), Some(dw)))
    }
}
