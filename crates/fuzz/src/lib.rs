//! Fuzzing on stable Rust: every input reader of p2law is a target that must return (an error is fine)
//! and never panic, whatever bytes it is given.
//!
//! A target is a closure over `&[u8]` run by [`fuzz`] through proptest on inputs drawn from [`inputs`]:
//! random bytes, and — where almost all of the coverage comes from — valid seed files mutated a few times
//! each (bytes overwritten, inserted, deleted, duplicated, truncated, and tokens from a per-target
//! dictionary spliced in: huge and negative numbers, `nan`, deep nesting, quotes). Proptest catches a
//! panic, shrinks the input and fails the test with it.
//!
//! CI runs each target for its default number of cases (a few seconds); `P2LAW_FUZZ_CASES=1000000` runs
//! every target that long, e.g. `P2LAW_FUZZ_CASES=1000000 cargo test fuzz_ -- --test-threads 1`. Each
//! target prints the number of executions it ran.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// Cases for a target: `P2LAW_FUZZ_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    match std::env::var("P2LAW_FUZZ_CASES") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("P2LAW_FUZZ_CASES={v:?}: not a count")),
        Err(_) => default,
    }
}

/// One mutation of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index, prop::sample::Index),
    Truncate(prop::sample::Index),
    Duplicate(prop::sample::Index, prop::sample::Index, prop::sample::Index),
    Splice(prop::sample::Index, prop::sample::Index, bool),
    Interesting(prop::sample::Index, prop::sample::Index),
    /// Replace the value after the n-th `=`, `:` or `,` (up to the next `,`, `}`, `]` or line end) with a
    /// dictionary token: a structured text stays parseable and gets a hostile value.
    Value(prop::sample::Index, prop::sample::Index),
}

/// Byte patterns that break binary headers: zero, all ones, sign bits, powers of two, as 1/4/8-byte
/// little-endian integers.
const INTERESTING: &[&[u8]] = &[
    &[0],
    &[0xff],
    &[0x7f],
    &[0x80],
    &[0, 0, 0, 0],
    &[0xff, 0xff, 0xff, 0xff],
    &[0, 0, 0, 0x80],
    &[1, 0, 0, 0],
    &[0, 0, 0, 0, 0, 0, 0, 0],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    &[0, 0, 0, 0, 0, 1, 0, 0],
    &[0, 0, 0, 0, 0, 0, 0, 0x40],
];

fn apply(mut b: Vec<u8>, mutations: &[Mutation], dict: &[Vec<u8>], values: &[Vec<u8>]) -> Vec<u8> {
    for m in mutations {
        let len = b.len();
        match m {
            Mutation::Set(i, v) if len > 0 => b[i.index(len)] = *v,
            Mutation::Insert(i, v) => b.insert(i.index(len + 1), *v),
            Mutation::Delete(i, n) if len > 0 => {
                let start = i.index(len);
                let end = (start + 1 + n.index(16)).min(len);
                b.drain(start..end);
            }
            Mutation::Truncate(i) => b.truncate(i.index(len + 1)),
            Mutation::Duplicate(from, n, to) if len > 0 => {
                let start = from.index(len);
                let end = (start + 1 + n.index(64)).min(len);
                let chunk = b[start..end].to_vec();
                let at = to.index(len + 1);
                b.splice(at..at, chunk);
            }
            Mutation::Splice(i, t, replace) if !dict.is_empty() => {
                let token = &dict[t.index(dict.len())];
                let at = i.index(len + 1);
                // Replace as many bytes as the token has (overwriting a number, a name, a value), or insert.
                let end = if *replace { (at + token.len()).min(len) } else { at };
                b.splice(at..end, token.iter().copied());
            }
            Mutation::Value(i, t) if !values.is_empty() => {
                let seps: Vec<usize> = b
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| matches!(c, b'=' | b':' | b','))
                    .map(|(k, _)| k)
                    .collect();
                if seps.is_empty() {
                    continue;
                }
                let start = seps[i.index(seps.len())] + 1;
                let end = b[start..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}' | b']' | b'\n'))
                    .map_or(len, |k| start + k);
                let token = &values[t.index(values.len())];
                let mut value = vec![b' '];
                value.extend_from_slice(token);
                b.splice(start..end, value);
            }
            Mutation::Interesting(i, v) => {
                let value = INTERESTING[v.index(INTERESTING.len())];
                let at = i.index(len + 1);
                let end = (at + value.len()).min(len);
                b.splice(at..end, value.iter().copied());
            }
            _ => {}
        }
    }
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
        3 => (any::<Index>(), any::<Index>(), any::<bool>()).prop_map(|(i, t, r)| Mutation::Splice(i, t, r)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(i, v)| Mutation::Interesting(i, v)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Value(i, t)),
    ]
}

/// Inputs for a target: one in eight is random bytes (printable-heavy when `text`), the rest are seeds with
/// a few mutations (one to three for text, whose syntax few mutations survive; one to seven for binary).
/// `dict` tokens are spliced anywhere; `values` (valid in the format: see [`toml_values`], [`json_values`])
/// replace the value after a `=`, `:` or `,`, so that many mutants still parse and reach the checks.
pub fn inputs(
    seeds: Vec<Vec<u8>>,
    dict: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
    text: bool,
) -> BoxedStrategy<Vec<u8>> {
    assert!(!seeds.is_empty(), "a fuzz target needs at least one seed");
    let random = if text {
        prop::collection::vec(prop_oneof![4 => 0x20u8..0x7f, 1 => Just(b'\n'), 1 => any::<u8>()], 0..200)
            .boxed()
    } else {
        prop::collection::vec(any::<u8>(), 0..200).boxed()
    };
    let most = if text { 4 } else { 8 };
    let mutated = (prop::sample::select(seeds), prop::collection::vec(mutation(), 1..most))
        .prop_map(move |(seed, ms)| apply(seed, &ms, &dict, &values));
    prop_oneof![1 => random, 7 => mutated].boxed()
}

