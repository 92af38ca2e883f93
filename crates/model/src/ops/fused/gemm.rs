//! Strided matrix products on f32 buffers with the `gemm` crate (what candle's CPU backend uses):
//! single-threaded for kernels that run many small products in parallel themselves, or on rayon's threads.

/// `rows × cols` elements of a buffer, element (r, c) at `at + r·rs + c·cs`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub at: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl View {
    /// A row-major block: `rows × cols` starting at `at`, consecutive rows `rs` apart.
    pub fn rows(at: usize, rows: usize, cols: usize, rs: usize) -> View {
        View { at, rows, cols, rs, cs: 1 }
    }

    /// Rows `r0..r1` of the view.
    pub fn sub_rows(self, r0: usize, r1: usize) -> View {
        View { at: self.at + r0 * self.rs, rows: r1 - r0, ..self }
    }

    /// The transposed view of the same elements.
    pub fn t(self) -> View {
        View { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Whether every element lies inside a buffer of `len`.
    fn fits(&self, len: usize) -> bool {
        self.rows > 0
            && self.cols > 0
            && self.at + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < len
    }
}

/// A raw output buffer shared by parallel tasks that write disjoint elements.
#[derive(Clone, Copy)]
pub struct Out {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `Out` is only a pointer and a length; the tasks that share one write disjoint elements (each
// caller of `product` states why), and the buffer outlives them.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    pub fn new(buf: &mut [f32]) -> Out {
        Out { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// Elements `at..at + len` as a slice (bounds are checked; a miss is a bug and panics).
    ///
    /// # Safety
    /// No other thread touches these elements while the slice lives, and the buffer outlives it.
    pub unsafe fn slice_mut<'a>(self, at: usize, len: usize) -> &'a mut [f32] {
        assert!(at + len <= self.len, "Out::slice_mut: {at}..{} outside {}", at + len, self.len);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), len) }
    }
}

/// `dst ← a · b` (or `dst ← dst + a · b` with `accumulate`), single-threaded.
///
/// # Safety
/// No other thread may read or write `dst`'s elements during the call (other elements of the same buffer
/// are fine). Shapes and bounds are checked (a mismatch is a bug and panics).
pub unsafe fn product(dst: Out, d: View, a: &[f32], av: View, b: &[f32], bv: View, accumulate: bool) {
    // SAFETY: the caller's contract.
    unsafe { product_with(dst, d, a, av, b, bv, accumulate, gemm::Parallelism::None) }
}

/// `dst ← a · b` (or `dst + a · b`) into a buffer of its own, on all of rayon's threads.
pub fn product_parallel(
    dst: &mut [f32],
    d: View,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
    accumulate: bool,
) {
    // SAFETY: `dst` is borrowed mutably for the call, so no one else touches it.
    unsafe { product_with(Out::new(dst), d, a, av, b, bv, accumulate, all_threads()) }
}

/// `a · b` as a new row-major buffer, on all of rayon's threads. (The buffer is zero-filled first, in
/// parallel: gemm reads edge tiles of the destination even when told not to use it.)
pub fn product_new(a: &[f32], av: View, b: &[f32], bv: View) -> Vec<f32> {
    let (m, n) = (av.rows, bv.cols);
    let mut out = super::zeros(m * n);
    product_parallel(&mut out, View::rows(0, m, n, n), a, av, b, bv, false);
    out
}

fn all_threads() -> gemm::Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn product_with(
    dst: Out,
    d: View,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    assert!(
        d.rows == av.rows && d.cols == bv.cols && av.cols == bv.rows,
        "product: {d:?} = {av:?} · {bv:?} does not agree"
    );
    assert!(d.fits(dst.len) && av.fits(a.len()) && bv.fits(b.len()), "product: a view leaves its buffer");
    // SAFETY: every element addressed lies inside its buffer (checked above); `dst`'s elements are ours
    // alone (the caller's contract); `a` and `b` are live shared borrows.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            av.cols,
            dst.ptr.add(d.at),
            d.cs as isize,
            d.rs as isize,
            accumulate,
            a.as_ptr().add(av.at),
            av.cs as isize,
            av.rs as isize,
            b.as_ptr().add(bv.at),
            bv.cs as isize,
            bv.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}
