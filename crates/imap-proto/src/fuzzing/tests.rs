//! The fuzz targets' corpora and a bounded deterministic mutation run over them, so plain
//! `cargo test` exercises what cargo-fuzz would, and checks that the checks themselves fire.

use std::path::Path;

use super::*;
use crate::parse_response::parse_all;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn session_corpus_keeps_the_invariants() {
    let seeds = corpus("session");
    assert!(seeds.len() >= 15, "{} scripts", seeds.len());
    for s in &seeds {
        session_script(s);
    }
}

#[test]
fn response_corpus_parses_and_round_trips() {
    let seeds = corpus("response_roundtrip");
    assert!(seeds.len() >= 5);
    for s in &seeds {
        // Every seed is a real transcript, read to the end.
        let all = parse_all(s).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(s)));
        assert!(!all.is_empty());
        response_roundtrip(s);
    }
}

/// xorshift: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte edits, plus (for scripts) whole lines swapped in from other seeds.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], round: usize, specials: &[u8]) -> Vec<u8> {
    let mut d = seeds[round % seeds.len()].clone();
    for _ in 0..(1 + rng.below(6)) {
        if d.is_empty() {
            d.push(b'0');
        }
        let i = rng.below(d.len());
        match rng.below(5) {
            0 => d[i] = specials[rng.below(specials.len())],
            1 => d.insert(i, specials[rng.below(specials.len())]),
            2 => {
                d.remove(i);
            }
            3 => d.truncate(i),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let lines: Vec<&[u8]> = other.split_inclusive(|&b| b == b'\n').collect();
                let line = lines[rng.below(lines.len())];
                let at = d[..i]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                d.splice(at..at, line.iter().copied());
            }
        }
    }
    d
}

#[test]
fn mutated_scripts_keep_the_invariants() {
    let seeds = corpus("session");
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..4000 {
        let d = mutate(&mut rng, &seeds, round, b"012 DXF*:,()[]{}+\\\n");
        session_script(&d);
    }
}

#[test]
fn mutated_responses_round_trip() {
    let seeds = corpus("response_roundtrip");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let d = mutate(
            &mut rng,
            &seeds,
            round,
            b"{}()[]<>\"\\*+: .0123456789\r\nNILnil",
        );
        response_roundtrip(&d);
    }
}

/// The checks are live: a reply that breaks an invariant is caught.
#[test]
fn violations_are_caught() {
    use super::script::tests_support::{check_answered, check_view};
    let caught = |f: fn()| std::panic::catch_unwind(f).is_err();
    assert!(!caught(|| check_view(
        b"* 2 EXISTS\r\n* 2 FETCH (UID 1)\r\n* 1 EXPUNGE\r\n"
    )));
    assert!(caught(|| check_view(
        b"* 2 EXISTS\r\n* 3 FETCH (UID 1)\r\n"
    )));
    assert!(caught(|| check_view(b"* 2 EXISTS\r\n* 1 EXISTS\r\n")));
    assert!(caught(|| check_view(
        b"* 1 EXISTS\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"
    )));
    assert!(!caught(|| check_answered(b"* 1 EXISTS\r\na OK x\r\n", "a")));
    assert!(caught(|| check_answered(b"a OK x\r\na OK y\r\n", "a")));
    assert!(caught(|| check_answered(b"b OK x\r\n", "a")));
    assert!(caught(|| check_answered(b"a OK x\r\n* 1 EXISTS\r\n", "a")));
    assert!(!caught(|| check_answered(b"a NO x\r\n* BYE y\r\n", "a")));
}
