//! End-to-end builds on small synthetic corpora (no network): split disjointness on the packed text,
//! byte-identical shards for a seed, the second build a no-op, and clear errors for bad inputs.
//! The text is generated here (numbered sentences), so every expected number follows from this file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use p2law_data::pipeline::{build, BuildParams, SourceSpec, TokenizerSpec};
use p2law_data::tokenizer::TrainParams;
use p2law_data::{Manifest, ShardReader, Split};

/// 60 `.txt` documents, each a few distinct numbered paragraphs (so no two documents share a line).
fn write_corpus(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "north", "table", "garden"];
    for d in 0..60 {
        let mut text = String::new();
        for p in 0..(3 + d % 5) {
            for s in 0..4 {
                let w = |k: usize| words[(d * 7 + p * 3 + s + k) % words.len()];
                text.push_str(&format!(
                    "Document {d} paragraph {p} sentence {s}: the {} {} of {}. ",
                    w(0),
                    w(1),
                    w(2)
                ));
            }
            text.push_str("\n\n");
        }
        std::fs::write(src.join(format!("doc{d:02}.txt")), text).unwrap();
    }
    src
}

fn params(src: &Path, out: &Path, seed: u64) -> BuildParams {
    BuildParams {
        source: SourceSpec::Inputs(vec![src.to_path_buf()]),
        out: out.to_path_buf(),
        seed,
        piece_bytes: 1500, // long documents become 2–3 pieces, exercising the chunker
        tokenizer: TokenizerSpec::Train(TrainParams { vocab_size: 300, min_frequency: 2 }),
        ..BuildParams::default()
    }
}

fn read_all(path: &Path) -> Vec<u32> {
    let r = ShardReader::open(path).unwrap();
    r.window(0, r.len()).unwrap()
}

#[test]
fn splits_are_disjoint_and_cover_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_corpus(dir.path());
    let out = dir.path().join("out");
    let outcome = build(&params(&src, &out, 1)).unwrap();
    let m = &outcome.manifest;
    assert_eq!(m.splits.len(), 4);

    // By id: no piece in two splits, and every source file's pieces are all present.
    let mut ids = HashSet::new();
    for rec in m.splits.values() {
        for d in &rec.docs {
            assert!(ids.insert(d.id.clone()), "{} is in two splits", d.id);
        }
    }
    let files: HashSet<String> = ids.iter().map(|id| id.split('#').next().unwrap().to_string()).collect();
    assert_eq!(files.len(), 60);

    // By text: decode each shard and check no paragraph appears in two splits.
    let tok = p2law_data::tokenizer::load(&out.join("tokenizer.json"), None).unwrap();
    let mut owner = std::collections::HashMap::new();
    for split in Split::ALL {
        let text = tok.decode(&read_all(&out.join(split.file_name()))).unwrap();
        for sentence in text.split(". ").filter(|s| s.contains("Document")) {
            let key = sentence.trim().to_string();
            if let Some(prev) = owner.insert(key.clone(), split) {
                assert_eq!(prev, split, "'{key}' is in {prev} and {split}");
            }
        }
    }
    assert!(owner.len() > 1000, "{}", owner.len());

    // Counts add up: tokens = Σ doc tokens + one end-of-text per document.
    for (split, rec) in &m.splits {
        let r = ShardReader::open(out.join(&rec.file)).unwrap();
        let sum: u64 = rec.docs.iter().map(|d| d.tokens + 1).sum();
        assert_eq!((r.len() as u64, r.header().documents), (sum, rec.documents as u64), "{split}");
        assert_eq!(r.header().bytes_per_token, 2);
    }
}

#[test]
fn same_seed_gives_identical_shards_and_a_second_run_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_corpus(dir.path());
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let first = build(&params(&src, &a, 7)).unwrap();
    assert!(!first.up_to_date);
    build(&params(&src, &b, 7)).unwrap();
    build(&params(&src, &c, 8)).unwrap();
    for name in ["tokenizer.json", "pretrain.bin", "posttrain.bin", "heldout.bin", "calib.bin"] {
        assert_eq!(std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap(), "{name}");
    }
    assert_ne!(std::fs::read(a.join("heldout.bin")).unwrap(), std::fs::read(c.join("heldout.bin")).unwrap());

    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&a.join("pretrain.bin"));
    let again = build(&params(&src, &a, 7)).unwrap();
    assert!(again.up_to_date);
    assert_eq!(again.manifest, first.manifest);
    assert_eq!(mtime(&a.join("pretrain.bin")), before);

    // A changed input or a damaged shard makes the next build do the work again.
    std::fs::write(src.join("doc00.txt"), "A new first document.\n").unwrap();
    assert!(!build(&params(&src, &a, 7)).unwrap().up_to_date);
    std::fs::write(a.join("calib.bin"), b"junk").unwrap();
    assert!(!build(&params(&src, &a, 7)).unwrap().up_to_date);
    assert_eq!(Manifest::load(&a).unwrap().seed, 7);
}

#[test]
fn a_given_tokenizer_json_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_corpus(dir.path());
    let a = dir.path().join("a");
    build(&params(&src, &a, 3)).unwrap();
    let b = dir.path().join("b");
    let mut p = params(&src, &b, 3);
    p.tokenizer = TokenizerSpec::File { path: a.join("tokenizer.json"), eos: None };
    let m = build(&p).unwrap().manifest;
    assert_eq!(m.tokenizer.sha256, Manifest::load(&a).unwrap().tokenizer.sha256);
    assert_eq!(read_all(&a.join("pretrain.bin")), read_all(&b.join("pretrain.bin")));
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = build(&params(&empty, &out, 0)).unwrap_err().to_string();
    assert!(err.contains("no .txt files in this folder"), "{err}");

    std::fs::write(empty.join("blank.txt"), "   \n").unwrap();
    let err = build(&params(&empty, &out, 0)).unwrap_err().to_string();
    assert!(err.starts_with("no documents in"), "{err}");

    let latin = dir.path().join("latin");
    std::fs::create_dir(&latin).unwrap();
    std::fs::write(latin.join("caesar.txt"), b"Ant. C\xe6sar, my Lord\n").unwrap();
    let err = build(&params(&latin, &out, 0)).unwrap_err().to_string();
    assert!(err.contains("caesar.txt: not UTF-8 (invalid byte at offset 6, line 1)"), "{err}");

    let jsonl = dir.path().join("docs.jsonl");
    std::fs::write(&jsonl, "{\"content\": \"hello\"}\n").unwrap();
    let err = build(&params(&jsonl, &out, 0)).unwrap_err().to_string();
    assert!(err.contains("docs.jsonl:1: unknown column 'text'; fields are content"), "{err}");
    assert!(!out.join("manifest.json").exists());
}
