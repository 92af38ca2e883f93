"""Python side of the tokenize+pack benchmark: the same work as crates/data/examples/encode_bench.rs.

Usage: python encode.py TOKENIZER.json OUT.bin REPEATS DIR...
Reads every .txt under the folders (UTF-8, else Latin-1; CRLF -> LF), then REPEATS times encodes all files with
one `encode_batch_fast` call (HF `tokenizers`, Rust core, rayon threads) and writes a p2law shard: the
128-byte header then the ids as little-endian u16 (u32 above 65536 ids), each file followed by end-of-text.
Prints one JSON line like the Rust side. File reading is not timed.
"""
import array
import hashlib
import json
import os
import struct
import sys
import time

from tokenizers import Tokenizer

EOS_CANDIDATES = ["<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>", "<|eot_id|>"]


def read_text(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n")


def main():
    tok_path, out, repeats, dirs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    tok = Tokenizer.from_file(tok_path)
    eos = next(tok.token_to_id(c) for c in EOS_CANDIDATES if tok.token_to_id(c) is not None)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    files = sorted(os.path.join(d, f) for d in dirs for f in os.listdir(d) if f.endswith(".txt"))
    texts = [read_text(f) for f in files]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    typecode = "H" if vocab <= 65536 else "I"
    times, tokens = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        encs = encode(texts, add_special_tokens=False)
        ids = array.array(typecode)
        for e in encs:
            ids.extend(e.ids)
            ids.append(eos)
        if sys.byteorder != "little":
            ids.byteswap()
        header = struct.pack("<8sIIQQII32s", b"P2LWTOKS", 1, ids.itemsize, len(ids), len(encs), vocab, eos, bytes(32))
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            f.write(header.ljust(128, b"\0"))
            ids.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
        times.append(time.perf_counter() - start)
        tokens = len(ids)
    times.sort()
    payload = open(out, "rb").read()[128:]
    print(json.dumps({
        "impl": "python", "files": len(files), "bytes": nbytes, "tokens": tokens,
        "best_s": round(times[0], 4), "median_s": round(times[len(times) // 2], 4),
        "mb_per_s": round(nbytes / 1e6 / times[0], 3),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "encode": encode.__name__,
    }))


if __name__ == "__main__":
    main()
