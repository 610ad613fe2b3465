//! pop3d's integration tests run the real binary in a dev environment (the shared test
//! kit's `Suite` and `Pop3Client`); here are its users, mail put straight into a Maildir, the
//! expected wire form of a message, and a step-by-step driver for Python clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};

use ferrymail_maildir::{DeliverOptions, Maildir, MessageEntry};
use ferrymail_testkit::{Pop3Client, Suite};

pub const USER: &str = "joe@example.test";
pub const PASS: &str = "correct horse";

/// Starts pop3d; `plaintext_on_loopback` sets `pop3d.limits.plaintext_auth_on_loopback`.
pub fn start(plaintext_on_loopback: bool) -> Suite {
    start_with(|c| c.pop3d.limits.plaintext_auth_on_loopback = plaintext_on_loopback)
}

pub fn start_with(edit: impl FnOnce(&mut ferrymail_config::Config)) -> Suite {
    let mut s = Suite::new(&[(USER, PASS), ("ann@example.test", "ann-pw")]);
    s.edit_config(|c| {
        // Keep failed-login back-off short so tests stay quick; its doubling is unit-tested.
        c.pop3d.limits.auth_failure_delay = std::time::Duration::from_millis(20);
        edit(c);
    });
    s.start("pop3d");
    s
}

/// The Maildir of `login`, created if missing.
pub fn store(s: &Suite, login: &str) -> Maildir {
    Maildir::create(s.maildir(login)).unwrap()
}

pub fn deliver(s: &Suite, login: &str, message: &[u8]) -> MessageEntry {
    store(s, login)
        .deliver(&[message], DeliverOptions::default())
        .unwrap()
}

/// Port 110, greeted.
pub fn plain(s: &Suite) -> Pop3Client {
    s.pop3(s.env.ports.pop3)
}

/// Port 995 style: TLS from the first byte.
pub fn implicit_tls(s: &Suite) -> Pop3Client {
    s.pop3_tls(s.env.ports.pop3s)
}

/// Port 110 then STLS.
pub fn stls(s: &Suite) -> Pop3Client {
    let mut c = plain(s);
    assert_eq!(c.stls(), "+OK Begin TLS negotiation\r\n");
    c
}

/// What a RETR must send for `message`, computed independently of the server's encoder:
/// CRLF endings, dot-stuffing, a final CRLF, and the terminator.
pub fn expected_retr(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(message.to_vec()).unwrap();
    let mut out = String::new();
    let normalized = text.replace("\r\n", "\n");
    let trimmed = normalized.strip_suffix('\n').unwrap_or(&normalized);
    for line in trimmed.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out.into_bytes()
}

/// Names of the message files in new/ and cur/ of a maildir.
pub fn files(path: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(path.join(sub)).unwrap() {
            out.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

/// A Python client script driven step by step: it prints one JSON object per step and
/// waits for a line on stdin before the next, so a test can look around between steps.
pub struct StepScript {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl StepScript {
    /// `python3 -c script args...`.
    pub fn start<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> StepScript {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`python3` is not installed: install the Debian package `python3`");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        StepScript { child, out }
    }

    /// The next step's JSON. If the script ended instead, fails with its stderr and
    /// `context()` (e.g. the daemon's log).
    pub fn next(&mut self, context: impl Fn() -> String) -> serde_json::Value {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        if line.is_empty() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the Python client failed:\n{err}\n{}", context());
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}\n{}", context()))
    }

    /// Lets the script go on to its next step.
    pub fn proceed(&mut self) {
        writeln!(self.child.stdin.as_mut().expect("piped stdin")).unwrap();
    }

    /// Waits for the script to end; true if it succeeded.
    pub fn finish(mut self) -> bool {
        self.child.wait().unwrap().success()
    }
}
