//! The control protocol between `mailctl queue` and queue-runner.
//!
//! One request per connection on the control socket (`queue.control_socket`, mode
//! `queue.control_socket_mode`): the client writes one JSON [`Request`] on a line, the daemon
//! answers with one JSON [`Response`] on a line and closes. Queue ids travel as strings and
//! are parsed strictly by the daemon, so nothing from the socket can name a path. Both sides
//! share this crate (the client with [`request`], the daemon with [`parse_request`] and
//! [`encode_response`]), so `mailctl` speaks the protocol without linking the daemon; the
//! `mailq` formatting lives here too.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest request or response line either side reads (a `list` of a large queue is big).
pub const MAX_REQUEST_LINE: usize = 4096;
/// Longest response a client accepts.
pub const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// What the admin asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Every message in `queue/` and `hold/`.
    List,
    /// One message's envelope in detail.
    Show { id: String },
    /// Attempt every deferred message now (and forget dead-destination back-off).
    Flush,
    /// Attempt one message now.
    Retry { id: String },
    /// Delete a message without a bounce.
    Delete { id: String },
    /// Set a message aside: it is not attempted until released.
    Hold { id: String },
    /// Put a held message back into the active queue, due now.
    Release { id: String },
    /// Send the TLS reports (RFC 8460) of a UTC day now (`YYYY-MM-DD`, default today)
    /// instead of after the next midnight; a domain is still reported at most once a day.
    #[serde(rename = "tls-reports")]
    TlsReports {
        #[serde(default)]
        day: Option<String>,
    },
    /// Relay every queued message not in delivery to the cluster peer named by
    /// `queue.handoff_relay`, removing what it took.
    Handoff,
}

/// Where a recipient stands, flattened for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientInfo {
    pub address: String,
    /// `pending`, `deferred`, `delivered` or `bounced`.
    pub status: String,
    /// The last reply, if any.
    pub reply: Option<String>,
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: String,
    /// Empty for the null sender.
    pub sender: String,
    pub size: u64,
    /// Unix seconds.
    pub arrival: u64,
    pub held: bool,
    /// Being delivered right now.
    pub active: bool,
    pub attempts: u32,
    /// Unix seconds (0 = as soon as possible).
    pub next_attempt: u64,
    pub last_error: Option<String>,
    pub recipients: Vec<RecipientInfo>,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    /// Why the request failed, or a short confirmation.
    pub message: String,
    /// For `list` (all) and `show` (one).
    #[serde(default)]
    pub entries: Vec<QueueEntry>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: message.into(),
            entries: Vec::new(),
        }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            message: message.into(),
            entries: Vec::new(),
        }
    }
}

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach {daemon} at {path}: {source}")]
    Connect {
        daemon: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{daemon} sent an unreadable answer: {reason}")]
    BadResponse {
        daemon: &'static str,
        reason: String,
    },
}

/// Sends one request and waits (up to `timeout` per read/write) for the answer.
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    exchange("queue-runner", socket, req, timeout)
}

/// One JSON request line to `daemon`'s control socket and its one JSON answer line: the
/// client side of every control socket (queue-runner's here, proxyd's through its crate).
pub fn exchange<Req: Serialize, Resp: DeserializeOwned>(
    daemon: &'static str,
    socket: &Path,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, ControlError> {
    let bad = |e: serde_json::Error| ControlError::BadResponse {
        daemon,
        reason: e.to_string(),
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|source| {
        ControlError::Connect {
            daemon,
            path: socket.display().to_string(),
            source,
        }
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(req).map_err(bad)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(std::io::Read::take(stream, MAX_RESPONSE));
    let mut buf = Vec::new();
    reader.read_until(b'\n', &mut buf)?;
    serde_json::from_slice(&buf).map_err(bad)
}

/// Parses a request line (daemon side).
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))
}

/// Serialises a response as one line (daemon side).
pub fn encode_response(resp: &Response) -> Vec<u8> {
    let mut v = serde_json::to_vec(resp).unwrap_or_else(|_| {
        br#"{"ok":false,"message":"response not serialisable","entries":[]}"#.to_vec()
    });
    v.push(b'\n');
    v
}

