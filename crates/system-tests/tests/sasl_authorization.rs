//! One SASL authorization rule on every protocol: the same table of (authzid, authcid,
//! password) is fed to the real mta-smtpd (AUTH PLAIN on submission), pop3d (AUTH PLAIN) and
//! imapd (AUTHENTICATE PLAIN), and each must reach the same outcome. An empty authzid or one
//! naming the authcid's login (compared as the user database compares logins: case-insensitive)
//! is accepted; any other is refused as acting as another user, before the password is looked
//! at, so a wrong password with a foreign authzid is still "not authorized".
//!
//! Needs the three daemon binaries (`cargo build -p mta-smtpd -p pop3d -p imapd`;
//! `cargo test --workspace` builds them).

use std::time::Duration;

use base64::Engine;
use ferrymail_testkit::{SmtpClient, Suite};

const USER: &str = "joe@example.test";
const PASS: &str = "joe-secret-1";
const OTHER: &str = "ann@example.test";
const OTHER_PASS: &str = "ann-secret-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    NotAuthorized,
    BadCredentials,
}

use Outcome::*;

/// (authzid, authcid, password, outcome on every protocol)
const CASES: &[(&str, &str, &str, Outcome)] = &[
    ("", USER, PASS, Accepted),
    (USER, USER, PASS, Accepted),
    ("JOE@Example.TEST", USER, PASS, Accepted),
    (USER, "Joe@EXAMPLE.test", PASS, Accepted),
    (OTHER, USER, PASS, NotAuthorized),
    ("joe", USER, PASS, NotAuthorized),
    (OTHER, USER, "wrong", NotAuthorized),
    ("", USER, "wrong", BadCredentials),
    (USER, USER, "wrong", BadCredentials),
];

fn plain(authzid: &str, authcid: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{authzid}\0{authcid}\0{password}"))
}

fn smtp(s: &Suite, ir: &str) -> (Outcome, String) {
    let mut c = SmtpClient::connect(s.addr(s.env.ports.submission));
    let ehlo = c.hello();
    assert!(ehlo.contains("AUTH PLAIN"), "{ehlo}");
    let r = c.cmd(&format!("AUTH PLAIN {ir}"));
    let outcome = if r.starts_with("235 ") {
        Accepted
    } else if r.starts_with("535 5.7.8 Not authorized to act as another user") {
        NotAuthorized
    } else if r.starts_with("535 5.7.8 Authentication credentials invalid") {
        BadCredentials
    } else {
        panic!("SMTP: unexpected reply {r}")
    };
    c.send(b"QUIT\r\n");
    (outcome, r.to_string())
}

fn pop3(s: &Suite, ir: &str) -> (Outcome, String) {
    let mut c = s.pop3(s.env.ports.pop3);
    let r = c.cmd(&format!("AUTH PLAIN {ir}"));
    let outcome = if r.starts_with("+OK") {
        Accepted
    } else if r.starts_with("-ERR [AUTH] Not authorized to act as another user") {
        NotAuthorized
    } else if r.starts_with("-ERR [AUTH] Authentication failed") {
        BadCredentials
    } else {
        panic!("POP3: unexpected reply {r}")
    };
    c.send(b"QUIT\r\n");
    (outcome, r)
}

fn imap(s: &Suite, ir: &str) -> (Outcome, String) {
    let mut c = s.imap(s.env.ports.imap);
    assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).tagged;
    let outcome = if r.starts_with("a1 OK") {
        Accepted
    } else if r.starts_with("a1 NO [AUTHORIZATIONFAILED]") {
        NotAuthorized
    } else if r.starts_with("a1 NO [AUTHENTICATIONFAILED]") {
        BadCredentials
    } else {
        panic!("IMAP: unexpected reply {r}")
    };
    c.send(b"a2 LOGOUT\r\n");
    (outcome, r)
}

fn start() -> Suite {
    let mut s = Suite::new(&[(USER, PASS), (OTHER, OTHER_PASS)]);
    s.edit_config(|c| {
        for l in [
            &mut c.smtpd.limits,
            &mut c.imapd.limits,
            &mut c.pop3d.limits,
        ] {
            l.plaintext_auth_on_loopback = true;
            // Every case is a new connection; a refusal must not end the run early.
            l.max_auth_failures = 100;
            l.auth_failure_delay = Duration::from_millis(10);
        }
    });
    ferrymail_maildir::Maildir::create(s.maildir(USER)).expect("maildir");
    for daemon in ["mta-smtpd", "imapd", "pop3d"] {
        s.start(daemon);
    }
    s
}

#[test]
fn authorization_identity_rule_is_the_same_on_smtp_pop3_and_imap() {
    let s = start();
    let mut mismatches = Vec::new();
    for &(authzid, authcid, password, want) in CASES {
        let ir = plain(authzid, authcid, password);
        let got = [
            ("SMTP", smtp(&s, &ir)),
            ("POP3", pop3(&s, &ir)),
            ("IMAP", imap(&s, &ir)),
        ];
        for (proto, (outcome, reply)) in got {
            if outcome != want {
                mismatches.push(format!(
                    "{proto} authzid={authzid:?} authcid={authcid:?} password={password:?}: \
                     want {want:?}, got {outcome:?} ({})",
                    reply.trim_end()
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
