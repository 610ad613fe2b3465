//! What a user's mail client sees, for tests that compare mailboxes across failures: mail
//! sent with a known Message-ID, and the INBOX read back by IMAP (UIDVALIDITY, each
//! message's UID, flags and Message-ID) or POP3 (each message's Message-ID), over STARTTLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrymail_testkit::{Conn, ImapClient, Pop3Client, SmtpClient};

/// A test message with this Message-ID (`<id@domain>` is what is looked for later).
pub fn message(from: &str, to: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: cluster {id}\r\nMessage-ID: <{id}>\r\n\r\nbody of {id}\r\n"
    )
    .into_bytes()
}

/// Hands one message to the MX at `mx` over SMTP; returns the reply to the end of DATA.
pub fn send(mx: SocketAddr, from: &str, to: &str, id: &str) -> Result<String, String> {
    let conn = Conn::tcp(mx).map_err(|e| format!("{mx}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut c = SmtpClient::from_conn(conn);
    // Reads the greeting, then EHLO.
    let hello = c.hello();
    if !hello.is_positive() {
        return Err(format!("{mx} EHLO: {}", hello.message()));
    }
    let r = c.send_message(from, &[to], &message(from, to, id));
    let _ = c.try_send(b"QUIT\r\n");
    if r.is_positive() {
        Ok(r.message().to_owned())
    } else {
        Err(format!("{mx} refused {id}: {}", r.message()))
    }
}

/// One message as IMAP shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    pub message_id: String,
}

/// The INBOX as IMAP shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub uidvalidity: u32,
    pub messages: Vec<ImapMessage>,
}

impl Inbox {
    /// The Message-IDs, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.messages.iter().map(|m| m.message_id.clone()).collect();
        ids.sort();
        ids
    }
}

/// An IMAP session at `addr` after STARTTLS and LOGIN.
pub fn imap_login(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    user: &str,
    pass: &str,
) -> Result<ImapClient, String> {
    let mut c =
        ImapClient::greeted(connect(addr, tls)?).map_err(|e| format!("{addr} greeting: {e}"))?;
    let r = c.cmd("STARTTLS");
    if !r.ok() {
        return Err(format!("{addr} STARTTLS: {}", r.all()));
    }
    c.conn()
        .start_tls()
        .map_err(|e| format!("{addr} TLS: {e}"))?;
    let r = c.login(user, pass);
    if !r.ok() {
        return Err(format!("{addr} LOGIN: {}", r.all()));
    }
    Ok(c)
}

/// SELECTs INBOX and reads every message's UID, flags and Message-ID.
pub fn read_inbox(c: &mut ImapClient) -> Result<Inbox, String> {
    let tag = c.next_tag();
    c.send(format!("{tag} SELECT INBOX\r\n").as_bytes());
    let r = c
        .try_read_until_tag(&tag)
        .map_err(|e| format!("SELECT: {e}"))?;
    if !r.ok() {
        return Err(format!("SELECT: {}", r.all()));
    }
    let uidvalidity = r
        .find("[UIDVALIDITY ")
        .and_then(|l| between(l, "[UIDVALIDITY ", "]"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no UIDVALIDITY in {}", r.all()))?;
    let tag = c.next_tag();
    c.send(
        format!("{tag} UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n")
            .as_bytes(),
    );
    let r = c
        .try_read_until_tag(&tag)
        .map_err(|e| format!("FETCH: {e}"))?;
    if !r.ok() {
        return Err(format!("FETCH: {}", r.all()));
    }
    let mut messages: Vec<ImapMessage> = Vec::new();
    // Each untagged FETCH carries its header literal inline, after the first line.
    for fetch in r
        .untagged
        .iter()
        .filter(|l| l.starts_with("* ") && l.contains(" FETCH ("))
    {
        let line = fetch.lines().next().unwrap_or("");
        let uid = between(line, "UID ", " ")
            .or_else(|| between(line, "UID ", ")"))
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| format!("no UID in {line}"))?;
        let mut flags: Vec<String> = between(line, "FLAGS (", ")")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        flags.sort();
        let message_id = fetch
            .lines()
            .skip(1)
            .find_map(|l| header_value(l, "message-id"))
            .ok_or_else(|| format!("no Message-ID in {fetch}"))?;
        messages.push(ImapMessage {
            uid,
            flags,
            message_id,
        });
    }
    Ok(Inbox {
        uidvalidity,
        messages,
    })
}

/// Logs in by POP3 after STLS and returns every message's Message-ID (by `TOP n 0`).
pub fn pop3_ids(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    user: &str,
    pass: &str,
) -> Result<Vec<String>, String> {
    let mut c =
        Pop3Client::greeted(connect(addr, tls)?).map_err(|e| format!("{addr} greeting: {e}"))?;
    let r = c.stls();
    if !r.starts_with("+OK") {
        return Err(format!("{addr} STLS: {r}"));
    }
    let r = c.login(user, pass);
    if !r.starts_with("+OK") {
        return Err(format!("{addr} PASS: {r}"));
    }
    let stat = c.cmd("STAT");
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("STAT: {stat}"))?;
    let mut ids = Vec::new();
    for n in 1..=count {
        let (_, head) = c.multi(&format!("TOP {n} 0"));
        let head = String::from_utf8_lossy(&head).into_owned();
        let id = head
            .lines()
            .find_map(|l| header_value(l, "message-id"))
            .ok_or_else(|| format!("message {n} has no Message-ID:\n{head}"))?;
        ids.push(id);
    }
    let _ = c.cmd("QUIT");
    ids.sort();
    Ok(ids)
}

/// Polls `read` until it returns `want` (compared sorted), for at most `timeout`; returns
/// the last thing read on failure.
pub fn wait_for_ids(
    want: &[String],
    timeout: Duration,
    mut read: impl FnMut() -> Result<Vec<String>, String>,
) -> Result<Duration, String> {
    let mut want = want.to_vec();
    want.sort();
    let started = Instant::now();
    let mut last = Err("never read".to_owned());
    while started.elapsed() < timeout {
        last = read();
        if last.as_ref().is_ok_and(|got| *got == want) {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!(
        "after {timeout:?} the mailbox holds {last:?}, not {want:?}"
    ))
}

/// A TCP connection to `addr` that will start TLS with `tls`, reads bounded to 30 s.
fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    let conn = Conn::tcp(addr)
        .map_err(|e| format!("{addr}: {e}"))?
        .with_tls(tls);
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let rest = &s[from..];
    Some(&rest[..rest.find(end)?])
}

/// `<value>` of a `Name: <value>` header line (name case-insensitive), angle brackets off.
fn header_value(line: &str, name: &str) -> Option<String> {
    let (n, v) = line.split_once(':')?;
    if !n.trim().eq_ignore_ascii_case(name) {
        return None;
    }
    let v = v.trim();
    Some(v.trim_start_matches('<').trim_end_matches('>').to_owned())
}
