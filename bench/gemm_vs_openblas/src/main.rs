//! f32 matrix products at the shapes of `bench/train_vs_torch` (4096 tokens per step), with the `gemm`
//! crate (candle's CPU backend) and with OpenBLAS's `cblas_sgemm`, both on 2 threads, in one process.
//! Prints GFLOP/s (best of 10 after a warm-up) and the ratio OpenBLAS / gemm.

use std::time::Instant;

extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn cblas_sgemm(
        order: i32,
        trans_a: i32,
        trans_b: i32,
        m: i32,
        n: i32,
        k: i32,
        alpha: f32,
        a: *const f32,
        lda: i32,
        b: *const f32,
        ldb: i32,
        beta: f32,
        c: *mut f32,
        ldc: i32,
    );
    fn openblas_set_num_threads(n: i32);
}

const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;

/// Best seconds of `reps` calls after one warm-up call.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let threads = 2;
    // SAFETY: sets OpenBLAS's thread count.
    unsafe { openblas_set_num_threads(threads) };
    let pool = gemm::Parallelism::Rayon(threads as usize);
    // (m, n, k): C (m × n) = A (m × k) · B (k × n). Forward products of configs A and B, the LM head, and
    // the weight-gradient shapes (k = 4096 tokens).
    let shapes = [
        (4096, 256, 256),
        (4096, 704, 256),
        (4096, 256, 704),
        (4096, 4096, 256),
        (256, 704, 4096),
        (4096, 352, 128),
        (4096, 4096, 128),
        (1024, 1024, 1024),
    ];
    println!("{:>18}  {:>10}  {:>14}  {:>8}", "m x n x k", "gemm GF/s", "OpenBLAS GF/s", "ratio");
    // The first shape is measured twice and only the second pass printed: the first products of a process
    // also start both libraries' thread pools and fault in their buffers.
    for (pass, (m, n, k)) in std::iter::once(shapes[0]).chain(shapes).enumerate() {
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i % 89) as f32 - 44.0) / 89.0).collect();
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let ours = best(10, || {
            // SAFETY: the three buffers have the row-major sizes passed.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    pool,
                )
            }
        });
        let blas = best(10, || {
            // SAFETY: as above.
            unsafe {
                cblas_sgemm(
                    ROW_MAJOR,
                    NO_TRANS,
                    NO_TRANS,
                    m as i32,
                    n as i32,
                    k as i32,
                    1.0,
                    a.as_ptr(),
                    k as i32,
                    b.as_ptr(),
                    n as i32,
                    0.0,
                    c.as_mut_ptr(),
                    n as i32,
                )
            }
        });
        let (g, o) = (flops / ours / 1e9, flops / blas / 1e9);
        if pass == 0 {
            continue;
        }
        println!("{:>18}  {g:>10.0}  {o:>14.0}  {:>8.2}", format!("{m} x {n} x {k}"), o / g);
    }
}
