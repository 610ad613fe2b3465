//! The fuzz targets' corpora and a bounded deterministic mutation run over them, so plain
//! `cargo test` exercises what cargo-fuzz would, and checks that the checks themselves fire.

use std::path::Path;

use super::*;
use crate::parse_response::parse_all;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    super::corpus(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name),
    )
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

#[test]
fn mutated_scripts_keep_the_invariants() {
    let seeds = corpus("session");
    let mut rng = Mutator::new(0x2545_F491_4F6C_DD1D);
    for round in 0..4000 {
        let d = rng.mutate(&seeds, round, b"012 DXF*:,()[]{}+\\\n");
        session_script(&d);
    }
}

#[test]
fn mutated_responses_round_trip() {
    let seeds = corpus("response_roundtrip");
    let mut rng = Mutator::new(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let d = rng.mutate(&seeds, round, b"{}()[]<>\"\\*+: .0123456789\r\nNILnil");
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
