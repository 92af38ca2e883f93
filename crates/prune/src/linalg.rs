//! The little dense linear algebra SparseGPT needs, in f64 on row-major `n × n` slices: a Cholesky
//! factorisation, the inverse of a lower-triangular matrix, and the *upper* Cholesky factor `U` of `H⁻¹`
//! (`H⁻¹ = Uᵀ U`), whose rows drive the OBS updates.
//!
//! `upper_cholesky_of_inverse` needs one factorisation and one triangular inverse, not the reference's
//! three steps (`torch.linalg.cholesky`, `torch.cholesky_inverse`, `torch.linalg.cholesky(upper=True)`):
//! with `J` the order-reversing permutation, factor `J H J = L' L'ᵀ`; then `H = R Rᵀ` with `R = J L' J`
//! upper, so `H⁻¹ = R⁻ᵀ R⁻¹` and `U = R⁻¹ = J L'⁻¹ J` — upper with a positive diagonal, hence the same
//! unique factor the reference computes, without forming `H⁻¹`.
//!
//! Both O(n³) steps are blocked ([`BLOCK`] columns at a time): a small unblocked kernel on each diagonal
//! block, and everything else as matrix products on the `gemm` crate (the kernels candle uses), in
//! parallel over row or column blocks. At Llama-3-8B's FFN width (14,336) the unblocked scalar loops would
//! take about 10¹² flops per matrix one multiply-add at a time.

use p2law_model::ops::fused::gemm::{product_into, View as Part};
use rayon::prelude::*;

/// Rows and columns handled by the unblocked kernels; the rest is matrix products.
const BLOCK: usize = 64;

/// A Cholesky failure: the pivot at `column` was not positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NotPositiveDefinite {
    pub column: usize,
    pub pivot: f64,
}

/// `c ← c − a · b` (`sub`) or `c ← a · b`, on one thread.
fn product(c: &mut [f64], cp: Part, a: &[f64], ap: Part, b: &[f64], bp: Part, sub: bool) {
    let (keep, scale) = if sub { (Some(1.0), -1.0) } else { (None, 1.0) };
    product_into(c, cp, a, ap, b, bp, keep, scale);
}

/// Lower `L` with `a = L Lᵀ` (row-major, upper part zero). Only the lower triangle of `a` is read.
pub(crate) fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    let mut l = a.to_vec();
    for k0 in (0..n).step_by(BLOCK) {
        let k1 = (k0 + BLOCK).min(n);
        let (head, tail) = l.split_at_mut(k1 * n);
        factor_diagonal_block(head, n, k0, k1)?;
        // The panel below the block: row i solves x · L_kkᵀ = l[i, k0..k1].
        let diag = &head[k0 * n..];
        tail.par_chunks_mut(n).for_each(|row| {
            for j in k0..k1 {
                let dot: f64 = (k0..j).map(|p| row[p] * diag[(j - k0) * n + p]).sum();
                row[j] = (row[j] - dot) / diag[(j - k0) * n + j];
            }
        });
        // The trailing lower triangle, block row by block row: A[r, k1..=r] −= P_r · P[..=r]ᵀ.
        let m = n - k1;
        let panel: Vec<f64> = tail.chunks(n).flat_map(|row| row[k0..k1].iter().copied()).collect();
        let w = k1 - k0;
        tail.par_chunks_mut(BLOCK * n).enumerate().for_each(|(b, rows)| {
            let (r0, r1) = (b * BLOCK, (b * BLOCK + BLOCK).min(m));
            let cp = Part::of(n, 0, k1, r1 - r0, r1);
            let ap = Part::of(w, r0, 0, r1 - r0, w);
            let bp = Part::of(w, 0, 0, r1, w).t();
            product(rows, cp, &panel, ap, &panel, bp, true);
        });
    }
    for i in 0..n {
        l[i * n + i + 1..(i + 1) * n].fill(0.0);
    }
    Ok(l)
}

/// Unblocked Cholesky of the diagonal block `k0..k1` of `l` (already updated by earlier blocks).
fn factor_diagonal_block(l: &mut [f64], n: usize, k0: usize, k1: usize) -> Result<(), NotPositiveDefinite> {
    for j in k0..k1 {
        let pivot = l[j * n + j] - l[j * n + k0..j * n + j].iter().map(|v| v * v).sum::<f64>();
        // Written so that a NaN pivot also fails.
        if pivot.is_nan() || pivot <= 0.0 || !pivot.is_finite() {
            return Err(NotPositiveDefinite { column: j, pivot });
        }
        let d = pivot.sqrt();
        l[j * n + j] = d;
        for i in j + 1..k1 {
            let dot: f64 = (k0..j).map(|p| l[i * n + p] * l[j * n + p]).sum();
            l[i * n + j] = (l[i * n + j] - dot) / d;
        }
    }
    Ok(())
}

