//! The `Received:` trace header (RFC 5321 §4.4) prepended to every accepted message: who sent
//! it (HELO name and address), over what (protocol keyword per RFC 3848, TLS version and
//! cipher), as whom (the AUTH login, never a password), to whom (only for a single recipient,
//! so a Bcc list is not disclosed) and when.

use std::net::IpAddr;

pub struct TraceInfo<'a> {
    pub helo: Option<&'a str>,
    pub addr: IpAddr,
    pub by: &'a str,
    pub protocol: &'a str,
    pub id: &'a str,
    pub tls: Option<&'a str>,
    pub auth_user: Option<&'a str>,
    /// Set only when the message has exactly one recipient.
    pub for_rcpt: Option<&'a str>,
    /// Unix seconds.
    pub time: u64,
}

/// The header, folded, ending in CRLF.
pub fn received_header(t: &TraceInfo<'_>) -> String {
    let literal = match t.addr {
        IpAddr::V4(a) => format!("[{a}]"),
        IpAddr::V6(a) => format!("[IPv6:{a}]"),
    };
    let helo = t.helo.map(sanitize).unwrap_or_else(|| "unknown".into());
    let mut h = format!("Received: from {helo} ({literal})\r\n");
    if let Some(tls) = t.tls {
        h.push_str(&format!("\t(using {})\r\n", sanitize(tls)));
    }
    if let Some(user) = t.auth_user {
        h.push_str(&format!("\t(authenticated sender: {})\r\n", sanitize(user)));
    }
    h.push_str(&format!(
        "\tby {} (ferrymail) with {} id {}",
        sanitize(t.by),
        t.protocol,
        t.id
    ));
    if let Some(rcpt) = t.for_rcpt {
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(rcpt)));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(t.time)));
    h
}

/// Keeps header text printable and comment-safe: the values come from the client (HELO,
/// addresses) and must not break out of their place in the header.
fn sanitize(s: &str) -> String {
    s.chars()
        .take(255)
        .map(|c| {
            if c.is_control() || matches!(c, '(' | ')' | '\\' | '<' | '>' | ';') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `Mon, 23 Nov 2026 13:40:00 +0000` (RFC 5322 §3.3), always in UTC.
pub fn rfc5322_date(unix: u64) -> String {
    ferrymail_smtp::dates::rfc5322(i64::try_from(unix).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
    }

    #[test]
    fn header_with_tls_and_auth() {
        let h = received_header(&TraceInfo {
            helo: Some("client.test"),
            addr: "192.0.2.1".parse().unwrap(),
            by: "mx.a.test",
            protocol: "ESMTPSA",
            id: "0123456789ABCDEF",
            tls: Some("TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384"),
            auth_user: Some("joe@a.test"),
            for_rcpt: Some("x@b.test"),
            time: 0,
        });
        assert_eq!(
            h,
            "Received: from client.test ([192.0.2.1])\r\n\
             \t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
             \t(authenticated sender: joe@a.test)\r\n\
             \tby mx.a.test (ferrymail) with ESMTPSA id 0123456789ABCDEF\r\n\
             \tfor <x@b.test>;\r\n\
             \tThu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
    }

    #[test]
    fn hostile_helo_cannot_escape_its_place() {
        let h = received_header(&TraceInfo {
            helo: Some("x)\r\nBcc: evil"),
            addr: "2001:db8::1".parse().unwrap(),
            by: "mx",
            protocol: "SMTP",
            id: "ID",
            tls: None,
            auth_user: None,
            for_rcpt: None,
            time: 0,
        });
        assert!(
            h.starts_with("Received: from x___Bcc: evil ([IPv6:2001:db8::1])\r\n"),
            "{h}"
        );
        assert_eq!(h.matches("\r\n").count(), 3);
    }
}
