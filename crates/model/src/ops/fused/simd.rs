//! A vectorizable `exp`, lane-split reductions, and AVX-512 code generation when the CPU has it.
//!
//! libm's `expf` is a scalar call per element; softmax, cross-entropy and SwiGLU made it a tenth of a
//! training step. [`exp`] is branch-free f32 arithmetic that LLVM vectorizes, and [`multiversion!`] compiles
//! a kernel's loops a second time for AVX-512, chosen at run time (the binary still runs on any x86-64).

/// `e^x`: Cody–Waite range reduction and a degree-6 polynomial, within about 2 ulp of libm for
/// `x ∈ [−87.3, 88.3]`. Inputs are clamped to that range: below, the result is ~1.2e-38 instead of a
/// denormal or 0; above, ~2.1e38 instead of overflowing. NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer kept in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // `wrapping_add`: a checked add (debug builds) would keep this loop from vectorizing. k ∈ [−126, 128].
    y * f32::from_bits((k.wrapping_add(127) << 23) as u32)
}

/// `1 / (1 + e^−x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Lanes of the partial sums in [`sum`] and [`dot`]: 16 independent accumulators let the loops vectorize
/// (an in-order f32 sum cannot), and fix the summation order whatever the machine.
const LANES: usize = 16;

/// `Σ x`, in `LANES` interleaved partial sums.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ a·b`, in `LANES` interleaved partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in ca.zip(cb) {
        for ((s, a), b) in acc.iter_mut().zip(a).zip(b) {
            *s += a * b;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `max x` (−∞ for an empty slice), in `LANES` interleaved maxima.
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// `Σ e^(x − shift)` without writing anything.
#[inline(always)]
pub fn sum_exp(x: &[f32], shift: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|v| exp(v - shift)).sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += exp(v - shift);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Whether the CPU runs the AVX-512 versions of [`multiversion!`] functions (checked once).
#[inline(always)]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Defines a function whose body is compiled twice, for the baseline target and for AVX-512 (the body is an
/// `#[inline(always)]` function inlined into a `#[target_feature]` wrapper), and picks one at run time.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::ops::fused::simd::has_avx512() {
                // SAFETY: the CPU has the features `avx512` is compiled for (checked at run time).
                return unsafe { avx512($($arg),*) };
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        fn exp_v(x: f32) -> f32 {
            exp(x)
        }
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp_v(x), x.exp());
            worst = worst.max((ours - libm).abs() / libm);
            x += 0.001_37;
        }
        assert!(worst < 3.0 * f32::EPSILON, "relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1.3e-38 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NAN).is_nan());
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7 && sigmoid(-200.0) < 1e-30 && sigmoid(200.0) == 1.0);
    }

    #[test]
    fn reductions_match_plain_loops() {
        let x: Vec<f32> = (0..37).map(|i| ((i * 7919 % 101) as f32 - 50.0) / 10.0).collect();
        let y: Vec<f32> = x.iter().map(|v| v * 0.5 - 1.0).collect();
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
        assert!(close(sum(&x), x.iter().sum()));
        assert!(close(dot(&x, &y), x.iter().zip(&y).map(|(a, b)| a * b).sum()));
        assert_eq!(max(&x), x.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        assert!(close(sum_exp(&x, 2.0), x.iter().map(|v| (v - 2.0).exp()).sum()));
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        assert_eq!(sum(&x[..3]), x[0] + x[1] + x[2]);
    }
}
