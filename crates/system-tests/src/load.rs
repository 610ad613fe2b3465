//! A bounded SMTP and IMAP load for restart tests. Every message carries a unique token; the
//! SMTP side records which tokens got `250` after DATA (the server's promise), which is what
//! must never be lost. Clients classify what they see: a 4xx reply, a `* BYE`, or a dropped
//! connection is retryable (what a restart may cause); a 5xx or an IMAP NO/BAD is not.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_testkit::{Conn, ImapClient, SmtpClient};

/// How long a client waits for one reply: longer than a daemon takes to restart, because
/// during a restart the kernel holds new connections in the listen backlog.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(40);

/// What the load saw, shared between client threads and the test.
#[derive(Debug, Default)]
pub struct Tally {
    /// `(token, queue id)` of every message answered 250.
    pub accepted: Vec<(String, String)>,
    /// Tokens given up on after too many retryable failures.
    pub abandoned: Vec<String>,
    /// Retryable events (4xx, BYE, disconnects), with what happened.
    pub retryable: Vec<String>,
    /// Non-retryable errors: any of these fails the test.
    pub fatal: Vec<String>,
    /// Completed IMAP sessions (LOGIN, SELECT, SEARCH, LOGOUT all OK).
    pub imap_sessions: usize,
}

pub type Shared = Arc<Mutex<Tally>>;

fn record(t: &Shared, f: impl FnOnce(&mut Tally)) {
    if let Ok(mut g) = t.lock() {
        f(&mut g);
    }
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    Retry(String),
    Fatal(String),
}

/// A retryable failure from a read or write: the daemon may be restarting.
fn io(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Retry(format!("{what}: {e}"))
}

fn connect(addr: SocketAddr) -> Result<Conn, Failure> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| Failure::Retry(format!("connect {addr}: {e}")))?;
    s.set_read_timeout(Some(REPLY_TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(REPLY_TIMEOUT)))
        .map_err(|e| Failure::Retry(e.to_string()))?;
    Ok(Conn::from_tcp(s))
}

/// One SMTP reply: 2xx/3xx ok, 4xx retry, 5xx fatal; returns its last line.
fn smtp_reply(c: &mut SmtpClient, what: &str) -> Result<String, Failure> {
    let r = c.try_reply().map_err(io(what))?;
    let last = r.lines().last().unwrap_or_default().to_owned();
    match r.code / 100 {
        2 | 3 => Ok(last),
        4 => Err(Failure::Retry(format!("{what}: {last}"))),
        _ => Err(Failure::Fatal(format!("{what}: {last}"))),
    }
}

fn smtp_cmd(c: &mut SmtpClient, text: &str, what: &str) -> Result<String, Failure> {
    c.try_send(text.as_bytes()).map_err(io(what))?;
    smtp_reply(c, what)
}

/// Sends `text` tagged `tag` and reads until the tagged reply; `* BYE` is retryable
/// (except in answer to LOGOUT), NO/BAD fatal.
fn imap_cmd(c: &mut ImapClient, tag: &str, text: &str, what: &str) -> Result<(), Failure> {
    c.conn()
        .send(format!("{tag} {text}\r\n").as_bytes())
        .map_err(io(what))?;
    let r = c.try_read_until_tag(tag).map_err(io(what))?;
    if let Some(bye) = r.untagged.iter().find(|l| l.starts_with("* BYE")) {
        if what != "LOGOUT" {
            return Err(Failure::Retry(format!("{what}: {bye}")));
        }
    }
    if r.ok() {
        Ok(())
    } else {
        Err(Failure::Fatal(format!("{what}: {}", r.tagged)))
    }
}

/// One SMTP transaction for `token`; returns the queue id from `250 ... queued as <qid>`.
fn smtp_once(addr: SocketAddr, rcpt: &str, token: &str) -> Result<String, Failure> {
    let mut c = SmtpClient::from_conn(connect(addr)?);
    smtp_reply(&mut c, "greeting")?;
    smtp_cmd(&mut c, "EHLO load.test\r\n", "EHLO")?;
    smtp_cmd(&mut c, "MAIL FROM:<load@load.test>\r\n", "MAIL")?;
    smtp_cmd(&mut c, &format!("RCPT TO:<{rcpt}>\r\n"), "RCPT")?;
    smtp_cmd(&mut c, "DATA\r\n", "DATA")?;
    let done = smtp_cmd(
        &mut c,
        &format!(
            "From: <load@load.test>\r\nTo: <{rcpt}>\r\nSubject: load {token}\r\nMessage-ID: <{token}@load.test>\r\nX-Load-Token: {token}\r\n\r\nrestart test message {token}\r\n.\r\n"
        ),
        "end of data",
    )?;
    let qid = done
        .rsplit("queued as ")
        .next()
        .filter(|_| done.contains("queued as "))
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    // QUIT is a courtesy: the message is already the server's responsibility.
    let _ = c.try_send(b"QUIT\r\n");
    Ok(qid)
}