/// The queue listing in Postfix's `mailq` shape: `*` after the id marks a message being
/// delivered, `!` a held one; the last reply of deferred recipients is shown in parentheses.
pub fn format_mailq(entries: &[QueueEntry]) -> String {
    if entries.is_empty() {
        return "Mail queue is empty\n".to_string();
    }
    let mut out =
        String::from("-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
    let mut total = 0u64;
    for e in entries {
        total += e.size;
        let mark = if e.held {
            "!"
        } else if e.active {
            "*"
        } else {
            " "
        };
        let sender = if e.sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            &e.sender
        };
        out.push_str(&format!(
            "{}{mark} {:>8} {} {sender}\n",
            e.id,
            e.size,
            format_arrival(e.arrival)
        ));
        let pad = " ".repeat(44);
        let mut last_reply: Option<&str> = None;
        for r in e
            .recipients
            .iter()
            .filter(|r| r.status == "pending" || r.status == "deferred")
        {
            if let Some(reply) = r.reply.as_deref() {
                if last_reply != Some(reply) {
                    out.push_str(&format!("{pad}({reply})\n"));
                    last_reply = Some(reply);
                }
            }
            out.push_str(&format!("{pad}{}\n", r.address));
        }
        out.push('\n');
    }
    let n = entries.len();
    out.push_str(&format!(
        "-- {} Kbytes in {n} Request{}.\n",
        total.div_ceil(1024),
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// `Mon Nov 23 13:34:34` in UTC, as mailq shows it.
pub fn format_arrival(unix: u64) -> String {
    let c = ferrymail_smtp::dates::Civil::of(i64::try_from(unix).unwrap_or(i64::MAX));
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02}",
        c.weekday_name(),
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json_lines() {
        for req in [
            Request::List,
            Request::Flush,
            Request::Show { id: "X".into() },
            Request::Hold { id: "Y".into() },
            Request::Handoff,
        ] {
            let line = serde_json::to_vec(&req).unwrap();
            assert_eq!(parse_request(&line).unwrap(), req);
        }
        assert_eq!(
            parse_request(br#"{"cmd":"retry","id":"ABC"}"#).unwrap(),
            Request::Retry { id: "ABC".into() }
        );
        assert!(parse_request(b"{\"cmd\":\"explode\"}").is_err());
        assert!(parse_request(b"\xff\xfe").is_err());
    }

    #[test]
    fn arrival_dates_match_known_instants() {
        // 2026-11-23 13:34:34 UTC was a Monday.
        assert_eq!(format_arrival(1_795_440_874), "Mon Nov 23 13:34:34");
        assert_eq!(format_arrival(0), "Thu Jan  1 00:00:00");
        // Leap day.
        assert_eq!(format_arrival(951_782_400), "Tue Feb 29 00:00:00");
    }

    #[test]
    fn mailq_shape() {
        let e = QueueEntry {
            id: "0123456789ABCDEF".into(),
            sender: String::new(),
            size: 2048,
            arrival: 0,
            held: true,
            active: false,
            attempts: 1,
            next_attempt: 0,
            last_error: None,
            recipients: vec![
                RecipientInfo {
                    address: "a@b.test".into(),
                    status: "deferred".into(),
                    reply: Some("451 try later".into()),
                },
                RecipientInfo {
                    address: "c@b.test".into(),
                    status: "delivered".into(),
                    reply: Some("250 ok".into()),
                },
            ],
        };
        let text = format_mailq(&[e]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("0123456789ABCDEF!     2048 Thu Jan  1 00:00:00 MAILER-DAEMON")
        );
        assert_eq!(lines[2].trim(), "(451 try later)");
        assert_eq!(lines[3].trim(), "a@b.test");
        assert!(!text.contains("c@b.test"));
        assert!(text.ends_with("-- 2 Kbytes in 1 Request.\n"));
        assert_eq!(format_mailq(&[]), "Mail queue is empty\n");
    }
}
