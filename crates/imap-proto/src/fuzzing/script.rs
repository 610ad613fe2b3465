//! The session fuzzer: a byte script drives three sessions over one [`MemoryStore`] the way
//! the shell would (collector, literals, the follow-ups of each [`Action`]), and every reply
//! is parsed back and checked against what the client has been told.
//!
//! Script lines (LF-separated, a CR before it is dropped):
//! - `0 <command>`, `1 ...`, `2 ...`: a command line for that session; when it ends in a
//!   literal marker `{n}`/`{n+}`, the next n bytes of the script are the literal and the
//!   command goes on with the next line. Sessions 0 and 1 start logged in; 2 starts at the
//!   greeting, over plaintext with plaintext logins allowed (a LOGIN with the password
//!   `bad` is refused). A session that is idling ends IDLE with its next line.
//! - `D [mailbox]`: a message is delivered from outside (INBOX by default).
//! - `X <uid>`: another process expunges that INBOX message.
//! - `F <uid> <bits>`: another process sets that INBOX message's system flags.
//!
//! Anything else is ignored. After each step every idling session gets its IDLE updates.

use super::view::Knowledge;
use crate::command::Command;
use crate::framing::{Collected, CommandCollector};
use crate::parse::parse_command;
use crate::parse_response::{parse_all, parse_response};
use crate::response::{Code, Kind, Response, Status};
use crate::session::{
    Action, FlagSet, MemorySession, MemoryStore, MetadataLimits, Output, Policy, Session,
};

/// Bounds that keep one run fast.
const MAX_STEPS: usize = 300;
const MAX_DELIVERIES: usize = 60;
const MAX_LINE: usize = 4096;
const MAX_LITERAL: u64 = 8192;

/// What one client has been told about its selected mailbox.
#[derive(Default)]
struct Client {
    session: Option<Session<MemorySession>>,
    /// What the client has been told.
    known: Knowledge,
    idle_tag: Option<String>,
    closed: bool,
}

fn policy(logged_in: bool) -> Policy {
    Policy {
        tls_active: logged_in,
        starttls: true,
        plaintext_auth: !logged_in,
        mechanisms: vec!["PLAIN".into()],
        metadata: MetadataLimits::default(),
        max_search_updates: 10,
        max_auth_failures: 3,
        max_message: 1 << 20,
    }
}

/// The tagged statuses of a reply.
fn tagged(r: &[Response]) -> Vec<&Status> {
    r.iter()
        .filter_map(|x| match x {
            Response::Status(s) if s.tag.is_some() => Some(s),
            _ => None,
        })
        .collect()
}

fn is_bye(r: &Response) -> bool {
    matches!(
        r,
        Response::Status(Status {
            tag: None,
            kind: Kind::Bye,
            ..
        })
    )
}

/// Exactly one tagged reply, with `tag`, last but for a closing BYE.
fn assert_answered(r: &[Response], tag: &str) {
    let t = tagged(r);
    assert_eq!(t.len(), 1, "{tag}: {r:?}");
    assert_eq!(t.first().and_then(|s| s.tag.as_deref()), Some(tag), "{r:?}");
    let pos = r
        .iter()
        .position(|x| matches!(x, Response::Status(s) if s.tag.is_some()));
    let after = pos.and_then(|p| r.get(p + 1..)).unwrap_or_default();
    assert!(
        after.iter().all(is_bye),
        "{tag}: after the tagged reply: {r:?}"
    );
}

