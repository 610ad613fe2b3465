//! imapd's integration tests run the real binary in a dev environment (the shared test kit's
//! `Suite` and `ImapClient`); here are its users, logins, the daemon's inotify watches and a
//! small message.

#![allow(dead_code)]

pub mod deflated;

use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_testkit::{ImapClient, Suite};

pub const USER: &str = "alice@example.test";
pub const PASS: &str = "wonderland";

/// An environment for imapd, not started; `plaintext` allows LOGIN without TLS from
/// loopback.
pub fn prepare(plaintext: bool) -> Suite {
    let mut s = Suite::new(&[(USER, PASS), ("bob@example.test", "builder")]);
    s.edit_config(|c| {
        c.imapd.limits.plaintext_auth_on_loopback = plaintext;
        c.imapd.limits.auth_failure_delay = Duration::from_millis(10);
    });
    s
}

/// Starts imapd; `plaintext` allows LOGIN without TLS from loopback.
pub fn start(plaintext: bool) -> Suite {
    start_with(plaintext, |_| {})
}

/// Like [`start`], with `edit` applied to the config first.
pub fn start_with(plaintext: bool, edit: impl FnOnce(&mut Config)) -> Suite {
    let mut s = prepare(plaintext);
    s.edit_config(edit);
    s.start("imapd");
    s
}

/// SIGTERM; imapd must exit 0.
pub fn stop(s: &mut Suite) {
    let status = s.stop("imapd");
    assert!(status.success(), "exit status {status:?}");
}

/// inotify watches imapd holds right now (from /proc/<pid>/fdinfo).
pub fn inotify_watches(s: &Suite) -> usize {
    let pid = s.daemon("imapd").pid();
    let mut n = 0;
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(fd.path()) {
            n += text
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
        }
    }
    n
}

pub fn connect(s: &Suite) -> ImapClient {
    s.imap(s.env.ports.imap)
}

/// A session logged in as `user` (the login must succeed).
pub fn login(s: &Suite, user: &str, pass: &str) -> ImapClient {
    let mut c = connect(s);
    let r = c.login(user, pass);
    assert!(r.ok(), "login failed: {r:?}\n{}", s.log("imapd"));
    c
}

/// A small plain message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Sends `tag command` whose one FETCH response carries a literal (or literal8) and
/// returns that response's first line and the literal's bytes, exactly.
pub fn fetch_literal(c: &mut ImapClient, tag: &str, command: &str) -> (String, Vec<u8>) {
    c.send(format!("{tag} {command}\r\n").as_bytes());
    let head = c.conn().read_line().expect("FETCH line");
    let head = String::from_utf8_lossy(&head).into_owned();
    let size: usize = head
        .trim_end()
        .strip_suffix('}')
        .and_then(|h| h.rsplit_once('{'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("no literal in {head}"));
    let body = c.conn().read_exact_bytes(size).expect("literal");
    let r = c.read_until_tag(tag);
    assert!(r.ok(), "{}", r.all());
    (head, body)
}
