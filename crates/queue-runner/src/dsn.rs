//! Delivery status notifications (RFC 3464): the bounce message sent to the envelope sender
//! when recipients fail permanently or expire.
//!
//! A DSN is `multipart/report; report-type=delivery-status` with a human-readable part, a
//! `message/delivery-status` part (one block per failed recipient, with ORCPT and ENVID from
//! the original envelope) and the original message or only its headers (RET=HDRS, or when the
//! message is large). It is queued from the null sender, so it can never bounce in turn.

use std::io::Read;

use ferrymail_spool::{Envelope, Recipient, Ret};

use crate::outcome::dsn_of;

/// Above this size only the headers of the original are returned, whatever RET says.
pub const MAX_RETURNED: u64 = 1024 * 1024;

/// One failed recipient for the report.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub recipient: &'a Recipient,
    /// The reply that failed it (`550 5.1.1 …` or our own).
    pub reply: &'a str,
    /// The server that said so, if any (`host[ip]:port`).
    pub remote_mta: Option<&'a str>,
    pub at: u64,
}

/// Which report this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Permanent failure or expiry (`Action: failed`).
    Failed,
    /// A delay warning (`Action: delayed`); delivery goes on until `retry_until`.
    Delayed { retry_until: u64 },
    /// NOTIFY=SUCCESS: `Action: delivered` (local mailbox) or `relayed` (to a next hop that
    /// does not do DSN).
    Success,
}

/// RFC 5322 date-time in UTC.
pub fn rfc5322_date(unix: u64) -> String {
    ferrymail_smtp::dates::rfc5322(i64::try_from(unix).unwrap_or(i64::MAX))
}

/// The part of the original to return.
fn returned_part(env: &Envelope, kind: Kind, original: &mut dyn Read) -> (String, Vec<u8>) {
    // A delay warning carries only the headers: the sender still has the message coming. A
    // REQUIRETLS message's body is not returned either (RFC 8689 §5): the report may travel
    // where the message could not.
    let want_full = kind == Kind::Failed
        && env.dsn.ret != Some(Ret::Hdrs)
        && !env.require_tls
        && env.size <= MAX_RETURNED;
    let mut bytes = Vec::new();
    let limit = if want_full { MAX_RETURNED } else { 256 * 1024 };
    if original.take(limit).read_to_end(&mut bytes).is_err() {
        bytes.clear();
    }
    if want_full {
        return ("message/rfc822".into(), bytes);
    }
    let end = ferrymail_smtp::header_end(&bytes).map_or(bytes.len(), |e| e.header_len);
    bytes.truncate(end);
    ("text/rfc822-headers".into(), bytes)
}

/// The end of a report's header section and the start of its body, up to its first part:
/// `MIME-Version`, the `multipart/report` type (RFC 6522) with `report_type` as written
/// (token or quoted string), and the preamble.
pub fn multipart_report_head(report_type: &str, boundary: &str) -> String {
    format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type={report_type};\r\n\t\
         boundary=\"{boundary}\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n\
         --{boundary}\r\n"
    )
}

