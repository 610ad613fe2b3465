//! Whether a Sieve `vacation` action becomes a reply, and the reply itself (RFC 5230 §4–§5,
//! RFC 3834). Sans-IO: [`decide`] looks only at the message and the user's addresses,
//! [`compose`] builds the bytes; [`crate::sieve_env`] consults the tracking store and queues it.

use ferrymail_sieve::{addresses, Period, Vacation};

/// Period when the script sets none (Pigeonhole's `sieve_vacation_default_period`).
pub const DEFAULT_PERIOD: u64 = 7 * 86_400;

/// The message a vacation action answers.
pub struct Incoming<'a> {
    /// Envelope sender; `None` or empty is `<>`.
    pub sender: Option<&'a str>,
    pub headers: &'a [(String, String)],
    /// The user's addresses: the recipient, the account, and `:addresses`.
    pub own: &'a [String],
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    let name = name.to_string();
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.as_str())
}

/// `Ok` when a reply may go out, else why not (for the log). The tracking and the daily limit
/// are the caller's.
pub fn decide(inc: &Incoming) -> Result<String, &'static str> {
    let sender = match inc.sender.map(str::trim) {
        Some(s) if !s.is_empty() => s,
        _ => return Err("null sender"),
    };
    // RFC 3834 §2: never answer an automatic message.
    for v in header(inc.headers, "auto-submitted") {
        let kind = v.split(';').next().unwrap_or("").trim();
        if !kind.eq_ignore_ascii_case("no") {
            return Err("automatic message (Auto-Submitted)");
        }
    }
    if inc
        .headers
        .iter()
        .any(|(n, _)| n.len() > 5 && n[..5].eq_ignore_ascii_case("list-"))
    {
        return Err("mailing list message (List-*)");
    }
    for v in header(inc.headers, "precedence") {
        if ["bulk", "list", "junk"]
            .iter()
            .any(|p| v.trim().eq_ignore_ascii_case(p))
        {
            return Err("bulk message (Precedence)");
        }
    }
    let local = sender.rsplit_once('@').map(|(l, _)| l).unwrap_or(sender);
    let local = local.to_ascii_lowercase();
    if ["mailer-daemon", "listserv", "majordomo"].contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
    {
        return Err("sender is a list or mailer daemon");
    }
    let mine = |a: &str| inc.own.iter().any(|o| o.eq_ignore_ascii_case(a));
    if mine(sender) {
        return Err("sender is the user");
    }
    // RFC 5230 §4.5: only mail addressed to the user directly.
    let addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .flat_map(|h| header(inc.headers, h))
        .flat_map(addresses)
        .any(|a| mine(&a));
    if !addressed {
        return Err("user not in To/Cc/Bcc");
    }
    Ok(sender.to_string())
}

/// The period in seconds, the script's clamped to the site's bounds (`:days 0` and
/// `:seconds 0` are raised to the minimum, as Pigeonhole does).
pub fn period(v: &Vacation, min: u64, max: u64) -> u64 {
    let asked = match v.period {
        Period::Default => DEFAULT_PERIOD,
        Period::Days(d) => d.saturating_mul(86_400),
        Period::Seconds(s) => s,
    };
    asked.max(min).min(max.max(min))
}

/// Tracking key: one reply per (sender, handle).
pub fn tracking_key(sender: &str, v: &Vacation) -> String {
    format!("{}\0{}", sender.to_ascii_lowercase(), v.handle)
}

/// The reply's header fields and body, CRLF-terminated. `from` is the user's address (the
/// recipient) unless `:from` gave one.
pub fn compose(
    v: &Vacation,
    inc: &Incoming,
    to: &str,
    from: &str,
    now: i64,
    message_id: &str,
) -> Vec<u8> {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let subject = match &v.subject {
        Some(s) => clean(s),
        None => {
            let orig = header(inc.headers, "subject").next().unwrap_or("").trim();
            format!("Auto: {}", clean(orig))
        }
    };
    let subject = encode_header_text(&subject);
    let from = clean(v.from.as_deref().unwrap_or(from));
    let mut h = format!(
        "From: {from}\r\nTo: <{}>\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: {message_id}\r\n",
        clean(to),
        ferrymail_smtp::dates::rfc5322(now),
    );
    if let Some(id) = header(inc.headers, "message-id").next().map(str::trim) {
        let id = clean(id);
        let refs = header(inc.headers, "references")
            .next()
            .map(|r| format!("{} ", clean(r.trim())))
            .unwrap_or_default();
        h.push_str(&format!("In-Reply-To: {id}\r\nReferences: {refs}{id}\r\n"));
    }
    h.push_str("Auto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\n");
    let body = v.reason.replace("\r\n", "\n").replace('\n', "\r\n");
    if v.mime {
        // The reason is a whole MIME entity, its own header fields first.
        h.push_str(&body);
    } else {
        h.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        h.push_str(&body);
    }
    if !h.ends_with("\r\n") {
        h.push_str("\r\n");
    }
    h.into_bytes()
}

