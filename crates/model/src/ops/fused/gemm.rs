//! Strided matrix products with the `gemm` crate (what candle's CPU backend uses): on f32 buffers for the
//! fused kernels, single-threaded for kernels that run many small products in parallel themselves, or on
//! rayon's threads; and [`product_into`], one product on a slice of any element type `gemm` takes (the f64
//! blocked Cholesky of SparseGPT in `p2law-prune` uses it).

use rayon::prelude::*;

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

    /// Rows `r0..r0+rows`, columns `c0..c0+cols` of a row-major matrix with `ld` columns.
    pub fn of(ld: usize, r0: usize, c0: usize, rows: usize, cols: usize) -> View {
        View { at: r0 * ld + c0, rows, cols, rs: ld, cs: 1 }
    }

    fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0
    }

    /// Rows `r0..r1` of the view.
    pub fn sub_rows(self, r0: usize, r1: usize) -> View {
        View { at: self.at + r0 * self.rs, rows: r1 - r0, ..self }
    }

    /// The transposed view of the same elements.
    pub fn t(self) -> View {
        View { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Whether every element lies inside a buffer of `len` (an empty view fits anywhere).
    fn fits(&self, len: usize) -> bool {
        self.is_empty() || self.at + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < len
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

    /// The first `len` elements of `buf`'s allocation, initialised or not (see [`Out::zeroed_slice`]).
    pub fn spare(buf: &mut Vec<f32>, len: usize) -> Out {
        assert!(len <= buf.capacity(), "Out::spare: {len} elements in a capacity of {}", buf.capacity());
        Out { ptr: buf.as_mut_ptr(), len }
    }

    /// Elements `at..at + len`, zeroed, as a slice (for buffers from [`Out::spare`]).
    ///
    /// # Safety
    /// As [`Out::slice_mut`].
    pub unsafe fn zeroed_slice<'a>(self, at: usize, len: usize) -> &'a mut [f32] {
        assert!(at + len <= self.len, "Out::zeroed_slice: {at}..{} outside {}", at + len, self.len);
        // SAFETY: in bounds (checked), exclusive by the caller's contract; all-zero bytes are 0.0f32.
        unsafe {
            std::ptr::write_bytes(self.ptr.add(at), 0, len);
            std::slice::from_raw_parts_mut(self.ptr.add(at), len)
        }
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
    // SAFETY: forwarded from the caller: `dst`'s elements are ours alone during the call.
    unsafe { raw_product(dst.ptr, dst.len, d, a, av, b, bv, accumulate.then_some(1.0), 1.0) }
}

/// `c ← keep · c + scale · a · b` (with `keep` given) or `c ← scale · a · b`, single-threaded, on a slice
/// of any element type `gemm` takes (f32, f64, …). Shapes and bounds are checked (a mismatch is a bug and
/// panics); empty views do nothing.
#[allow(clippy::too_many_arguments)]
pub fn product_into<T: 'static + Copy>(
    c: &mut [T],
    cv: View,
    a: &[T],
    av: View,
    b: &[T],
    bv: View,
    keep: Option<T>,
    scale: T,
) {
    // SAFETY: `c` is borrowed mutably for the call, so no one else touches its elements.
    unsafe { raw_product(c.as_mut_ptr(), c.len(), cv, a, av, b, bv, keep, scale) }
}

/// The one call into `gemm` behind [`product`] and [`product_into`].
///
/// # Safety
/// `dst` points to `len` elements, and no other thread reads or writes the elements `d` addresses during
/// the call.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_product<T: 'static + Copy>(
    dst: *mut T,
    len: usize,
    d: View,
    a: &[T],
    av: View,
    b: &[T],
    bv: View,
    keep: Option<T>,
    scale: T,
) {
    assert!(
        d.rows == av.rows && d.cols == bv.cols && av.cols == bv.rows,
        "product: {d:?} = {av:?} · {bv:?} does not agree"
    );
    assert!(d.fits(len) && av.fits(a.len()) && bv.fits(b.len()), "product: a view leaves its buffer");
    if d.is_empty() {
        return;
    }
    // `gemm` ignores `alpha` when it does not read the destination.
    let alpha = keep.unwrap_or(scale);
    // SAFETY: every element addressed lies inside its buffer (checked above); `dst`'s elements are ours
    // alone (the caller's contract); `a` and `b` are live shared borrows.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            av.cols,
            dst.add(d.at),
            d.cs as isize,
            d.rs as isize,
            keep.is_some(),
            a.as_ptr().add(av.at),
            av.cs as isize,
            av.rs as isize,
            b.as_ptr().add(bv.at),
            bv.cs as isize,
            bv.rs as isize,
            alpha,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `dst ← a · b` (or `dst + a · b`) into a buffer of its own, on all of rayon's threads: each thread
/// computes a band of the output's rows with a single-threaded product.
///
/// Bands rather than the `gemm` crate's own threading: on 2 cores its threads wait on each other inside
/// every product, and a training step of `bench/train_vs_torch`'s config B ran 4–12 % faster with bands
/// (each band's rows of `a` packed by its own thread, all of `b` by every thread).
pub fn product_parallel(
    dst: &mut [f32],
    d: View,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
    accumulate: bool,
) {
    let out = Out::new(dst);
    bands(d.rows, |r0, r1| {
        // SAFETY: `dst` is borrowed mutably for the call, and the bands are disjoint rows of it.
        unsafe { product(out, d.sub_rows(r0, r1), a, av.sub_rows(r0, r1), b, bv, accumulate) }
    });
}

/// `a · b` as a new row-major buffer, on all of rayon's threads, a band of rows each. Each band is
/// zero-filled by its thread just before its product (gemm reads edge tiles of the destination even when
/// told not to use them).
pub fn product_new(a: &[f32], av: View, b: &[f32], bv: View) -> Vec<f32> {
    let (m, n) = (av.rows, bv.cols);
    let rows = band_rows(m);
    let [out] = super::filled(m * n, rows * n, |i, [band]| {
        let (r0, r1) = (i * rows, i * rows + band.len() / n);
        // SAFETY: `band` is this task's own buffer.
        unsafe { product(Out::new(band), View::rows(0, r1 - r0, n, n), a, av.sub_rows(r0, r1), b, bv, false) }
    });
    out
}

/// Calls `f(r0, r1)` for consecutive bands of `rows` (see [`band_rows`]) on rayon's threads.
fn bands(rows: usize, f: impl Fn(usize, usize) + Sync) {
    let size = band_rows(rows);
    (0..rows.div_ceil(size)).into_par_iter().for_each(|i| f(i * size, ((i + 1) * size).min(rows)));
}

/// Rows per band for a product of `rows` output rows: one band per rayon thread, each of at least
/// `MIN_BAND_ROWS` rows (a smaller product runs on one thread).
fn band_rows(rows: usize) -> usize {
    const MIN_BAND_ROWS: usize = 64;
    let bands = rayon::current_num_threads().min(rows / MIN_BAND_ROWS).max(1);
    rows.div_ceil(bands).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · b` by the definition, for views of row-major buffers.
    fn naive(a: &[f32], av: View, b: &[f32], bv: View) -> Vec<f32> {
        let at = |buf: &[f32], v: View, r: usize, c: usize| buf[v.at + r * v.rs + c * v.cs];
        let mut out = vec![0f32; av.rows * bv.cols];
        for r in 0..av.rows {
            for c in 0..bv.cols {
                out[r * bv.cols + c] = (0..av.cols).map(|i| at(a, av, r, i) * at(b, bv, i, c)).sum();
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 20) as f32 / 4096.0 - 0.5)
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}: element {i} is {g}, expected {w}");
        }
    }

    #[test]
    fn bands_of_rows_give_the_whole_product_on_any_thread_count() {
        for threads in [1, 2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for (m, k, n) in [(1, 5, 3), (63, 17, 9), (64, 8, 33), (129, 31, 20), (517, 12, 70)] {
                    let what = format!("{threads} threads, {m}×{k}·{k}×{n}");
                    let (a, b) = (data(m * k, 1), data(k * n, 2));
                    let (av, bv) = (View::rows(0, m, k, k), View::rows(0, k, n, n));
                    let want = naive(&a, av, &b, bv);
                    assert_close(&product_new(&a, av, &b, bv), &want, &what);
                    // aᵀ stored as (k, m), and accumulation into a non-zero destination.
                    let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
                    let mut acc = data(m * n, 3);
                    let plus: Vec<f32> = acc.iter().zip(&want).map(|(x, y)| x + y).collect();
                    let d = View::rows(0, m, n, n);
                    product_parallel(&mut acc, d, &at, View::rows(0, k, m, m).t(), &b, bv, true);
                    assert_close(&acc, &plus, &format!("{what}, transposed a, accumulated"));
                }
            });
        }
    }
}