/// Dictionary tokens that break text formats: numbers at and beyond every limit, non-numbers, nesting,
/// quotes and separators. Targets add their own keywords.
pub fn text_dict(extra: &[&str]) -> Vec<Vec<u8>> {
    let common = [
        "0",
        "-1",
        "1e308",
        "-1e308",
        "1e-320",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "-9223372036854775808",
        "4611686018427387904",
        "4294967296",
        "1099511627776",
        "0.0",
        "-0.0",
        "1e400",
        "\"",
        "'",
        "\\",
        "\n",
        "\r\n",
        ",",
        ";",
        ":",
        "=",
        "[",
        "]",
        "{",
        "}",
        "[[",
        "]]",
        "((((((((((",
        "))",
        "null",
        "true",
        "false",
        "\u{feff}",
        "é",
        "\u{0}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "{\"a\":{\"a\":{\"a\":{\"a\":",
        "\"\"\"",
        "#",
        "1_000",
        "0x10",
    ];
    common.iter().chain(extra).map(|s| s.as_bytes().to_vec()).collect()
}

/// Values that are valid TOML but hostile: limits of every integer type, non-finite floats, empty and
/// multi-line strings, empty arrays and tables. `extra` adds target-specific ones.
pub fn toml_values(extra: &[&str]) -> Vec<Vec<u8>> {
    let common = [
        "0",
        "-1",
        "1",
        "2",
        "9223372036854775807",
        "-9223372036854775808",
        "4611686018427387904",
        "4294967296",
        "1099511627776",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "1e-320",
        "0.0",
        "-0.0",
        "0.5",
        "\"\"",
        "\"x\"",
        "\"a\\nb\"",
        "\"../..\"",
        "\"/\"",
        "[]",
        "[0]",
        "{}",
        "true",
        "false",
    ];
    common.iter().chain(extra).map(|s| s.as_bytes().to_vec()).collect()
}

/// Values that are valid JSON but hostile (as [`toml_values`], plus `null` and integers beyond i64).
pub fn json_values(extra: &[&str]) -> Vec<Vec<u8>> {
    let common = [
        "0",
        "-1",
        "1",
        "2",
        "18446744073709551615",
        "9223372036854775807",
        "-9223372036854775808",
        "4611686018427387904",
        "4294967296",
        "1099511627776",
        "1e308",
        "-1e308",
        "1e-320",
        "0.0",
        "-0.0",
        "0.5",
        "null",
        "\"\"",
        "\"x\"",
        "\"a\\nb\"",
        "[]",
        "[0]",
        "{}",
        "true",
        "false",
        "[[]]",
    ];
    common.iter().chain(extra).map(|s| s.as_bytes().to_vec()).collect()
}

/// Asserts that an error message breaks no line of its own: line breaks may only come from text of the
/// input that the message quotes (raw, or escaped as `\n`, `\r`, `\u…` in a TOML or JSON string; the
/// command line joins such lines into one). A TOML excerpt, a backtrace or a message spread over lines fails.
pub fn assert_one_line(error: &dyn std::fmt::Display, input: &[u8]) {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return; // candle appends backtraces on request
    }
    let text = error.to_string();
    let raw = |b: &[u8]| b.iter().filter(|&&c| c == b'\n' || c == b'\r').count();
    let escaped = input.windows(2).filter(|w| matches!(w, [b'\\', b'n' | b'r' | b'u' | b'U'])).count();
    assert!(raw(text.as_bytes()) <= raw(input) + escaped, "multi-line error: {text}");
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While on, panics on this thread print nothing: proptest catches each one (the failing input and
/// every shrinking step) and reports the minimal input with its message at the end. Other threads (tests
/// running in parallel) keep the usual panic output.
fn quiet_panics_on_this_thread(on: bool) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    QUIET.with(|q| q.set(on));
}

/// Runs `target` on `cases(default_cases)` inputs from `strategy`; a panic fails the test with the
/// (shrunk) input. `target` returns whether it accepted the input (read it without error): the share
/// accepted, printed with the executions run, shows how deep the mutants get.
pub fn fuzz(
    name: &str,
    default_cases: u32,
    strategy: BoxedStrategy<Vec<u8>>,
    target: impl Fn(&[u8]) -> bool,
) {
    let accepted = std::sync::atomic::AtomicU64::new(0);
    let cases = cases(default_cases);
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 10_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    quiet_panics_on_this_thread(true);
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |bytes| {
        if target(&bytes) {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok::<(), TestCaseError>(())
    });
    quiet_panics_on_this_thread(false);
    if let Err(e) = result {
        panic!("fuzz target {name}: {e}");
    }
    eprintln!(
        "fuzz target {name}: {cases} executions in {:.1} s, {} accepted, no panic",
        started.elapsed().as_secs_f64(),
        accepted.into_inner()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_target_is_caught() {
        let seeds = vec![b"abc".to_vec()];
        let caught = std::panic::catch_unwind(|| {
            fuzz("demo", 200, inputs(seeds, text_dict(&[]), vec![], true), |b| {
                assert!(!b.contains(&b'"'));
                true
            })
        });
        assert!(caught.is_err(), "the dictionary's quote must be found within 200 cases");
    }

    #[test]
    fn mutations_stay_in_bounds() {
        let dict = text_dict(&[]);
        let mut runner = TestRunner::default();
        let s = inputs(vec![vec![], b"x=1,2".to_vec()], dict, toml_values(&[]), false);
        for _ in 0..2000 {
            let _ = s.new_tree(&mut runner).unwrap().current();
        }
    }
}
