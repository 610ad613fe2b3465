//! Turning what a script wrote on stdin into a message fit to queue: line endings, the
//! traditional lone-dot end, recipients from headers for `-t`, and the headers a script
//! usually leaves out (From, Date, Message-ID), as Postfix's cleanup(8) adds them.

use std::io::BufRead;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("reading the message: {0}")]
    Read(#[from] std::io::Error),
    #[error("message larger than the limit of {0} bytes")]
    TooLarge(u64),
}

/// Reads stdin until EOF (or a lone `.` line unless `ignore_dots`), normalising line ends to CRLF.
pub fn read_message(
    input: &mut impl BufRead,
    ignore_dots: bool,
    max: u64,
) -> Result<Vec<u8>, MessageError> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let body = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if !ignore_dots && body == b"." {
            break;
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        if out.len() as u64 > max {
            return Err(MessageError::TooLarge(max));
        }
    }
    Ok(out)
}

/// The header section and the offset where the body starts. The header ends at the first empty
/// line, or before the first line that is neither a field nor a continuation (as when a script
/// pipes plain text with no header at all): then the body starts right there.
fn split_header(msg: &[u8]) -> (&[u8], usize) {
    let mut pos = 0;
    while pos < msg.len() {
        let end = msg[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| pos + i + 2)
            .unwrap_or(msg.len());
        let line = &msg[pos..end];
        if line == b"\r\n" {
            return (&msg[..pos], end);
        }
        let continuation = pos > 0 && matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation && !is_field_line(line) {
            return (&msg[..pos], pos);
        }
        pos = end;
    }
    (msg, msg.len())
}

fn is_field_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(i) => line[..i].iter().all(|&b| (33..=126).contains(&b)),
    }
}

/// Header fields as (name, raw value with folding kept, byte range of the whole field).
fn fields(header: &[u8]) -> Vec<(String, String, std::ops::Range<usize>)> {
    let mut out: Vec<(String, String, std::ops::Range<usize>)> = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let end = header[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| pos + i + 2)
            .unwrap_or(header.len());
        let line = &header[pos..end];
        let text = String::from_utf8_lossy(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(&text);
                last.2.end = end;
            }
        } else if let Some((name, value)) = text.split_once(':') {
            out.push((
                name.trim().to_ascii_lowercase(),
                value.to_string(),
                pos..end,
            ));
        }
        pos = end;
    }
    out
}

/// Addresses in the To/Cc/Bcc fields (Resent-* ones instead when present, RFC 5322 §3.6.6).
pub fn header_recipients(msg: &[u8]) -> Vec<String> {
    let (header, _) = split_header(msg);
    let f = fields(header);
    let resent = f.iter().any(|(n, _, _)| n.starts_with("resent-"));
    let names: &[&str] = if resent {
        &["resent-to", "resent-cc", "resent-bcc"]
    } else {
        &["to", "cc", "bcc"]
    };
    let mut out = Vec::new();
    for (name, value, _) in &f {
        if !names.contains(&name.as_str()) {
            continue;
        }
        let unfolded = value.replace("\r\n", "");
        if let Ok(list) = mailparse::addrparse(&unfolded) {
            for a in list.iter() {
                match a {
                    mailparse::MailAddr::Single(s) => out.push(s.addr.clone()),
                    mailparse::MailAddr::Group(g) => {
                        out.extend(g.addrs.iter().map(|s| s.addr.clone()))
                    }
                }
            }
        }
    }
    out.retain(|a| !a.is_empty());
    out.dedup();
    out
}

/// What to add to a message that lacks it.
pub struct Completion<'a> {
    pub from: &'a str,
    pub full_name: Option<&'a str>,
    pub hostname: &'a str,
    pub now: std::time::SystemTime,
    pub unique: &'a str,
    /// Remove Bcc: (done for -t, where Bcc recipients came from the header).
    pub strip_bcc: bool,
}

/// Adds missing From/Date/Message-ID and removes Bcc when asked.
pub fn complete(msg: &[u8], c: &Completion) -> Vec<u8> {
    let (header, body_start) = split_header(msg);
    let f = fields(header);
    let has = |n: &str| f.iter().any(|(name, _, _)| name == n);
    let mut out = Vec::with_capacity(msg.len() + 256);
    if !has("from") {
        match c.full_name {
            Some(name) if !name.is_empty() => {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                out.extend_from_slice(format!("From: \"{quoted}\" <{}>\r\n", c.from).as_bytes());
            }
            _ => out.extend_from_slice(format!("From: {}\r\n", c.from).as_bytes()),
        }
    }
    if !has("date") {
        out.extend_from_slice(format!("Date: {}\r\n", rfc5322_date(c.now)).as_bytes());
    }
    if !has("message-id") {
        out.extend_from_slice(format!("Message-ID: <{}@{}>\r\n", c.unique, c.hostname).as_bytes());
    }
    let mut copied = 0;
    for (name, _, range) in &f {
        if c.strip_bcc && (name == "bcc" || name == "resent-bcc") {
            out.extend_from_slice(&header[copied..range.start]);
            copied = range.end;
        }
    }
    out.extend_from_slice(&header[copied..]);
    // Always exactly one empty line between header and body.
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&msg[body_start.min(msg.len())..]);
    out
}

