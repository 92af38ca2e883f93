//! The little dense linear algebra SparseGPT needs, in f64 on row-major `n × n` slices: a Cholesky
//! factorisation, the inverse of a lower-triangular matrix, and the *upper* Cholesky factor `U` of `H⁻¹`
//! (`H⁻¹ = Uᵀ U`), whose rows drive the OBS updates.
//!
//! `upper_cholesky_of_inverse` computes `H = L Lᵀ`, `L⁻¹` by forward substitution, `H⁻¹ = L⁻ᵀ L⁻¹`, and
//! finally `cholesky(H⁻¹)ᵀ` — the same three steps as `torch.linalg.cholesky`, `torch.cholesky_inverse`,
//! `torch.linalg.cholesky(upper=True)`. O(n³); rows are computed in parallel where they are independent.

use rayon::prelude::*;

/// A Cholesky failure: the pivot at `column` was not positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NotPositiveDefinite {
    pub column: usize,
    pub pivot: f64,
}

/// Lower `L` with `a = L Lᵀ` (row-major, upper part zero).
pub(crate) fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let row_j = &l[j * n..j * n + j];
        let pivot = a[j * n + j] - row_j.iter().map(|v| v * v).sum::<f64>();
        // Written so that a NaN pivot also fails.
        if pivot.is_nan() || pivot <= 0.0 || !pivot.is_finite() {
            return Err(NotPositiveDefinite { column: j, pivot });
        }
        let d = pivot.sqrt();
        l[j * n + j] = d;
        // Column j below the diagonal: each entry needs rows i and j up to column j, all already final.
        let (head, tail) = l.split_at_mut((j + 1) * n);
        let row_j = &head[j * n..j * n + j];
        tail.par_chunks_mut(n).enumerate().for_each(|(off, row_i)| {
            let i = j + 1 + off;
            let dot: f64 = row_i[..j].iter().zip(row_j).map(|(x, y)| x * y).sum();
            row_i[j] = (a[i * n + j] - dot) / d;
        });
    }
    Ok(l)
}

/// `L⁻¹` of a lower-triangular `L` with a positive diagonal.
pub(crate) fn invert_lower(l: &[f64], n: usize) -> Vec<f64> {
    // Column c of L⁻¹ solves L x = e_c; columns are independent, computed in parallel then transposed in.
    let cols: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|c| {
            let mut x = vec![0.0; n];
            for i in c..n {
                let rhs = if i == c { 1.0 } else { 0.0 };
                let dot: f64 = (c..i).map(|k| l[i * n + k] * x[k]).sum();
                x[i] = (rhs - dot) / l[i * n + i];
            }
            x
        })
        .collect();
    let mut inv = vec![0.0; n * n];
    for (c, x) in cols.iter().enumerate() {
        for i in c..n {
            inv[i * n + c] = x[i];
        }
    }
    inv
}

/// Upper `U` with `a⁻¹ = Uᵀ U`, for a symmetric positive definite `a`.
pub(crate) fn upper_cholesky_of_inverse(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    let linv = invert_lower(&cholesky(a, n)?, n);
    // H⁻¹[i][j] = Σ_k L⁻¹[k][i] L⁻¹[k][j], k ≥ max(i, j) since L⁻¹ is lower triangular.
    let mut inv = vec![0.0; n * n];
    inv.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for k in i..n {
            let lki = linv[k * n + i];
            for (j, v) in row.iter_mut().enumerate().take(k + 1) {
                *v += lki * linv[k * n + j];
            }
        }
    });
    let l2 = cholesky(&inv, n)?;
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l2[i * n + j];
        }
    }
    Ok(u)
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

    #[test]
    fn cholesky_reconstructs() {
        let n = 9;
        let a = spd(n);
        let l = cholesky(&a, n).unwrap();
        let back = matmul(&l, &transpose(&l, n), n);
        assert!(a.iter().zip(&back).all(|(x, y)| (x - y).abs() < 1e-9));
    }

    #[test]
    fn upper_factor_of_inverse_satisfies_ut_u_a_is_identity() {
        let n = 11;
        let a = spd(n);
        let u = upper_cholesky_of_inverse(&a, n).unwrap();
        assert!((0..n).all(|i| (0..i).all(|j| u[i * n + j] == 0.0)), "U must be upper triangular");
        let prod = matmul(&matmul(&transpose(&u, n), &u, n), &a, n);
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((prod[i * n + j] - want).abs() < 1e-9, "({i},{j}) = {}", prod[i * n + j]);
            }
        }
    }

    #[test]
    fn indefinite_matrix_is_rejected_with_its_column() {
        let a = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&a, 2).unwrap_err().column, 1);
    }
}
