//! What one delivery attempt concluded for one recipient, and how SMTP replies map onto it.

use ferrymail_smtp::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Deferred,
    Bounced,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "sent",
            Verdict::Deferred => "deferred",
            Verdict::Bounced => "bounced",
        }
    }
}

/// One recipient's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptOutcome {
    pub verdict: Verdict,
    /// `host[ip]:port`, `local` (LMTP) or `none` when no server was reached.
    pub relay: String,
    /// The reply, or our own description in reply form (`451 4.4.1 connect to …`).
    pub reply: String,
    /// The RFC 3463 status code, `x.y.z`.
    pub dsn: String,
    /// The next hop took over DSN duties (it advertised DSN and got our NOTIFY/ORCPT), so a
    /// NOTIFY=SUCCESS notice is its job, not ours.
    pub dsn_passed_on: bool,
    /// Over SMTP: the TLS policy that applied and what it verified, for the log line
    /// (`dane verified by TLSA 3 1 1 leaf, TLSv1.3 with cipher …`).
    pub tls: Option<String>,
}

impl RcptOutcome {
    /// Classifies a server reply: 2xx delivered, 4xx deferred, 5xx bounced.
    pub fn from_reply(reply: &Reply, relay: &str) -> RcptOutcome {
        let verdict = if reply.is_positive() {
            Verdict::Delivered
        } else if reply.is_transient() {
            Verdict::Deferred
        } else {
            Verdict::Bounced
        };
        let dsn = match reply.enhanced {
            Some(e) => e.to_string(),
            None => format!("{}.0.0", reply.code / 100),
        };
        RcptOutcome {
            verdict,
            relay: relay.to_owned(),
            reply: one_line(&reply.to_string()),
            dsn,
            dsn_passed_on: false,
            tls: None,
        }
    }

    /// A temporary failure we diagnosed ourselves (connection refused, timeout, DNS).
    pub fn deferred(relay: &str, dsn: &str, text: &str) -> RcptOutcome {
        RcptOutcome {
            verdict: Verdict::Deferred,
            relay: relay.to_owned(),
            reply: format!("451 {dsn} {}", one_line(text)),
            dsn: dsn.to_owned(),
            dsn_passed_on: false,
            tls: None,
        }
    }

    /// A permanent failure we diagnosed ourselves (null MX, no such domain, too big).
    pub fn bounced(relay: &str, dsn: &str, text: &str) -> RcptOutcome {
        RcptOutcome {
            verdict: Verdict::Bounced,
            relay: relay.to_owned(),
            reply: format!("554 {dsn} {}", one_line(text)),
            dsn: dsn.to_owned(),
            dsn_passed_on: false,
            tls: None,
        }
    }
}

/// Keeps a remote server's text printable and bounded: it ends up in logs, envelopes and
/// DSN headers, where a control character or a megabyte of text would do harm.
pub fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    out.truncate(out.trim_end().len());
    out
}

/// The status code at the start of a stored reply (`550 5.1.1 …` → `5.1.1`), or one derived
/// from its basic code, or `fallback`.
pub fn dsn_of(reply: &str, fallback: &str) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().and_then(|c| c.parse::<u16>().ok());
    if let Some(second) = words.next() {
        if let Some(e) = ferrymail_smtp::EnhancedCode::parse(second) {
            return e.to_string();
        }
    }
    match code {
        Some(c) if (400..600).contains(&c) => format!("{}.0.0", c / 100),
        _ => fallback.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_replies() {
        let r = Reply::new(550, "5.1.1", "no such user");
        let o = RcptOutcome::from_reply(&r, "mx[127.0.0.1]:25");
        assert_eq!(o.verdict, Verdict::Bounced);
        assert_eq!(o.dsn, "5.1.1");
        assert_eq!(o.reply, "550 5.1.1 no such user");
        let o = RcptOutcome::from_reply(&Reply::plain(451, "later"), "x");
        assert_eq!((o.verdict, o.dsn.as_str()), (Verdict::Deferred, "4.0.0"));
        let o = RcptOutcome::from_reply(&Reply::plain(250, "ok"), "x");
        assert_eq!(o.verdict, Verdict::Delivered);
    }

    #[test]
    fn sanitises_and_extracts_codes() {
        assert_eq!(one_line("a\r\nb\x00c  "), "a  b c");
        assert_eq!(one_line(&"x".repeat(10_000)).len(), 500);
        assert_eq!(dsn_of("550 5.7.1 denied", "5.0.0"), "5.7.1");
        assert_eq!(dsn_of("550 denied", "4.0.0"), "5.0.0");
        assert_eq!(dsn_of("garbage", "4.4.7"), "4.4.7");
    }
}
