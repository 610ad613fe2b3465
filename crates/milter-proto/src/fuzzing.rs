//! Feeds arbitrary bytes to the reply path as a milter's answers: negotiation first, then
//! every event in turn. The body of the cargo-fuzz target (`fuzz/`) and of a unit test.
//! Panics on any broken invariant, which is what the fuzzer looks for.

use crate::client::{Client, Event, Step};
use crate::negotiate::Negotiated;
use crate::response::Decoder;

const EVENTS: [Event; 9] = [
    Event::Connect,
    Event::Helo,
    Event::Mail,
    Event::Rcpt,
    Event::Data,
    Event::Header,
    Event::Eoh,
    Event::Body,
    Event::Eom,
];

/// What a run got through: verdicts reached and modifications recorded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub verdicts: usize,
    pub edits: usize,
    pub body_chunks: usize,
}

pub fn replies(data: &[u8]) -> Run {
    let mut run = Run::default();
    let max = 4096;
    let mut d = Decoder::new(max);
    // Fed in pieces, as a socket delivers them.
    for piece in data.chunks(7) {
        d.feed(piece);
    }
    let mut client: Option<Client> = None;
    let mut event = 0usize;
    loop {
        let r = match d.packet() {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return run,
        };
        let Some(c) = client.as_mut() else {
            match Negotiated::from_response(r) {
                Ok(n) => {
                    assert!(n.actions & !crate::negotiate::OFFERED_ACTIONS == 0);
                    client = Some(Client::new(n));
                }
                Err(_) => return run,
            }
            continue;
        };
        let ev = EVENTS
            .get(event % EVENTS.len())
            .copied()
            .unwrap_or(Event::Eom);
        match c.on_response(ev, r) {
            Ok(Step::More) => {}
            Ok(Step::Body(_)) => run.body_chunks += 1,
            Ok(Step::Done(v)) => {
                run.verdicts += 1;
                if let crate::client::Verdict::Refuse(reply) = v {
                    assert!((400..600).contains(&reply.code));
                }
                event += 1;
                if ev == Event::Eom {
                    run.edits += c.take_edits().len();
                    c.message_done();
                }
            }
            Err(_) => return run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{replies, Run};

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            replies(&data);
        }
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/replies");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let run = replies(&std::fs::read(&path).unwrap());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            match name.as_str() {
                // Eight events continued, then seven edits, a body chunk, quarantine, accept.
                "all_edits" => assert_eq!(
                    run,
                    Run {
                        verdicts: 9,
                        edits: 7,
                        body_chunks: 1
                    }
                ),
                "replycode_multiline" => assert_eq!(run.verdicts, 3),
                "oversized" | "bad_version" => assert_eq!(run, Run::default()),
                _ => {}
            }
            n += 1;
        }
        assert!(n >= 5, "corpus at {} has only {n} inputs", dir.display());
    }
}
