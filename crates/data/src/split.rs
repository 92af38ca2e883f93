//! Splitting documents into `pretrain`, `posttrain`, `heldout` and `calib`, by document, from a seed.
//!
//! Inputs: documents (id, byte length) and [`Fractions`] of bytes. Output: a [`SplitPlan`] that lists, per
//! split, document indices in shard order. Each document index is placed exactly once, so overlap between
//! splits is impossible by construction (and `tests/splits.rs` checks it on text).
//!
//! Algorithm: every document gets a key, the first 8 bytes of `sha256(seed as 8 LE bytes ‖ id)`; documents are
//! visited in key order. The first visited documents seed each split with a non-zero fraction (so a small split
//! is never empty), then each document goes to the split furthest below its byte target
//! (`fraction × total − assigned`), ties to the earlier split in [`Split::ALL`]. The same ids, lengths and seed
//! give the same plan on any machine.
//!
//! ```
//! use p2law_data::split::{plan, Fractions, Split};
//! let docs: Vec<(String, usize)> = (0..100).map(|i| (format!("doc{i}"), 1000)).collect();
//! let p = plan(&docs, &Fractions::default(), 7).unwrap();
//! assert_eq!(p.docs(Split::Pretrain).len(), 80);
//! assert_eq!(p.docs(Split::Calib).len(), 5);
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// The four splits, in manifest order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Pretraining a model from scratch (and training the tokenizer).
    Pretrain,
    /// Post-training (recovery training) after pruning.
    Posttrain,
    /// Held-out evaluation loss.
    Heldout,
    /// Calibration samples for pruning criteria.
    Calib,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Pretrain, Split::Posttrain, Split::Heldout, Split::Calib];

    pub fn name(self) -> &'static str {
        match self {
            Split::Pretrain => "pretrain",
            Split::Posttrain => "posttrain",
            Split::Heldout => "heldout",
            Split::Calib => "calib",
        }
    }

    /// The shard file name inside a data folder (`pretrain.bin`).
    pub fn file_name(self) -> String {
        format!("{}.bin", self.name())
    }

    /// Parses a split name.
    pub fn parse(name: &str) -> Result<Split> {
        Split::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            DataError::Config(format!(
                "unknown split '{name}'; splits are pretrain, posttrain, heldout, calib"
            ))
        })
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Fractions of the corpus bytes per split, in [`Split::ALL`] order; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fractions {
    pub pretrain: f64,
    pub posttrain: f64,
    pub heldout: f64,
    pub calib: f64,
}

impl Default for Fractions {
    fn default() -> Self {
        Fractions { pretrain: 0.80, posttrain: 0.10, heldout: 0.05, calib: 0.05 }
    }
}

impl Fractions {
    /// Parses `0.8,0.1,0.05,0.05` (pretrain, posttrain, heldout, calib) and validates it.
    pub fn parse(text: &str) -> Result<Fractions> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let bad = || {
            DataError::Config(format!(
                "split fractions '{text}': expected four numbers like 0.8,0.1,0.05,0.05"
            ))
        };
        if parts.len() != 4 {
            return Err(bad());
        }
        let v: Vec<f64> = parts.iter().map(|p| p.parse::<f64>().map_err(|_| bad())).collect::<Result<_>>()?;
        let f = Fractions { pretrain: v[0], posttrain: v[1], heldout: v[2], calib: v[3] };
        f.validate()?;
        Ok(f)
    }

    pub fn get(&self, split: Split) -> f64 {
        match split {
            Split::Pretrain => self.pretrain,
            Split::Posttrain => self.posttrain,
            Split::Heldout => self.heldout,
            Split::Calib => self.calib,
        }
    }

    /// Each fraction finite and ≥ 0, pretrain > 0, sum 1 within 1e-6.
    pub fn validate(&self) -> Result<()> {
        let all = Split::ALL.map(|s| self.get(s));
        if all.iter().any(|f| !f.is_finite() || *f < 0.0) || self.pretrain <= 0.0 {
            return Err(DataError::Config(format!(
                "split fractions {all:?}: each must be >= 0 and pretrain > 0 (the tokenizer trains on it)"
            )));
        }
        let sum: f64 = all.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(DataError::Config(format!("split fractions {all:?} sum to {sum}, not 1")));
        }
        Ok(())
    }
}

/// Document indices per split, each in shard order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPlan {
    members: [Vec<usize>; 4],
}

impl SplitPlan {
    /// Indices (into the planned list) of the documents of `split`, in shard order.
    pub fn docs(&self, split: Split) -> &[usize] {
        &self.members[split as usize]
    }
}

/// The ordering key of a document for a seed.
fn key(seed: u64, id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(id.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("sha256 has 32 bytes"))
}