/// `Mon, 23 Nov 2026 13:45:00 +0000`, in UTC.
pub fn rfc5322_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ferrymail_smtp::dates::rfc5322(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn reads_until_lone_dot_unless_ignored() {
        let input = b"Subject: x\n\nbody\n.\nafter\n";
        let m = read_message(&mut &input[..], false, 1000).unwrap();
        assert_eq!(m, b"Subject: x\r\n\r\nbody\r\n");
        let m = read_message(&mut &input[..], true, 1000).unwrap();
        assert_eq!(m, b"Subject: x\r\n\r\nbody\r\n.\r\nafter\r\n");
        assert!(matches!(
            read_message(&mut &input[..], true, 5),
            Err(MessageError::TooLarge(5))
        ));
    }

    #[test]
    fn recipients_from_headers() {
        let m = b"To: Joe <joe@b.test>, ann@c.test\r\nCc: team: x@d.test, y@d.test;\r\nBcc:\r\n hidden@e.test\r\nSubject: s\r\n\r\nTo: notme@x.test\r\n";
        assert_eq!(
            header_recipients(m),
            vec![
                "joe@b.test",
                "ann@c.test",
                "x@d.test",
                "y@d.test",
                "hidden@e.test"
            ]
        );
        let resent = b"To: old@b.test\r\nResent-To: new@b.test\r\n\r\n";
        assert_eq!(header_recipients(resent), vec!["new@b.test"]);
    }

    #[test]
    fn completes_missing_headers_and_strips_bcc() {
        let m =
            b"To: joe@b.test\r\nBcc: hidden@e.test,\r\n other@e.test\r\nSubject: s\r\n\r\nbody\r\n";
        let c = Completion {
            from: "cron@a.test",
            full_name: Some("Cron \"Daemon\""),
            hostname: "mail.a.test",
            now: UNIX_EPOCH + Duration::from_secs(1_795_441_500),
            unique: "ABC",
            strip_bcc: true,
        };
        let out = String::from_utf8(complete(m, &c)).unwrap();
        assert!(
            out.starts_with("From: \"Cron \\\"Daemon\\\"\" <cron@a.test>\r\nDate: "),
            "{out}"
        );
        assert!(out.contains("Message-ID: <ABC@mail.a.test>\r\n"), "{out}");
        assert!(
            !out.contains("hidden") && !out.contains("other@e.test"),
            "{out}"
        );
        assert!(
            out.ends_with("To: joe@b.test\r\nSubject: s\r\n\r\nbody\r\n"),
            "{out}"
        );
        let full = b"From: a@b.test\r\nDate: x\r\nMessage-ID: <1@b>\r\n\r\nbody\r\n";
        let c2 = Completion {
            strip_bcc: false,
            ..c
        };
        assert_eq!(complete(full, &c2), full.to_vec());
    }

    #[test]
    fn message_without_header_gets_one() {
        let c = Completion {
            from: "u@a.test",
            full_name: None,
            hostname: "h",
            now: UNIX_EPOCH,
            unique: "U",
            strip_bcc: false,
        };
        let out = String::from_utf8(complete(b"\r\njust body\r\n", &c)).unwrap();
        assert!(
            out.starts_with("From: u@a.test\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\n"),
            "{out}"
        );
        assert!(out.ends_with("\r\n\r\njust body\r\n"), "{out}");
    }

    #[test]
    fn plain_text_without_header_gets_a_separator() {
        let c = Completion {
            from: "u@a.test",
            full_name: None,
            hostname: "h",
            now: UNIX_EPOCH,
            unique: "U",
            strip_bcc: false,
        };
        let out = String::from_utf8(complete(b"hello world\r\nsecond: line\r\n", &c)).unwrap();
        assert!(
            out.ends_with("Message-ID: <U@h>\r\n\r\nhello world\r\nsecond: line\r\n"),
            "{out}"
        );
        let out = String::from_utf8(complete(b"Subject: only header\r\n", &c)).unwrap();
        assert!(out.ends_with("Subject: only header\r\n\r\n"), "{out}");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }
}