/// A stream of SMTP messages, one token each.
#[derive(Debug, Clone)]
pub struct SmtpLoad {
    pub addr: SocketAddr,
    pub rcpt: String,
    /// Tokens are `<prefix>-<n>`.
    pub prefix: String,
    /// At most this many messages.
    pub count: usize,
    /// Retryable failures tolerated per message before it is abandoned.
    pub max_attempts: usize,
    /// Pause between messages.
    pub pace: Duration,
}

impl SmtpLoad {
    /// Sends until `count` messages or `stop`.
    pub fn run(&self, stop: &AtomicBool, tally: &Shared) {
        for i in 0..self.count {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let token = format!("{}-{i}", self.prefix);
            let mut attempts = 0;
            loop {
                attempts += 1;
                match smtp_once(self.addr, &self.rcpt, &token) {
                    Ok(qid) => {
                        record(tally, |t| t.accepted.push((token.clone(), qid)));
                        break;
                    }
                    Err(Failure::Fatal(e)) => {
                        record(tally, |t| t.fatal.push(format!("smtp {token}: {e}")));
                        break;
                    }
                    Err(Failure::Retry(e)) => {
                        record(tally, |t| t.retryable.push(format!("smtp: {e}")));
                        if attempts >= self.max_attempts {
                            record(tally, |t| t.abandoned.push(token.clone()));
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            std::thread::sleep(self.pace);
        }
    }
}

fn imap_once(addr: SocketAddr, login: &str, password: &str) -> Result<(), Failure> {
    let mut c = ImapClient::greeted(connect(addr)?).map_err(io("greeting"))?;
    let greeting = c.greeting.clone();
    if greeting.starts_with("* BYE") {
        return Err(Failure::Retry(format!("greeting: {greeting}")));
    }
    if !greeting.starts_with("* OK") {
        return Err(Failure::Fatal(format!("greeting: {greeting}")));
    }
    imap_cmd(
        &mut c,
        "a1",
        &format!("LOGIN \"{login}\" \"{password}\""),
        "LOGIN",
    )?;
    imap_cmd(&mut c, "a2", "SELECT INBOX", "SELECT")?;
    imap_cmd(&mut c, "a3", "UID SEARCH ALL", "SEARCH")?;
    imap_cmd(&mut c, "a4", "LOGOUT", "LOGOUT")?;
    Ok(())
}

/// IMAP sessions in a loop until `stop` or `max_sessions`.
pub fn imap_load(
    addr: SocketAddr,
    login: String,
    password: String,
    max_sessions: usize,
    pace: Duration,
    stop: Arc<AtomicBool>,
    tally: Shared,
) {
    for _ in 0..max_sessions {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match imap_once(addr, &login, &password) {
            Ok(()) => record(&tally, |t| t.imap_sessions += 1),
            Err(Failure::Retry(e)) => record(&tally, |t| t.retryable.push(format!("imap: {e}"))),
            Err(Failure::Fatal(e)) => record(&tally, |t| t.fatal.push(format!("imap: {e}"))),
        }
        std::thread::sleep(pace);
    }
}

/// Tokens found in files under `dir` (the mail store), searched recursively; a file counts
/// when it contains `X-Load-Token: <token>`.
pub fn tokens_in_store(dir: &std::path::Path) -> std::collections::HashSet<String> {
    let mut found = std::collections::HashSet::new();
    let mut stack = vec![dir.to_owned()];
    let mut visited = 0usize;
    while let Some(d) = stack.pop() {
        visited += 1;
        if visited > 100_000 {
            break;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read(&p) {
                let text = String::from_utf8_lossy(&text);
                for l in text.lines() {
                    if let Some(t) = l.strip_prefix("X-Load-Token: ") {
                        found.insert(t.trim().to_owned());
                    }
                }
            }
        }
    }
    found
}

/// Bounded polling, as the other tests of this crate use it.
pub use ferrymail_testkit::wait_until;
