//! The per-column kernels under [`super::Batch`]: element-wise maps over a group's column of points (or a
//! scalar broadcast to it), adjoint accumulation, and the fixed-width moment sums behind the factored
//! normal equations.

/// A column operand: a point-level slot's values, or a lower-level slot's value for every point.
#[derive(Clone, Copy)]
pub(super) enum Col<'a> {
    Vec(&'a [f64]),
    Scalar(f64),
}

impl Col<'_> {
    #[inline(always)]
    pub(super) fn at(self, k: usize) -> f64 {
        match self {
            Col::Vec(v) => v[k],
            Col::Scalar(s) => s,
        }
    }
}

#[inline(always)]
pub(super) fn map1(a: Col, out: &mut [f64], f: impl Fn(f64) -> f64) {
    match a {
        Col::Vec(x) => out.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x)),
        Col::Scalar(x) => out.fill(f(x)),
    }
}

#[inline(always)]
pub(super) fn map2(a: Col, b: Col, out: &mut [f64], f: impl Fn(f64, f64) -> f64) {
    match (a, b) {
        (Col::Vec(x), Col::Vec(y)) => {
            out.iter_mut().zip(x.iter().zip(y)).for_each(|(o, (&x, &y))| *o = f(x, y))
        }
        (Col::Vec(x), Col::Scalar(y)) => out.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x, y)),
        (Col::Scalar(x), Col::Vec(y)) => out.iter_mut().zip(y).for_each(|(o, &y)| *o = f(x, y)),
        (Col::Scalar(x), Col::Scalar(y)) => out.fill(f(x, y)),
    }
}

/// `adj[k] += up[k] · d[k]`.
#[inline(always)]
pub(super) fn accumulate(adj: &mut [f64], up: &[f64], d: Col) {
    match d {
        Col::Vec(d) => adj.iter_mut().zip(up.iter().zip(d)).for_each(|(a, (&u, &d))| *a += u * d),
        Col::Scalar(d) => adj.iter_mut().zip(up).for_each(|(a, &u)| *a += u * d),
    }
}

/// Calls `$f::<NB>` for the common boundary widths (fixed-size loops the compiler unrolls), else the
/// general `$f::<0>`.
macro_rules! by_width {
    ($nb:expr, $f:ident($($arg:expr),*)) => {
        match $nb {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}
pub(super) use by_width;

/// `mm = Σ_t w_t w_tᵀ` (`nb × nb`) and `c = Σ_t w_t r(t)` over a group's boundary adjoints `w` (`nb` per
/// point). `NB` is `nb`, or 0 for any width.
#[inline(always)]
pub(super) fn moments<const NB: usize>(
    w: &[f64],
    nb: usize,
    r: impl Fn(usize) -> f64,
    mm: &mut [f64],
    c: &mut [f64],
) {
    mm.fill(0.0);
    c.fill(0.0);
    if NB == 0 {
        for (t, wt) in w.chunks_exact(nb).enumerate() {
            let rt = r(t);
            for (i, &wi) in wt.iter().enumerate() {
                c[i] += wi * rt;
                mm[i * nb..(i + 1) * nb].iter_mut().zip(wt).for_each(|(m, &wj)| *m += wi * wj);
            }
        }
        return;
    }
    // The lower triangle only (M is symmetric): fewer accumulators, which then fit in registers.
    let (mut ms, mut cs) = ([[0.0; NB]; NB], [0.0; NB]);
    for (t, wt) in w.chunks_exact(NB).enumerate() {
        let wt: &[f64; NB] = wt.try_into().expect("chunks of NB");
        let rt = r(t);
        for i in 0..NB {
            cs[i] += wt[i] * rt;
            for j in 0..=i {
                ms[i][j] += wt[i] * wt[j];
            }
        }
    }
    for i in 0..NB {
        c[i] = cs[i];
        for j in 0..=i {
            mm[i * NB + j] = ms[i][j];
            mm[j * NB + i] = ms[i][j];
        }
    }
}

/// For a group: residuals `r_t = base(t) + w_t·v`; writes `c = Σ_t w_t r_t` and returns `½ Σ_t r_t²`.
#[inline(always)]
pub(super) fn projected<const NB: usize>(
    w: &[f64],
    nb: usize,
    base: impl Fn(usize) -> f64,
    v: &[f64],
    c: &mut [f64],
) -> f64 {
    c.fill(0.0);
    let mut f = 0.0;
    if NB == 0 {
        for (t, wt) in w.chunks_exact(nb).enumerate() {
            let r = base(t) + wt.iter().zip(v).map(|(w, v)| w * v).sum::<f64>();
            f += 0.5 * r * r;
            c.iter_mut().zip(wt).for_each(|(c, w)| *c += w * r);
        }
        return f;
    }
    let v: &[f64; NB] = v.try_into().expect("v has NB entries");
    let mut cs = [0.0; NB];
    for (t, wt) in w.chunks_exact(NB).enumerate() {
        let wt: &[f64; NB] = wt.try_into().expect("chunks of NB");
        let mut r = base(t);
        for i in 0..NB {
            r += wt[i] * v[i];
        }
        f += 0.5 * r * r;
        for i in 0..NB {
            cs[i] += wt[i] * r;
        }
    }
    c.copy_from_slice(&cs);
    f
}