/// RFC 2047 Q-encoded words for a non-ASCII `:subject` (the reply may go to a server without
/// SMTPUTF8), each word short enough for its own folded line.
fn encode_header_text(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    for ch in s.chars() {
        let mut enc = String::new();
        let mut buf = [0u8; 4];
        for b in ch.encode_utf8(&mut buf).bytes() {
            match b {
                b' ' => enc.push('_'),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                    enc.push(b as char)
                }
                _ => enc.push_str(&format!("={b:02X}")),
            }
        }
        // 75 characters per word, `=?utf-8?q?` and `?=` included.
        if cur.len() + enc.len() > 75 - 12 {
            words.push(std::mem::take(&mut cur));
        }
        cur.push_str(&enc);
    }
    words.push(cur);
    words
        .iter()
        .map(|w| format!("=?utf-8?q?{w}?="))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn vacation(period: Period) -> Vacation {
        Vacation {
            period,
            subject: None,
            from: None,
            addresses: Vec::new(),
            mime: false,
            handle: "h".into(),
            reason: "I am away.\nBack Monday.".into(),
        }
    }

    #[test]
    fn the_rules_of_rfc_5230_and_3834() {
        let own = vec!["me@b.test".to_string(), "alias@b.test".to_string()];
        let base = [("To", "Me <ME@b.test>"), ("Subject", "hi")];
        let check = |sender: Option<&str>, extra: &[(&str, &str)]| {
            let mut h = hdrs(&base);
            h.extend(hdrs(extra));
            decide(&Incoming {
                sender,
                headers: &h,
                own: &own,
            })
        };
        assert_eq!(check(Some("a@x.test"), &[]), Ok("a@x.test".to_string()));
        assert!(check(Some("a@x.test"), &[("Auto-Submitted", "no")]).is_ok());
        for (sender, extra) in [
            (None, vec![]),
            (Some(""), vec![]),
            (Some("a@x.test"), vec![("Auto-Submitted", "auto-replied")]),
            (
                Some("a@x.test"),
                vec![("Auto-Submitted", "auto-generated; x")],
            ),
            (Some("a@x.test"), vec![("List-Id", "<l.x.test>")]),
            (Some("a@x.test"), vec![("list-unsubscribe", "<mailto:u@x>")]),
            (Some("a@x.test"), vec![("Precedence", " Bulk ")]),
            (Some("a@x.test"), vec![("Precedence", "junk")]),
            (Some("MAILER-DAEMON@x.test"), vec![]),
            (Some("owner-list@x.test"), vec![]),
            (Some("list-request@x.test"), vec![]),
            (Some("me@b.test"), vec![]),
        ] {
            assert!(check(sender, &extra).is_err(), "{sender:?} {extra:?}");
        }
        // Not addressed to the user: only Bcc'd via a list, or to someone else.
        let h = hdrs(&[("To", "other@b.test"), ("Cc", "x@y.test")]);
        let inc = Incoming {
            sender: Some("a@x.test"),
            headers: &h,
            own: &own,
        };
        assert_eq!(decide(&inc), Err("user not in To/Cc/Bcc"));
        let h = hdrs(&[("To", "other@b.test"), ("Cc", "\"A\" <alias@b.test>")]);
        let inc = Incoming {
            sender: Some("a@x.test"),
            headers: &h,
            own: &own,
        };
        assert!(decide(&inc).is_ok());
    }

    #[test]
    fn periods_are_clamped_to_the_site_bounds() {
        let (min, max) = (86_400, 30 * 86_400);
        assert_eq!(period(&vacation(Period::Default), min, max), DEFAULT_PERIOD);
        assert_eq!(period(&vacation(Period::Days(0)), min, max), min);
        assert_eq!(period(&vacation(Period::Days(2)), min, max), 2 * 86_400);
        assert_eq!(period(&vacation(Period::Days(999)), min, max), max);
        assert_eq!(period(&vacation(Period::Seconds(5)), min, max), min);
        assert_eq!(period(&vacation(Period::Seconds(5)), 2, max), 5);
    }

    #[test]
    fn the_reply() {
        let h = hdrs(&[
            ("Subject", "Lunch?"),
            ("Message-ID", "<m1@x.test>"),
            ("References", "<m0@x.test>"),
            ("To", "me@b.test"),
        ]);
        let own = vec!["me@b.test".to_string()];
        let inc = Incoming {
            sender: Some("a@x.test"),
            headers: &h,
            own: &own,
        };
        let v = vacation(Period::Default);
        let r =
            String::from_utf8(compose(&v, &inc, "a@x.test", "me@b.test", 0, "<r@b.test>")).unwrap();
        for line in [
            "From: me@b.test\r\n",
            "To: <a@x.test>\r\n",
            "Subject: Auto: Lunch?\r\n",
            "In-Reply-To: <m1@x.test>\r\n",
            "References: <m0@x.test> <m1@x.test>\r\n",
            "Auto-Submitted: auto-replied (vacation)\r\n",
            "Message-ID: <r@b.test>\r\n",
            "\r\n\r\nI am away.\r\nBack Monday.\r\n",
        ] {
            assert!(r.contains(line), "{line:?} in {r}");
        }
        let mut v = vacation(Period::Default);
        v.subject = Some("Away\r\nBcc: evil@x".into());
        v.from = Some("Me <me@b.test>".into());
        v.mime = true;
        v.reason = "Content-Type: text/plain\r\n\r\naway".into();
        let r =
            String::from_utf8(compose(&v, &inc, "a@x.test", "me@b.test", 0, "<r@b.test>")).unwrap();
        assert!(
            r.contains("Subject: AwayBcc: evil@x\r\n"),
            "no header injection: {r}"
        );
        assert!(r.contains("From: Me <me@b.test>\r\n"));
        v.subject = Some("Abwesend bis Montag, Grüße".into());
        let r =
            String::from_utf8(compose(&v, &inc, "a@x.test", "me@b.test", 0, "<r@b.test>")).unwrap();
        assert!(
            r.contains("Subject: =?utf-8?q?Abwesend_bis_Montag=2C_Gr=C3=BC=C3=9Fe?=\r\n"),
            "{r}"
        );
        let long = encode_header_text(&"ü".repeat(40));
        assert!(long.split("\r\n ").count() > 1 && long.split("\r\n ").all(|w| w.len() <= 75));
        assert!(r.contains("MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\naway\r\n"));
    }
}
