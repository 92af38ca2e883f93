//! Learning-rate schedule: linear warmup, then cosine decay to a floor, or a constant rate.
//!
//! Input: the optimizer step about to run (0-based). Output: its learning rate. A plain function, so the
//! whole schedule can be read in one place and resumed from any step without state.
//!
//! ```
//! use p2law_train::schedule::{lr_at, Decay, Schedule};
//! let s = Schedule { peak_lr: 1e-3, min_lr: 1e-4, warmup_steps: 10, total_steps: 110, decay: Decay::Cosine };
//! assert_eq!(lr_at(&s, 0), 1e-4); // warmup starts at peak / warmup_steps
//! assert_eq!(lr_at(&s, 9), 1e-3); // and reaches the peak on its last step
//! assert!((lr_at(&s, 60) - 5.5e-4).abs() < 1e-12); // cosine midpoint: (peak + min) / 2
//! ```

use serde::{Deserialize, Serialize};

/// What happens after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// Half a cosine from `peak_lr` (first step after warmup) down to `min_lr` (at `total_steps`).
    Cosine,
    /// Stay at `peak_lr`.
    Constant,
}

/// A resolved schedule, in optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak_lr: f64,
    /// Floor of the cosine decay (unused by [`Decay::Constant`]).
    pub min_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
}

/// The learning rate of optimizer step `step` (0-based).
pub fn lr_at(s: &Schedule, step: u64) -> f64 {
    // 1) Linear warmup. Step 0 already gets a non-zero rate (a zero-rate step would waste a batch).
    if step < s.warmup_steps {
        return s.peak_lr * (step + 1) as f64 / s.warmup_steps as f64;
    }
    match s.decay {
        // 2a) Constant after warmup.
        Decay::Constant => s.peak_lr,
        Decay::Cosine => {
            // 2b) Past the planned end (only when a run is extended): hold the floor.
            if step >= s.total_steps {
                return s.min_lr;
            }
            // 3) Cosine from the peak down to the floor over the steps after warmup.
            let progress = (step - s.warmup_steps) as f64 / (s.total_steps - s.warmup_steps) as f64;
            let coeff = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            s.min_lr + coeff * (s.peak_lr - s.min_lr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine() -> Schedule {
        Schedule { peak_lr: 1.0, min_lr: 0.1, warmup_steps: 4, total_steps: 14, decay: Decay::Cosine }
    }

    #[test]
    fn warmup_is_linear_and_reaches_peak() {
        let s = cosine();
        let lrs: Vec<f64> = (0..4).map(|t| lr_at(&s, t)).collect();
        assert_eq!(lrs, vec![0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn cosine_starts_at_peak_is_monotone_and_ends_near_floor() {
        let s = cosine();
        assert_eq!(lr_at(&s, 4), 1.0);
        let lrs: Vec<f64> = (4..14).map(|t| lr_at(&s, t)).collect();
        assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
        // Step 13 is 9/10 of the way: 0.1 + 0.5 (1 + cos(0.9 pi)) 0.9.
        let expect = 0.1 + 0.5 * (1.0 + (0.9 * std::f64::consts::PI).cos()) * 0.9;
        assert!((lr_at(&s, 13) - expect).abs() < 1e-15);
        assert_eq!(lr_at(&s, 14), 0.1);
        assert_eq!(lr_at(&s, 1000), 0.1);
    }

    #[test]
    fn constant_holds_peak_after_warmup() {
        let s = Schedule { decay: Decay::Constant, ..cosine() };
        assert_eq!(lr_at(&s, 3), 1.0);
        assert_eq!(lr_at(&s, 100), 1.0);
    }

    #[test]
    fn no_warmup_starts_at_peak() {
        let s = Schedule { warmup_steps: 0, ..cosine() };
        assert_eq!(lr_at(&s, 0), 1.0);
    }
}
