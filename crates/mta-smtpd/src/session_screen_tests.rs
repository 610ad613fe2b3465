//! The session's side of the mx role's defenses: which recipients go to screening, and what
//! a verdict does to the transaction.

use super::*;
use crate::policy::tests::policy;

fn session(trusted: bool) -> Session {
    let cfg = SessionConfig {
        hostname: "mx.a.test".into(),
        role: Role::Mx,
        max_message_size: 1000,
        max_recipients: 5,
        max_command_line: 512,
        max_text_line: 1000,
        max_errors: 10,
        max_auth_failures: 2,
        vrfy: false,
        tls_available: false,
        normalize_bare_line_endings: false,
    };
    let facts = ClientFacts {
        addr: "192.0.2.7".parse().unwrap(),
        trusted,
        plaintext_auth_ok: false,
    };
    let mut s = Session::new(Arc::new(cfg), Arc::new(policy(true)), facts, None);
    s.screen_recipients(true);
    s
}

fn first_reply(out: &[Output]) -> String {
    out.iter()
        .find_map(|o| match o {
            Output::Reply(r) => Some(String::from_utf8(r.to_bytes()).unwrap()),
            _ => None,
        })
        .unwrap_or_default()
}

fn start(s: &mut Session) {
    s.on_line(b"EHLO c.test\r\n");
    assert!(first_reply(&s.on_line(b"MAIL FROM:<Bob@B.test>\r\n")).starts_with("250"));
}

#[test]
fn recipients_wait_for_the_verdict_and_a_refusal_keeps_them_out() {
    let mut s = session(false);
    start(&mut s);
    let out = s.on_line(b"RCPT TO:<joe@a.test>\r\n");
    let [Output::ScreenRecipient { sender, recipient }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (sender.as_deref(), recipient.as_str()),
        (Some("Bob@B.test"), "joe@a.test")
    );
    let r = first_reply(&s.recipient_screened(Some(replies::greylisted(300))));
    assert!(r.starts_with("451 4.7.1 Greylisted"), "{r}");
    assert!(
        first_reply(&s.on_line(b"DATA\r\n")).starts_with("554"),
        "no recipient left"
    );

    s.on_line(b"RCPT TO:<joe@a.test>\r\n");
    assert!(first_reply(&s.recipient_screened(None)).starts_with("250"));
    assert!(first_reply(&s.on_line(b"DATA\r\n")).starts_with("354"));
}

#[test]
fn refused_recipients_are_not_screened_and_trusted_clients_never() {
    let mut s = session(false);
    start(&mut s);
    let r = first_reply(&s.on_line(b"RCPT TO:<x@elsewhere.test>\r\n"));
    assert!(r.starts_with("554 5.7.1"), "policy first: {r}");

    let mut t = session(true);
    start(&mut t);
    let r = first_reply(&t.on_line(b"RCPT TO:<joe@a.test>\r\n"));
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn repeated_refusals_end_the_session_at_max_errors() {
    let mut s = session(false);
    start(&mut s);
    for i in 1..=10 {
        s.on_line(b"RCPT TO:<joe@a.test>\r\n");
        let out = s.recipient_screened(Some(replies::greylisted(300)));
        let closed = matches!(out.last(), Some(Output::Close));
        assert_eq!(closed, i == 10, "refusal {i}: {out:?}");
    }
}

#[test]
fn a_verdict_nobody_asked_for_closes_the_session() {
    let mut s = session(false);
    start(&mut s);
    let out = s.recipient_screened(None);
    assert!(matches!(out.last(), Some(Output::Close)), "{out:?}");
}