/// Plans the splits of documents given as `(id, byte length)`; ids must be unique.
pub fn plan(docs: &[(String, usize)], fractions: &Fractions, seed: u64) -> Result<SplitPlan> {
    fractions.validate()?;
    let active: Vec<Split> = Split::ALL.into_iter().filter(|s| fractions.get(*s) > 0.0).collect();
    if docs.len() < active.len() {
        return Err(DataError::Config(format!(
            "{} document(s) cannot fill {} non-empty splits; add text, lower --piece-bytes, or set some fractions to 0",
            docs.len(),
            active.len()
        )));
    }
    let mut order: Vec<(u64, usize)> =
        docs.iter().enumerate().map(|(i, (id, _))| (key(seed, id), i)).collect();
    // Ties in the key (vanishingly rare) fall back to the id, so the order never depends on input order.
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| docs[a.1].0.cmp(&docs[b.1].0)));
    for w in order.windows(2) {
        if docs[w[0].1].0 == docs[w[1].1].0 {
            return Err(DataError::Config(format!("document id '{}' appears twice", docs[w[0].1].0)));
        }
    }

    let total: f64 = docs.iter().map(|d| d.1 as f64).sum();
    let target = Split::ALL.map(|s| fractions.get(s) * total);
    let mut assigned = [0.0f64; 4];
    let mut members: [Vec<usize>; 4] = Default::default();
    for (k, &(_, i)) in order.iter().enumerate() {
        let split = if k < active.len() {
            active[k]
        } else {
            // The active split with the largest deficit; the first one wins ties.
            let mut best = active[0];
            for &s in &active[1..] {
                if target[s as usize] - assigned[s as usize] > target[best as usize] - assigned[best as usize]
                {
                    best = s;
                }
            }
            best
        };
        assigned[split as usize] += docs[i].1 as f64;
        members[split as usize].push(i);
    }
    Ok(SplitPlan { members })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(n: usize, len: impl Fn(usize) -> usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("d{i}"), len(i))).collect()
    }

    #[test]
    fn every_document_is_in_exactly_one_split() {
        let d = docs(500, |i| 100 + (i * 37) % 900);
        let p = plan(&d, &Fractions::default(), 3).unwrap();
        let mut seen = vec![0u8; d.len()];
        for s in Split::ALL {
            for &i in p.docs(s) {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn bytes_follow_the_fractions() {
        let d = docs(2000, |i| 500 + (i * 7919) % 4000);
        let total: usize = d.iter().map(|x| x.1).sum();
        let p = plan(&d, &Fractions::default(), 11).unwrap();
        for s in Split::ALL {
            let bytes: usize = p.docs(s).iter().map(|&i| d[i].1).sum();
            let share = bytes as f64 / total as f64;
            assert!((share - Fractions::default().get(s)).abs() < 0.002, "{s}: {share}");
        }
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan_input_order_irrelevant() {
        let d = docs(200, |i| 10 + i);
        let a = plan(&d, &Fractions::default(), 5).unwrap();
        assert_eq!(a, plan(&d, &Fractions::default(), 5).unwrap());
        assert_ne!(a.docs(Split::Heldout), plan(&d, &Fractions::default(), 6).unwrap().docs(Split::Heldout));
        let mut rev = d.clone();
        rev.reverse();
        let b = plan(&rev, &Fractions::default(), 5).unwrap();
        let ids = |p: &SplitPlan, d: &[(String, usize)]| {
            p.docs(Split::Calib).iter().map(|&i| d[i].0.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&a, &d), ids(&b, &rev));
    }

    #[test]
    fn small_inputs_fill_every_split_or_fail_clearly() {
        let p = plan(&docs(4, |_| 10), &Fractions::default(), 0).unwrap();
        assert!(Split::ALL.iter().all(|s| p.docs(*s).len() == 1));
        let err = plan(&docs(3, |_| 10), &Fractions::default(), 0).unwrap_err().to_string();
        assert!(err.contains("3 document(s) cannot fill 4 non-empty splits"), "{err}");
        let only = Fractions { pretrain: 1.0, posttrain: 0.0, heldout: 0.0, calib: 0.0 };
        assert_eq!(plan(&docs(1, |_| 10), &only, 0).unwrap().docs(Split::Pretrain), [0]);
    }

    #[test]
    fn bad_fractions_and_duplicate_ids_are_errors() {
        assert!(Fractions::parse("0.8,0.1,0.1").is_err());
        assert!(Fractions::parse("0.8,0.1,0.1,0.1").unwrap_err().to_string().contains("sum to"));
        assert!(Fractions::parse("1.1,-0.1,0,0").is_err());
        assert_eq!(Fractions::parse("0.8, 0.1, 0.05, 0.05").unwrap(), Fractions::default());
        let dup =
            vec![("a".to_string(), 1), ("b".to_string(), 1), ("c".to_string(), 1), ("a".to_string(), 1)];
        assert!(plan(&dup, &Fractions::default(), 0).unwrap_err().to_string().contains("'a' appears twice"));
    }
}