/// Builds the DSN message bytes for `failures` of `env`, addressed to `env.sender`.
pub fn build(
    env: &Envelope,
    kind: Kind,
    failures: &[Failure<'_>],
    hostname: &str,
    postmaster: &str,
    now: u64,
    original: &mut dyn Read,
) -> Vec<u8> {
    let boundary = format!("{}/{}", env.id, hostname);
    let sender = env.sender.as_deref().unwrap_or("");
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
    ));
    m.push_str(&format!("To: <{sender}>\r\n"));
    let (subject, tag, intro, action) = match kind {
        Kind::Failed => (
            "Undelivered Mail Returned to Sender",
            "dsn",
            "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients. It's attached below.",
            "failed",
        ),
        Kind::Delayed { .. } => (
            "Delayed Mail (still being retried)",
            "delay",
            "This is only a warning; you do not need to resend your message.\r\nDelivery to the recipients below has been delayed; it will be retried.",
            "delayed",
        ),
        Kind::Success => (
            "Successful Mail Delivery Report",
            "success",
            "Your message was successfully delivered to the destinations below,\r\nas you asked.",
            "delivered",
        ),
    };
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
    m.push_str(&format!("Message-ID: <{}.{tag}@{hostname}>\r\n", env.id));
    m.push_str("Auto-Submitted: auto-replied\r\n");
    m.push_str(&multipart_report_head("delivery-status", &boundary));
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    m.push_str(&format!(
        "This is the mail system at host {hostname}.\r\n\r\n"
    ));
    m.push_str(intro);
    m.push_str("\r\n\r\n");
    m.push_str(&format!(
        "For further assistance, please send mail to <{postmaster}>.\r\n\r\n"
    ));
    for f in failures {
        m.push_str(&format!("<{}>: {}\r\n", f.recipient.address, f.reply));
    }
    m.push_str("\r\n");

    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: message/delivery-status\r\n\r\n");
    m.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    m.push_str(&format!("X-Ferrymail-Queue-ID: {}\r\n", env.id));
    if let Some(envid) = &env.dsn.envid {
        if envid.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            m.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
        }
    }
    m.push_str(&format!("Arrival-Date: {}\r\n", rfc5322_date(env.arrival)));
    for f in failures {
        m.push_str("\r\n");
        if let Some(o) = &f.recipient.orcpt {
            if o.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
                m.push_str(&format!("Original-Recipient: {o}\r\n"));
            }
        }
        m.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            f.recipient.address
        ));
        let action = match (kind, f.remote_mta) {
            (Kind::Success, Some(r)) if r != "local" => "relayed",
            _ => action,
        };
        m.push_str(&format!("Action: {action}\r\n"));
        let fallback = if kind == Kind::Success {
            "2.0.0"
        } else {
            "4.0.0"
        };
        let status = dsn_of(f.reply, fallback);
        // A failure report carries a 5.x.x status even for an expired 4xx; a delay, 4.x.x.
        let status = match (kind, status.split_once('.')) {
            (Kind::Failed, Some((_, rest))) => format!("5.{rest}"),
            (Kind::Delayed { .. }, Some((_, rest))) => format!("4.{rest}"),
            _ => status,
        };
        m.push_str(&format!("Status: {status}\r\n"));
        if let Some(r) = f.remote_mta {
            let host = r.split('[').next().unwrap_or(r);
            if !host.is_empty() && host != "none" && host != "local" {
                m.push_str(&format!("Remote-MTA: dns; {host}\r\n"));
            }
        }
        if kind == Kind::Success {
            // No diagnostic for a success; the status says it all.
        } else if f.reply.starts_with(|c: char| c.is_ascii_digit()) {
            m.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", f.reply));
        } else {
            m.push_str(&format!("Diagnostic-Code: X-ferrymail; {}\r\n", f.reply));
        }
        m.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc5322_date(f.at)));
        if let Kind::Delayed { retry_until } = kind {
            m.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                rfc5322_date(retry_until)
            ));
        }
    }
    m.push_str("\r\n");

    let (ctype, body) = returned_part(env, kind, original);
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str(&format!("Content-Type: {ctype}\r\n"));
    if env.body != ferrymail_spool::BodyType::SevenBit {
        m.push_str("Content-Transfer-Encoding: 8bit\r\n");
    }
    m.push_str("\r\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(&body);
    if !body.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_spool::{ClientInfo, Source};

    fn env() -> Envelope {
        let mut r = Recipient::new("bob@remote.test");
        r.orcpt = Some("rfc822;bob@remote.test".into());
        let mut e = Envelope::new(
            Some("alice@example.test".into()),
            vec![r],
            ClientInfo::default(),
            Source::Local,
        );
        e.dsn.envid = Some("ENV-1".into());
        e.arrival = 0;
        e
    }

    #[test]
    fn builds_a_parseable_multipart_report() {
        let e = env();
        let msg = b"Subject: hi\r\nFrom: alice@example.test\r\n\r\nbody line\r\n";
        let fails = [Failure {
            recipient: &e.recipients[0],
            reply: "550 5.1.1 <bob@remote.test>: no such user\u{7}",
            remote_mta: Some("mx.remote.test[127.0.0.1]:25"),
            at: 86_400,
        }];
        let out = build(
            &e,
            Kind::Failed,
            &fails,
            "mail.example.test",
            "postmaster@example.test",
            86_400,
            &mut &msg[..],
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Original-Envelope-Id: ENV-1\r\n"));
        assert!(text.contains("Original-Recipient: rfc822;bob@remote.test\r\n"));
        assert!(text.contains("Final-Recipient: rfc822; bob@remote.test\r\n"));
        assert!(text.contains("Status: 5.1.1\r\n"));
        assert!(text.contains("Remote-MTA: dns; mx.remote.test\r\n"));
        assert!(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: hi"));
        assert!(text.contains("Arrival-Date: Thu, 1 Jan 1970 00:00:00 +0000"));
        assert!(text.contains("Last-Attempt-Date: Fri, 2 Jan 1970 00:00:00 +0000"));
        let boundary = format!("--{}/mail.example.test", e.id);
        assert_eq!(text.matches(&boundary).count(), 4);
        assert!(text.ends_with(&format!("{boundary}--\r\n")));
    }

    /// The failure report of `e`'s first recipient after `reply`, for a small message with a
    /// secret body.
    fn failed_with(e: &Envelope, reply: &str) -> String {
        let msg = b"Subject: hi\n\nsecret body\n";
        let fails = [Failure {
            recipient: &e.recipients[0],
            reply,
            remote_mta: None,
            at: 0,
        }];
        let bytes = build(
            e,
            Kind::Failed,
            &fails,
            "h.test",
            "pm@h.test",
            0,
            &mut &msg[..],
        );
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_requiretls_message_bounces_with_its_headers_only() {
        let mut e = env();
        e.require_tls = true;
        let text = failed_with(&e, "554 5.7.10 REQUIRETLS: no MX offers it");
        assert!(text.contains("text/rfc822-headers"));
        assert!(text.contains("Subject: hi"));
        assert!(!text.contains("secret body"));
        assert!(text.contains("Status: 5.7.10\r\n"));
    }

    #[test]
    fn ret_hdrs_returns_only_headers_and_expiry_status_is_permanent() {
        let mut e = env();
        e.dsn.ret = Some(Ret::Hdrs);
        e.dsn.envid = Some("bad\r\nInjected: yes".into());
        let text = failed_with(&e, "451 4.4.7 message expired");
        assert!(text.contains("text/rfc822-headers"));
        assert!(!text.contains("secret body"));
        assert!(!text.contains("Injected"));
        assert!(text.contains("Status: 5.4.7\r\n"));
    }

    #[test]
    fn delay_warning_keeps_a_transient_status_and_only_headers() {
        let e = env();
        let msg = b"Subject: hi\r\n\r\nthe body\r\n";
        let fails = [Failure {
            recipient: &e.recipients[0],
            reply: "451 4.4.1 connect to mx: refused",
            remote_mta: None,
            at: 0,
        }];
        let text = String::from_utf8(build(
            &e,
            Kind::Delayed {
                retry_until: 86_400,
            },
            &fails,
            "h.test",
            "pm@h.test",
            0,
            &mut &msg[..],
        ))
        .unwrap();
        assert!(text.contains("Subject: Delayed Mail (still being retried)\r\n"));
        assert!(text.contains("Action: delayed\r\n"));
        assert!(text.contains("Status: 4.4.1\r\n"));
        assert!(text.contains("Will-Retry-Until: Fri, 2 Jan 1970 00:00:00 +0000\r\n"));
        assert!(text.contains("text/rfc822-headers"));
        assert!(!text.contains("the body"));
    }
}
