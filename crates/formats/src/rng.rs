//! SplitMix64 (Steele, Lea & Flood 2014; Vigna's `splitmix64.c`): the one seeded generator of p2law.
//!
//! Tiny, well mixed, its whole state one integer, and fixed forever, unlike a library RNG whose stream may
//! change between versions: the same seed gives the same initial weights, data order, calibration windows,
//! start grids and bootstrap resamples on every machine, thread count and release. Every method below is
//! part of that promise; the tests pin their outputs. A new way of drawing is a new method, never a change
//! to an existing one.

/// A SplitMix64 stream; see the module docs.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream seeded with `seed` (its first output is the reference generator's first for that seed).
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// Sub-stream `k` of `seed` (e.g. one per bootstrap replicate), independent of the order in which
    /// sub-streams are used: seeded with `seed ^ k·0xD1B54A32D192ED03`, first output skipped.
    pub fn stream(seed: u64, k: u64) -> SplitMix64 {
        let mut r = SplitMix64::new(seed ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    /// The next 64 random bits (the state advances before it is mixed).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by Lemire's multiply-shift (the bias for n ≪ 2^64 is negligible); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [0, 1): the top 53 bits over 2^53.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1): the top 53 bits plus one half, over 2^53 (never exactly 0 or 1).
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller from `1 − uniform()` (in (0, 1], so the log is finite) and then
    /// `uniform()`; the pair's sine half is dropped.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        box_muller(u1, u2)
    }

    /// Standard normal by Box–Muller from two [`SplitMix64::uniform_open`] draws (the model's weight
    /// initialisation stream); the pair's sine half is dropped.
    pub fn normal_open(&mut self) -> f64 {
        let u1 = self.uniform_open();
        let u2 = self.uniform_open();
        box_muller(u1, u2)
    }
}

fn box_muller(u1: f64, u2: f64) -> f64 {
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The values below were produced by the copies this type replaced (model, prune, train, data, law);
    // they must never change.

    #[test]
    fn matches_the_reference_stream() {
        // First outputs of the reference C splitmix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(SplitMix64::stream(1, 2).next_u64(), 17976013367585798959);
        assert_ne!(SplitMix64::stream(1, 0).next_u64(), SplitMix64::stream(1, 1).next_u64());
    }

    #[test]
    fn draws_are_pinned() {
        let mut r = SplitMix64::new(7);
        assert_eq!((0..8).map(|_| r.below(10)).collect::<Vec<_>>(), [3, 0, 9, 5, 4, 2, 4, 3]);
        let bits = |f: fn(&mut SplitMix64) -> f64| {
            let mut r = SplitMix64::new(7);
            [f(&mut r).to_bits(), f(&mut r).to_bits()]
        };
        assert_eq!(bits(SplitMix64::uniform), [0x3fd8f2f879164c82, 0x3f9130f35fd0f180]);
        assert_eq!(bits(SplitMix64::uniform_open), [0x3fd8f2f879164c83, 0x3f9130f35fd0f190]);
        assert_eq!(bits(SplitMix64::normal), [0x3fefa194ec47d228, 0xbffdd3fde5949e97]);
        assert_eq!(bits(SplitMix64::normal_open), [0x3ff5d70229cdee62, 0xbfd960a61872e245]);
    }

    #[test]
    fn normal_moments_are_right_and_ranges_hold() {
        for draw in [SplitMix64::normal as fn(&mut SplitMix64) -> f64, SplitMix64::normal_open] {
            let mut r = SplitMix64::new(7);
            let xs: Vec<f64> = (0..20000).map(|_| draw(&mut r)).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
        }
        let mut r = SplitMix64::new(3);
        assert!((0..1000).all(|_| r.below(5) < 5));
        assert!((0..1000).all(|_| (0.0..1.0).contains(&r.uniform())));
        assert!((0..1000).all(|_| {
            let u = r.uniform_open();
            u > 0.0 && u < 1.0
        }));
    }
}