/// The session's output parsed; every response must also survive encode → parse unchanged.
fn parsed(out: &mut Output) -> Vec<Response> {
    let raw = out.take();
    trace("S: ", &raw);
    let r = match parse_all(&raw) {
        Ok(r) => r,
        Err(e) => panic!("the session wrote an unparsable response: {e}"),
    };
    for x in &r {
        let bytes = x.to_bytes();
        match parse_response(&bytes) {
            Ok((again, _)) => assert_eq!(&again, x, "{}", String::from_utf8_lossy(&bytes)),
            Err(e) => panic!(
                "{e}: {x:?} re-encoded as {}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    r
}

struct Runner {
    store: MemoryStore,
    clients: [Client; 3],
    deliveries: usize,
}

impl Runner {
    fn new() -> Runner {
        let store = MemoryStore::new();
        let mut clients: [Client; 3] = Default::default();
        for (i, c) in clients.iter_mut().enumerate() {
            c.session = Some(if i < 2 {
                Session::authenticated(policy(true), store.session())
            } else {
                Session::new(policy(false))
            });
        }
        Runner {
            store,
            clients,
            deliveries: 0,
        }
    }

    /// Gives every idling session its updates, as the shell does on a change.
    fn idle_updates(&mut self) {
        for c in self.clients.iter_mut() {
            if let (Some(s), Some(_)) = (c.session.as_mut(), &c.idle_tag) {
                let mut out = Output::new();
                s.idle_updates(&mut out);
                let r = parsed(&mut out);
                assert!(tagged(&r).is_empty(), "tagged reply during IDLE: {r:?}");
                c.known.observe(&r);
            }
        }
    }

    fn event(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_ascii_whitespace();
        let kind = words.next();
        let num = |w: Option<&str>| w.and_then(|n| n.parse::<u32>().ok());
        match kind {
            Some("D") if self.deliveries < MAX_DELIVERIES => {
                self.deliveries += 1;
                let mailbox = words.next().unwrap_or("INBOX");
                let msg = format!("Subject: delivery {}\r\n\r\nhello\r\n", self.deliveries);
                // A mailbox that does not exist is simply not delivered to.
                let _ = self.store.deliver(mailbox, msg.as_bytes());
            }
            Some("X") => {
                if let Some(uid) = num(words.next()) {
                    self.store.expunge("INBOX", uid);
                }
            }
            Some("F") => {
                if let (Some(uid), Some(bits)) = (num(words.next()), num(words.next())) {
                    let flags = FlagSet {
                        system: (bits & 0x1f) as u8,
                        keywords: 0,
                    };
                    self.store.set_flags("INBOX", uid, flags);
                }
            }
            _ => {}
        }
    }

    /// Runs one complete command (or ends IDLE) for client `i`.
    fn command(&mut self, i: usize, cmd: &[u8]) {
        let store = self.store.clone();
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        let Some(session) = c.session.as_mut() else {
            return;
        };
        let mut out = Output::new();
        if let Some(tag) = c.idle_tag.take() {
            session.idle_done(&tag, cmd.eq_ignore_ascii_case(b"DONE"), &mut out);
            let r = parsed(&mut out);
            assert_answered(&r, &tag);
            c.known.observe(&r);
            return;
        }
        let parsed_cmd = parse_command(cmd);
        let expected_tag = match &parsed_cmd {
            Ok((t, _)) => Some(t.clone()),
            Err(e) => e.tag.clone(),
        };
        let is = |f: fn(&Command) -> bool| parsed_cmd.as_ref().is_ok_and(|(_, c)| f(c));
        let told_before = c.known.view.clone();
        if is(|c| {
            matches!(
                c,
                Command::Select(_) | Command::Examine(_) | Command::SelectWith { .. }
            )
        }) {
            // Whatever the outcome, the old mailbox is no longer selected — unless the
            // command was refused as BAD before it ran (QRESYNC parameters not enabled).
            c.known.view = None;
        }
        let action = session.handle(cmd, &mut out);
        match &action {
            Action::Login { tag, password, .. } => {
                if password == b"bad" {
                    if session.login_failed(tag, Code::AuthenticationFailed, "no", &mut out)
                        == Action::Close
                    {
                        c.closed = true;
                    }
                } else {
                    session.logged_in(tag, store.session(), &mut out);
                }
            }
            Action::Authenticate { tag, .. } => {
                if session.login_failed(tag, Code::AuthenticationFailed, "no", &mut out)
                    == Action::Close
                {
                    c.closed = true;
                }
            }
            Action::StartTls => session.tls_started(),
            Action::Close => c.closed = true,
            // Compression is the shell's: the commands after it are the same.
            Action::Idle { .. } | Action::Compress | Action::Continue => {}
        }
        let r = parsed(&mut out);
        if let Action::Idle { tag } = action {
            assert!(tagged(&r).is_empty(), "IDLE answered at once: {r:?}");
            // Updates may follow the continuation: that is what IDLE is for.
            assert!(r.contains(&Response::Continue("idling".into())), "{r:?}");
            c.idle_tag = Some(tag);
        } else if let Some(tag) = &expected_tag {
            assert_answered(&r, tag);
        } else {
            assert!(tagged(&r).is_empty(), "{r:?}");
        }
        if is(|c| matches!(c, Command::Logout)) {
            assert_eq!(r.len(), 2, "LOGOUT: {r:?}");
            assert!(r.first().is_some_and(is_bye), "LOGOUT: {r:?}");
        }
        let selected = session.selected_mailbox().is_some();
        if tagged(&r).first().is_some_and(|s| s.kind == Kind::Bad) && selected {
            c.known.view = c.known.view.take().or(told_before);
        }
        c.known.observe(&r);
        if is(|c| matches!(c, Command::Close | Command::Unselect)) || !selected {
            c.known.view = None;
        }
        if c.closed {
            c.session = None;
        }
    }
}

/// Runs a script (see the module documentation).
pub fn session_script(data: &[u8]) {
    let mut runner = Runner::new();
    let mut rest = data;
    let mut steps = 0;
    while !rest.is_empty() && steps < MAX_STEPS {
        steps += 1;
        let (line, after) = next_line(rest);
        rest = after;
        let Some((&first, body)) = line.split_first() else {
            continue;
        };
        let Some(i) = (first as char).to_digit(10).filter(|&i| i < 3) else {
            trace("E: ", line);
            runner.event(line);
            runner.idle_updates();
            continue;
        };
        let body = body.strip_prefix(b" ").unwrap_or(body);
        let mut collector = CommandCollector::new(MAX_LINE, MAX_LITERAL);
        let mut piece = body;
        let complete = loop {
            match collector.push_line(piece) {
                Ok(Collected::Complete) => break true,
                Ok(Collected::Literal { size, .. }) => {
                    let n = (size as usize).min(rest.len());
                    collector.push_literal(rest.get(..n).unwrap_or_default());
                    rest = rest.get(n..).unwrap_or_default();
                    let (next, after) = next_line(rest);
                    piece = next;
                    rest = after;
                }
                Err(_) => break false,
            }
        };
        if complete {
            let cmd = collector.take();
            trace(&format!("C{i}: "), &cmd);
            runner.command(i as usize, &cmd);
        }
        runner.idle_updates();
    }
}

/// With `IMAP_FUZZ_TRACE` set, the script's traffic goes to stderr (for triage).
fn trace(who: &str, bytes: &[u8]) {
    if std::env::var_os("IMAP_FUZZ_TRACE").is_some() {
        eprintln!("{who}{}", String::from_utf8_lossy(bytes).trim_end());
    }
}

/// The next line without its LF (and CR), and what follows it.
fn next_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

/// The checks on their own, so a test can show they catch what they should.
#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// Runs the view checks of one client over `reply`.
    pub fn check_view(reply: &[u8]) {
        let r = parse_all(reply).unwrap_or_default();
        Knowledge::default().observe(&r);
    }

    pub fn check_answered(reply: &[u8], tag: &str) {
        let r = parse_all(reply).unwrap_or_default();
        assert_answered(&r, tag);
    }
}
