//! Throughput of tokenizing and packing, for `bench/tokenize_vs_python/run.sh`.
//!
//! Usage: `encode_bench TOKENIZER.json OUT.bin REPEATS DIR...` — reads every `.txt` under the folders (UTF-8,
//! else Latin-1; CRLF → LF: the corpus policy), then `REPEATS` times encodes all files with one
//! `encode_batch` call and writes them as a shard (each file followed by end-of-text). Prints one JSON line:
//! bytes, tokens, best and median seconds, MB/s (from the best run), and the sha256 of the token payload
//! (the shard without its header) so the Python side can be checked id for id. File reading is not timed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use p2law_data::shard::{write_shard, ShardMeta, HEADER_BYTES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: encode_bench TOKENIZER.json OUT.bin REPEATS DIR...".into());
    }
    let tok = p2law_data::tokenizer::load(Path::new(&args[0]), None)?;
    let out = PathBuf::from(&args[1]);
    let repeats: usize = args[2].parse()?;
    let mut files = Vec::new();
    for dir in &args[3..] {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "txt") {
                files.push(path);
            }
        }
    }
    files.sort();
    let texts: Vec<String> = files.iter().map(|p| read_text(p)).collect::<Result<_, _>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bytes: usize = refs.iter().map(|t| t.len()).sum();

    let meta = ShardMeta { vocab_size: tok.vocab_size as u32, eos_id: tok.eos_id, tokenizer_sha256: [0; 32] };
    let mut times = Vec::new();
    let mut tokens = 0u64;
    for _ in 0..repeats {
        let start = Instant::now();
        let ids = tok.encode_batch(&refs)?;
        let header = write_shard(&out, &meta, &ids)?;
        times.push(start.elapsed().as_secs_f64());
        tokens = header.tokens;
    }
    times.sort_by(f64::total_cmp);
    let payload = std::fs::read(&out)?;
    let sha = p2law_data::fsio::sha256_hex(&payload[HEADER_BYTES..]);
    println!(
        "{{\"impl\": \"rust\", \"files\": {}, \"bytes\": {bytes}, \"tokens\": {tokens}, \"best_s\": {:.4}, \"median_s\": {:.4}, \"mb_per_s\": {:.3}, \"payload_sha256\": \"{sha}\"}}",
        files.len(),
        times[0],
        times[times.len() / 2],
        bytes as f64 / 1e6 / times[0]
    );
    Ok(())
}

fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    Ok(text.replace("\r\n", "\n"))
}
