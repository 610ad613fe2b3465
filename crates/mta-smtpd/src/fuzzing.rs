//! Drives a [`Session`] from arbitrary client bytes, playing the shell's part in memory: the
//! body of the cargo-fuzz target (`fuzz/`) and of the unit test that replays its corpus.
//! Panics on any broken invariant, which is what the fuzzer looks for.

use std::net::IpAddr;
use std::sync::Arc;

use ferrymail_config::Role;
use ferrymail_smtp::DataDecoder;
use ferrymail_spool::QueueId;

use crate::policy::{Directory, Lookup, Policy};
use crate::session::{ClientFacts, Output, Session, SessionConfig};

/// `joe@a.test` exists (and owns `joe@a.test`), `a.test` is the only local domain.
struct FuzzDir;

impl Directory for FuzzDir {
    fn is_local_domain(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case("a.test")
    }
    fn lookup(&self, address: &str) -> Lookup {
        if address.eq_ignore_ascii_case("joe@a.test") {
            Lookup::Exists
        } else if address.eq_ignore_ascii_case("loop@a.test") {
            Lookup::Loop
        } else {
            Lookup::Unknown
        }
    }
    fn owns(&self, login: &str, address: &str) -> bool {
        login.eq_ignore_ascii_case(address)
    }
}

/// What a run produced: the reply bytes and the messages "queued".
#[derive(Debug, Default)]
pub struct Transcript {
    pub replies: Vec<u8>,
    pub queued: Vec<(ferrymail_spool::Envelope, Vec<u8>)>,
}

/// The first byte picks the role and a few settings; the rest is what the client sends.
pub fn run(input: &[u8]) -> Transcript {
    let (flags, mut rest) = match input.split_first() {
        Some((f, r)) => (*f, r),
        None => (0, input),
    };
    let role = match flags % 3 {
        0 => Role::Mx,
        1 => Role::Submission,
        _ => Role::Submissions,
    };
    let cfg = SessionConfig {
        hostname: "mx.a.test".into(),
        role,
        max_message_size: 2000,
        max_recipients: 3,
        max_command_line: 512,
        max_text_line: 1000,
        max_errors: 20,
        max_auth_failures: 3,
        vrfy: flags & 4 != 0,
        tls_available: true,
        normalize_bare_line_endings: flags & 8 != 0,
    };
    let facts = ClientFacts {
        addr: IpAddr::from([192, 0, 2, 1]),
        trusted: flags & 16 != 0,
        plaintext_auth_ok: flags & 32 != 0,
    };
    let policy = Arc::new(Policy::new(Arc::new(FuzzDir), true, "joe@a.test".into()));
    let implicit = (role == Role::Submissions).then(|| "TLSv1.3".to_string());
    let trusted = facts.trusted;
    let mut s = Session::new(Arc::new(cfg), policy, facts, implicit);
    s.screen_recipients(flags & 64 != 0);
    let mut t = Transcript::default();
    s.greeting().write_to(&mut t.replies);
    let mut message: Vec<u8> = Vec::new();
    // Bounded: every round consumes input or ends.
    for _ in 0..input.len() + 1 {
        if rest.is_empty() || s.is_closed() {
            break;
        }
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => rest.split_at(i + 1),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        let mut todo: std::collections::VecDeque<Output> = if line.len() > s.line_limit() {
            s.on_line_too_long().into()
        } else {
            s.on_line(line).into()
        };
        while let Some(o) = todo.pop_front() {
            match o {
                Output::Reply(r) => {
                    assert!((200..600).contains(&r.code), "bad code {}", r.code);
                    if r.code >= 400 {
                        assert!(r.enhanced.is_some(), "error without enhanced code: {r}");
                    }
                    let before = t.replies.len();
                    r.write_to(&mut t.replies);
                    let wire = &t.replies[before..];
                    // Exactly one CRLF per reply line: nothing can forge extra lines.
                    assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), r.lines.len());
                }
                // Milter checks are never enabled here: the milters' word is a reply too.
                Output::Milter { accepted, .. } => todo.push_front(Output::Reply(accepted)),
                Output::Close => return t,
                Output::StartTls => s.tls_started("TLSv1.3".into()),
                Output::Authenticate(c) => {
                    let ok = c.password == b"secret";
                    todo.extend(s.auth_result(if ok { Ok(c.authcid) } else { Err(()) }));
                }
                Output::ReceiveData => {
                    message.clear();
                    let header = s.received_header("0123456789ABCDEF", 0);
                    assert!(header.starts_with("Received: ") && header.ends_with("\r\n"));
                    message.extend_from_slice(header.as_bytes());
                    let mut d = DataDecoder::new(s.line_ending_policy(), 2000, 1000);
                    match d.feed(rest, &mut message) {
                        Some(n) => {
                            rest = rest.get(n..).unwrap_or_default();
                            todo.extend(s.data_received(&d.outcome(), true));
                        }
                        // Disconnected mid-DATA.
                        None => return t,
                    }
                }
                Output::ReceiveChunk { size, keep } => {
                    if message.is_empty() && keep {
                        message.extend_from_slice(s.received_header("X", 0).as_bytes());
                    }
                    let n = rest.len().min(usize::try_from(size).unwrap_or(usize::MAX));
                    if (n as u64) < size {
                        return t;
                    }
                    if keep {
                        message.extend_from_slice(&rest[..n]);
                    }
                    rest = &rest[n..];
                    todo.extend(s.chunk_received(true));
                }
                Output::Commit(env) => {
                    assert!(!env.recipients.is_empty(), "message without recipients");
                    assert!(env.recipients.len() <= 3);
                    if role != Role::Mx {
                        assert!(env.client.auth_user.is_some(), "submission without AUTH");
                    }
                    t.queued.push((*env, std::mem::take(&mut message)));
                    todo.extend(s.committed(Ok(QueueId::generate())));
                }
                Output::ScreenRecipient { recipient, .. } => {
                    assert!(flags & 64 != 0 && !trusted && s.auth_user().is_none());
                    // Screening refuses some recipients, as greylisting would.
                    let refusal = recipient
                        .starts_with('g')
                        .then(|| crate::replies::greylisted(300));
                    todo.extend(s.recipient_screened(refusal));
                }
                Output::AbortMessage => message.clear(),
            }
        }
    }
    t
}
