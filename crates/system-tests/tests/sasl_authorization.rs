//! One SASL authorization rule on every protocol: the same table of (authzid, authcid,
//! password) is fed to the real mta-smtpd (AUTH PLAIN on submission), pop3d (AUTH PLAIN) and
//! imapd (AUTHENTICATE PLAIN), and each must reach the same outcome. An empty authzid or one
//! naming the authcid's login (compared as the user database compares logins: case-insensitive)
//! is accepted; any other is refused as acting as another user, before the password is looked
//! at, so a wrong password with a foreign authzid is still "not authorized".
//!
//! Needs the three daemon binaries (`cargo build -p mta-smtpd -p pop3d -p imapd`;
//! `cargo test --workspace` builds them).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use ferrymail_dev::{prepare, target_bin, wait_for_tcp, Daemon, DevEnv, DevOptions, Ports};

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

struct Line {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Line {
    fn connect(addr: SocketAddr) -> Line {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let w = s.try_clone().expect("clone");
        Line {
            r: BufReader::new(s),
            w,
        }
    }

    fn read(&mut self) -> String {
        let mut l = String::new();
        let n = self.r.read_line(&mut l).expect("read");
        assert!(n > 0, "connection closed");
        l
    }

    fn send(&mut self, text: &str) {
        self.w
            .write_all(format!("{text}\r\n").as_bytes())
            .expect("write");
    }

    /// An SMTP reply, all its lines.
    fn smtp_reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let l = self.read();
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }
}

fn plain(authzid: &str, authcid: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{authzid}\0{authcid}\0{password}"))
}

/// What each outcome's reply starts with, per protocol.
struct Replies {
    accepted: &'static str,
    not_authorized: &'static str,
    bad_credentials: &'static str,
}

const SMTP: Replies = Replies {
    accepted: "235 ",
    not_authorized: "535 5.7.8 Not authorized to act as another user",
    bad_credentials: "535 5.7.8 Authentication credentials invalid",
};
const POP3: Replies = Replies {
    accepted: "+OK",
    not_authorized: "-ERR [AUTH] Not authorized to act as another user",
    bad_credentials: "-ERR [AUTH] Authentication failed",
};
const IMAP: Replies = Replies {
    accepted: "a1 OK",
    not_authorized: "a1 NO [AUTHORIZATIONFAILED]",
    bad_credentials: "a1 NO [AUTHENTICATIONFAILED]",
};

impl Replies {
    fn outcome(&self, reply: &str) -> Option<Outcome> {
        [
            (self.accepted, Accepted),
            (self.not_authorized, NotAuthorized),
            (self.bad_credentials, BadCredentials),
        ]
        .into_iter()
        .find(|(prefix, _)| reply.starts_with(prefix))
        .map(|(_, o)| o)
    }
}

/// The reply to SMTP `AUTH PLAIN <ir>`.
fn smtp(addr: SocketAddr, ir: &str) -> String {
    let mut c = Line::connect(addr);
    assert!(c.smtp_reply().starts_with("220"));
    c.send("EHLO client.test");
    let ehlo = c.smtp_reply();
    assert!(ehlo.contains("AUTH PLAIN"), "{ehlo}");
    c.send(&format!("AUTH PLAIN {ir}"));
    let r = c.smtp_reply();
    c.send("QUIT");
    r
}

/// The reply to POP3 `AUTH PLAIN <ir>`.
fn pop3(addr: SocketAddr, ir: &str) -> String {
    let mut c = Line::connect(addr);
    assert!(c.read().starts_with("+OK"));
    c.send(&format!("AUTH PLAIN {ir}"));
    let r = c.read();
    c.send("QUIT");
    r
}

/// The tagged reply to IMAP `AUTHENTICATE PLAIN <ir>`.
fn imap(addr: SocketAddr, ir: &str) -> String {
    let mut c = Line::connect(addr);
    assert!(c.read().starts_with("* OK"));
    c.send(&format!("a1 AUTHENTICATE PLAIN {ir}"));
    let r = loop {
        let l = c.read();
        if l.starts_with("a1 ") {
            break l;
        }
    };
    c.send("a2 LOGOUT");
    r
}

fn start() -> (tempfile::TempDir, DevEnv, Vec<Daemon>) {
    for bin in ["mta-smtpd", "imapd", "pop3d"] {
        assert!(
            target_bin(bin).is_file(),
            "{} is missing: run `cargo build -p {bin}` first",
            target_bin(bin).display()
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = DevOptions::new(dir.path().join("state"));
    opts.ports = Ports::free();
    opts.users = vec![
        (USER.into(), PASS.into()),
        (OTHER.into(), OTHER_PASS.into()),
    ];
    let mut env = prepare(&opts).expect("prepare");
    for l in env.client_limits_mut() {
        l.plaintext_auth_on_loopback = true;
        // Every case is a new connection; a refusal must not end the run early.
        l.max_auth_failures = 100;
        l.auth_failure_delay = Duration::from_millis(10);
    }
    env.save_config().expect("save config");
    let md = env.maildir(USER).expect("login has a domain");
    ferrymail_maildir::Maildir::create(md).expect("maildir");
    let daemons: Vec<Daemon> = ["mta-smtpd", "imapd", "pop3d"]
        .into_iter()
        .map(|bin| Daemon::spawn(&target_bin(bin), &env).expect("spawn"))
        .collect();
    for port in [env.ports.submission, env.ports.imap, env.ports.pop3] {
        let logs: Vec<String> = daemons.iter().map(|d| d.log(&env)).collect();
        assert!(
            wait_for_tcp(env.addr(port), Duration::from_secs(20)),
            "a daemon did not start:\n{}",
            logs.join("\n")
        );
    }
    (dir, env, daemons)
}

#[test]
fn authorization_identity_rule_is_the_same_on_smtp_pop3_and_imap() {
    let (_dir, env, daemons) = start();
    let mut mismatches = Vec::new();
    for &(authzid, authcid, password, want) in CASES {
        let ir = plain(authzid, authcid, password);
        let got = [
            ("SMTP", &SMTP, smtp(env.addr(env.ports.submission), &ir)),
            ("POP3", &POP3, pop3(env.addr(env.ports.pop3), &ir)),
            ("IMAP", &IMAP, imap(env.addr(env.ports.imap), &ir)),
        ];
        for (proto, replies, reply) in got {
            let outcome = replies.outcome(&reply);
            if outcome != Some(want) {
                mismatches.push(format!(
                    "{proto} authzid={authzid:?} authcid={authcid:?} password={password:?}: \
                     want {want:?}, got {outcome:?} ({})",
                    reply.trim_end()
                ));
            }
        }
    }
    if !mismatches.is_empty() {
        for d in &daemons {
            eprintln!("----- {} -----\n{}", d.name, d.log(&env));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