/// `L⁻¹` of a lower-triangular `L` with a positive diagonal.
pub(crate) fn invert_lower(l: &[f64], n: usize) -> Vec<f64> {
    let mut x = vec![0.0; n * n];
    for i0 in (0..n).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(n);
        let h = i1 - i0;
        let dinv = invert_diagonal_block(l, n, i0, i1);
        // Row block i of X = L⁻¹: X_ic = −D_i⁻¹ · L[i, c0..i0] · X[c0..i0, c], column block by column block
        // (X is lower triangular, so rows above c0 of X's column block c are zero).
        let (done, rest) = x.split_at_mut(i0 * n);
        let done = &*done;
        let blocks: Vec<(usize, Vec<f64>)> = (0..i0)
            .step_by(BLOCK)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|c0| {
                let w = (c0 + BLOCK).min(i0) - c0;
                let mut t = vec![0.0; h * w];
                let tp = Part::of(w, 0, 0, h, w);
                product(
                    &mut t,
                    tp,
                    l,
                    Part::of(n, i0, c0, h, i0 - c0),
                    done,
                    Part::of(n, c0, c0, i0 - c0, w),
                    false,
                );
                let mut y = vec![0.0; h * w];
                product(&mut y, tp, &dinv, Part::of(h, 0, 0, h, h), &t, tp, true);
                (c0, y)
            })
            .collect();
        for (c0, y) in blocks {
            let w = y.len() / h;
            for (r, row) in y.chunks(w).enumerate() {
                rest[r * n + c0..r * n + c0 + w].copy_from_slice(row);
            }
        }
        for (r, row) in dinv.chunks(h).enumerate() {
            rest[r * n + i0..r * n + i1].copy_from_slice(row);
        }
    }
    x
}

/// The inverse (h × h, row-major, lower) of the diagonal block `i0..i1` of a lower-triangular `l`.
fn invert_diagonal_block(l: &[f64], n: usize, i0: usize, i1: usize) -> Vec<f64> {
    let h = i1 - i0;
    let mut inv = vec![0.0; h * h];
    // Column c solves D x = e_c by forward substitution.
    for c in 0..h {
        for i in c..h {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let dot: f64 = (c..i).map(|k| l[(i0 + i) * n + i0 + k] * inv[k * h + c]).sum();
            inv[i * h + c] = (rhs - dot) / l[(i0 + i) * n + i0 + i];
        }
    }
    inv
}

/// Upper `U` with `a⁻¹ = Uᵀ U`, for a symmetric positive definite `a` (see the module doc). A failure
/// names the column of `a` whose pivot was not positive.
pub(crate) fn upper_cholesky_of_inverse(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    let rev = |m: &[f64]| -> Vec<f64> { m.iter().rev().copied().collect() }; // J M J, row-major
    let l = cholesky(&rev(a), n).map_err(|e| NotPositiveDefinite { column: n - 1 - e.column, ..e })?;
    Ok(rev(&invert_lower(&l, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                for j in 0..n {
                    c[i * n + j] += a[i * n + k] * b[k * n + j];
                }
            }
        }
        c
    }

    fn transpose(a: &[f64], n: usize) -> Vec<f64> {
        (0..n * n).map(|idx| a[(idx % n) * n + idx / n]).collect()
    }

    /// A well-conditioned SPD matrix: B Bᵀ + n·I from a fixed pseudo-random B.
    fn spd(n: usize) -> Vec<f64> {
        let b: Vec<f64> = (0..n * n).map(|i| ((i * 7919 % 101) as f64 / 50.0) - 1.0).collect();
        let mut a = matmul(&b, &transpose(&b, n), n);
        for i in 0..n {
            a[i * n + i] += n as f64;
        }
        a
    }

    /// One block, a few whole blocks, and a partial last block.
    const SIZES: [usize; 4] = [9, BLOCK, 2 * BLOCK, 2 * BLOCK + 22];

    #[test]
    fn cholesky_reconstructs() {
        for n in SIZES {
            let a = spd(n);
            let l = cholesky(&a, n).unwrap();
            assert!((0..n).all(|i| (i + 1..n).all(|j| l[i * n + j] == 0.0)), "n {n}: L must be lower");
            let back = matmul(&l, &transpose(&l, n), n);
            let worst = a.iter().zip(&back).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-9 * n as f64, "n {n}: |L Lᵀ − A| = {worst}");
        }
    }

    #[test]
    fn inverse_of_a_lower_factor_is_exact() {
        for n in SIZES {
            let l = cholesky(&spd(n), n).unwrap();
            let prod = matmul(&l, &invert_lower(&l, n), n);
            let worst = (0..n * n).map(|k| (prod[k] - if k % (n + 1) == 0 { 1.0 } else { 0.0 }).abs());
            assert!(worst.fold(0.0, f64::max) < 1e-12, "n {n}");
        }
    }

    #[test]
    fn upper_factor_of_inverse_satisfies_ut_u_a_is_identity() {
        for n in SIZES {
            let a = spd(n);
            let u = upper_cholesky_of_inverse(&a, n).unwrap();
            assert!((0..n).all(|i| (0..i).all(|j| u[i * n + j] == 0.0)), "n {n}: U must be upper triangular");
            assert!((0..n).all(|i| u[i * n + i] > 0.0), "n {n}: a positive diagonal makes U unique");
            let prod = matmul(&matmul(&transpose(&u, n), &u, n), &a, n);
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((prod[i * n + j] - want).abs() < 1e-9, "n {n}: ({i},{j}) = {}", prod[i * n + j]);
                }
            }
        }
    }

    #[test]
    fn indefinite_matrix_is_rejected_with_its_column() {
        let a = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&a, 2).unwrap_err().column, 1);
        // Beyond the first block: column 100 of an otherwise positive diagonal.
        let n = 2 * BLOCK;
        let mut a: Vec<f64> = (0..n * n).map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.0 }).collect();
        a[100 * n + 100] = -1.0;
        assert_eq!(cholesky(&a, n).unwrap_err().column, 100);
        assert_eq!(upper_cholesky_of_inverse(&a, n).unwrap_err().column, 100, "named in the input's order");
        a[100 * n + 100] = f64::NAN;
        assert_eq!(cholesky(&a, n).unwrap_err().column, 100);
    }
}
