//! Batches of token windows from a shard: random with a seed (training) or in order (evaluation).
//!
//! A [`Batch`] holds `batch` rows of `seq + 1` tokens, row-major in one `Vec<u32>`: inputs are a row's first
//! `seq` tokens, targets its last `seq` (the same window shifted by one). Windows may cross document
//! boundaries; the end-of-text token between documents tells the model where one ends.
//!
//! [`Sampler`] draws window starts uniformly from `0..=len - (seq + 1)` with [`SplitMix64`] seeded by `seed`,
//! so the same shard, `seq` and seed give the same batches on every machine. [`Sequential`] walks
//! non-overlapping windows (stride `seq`, each target predicted once) for held-out loss.
//!
//! ```
//! use p2law_data::{sampler::Sampler, shard::{write_shard, ShardMeta, ShardReader}};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("s.bin");
//! let meta = ShardMeta { vocab_size: 100, eos_id: 0, tokenizer_sha256: [0; 32] };
//! write_shard(&path, &meta, &[(1..50).collect()]).unwrap();
//! let mut s = Sampler::new(ShardReader::open(&path).unwrap(), 8, 42).unwrap();
//! let b = s.next_batch(4); // 4 rows × 9 tokens
//! assert_eq!((b.batch, b.seq, b.tokens.len()), (4, 8, 36));
//! assert_eq!(&b.inputs(0)[1..], &b.targets(0)[..7]);
//! ```

use p2law_formats::SplitMix64;

use crate::error::{DataError, Result};
use crate::shard::ShardReader;

/// `batch` windows of `seq + 1` tokens, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `batch × (seq + 1)` ids.
    pub tokens: Vec<u32>,
    pub batch: usize,
    pub seq: usize,
}

impl Batch {
    /// Row `i`: `seq + 1` tokens.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.tokens[i * (self.seq + 1)..(i + 1) * (self.seq + 1)]
    }

    /// Model inputs of row `i` (first `seq` tokens).
    pub fn inputs(&self, i: usize) -> &[u32] {
        &self.row(i)[..self.seq]
    }

    /// Next-token targets of row `i` (last `seq` tokens).
    pub fn targets(&self, i: usize) -> &[u32] {
        &self.row(i)[1..]
    }
}

/// Random windows from one shard, reproducible from a seed.
pub struct Sampler {
    reader: ShardReader,
    seq: usize,
    rng: SplitMix64,
}

impl Sampler {
    /// Random windows of `seq_len + 1` tokens; errors when the shard is shorter than one window.
    pub fn new(reader: ShardReader, seq_len: usize, seed: u64) -> Result<Sampler> {
        check(&reader, seq_len)?;
        Ok(Sampler { reader, seq: seq_len, rng: SplitMix64::new(seed) })
    }

    pub fn seq_len(&self) -> usize {
        self.seq
    }

    pub fn reader(&self) -> &ShardReader {
        &self.reader
    }

    /// The next `batch` windows, starts uniform over every full window.
    pub fn next_batch(&mut self, batch: usize) -> Batch {
        let n = (self.reader.len() - self.seq) as u64;
        let starts: Vec<usize> = (0..batch).map(|_| self.rng.below(n) as usize).collect();
        gather(&self.reader, self.seq, &starts)
    }
}

/// Non-overlapping windows in order, for evaluation: starts `0, seq, 2·seq, …` while a full window fits, so
/// every token after the first is a target exactly once (up to the last partial window, which is dropped).
pub struct Sequential {
    reader: ShardReader,
    seq: usize,
    next: usize,
}

impl Sequential {
    pub fn new(reader: ShardReader, seq_len: usize) -> Result<Sequential> {
        check(&reader, seq_len)?;
        Ok(Sequential { reader, seq: seq_len, next: 0 })
    }

    /// Number of windows in all.
    pub fn windows(&self) -> usize {
        (self.reader.len() - 1) / self.seq
    }

    /// Up to `batch` next windows (fewer at the end); `None` when all were returned.
    pub fn next_batch(&mut self, batch: usize) -> Option<Batch> {
        let mut starts = Vec::with_capacity(batch);
        while starts.len() < batch && self.next + self.seq < self.reader.len() {
            starts.push(self.next);
            self.next += self.seq;
        }
        (!starts.is_empty()).then(|| gather(&self.reader, self.seq, &starts))
    }
}

fn check(reader: &ShardReader, seq: usize) -> Result<()> {
    if seq == 0 || reader.len() < seq + 1 {
        return Err(DataError::Shard {
            path: reader.path().to_path_buf(),
            problem: format!(
                "{} tokens cannot give windows of seq_len + 1 = {} tokens",
                reader.len(),
                seq + 1
            ),
        });
    }
    Ok(())
}

fn gather(reader: &ShardReader, seq: usize, starts: &[usize]) -> Batch {
    let row = seq + 1;
    let mut tokens = vec![0u32; starts.len() * row];
    for (chunk, &start) in tokens.chunks_exact_mut(row).zip(starts) {
        reader.read_into(start, chunk).expect("window starts are drawn inside the shard");
    }
    Batch { tokens, batch: starts.len(), seq }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{write_shard, ShardMeta};

    fn shard(dir: &std::path::Path, n: u32) -> ShardReader {
        let path = dir.join("s.bin");
        let meta = ShardMeta { vocab_size: 10_000, eos_id: 0, tokenizer_sha256: [0; 32] };
        write_shard(&path, &meta, &[(1..n).collect()]).unwrap();
        ShardReader::open(&path).unwrap()
    }

    #[test]
    fn random_windows_are_contiguous_seeded_and_cover_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        // Tokens are 1..n then eos 0: token value = position + 1, so a window is an arithmetic run.
        let mut s = Sampler::new(shard(dir.path(), 20), 4, 9).unwrap();
        let mut seen_first = false;
        let mut seen_last = false;
        for _ in 0..200 {
            let b = s.next_batch(3);
            for i in 0..3 {
                let r = b.row(i);
                let start = r[0] as usize - 1;
                let expect: Vec<u32> =
                    (start..start + 5).map(|p| if p == 19 { 0 } else { p as u32 + 1 }).collect();
                assert_eq!(r, &expect[..]);
                seen_first |= start == 0;
                seen_last |= start == 15;
            }
        }
        assert!(seen_first && seen_last);
        let again = |seed| Sampler::new(shard(dir.path(), 20), 4, seed).unwrap().next_batch(8);
        assert_eq!(again(9), again(9));
        assert_ne!(again(9), again(10));
    }

    #[test]
    fn sequential_windows_tile_the_shard() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sequential::new(shard(dir.path(), 12), 4).unwrap(); // 12 tokens
        assert_eq!(s.windows(), 2);
        let b = s.next_batch(5).unwrap();
        assert_eq!(b.batch, 2);
        assert_eq!(b.row(0), [1, 2, 3, 4, 5]);
        assert_eq!(b.row(1), [5, 6, 7, 8, 9]);
        assert!(s.next_batch(5).is_none());
    }

    #[test]
    fn too_short_shard_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Sampler::new(shard(dir.path(), 4), 4, 0).err().unwrap().to_string();
        assert!(err.contains("4 tokens cannot give windows of seq_len + 1 = 5 tokens"), "{err}");
        assert!(Sequential::new(shard(dir.path(), 4), 0).is_err());
    }
}
