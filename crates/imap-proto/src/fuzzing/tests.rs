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
        run_script(&d);
    }
}

/// Runs one script; a failing one is kept in the temporary directory for replaying.
fn run_script(d: &[u8]) {
    if let Err(e) = std::panic::catch_unwind(|| session_script(d)) {
        let path = std::env::temp_dir().join("imap-session-fuzz-failure");
        let _ = std::fs::write(&path, d);
        eprintln!("failing script written to {}", path.display());
        std::panic::resume_unwind(e);
    }
}

/// `IMAP_FUZZ_ROUNDS` (and `IMAP_FUZZ_SEED`) turn the short run into a long one.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Scripts from the generator, each also mutated and crossed with the corpus.
#[test]
fn generated_scripts_keep_the_invariants() {
    let mut rng = Mutator::new(env_or("IMAP_FUZZ_SEED", 0x51A7_E5C2_9D3B_0F17));
    let mut seeds = corpus("session");
    let corpus_len = seeds.len();
    // A cargo-fuzz working corpus can start from generated scripts.
    let dump = std::env::var_os("IMAP_FUZZ_DUMP").map(std::path::PathBuf::from);
    for round in 0..env_or("IMAP_FUZZ_ROUNDS", 300) as usize {
        let lines = 10 + rng.below(60);
        let script = generated_script(&mut rng, lines);
        if let Some(dir) = &dump {
            let _ = std::fs::write(dir.join(format!("generated-{round}")), &script);
        }
        run_script(&script);
        // A window of recent generated scripts next to the corpus, for splicing.
        if seeds.len() > corpus_len + 32 {
            seeds.remove(corpus_len);
        }
        seeds.push(script);
        let d = rng.mutate(&seeds, round * 7 + 3, b"012 DXF*:,()[]{}+~$\\\0\n");
        run_script(&d);
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
    // (reply, whether it breaks an invariant) for the UID, MODSEQ and QRESYNC checks.
    let views: &[(&[u8], bool)] = &[
        // A sequence number keeps its UID; UIDs ascend.
        (
            b"* 1 EXISTS\r\n* 1 FETCH (UID 5)\r\n* 1 FETCH (UID 6)\r\n",
            true,
        ),
        (
            b"* 2 EXISTS\r\n* 1 FETCH (UID 5)\r\n* 2 FETCH (UID 4)\r\n",
            true,
        ),
        // VANISHED names known messages, once.
        (
            b"* 3 EXISTS\r\n* 1 FETCH (UID 5)\r\n* 3 FETCH (UID 9)\r\n* VANISHED 7,9\r\n\
              * 1 FETCH (UID 5)\r\n",
            false,
        ),
        (
            b"* 2 EXISTS\r\n* 1 FETCH (UID 5)\r\n* 2 FETCH (UID 9)\r\n* VANISHED 7\r\n",
            true,
        ),
        (b"* 2 EXISTS\r\n* VANISHED 7\r\n* VANISHED 7\r\n", true),
        (b"* 1 EXISTS\r\n* VANISHED (EARLIER) 1:100\r\n", false),
        // MODSEQ and HIGHESTMODSEQ never go down.
        (
            b"* 1 EXISTS\r\n* 1 FETCH (UID 5 MODSEQ (9))\r\n* 1 FETCH (MODSEQ (3))\r\n",
            true,
        ),
        (
            b"* 1 EXISTS\r\n* OK [HIGHESTMODSEQ 9] x\r\n* OK [HIGHESTMODSEQ 3] x\r\n",
            true,
        ),
        // After ENABLE QRESYNC, VANISHED instead of EXPUNGE.
        (
            b"* ENABLED CONDSTORE\r\n* 1 EXISTS\r\n* 1 EXPUNGE\r\n",
            false,
        ),
        (b"* ENABLED QRESYNC\r\n* 1 EXISTS\r\n* 1 EXPUNGE\r\n", true),
        // Live updates name known messages only.
        (b"* 1 EXISTS\r\n* ESEARCH (TAG \"a\") ADDTO (0 2)\r\n", true),
        (
            b"* 1 EXISTS\r\n* 1 FETCH (UID 4)\r\n* 1 EXPUNGE\r\n\
              * ESEARCH (TAG \"a\") UID ADDTO (0 4)\r\n",
            true,
        ),
    ];
    for (reply, breaks) in views {
        // Every reply parses whole, so a passing one is not passing for want of responses.
        assert!(
            parse_all(reply).is_ok(),
            "{}",
            String::from_utf8_lossy(reply)
        );
        let broke = std::panic::catch_unwind(|| check_view(reply)).is_err();
        assert_eq!(broke, *breaks, "{}", String::from_utf8_lossy(reply));
    }
    assert!(!caught(|| check_answered(b"* 1 EXISTS\r\na OK x\r\n", "a")));
    assert!(caught(|| check_answered(b"a OK x\r\na OK y\r\n", "a")));
    assert!(caught(|| check_answered(b"b OK x\r\n", "a")));
    assert!(caught(|| check_answered(b"a OK x\r\n* 1 EXISTS\r\n", "a")));
    assert!(!caught(|| check_answered(b"a NO x\r\n* BYE y\r\n", "a")));
}

/// Triage: `IMAP_FUZZ_REPLAY=<file> cargo test ... replay -- --ignored` replays a failing
/// script and writes the smallest set of its lines that fails the same way to `<file>.min`.
#[test]
#[ignore]
fn replay() {
    let Ok(path) = std::env::var("IMAP_FUZZ_REPLAY") else {
        println!("SKIP: IMAP_FUZZ_REPLAY is not set");
        return;
    };
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let message = |d: &[u8]| {
        std::panic::catch_unwind(|| session_script(d))
            .err()
            .map(|e| match e.downcast::<String>() {
                Ok(s) => *s,
                Err(e) => e
                    .downcast::<&str>()
                    .map_or(String::new(), |s| s.to_string()),
            })
    };
    std::panic::set_hook(Box::new(|_| {}));
    let Some(want) = message(&data) else {
        let _ = std::panic::take_hook();
        println!("the script passes");
        return;
    };
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let mut fewer = lines.clone();
        fewer.remove(i);
        if message(&fewer.concat()).as_ref() == Some(&want) {
            lines = fewer;
        } else {
            i += 1;
        }
    }
    let _ = std::panic::take_hook();
    let _ = std::fs::write(format!("{path}.min"), lines.concat());
    println!("{want}\n{}", String::from_utf8_lossy(&lines.concat()));
}
