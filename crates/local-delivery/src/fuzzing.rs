//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the unit test that replays
//! their corpus: arbitrary bytes through the LMTP session with its DATA decoder, and through
//! the Sieve parser and interpreter. Neither may panic or loop.

use ferrymail_smtp::{DataDecoder, LineEndingPolicy, Reply};

use crate::message;
use crate::session::{Session, SessionConfig, Step};
use ferrymail_sieve::{Facts, Script};

/// Feeds `input` to a session as a client would (lines, then DATA bytes after a 354) and
/// returns the replies in order.
pub fn lmtp_session(input: &[u8]) -> Vec<Reply> {
    let mut s = Session::new(SessionConfig {
        hostname: "fuzz.test".into(),
        max_message_size: 4096,
        max_recipients: 8,
        max_errors: 20,
    });
    let mut out = vec![s.greeting()];
    let mut rest = input;
    let mut check = |a: &str| {
        if a.starts_with('x') {
            Err(Reply::new(550, "5.1.1", "unknown"))
        } else {
            Ok(())
        }
    };
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let (line, next) = rest.split_at(end);
        rest = next;
        let step = if line.len() > 512 {
            s.line_too_long()
        } else {
            s.command(line, &mut check)
        };
        match step {
            Step::Reply(r) => out.push(r),
            Step::StartTls(r) => {
                out.push(r);
                s.tls_started();
            }
            Step::Close(r) => {
                out.push(r);
                break;
            }
            Step::Data(r) => {
                out.push(r);
                let mut dec = DataDecoder::new(LineEndingPolicy::Normalize, 4096, 1000);
                let mut msg = Vec::new();
                let Some(n) = dec.feed(rest, &mut msg) else {
                    break;
                };
                rest = rest.get(n..).unwrap_or_default();
                let count = s.recipient_count();
                match s.data_done(&dec.outcome()) {
                    Ok(tx) => {
                        let headers = message::headers(&msg);
                        for r in &tx.recipients {
                            let looped = message::delivered_to_count(&headers, r) > 0;
                            out.push(if looped {
                                Reply::new(554, "5.4.6", "loop")
                            } else {
                                Reply::new(250, "2.0.0", "ok")
                            });
                        }
                    }
                    Err(r) => out.extend(std::iter::repeat_n(r, count)),
                }
            }
        }
    }
    out
}

/// Parses `input` as a Sieve script and, if it parses, runs it against `input` read as a
/// message. Returns whether it parsed.
pub fn sieve(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    match Script::parse(&text) {
        Ok(script) => {
            let headers = message::headers(input);
            let view = Facts {
                headers: &headers,
                from: "sender@fuzz.test",
                to: "rcpt@fuzz.test",
                size: input.len() as u64,
            };
            let _ = script.run(&view);
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        assert!(!v.is_empty(), "empty corpus {}", dir.display());
        v
    }

    #[test]
    fn lmtp_corpus_replays() {
        for (name, input) in corpus("lmtp_session") {
            let replies = lmtp_session(&input);
            assert_eq!(replies[0].code, 220, "{name}");
            assert!(
                replies.iter().all(|r| (200..600).contains(&r.code)),
                "{name}"
            );
        }
        let r = lmtp_session(
            b"LHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<u@x>\r\nRCPT TO:<x@x>\r\nRCPT TO:<v@x>\r\nDATA\r\nDelivered-To: v@x\r\n\r\nhi\n.\n\r\n.\r\nQUIT\r\n",
        );
        let codes: Vec<u16> = r.iter().map(|r| r.code).collect();
        assert_eq!(
            codes,
            vec![220, 250, 250, 250, 550, 250, 354, 250, 554, 221]
        );
    }

    #[test]
    fn sieve_corpus_replays() {
        let mut parsed = 0;
        for (_, input) in corpus("sieve_parse") {
            if sieve(&input) {
                parsed += 1;
            }
        }
        assert!(parsed > 0, "the corpus holds valid scripts too");
        assert!(!sieve(b"if {"));
    }
}
