//! SMTP/LMTP command lines (RFC 5321 §4.1, LMTP's LHLO from RFC 2033) and their ESMTP
//! parameters: SIZE (RFC 1870), BODY (RFC 6152/3030), SMTPUTF8 (RFC 6531), DSN's RET/ENVID/
//! NOTIFY/ORCPT (RFC 3461), AUTH= (RFC 4954), REQUIRETLS (RFC 8689).
//!
//! Parsing is syntax only; whether a command is allowed now, or an address is acceptable, is
//! the session's business. Every error maps to one reply code (see [`ParseError::reply`]).

use crate::reply::Reply;
use crate::xtext;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Lhlo(String),
    Mail {
        from: Path,
        params: MailParams,
    },
    Rcpt {
        to: String,
        params: RcptParams,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help,
    StartTls,
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
}

impl Command {
    /// The verb, for logs (never the arguments, which may hold credentials).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// A reverse-path: the null sender `<>` or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Null,
    Mailbox(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// `AUTH=<mailbox>` or `AUTH=<>` (RFC 4954 §5), xtext-decoded.
    pub auth: Option<String>,
    /// `XQUEUEID=<id>`: ferrymail's own LMTP extension. queue-runner names the spool queue
    /// id so that local-delivery can recognise a delivery it already made when the queue
    /// runner died before recording the 250 and sends the message again. Only a server that
    /// advertised `XQUEUEID` may be sent it; mta-smtpd refuses it.
    pub queue_id: Option<String>,
    /// `REQUIRETLS` (RFC 8689 §3): every hop must use validated TLS, or the message bounces.
    pub require_tls: bool,
}

/// RFC 3461 NOTIFY: `NEVER` alone, or any of the three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notify {
    pub never: bool,
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, decoded, e.g. `rfc822;joe@a.test`.
    pub orcpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("command unrecognized")]
    Unrecognized,
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    #[error("bad parameter: {0}")]
    Parameter(String),
    #[error("command line is not valid UTF-8")]
    NotUtf8,
}

impl ParseError {
    /// The reply a server sends for this error.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::Unrecognized => Reply::new(500, "5.5.1", "Error: command not recognized"),
            ParseError::Syntax(what) => Reply::new(501, "5.5.4", format!("Syntax error: {what}")),
            ParseError::Parameter(p) => Reply::new(
                555,
                "5.5.4",
                format!("Unsupported or malformed parameter {p}"),
            ),
            ParseError::NotUtf8 => Reply::new(500, "5.5.2", "Error: bad characters in command"),
        }
    }
}

/// Parses one command line; `line` may include its CRLF.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    if line.contains(&0) || line.contains(&b'\r') || line.contains(&b'\n') {
        return Err(ParseError::Syntax("control characters in command"));
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let arg = rest.trim();
    let no_arg = |c: Command| {
        if arg.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("this command takes no argument"))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" | "LHLO" => {
            let host = arg.split(' ').next().unwrap_or("");
            if host.is_empty() {
                return Err(ParseError::Syntax("a host name is required"));
            }
            let host = host.to_owned();
            Ok(match verb.as_str() {
                "EHLO" => Command::Ehlo(host),
                "HELO" => Command::Helo(host),
                _ => Command::Lhlo(host),
            })
        }
        "MAIL" => parse_mail(rest),
        "RCPT" => parse_rcpt(rest),
        "DATA" => no_arg(Command::Data),
        "RSET" => no_arg(Command::Rset),
        // NOOP and HELP may carry an argument that is ignored (RFC 5321 §4.1.1.9, §4.1.1.8).
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "QUIT" => no_arg(Command::Quit),
        "STARTTLS" => no_arg(Command::StartTls),
        "VRFY" | "EXPN" => {
            if arg.is_empty() {
                return Err(ParseError::Syntax("an argument is required"));
            }
            Ok(if verb == "VRFY" {
                Command::Vrfy(arg.to_owned())
            } else {
                Command::Expn(arg.to_owned())
            })
        }
        "BDAT" => {
            let mut it = arg.split(' ').filter(|s| !s.is_empty());
            let size: u64 = it
                .next()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 15)
                .and_then(|s| s.parse().ok())
                .ok_or(ParseError::Syntax("BDAT needs a chunk size"))?;
            let last = match it.next() {
                None => false,
                Some(s) if s.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(ParseError::Syntax("BDAT size [LAST]")),
            };
            if it.next().is_some() {
                return Err(ParseError::Syntax("BDAT size [LAST]"));
            }
            Ok(Command::Bdat { size, last })
        }
        "AUTH" => {
            let mut it = arg.split(' ').filter(|s| !s.is_empty());
            let mechanism = it
                .next()
                .ok_or(ParseError::Syntax("AUTH mechanism [initial-response]"))?
                .to_ascii_uppercase();
            let initial = it.next().map(str::to_owned);
            if it.next().is_some() {
                return Err(ParseError::Syntax("AUTH mechanism [initial-response]"));
            }
            Ok(Command::Auth { mechanism, initial })
        }
        _ => Err(ParseError::Unrecognized),
    }
}

/// Splits `FROM:<path> params` / `TO:<path> params` after the verb. Tolerates a space after the
/// colon, as most servers do; requires the angle brackets (RFC 5321 §4.1.2).
fn split_path<'a>(rest: &'a str, keyword: &str) -> Result<(&'a str, &'a str), ParseError> {
    let (head, tail) = rest.split_once(':').ok_or(ParseError::Syntax(
        "expected FROM:<address> or TO:<address>",
    ))?;
    if !head.trim().eq_ignore_ascii_case(keyword) {
        return Err(ParseError::Syntax(
            "expected FROM:<address> or TO:<address>",
        ));
    }
    let tail = tail.trim_start();
    if !tail.starts_with('<') {
        return Err(ParseError::Syntax("the address must be in angle brackets"));
    }
    // Find the closing '>' outside a quoted local part.
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in tail.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                let path = &tail[1..i];
                let params = &tail[i + 1..];
                if !params.is_empty() && !params.starts_with(' ') {
                    return Err(ParseError::Syntax("space required after the address"));
                }
                return Ok((path, params.trim()));
            }
            _ => {}
        }
    }
    Err(ParseError::Syntax("unterminated address"))
}

/// Strips an obsolete source route (`@a,@b:user@d`, RFC 5321 §4.1.2 and Appendix C).
fn strip_source_route(path: &str) -> &str {
    if path.starts_with('@') {
        if let Some(i) = path.find(':') {
            return &path[i + 1..];
        }
    }
    path
}

/// Checks `local@domain` syntax (dot-atom or quoted local part; domain name or address literal).
pub fn validate_mailbox(addr: &str) -> Result<(), ParseError> {
    let at = addr
        .rfind('@')
        .ok_or(ParseError::Syntax("address must be local-part@domain"))?;
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    if local.is_empty() || local.len() > 64 * 4 {
        return Err(ParseError::Syntax("bad local part"));
    }
    if local.starts_with('"') {
        if local.len() < 2 || !local.ends_with('"') {
            return Err(ParseError::Syntax("bad quoted local part"));
        }
    } else {
        let atext = |c: char| {
            c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
        };
        if local
            .split('.')
            .any(|p| p.is_empty() || !p.chars().all(atext))
        {
            return Err(ParseError::Syntax("bad local part"));
        }
    }
    if domain.starts_with('[') {
        let inner = domain
            .strip_prefix('[')
            .and_then(|d| d.strip_suffix(']'))
            .ok_or(ParseError::Syntax("bad address literal"))?;
        let ok = inner.parse::<std::net::Ipv4Addr>().is_ok()
            || inner
                .strip_prefix("IPv6:")
                .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok());
        return if ok {
            Ok(())
        } else {
            Err(ParseError::Syntax("bad address literal"))
        };
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    };
    if domain.is_empty() || domain.len() > 255 || !domain.split('.').all(label_ok) {
        return Err(ParseError::Syntax("bad domain"));
    }
    Ok(())
}

fn params(s: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (p.to_ascii_uppercase(), None),
        })
}

fn parse_mail(rest: &str) -> Result<Command, ParseError> {
    let (path, ps) = split_path(rest, "FROM")?;
    let path = strip_source_route(path);
    let from = if path.is_empty() {
        Path::Null
    } else {
        validate_mailbox(path)?;
        Path::Mailbox(path.to_owned())
    };
    let mut p = MailParams::default();
    for (key, value) in params(ps) {
        let bad = || ParseError::Parameter(key.clone());
        match (key.as_str(), value) {
            ("SIZE", Some(v)) if p.size.is_none() => {
                if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                // An absurd declared size is still a size: the limit check rejects it.
                p.size = Some(v.parse().unwrap_or(u64::MAX));
            }
            ("BODY", Some(v)) if p.body.is_none() => {
                p.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(bad()),
                })
            }
            ("SMTPUTF8", None) => p.smtputf8 = true,
            ("REQUIRETLS", None) if !p.require_tls => p.require_tls = true,
            ("RET", Some(v)) if p.ret.is_none() => {
                p.ret = Some(match v.to_ascii_uppercase().as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Hdrs,
                    _ => return Err(bad()),
                })
            }
            ("ENVID", Some(v)) if p.envid.is_none() => {
                let d = xtext::decode(v)
                    .filter(|d| d.len() <= 100)
                    .ok_or_else(bad)?;
                p.envid = Some(d);
            }
            ("AUTH", Some(v)) if p.auth.is_none() => {
                p.auth = Some(xtext::decode(v).ok_or_else(bad)?);
            }
            ("XQUEUEID", Some(v)) if p.queue_id.is_none() => {
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(bad());
                }
                p.queue_id = Some(v.to_owned());
            }
            _ => return Err(bad()),
        }
    }
    Ok(Command::Mail { from, params: p })
}

fn parse_rcpt(rest: &str) -> Result<Command, ParseError> {
    let (path, ps) = split_path(rest, "TO")?;
    let path = strip_source_route(path);
    if path.is_empty() {
        return Err(ParseError::Syntax("an empty recipient is not allowed"));
    }
    // RFC 5321 §4.1.1.3: <Postmaster> without a domain must be accepted.
    if !path.eq_ignore_ascii_case("postmaster") {
        validate_mailbox(path)?;
    }
    let mut p = RcptParams::default();
    for (key, value) in params(ps) {
        let bad = || ParseError::Parameter(key.clone());
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) if p.notify.is_none() => {
                let mut n = Notify::default();
                for item in v.split(',') {
                    match item.to_ascii_uppercase().as_str() {
                        "NEVER" => n.never = true,
                        "SUCCESS" => n.success = true,
                        "FAILURE" => n.failure = true,
                        "DELAY" => n.delay = true,
                        _ => return Err(bad()),
                    }
                }
                if n.never && (n.success || n.failure || n.delay) {
                    return Err(bad());
                }
                p.notify = Some(n);
            }
            ("ORCPT", Some(v)) if p.orcpt.is_none() => {
                let (kind, addr) = v.split_once(';').ok_or_else(bad)?;
                if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(bad());
                }
                let addr = xtext::decode(addr).filter(|a| !a.is_empty() && a.len() <= 500);
                p.orcpt = Some(format!("{kind};{}", addr.ok_or_else(bad)?));
            }
            _ => return Err(bad()),
        }
    }
    Ok(Command::Rcpt {
        to: path.to_owned(),
        params: p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Command {
        parse_command(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> ParseError {
        parse_command(s.as_bytes()).expect_err(s)
    }

    #[test]
    fn greetings_and_simple_verbs() {
        assert_eq!(
            ok("EHLO client.a.test\r\n"),
            Command::Ehlo("client.a.test".into())
        );
        assert_eq!(ok("helo x"), Command::Helo("x".into()));
        assert_eq!(ok("LHLO q"), Command::Lhlo("q".into()));
        assert_eq!(ok("data"), Command::Data);
        assert_eq!(ok("NOOP anything"), Command::Noop);
        assert_eq!(ok("QUIT"), Command::Quit);
        assert_eq!(ok("STARTTLS"), Command::StartTls);
        assert!(matches!(err("EHLO"), ParseError::Syntax(_)));
        assert!(matches!(err("DATA now"), ParseError::Syntax(_)));
        assert_eq!(err("FOO bar"), ParseError::Unrecognized);
    }

    #[test]
    fn mail_from_with_parameters() {
        let c = ok("MAIL FROM:<joe@a.test> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1 AUTH=joe+40a.test");
        let Command::Mail { from, params } = c else {
            panic!()
        };
        assert_eq!(from, Path::Mailbox("joe@a.test".into()));
        assert_eq!(params.size, Some(1000));
        assert_eq!(params.body, Some(Body::EightBitMime));
        assert!(params.smtputf8);
        assert_eq!(params.ret, Some(Ret::Hdrs));
        assert_eq!(params.envid.as_deref(), Some("id+1"));
        assert_eq!(params.auth.as_deref(), Some("joe@a.test"));
        assert_eq!(params.queue_id, None);
        let Command::Mail { params, .. } = ok("MAIL FROM:<> XQUEUEID=0ABC123XYZ") else {
            panic!()
        };
        assert_eq!(params.queue_id.as_deref(), Some("0ABC123XYZ"));
        assert!(!params.require_tls);
        let Command::Mail { params, .. } = ok("MAIL FROM:<a@b.test> requiretls") else {
            panic!()
        };
        assert!(params.require_tls);
        for bad in ["REQUIRETLS=1", "REQUIRETLS REQUIRETLS"] {
            assert_eq!(
                err(&format!("MAIL FROM:<> {bad}")),
                ParseError::Parameter("REQUIRETLS".into()),
                "{bad}"
            );
        }
        for bad in [
            "XQUEUEID=",
            "XQUEUEID=a+b",
            "XQUEUEID=a XQUEUEID=b",
            "XQUEUEID",
        ] {
            assert_eq!(
                err(&format!("MAIL FROM:<> {bad}")),
                ParseError::Parameter("XQUEUEID".into()),
                "{bad}"
            );
        }
        assert_eq!(
            ok("mail from: <>"),
            Command::Mail {
                from: Path::Null,
                params: MailParams::default()
            }
        );
        assert_eq!(
            ok("MAIL FROM:<@relay.test,@b.test:joe@a.test>"),
            Command::Mail {
                from: Path::Mailbox("joe@a.test".into()),
                params: MailParams::default()
            }
        );
    }

    #[test]
    fn mail_from_errors() {
        assert!(matches!(err("MAIL FROM:joe@a.test"), ParseError::Syntax(_)));
        assert!(matches!(err("MAIL TO:<joe@a.test>"), ParseError::Syntax(_)));
        assert!(matches!(
            err("MAIL FROM:<joe@a.test"),
            ParseError::Syntax(_)
        ));
        assert!(matches!(err("MAIL FROM:<joe>"), ParseError::Syntax(_)));
        assert!(matches!(
            err("MAIL FROM:<joe@a.test>SIZE=1"),
            ParseError::Syntax(_)
        ));
        assert_eq!(
            err("MAIL FROM:<a@b.test> SIZE=x"),
            ParseError::Parameter("SIZE".into())
        );
        assert_eq!(
            err("MAIL FROM:<a@b.test> SIZE=1 SIZE=2"),
            ParseError::Parameter("SIZE".into())
        );
        assert_eq!(
            err("MAIL FROM:<a@b.test> XFOO=1"),
            ParseError::Parameter("XFOO".into())
        );
        assert_eq!(
            err("MAIL FROM:<a@b.test> BODY=9BIT"),
            ParseError::Parameter("BODY".into())
        );
        assert_eq!(
            err("MAIL FROM:<a@b.test> RET=ALL"),
            ParseError::Parameter("RET".into())
        );
        assert_eq!(
            err("MAIL FROM:<a@b.test> ENVID=a=b"),
            ParseError::Parameter("ENVID".into())
        );
    }

    #[test]
    fn huge_size_is_kept_as_max() {
        let Command::Mail { params, .. } = ok("MAIL FROM:<a@b.test> SIZE=99999999999999999999")
        else {
            panic!()
        };
        assert_eq!(params.size, Some(u64::MAX));
    }

    #[test]
    fn rcpt_to_with_dsn() {
        let c = ok("RCPT TO:<joe@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;joe+2Btag@b.test");
        let Command::Rcpt { to, params } = c else {
            panic!()
        };
        assert_eq!(to, "joe@b.test");
        let n = params.notify.unwrap();
        assert!(n.success && n.failure && !n.delay && !n.never);
        assert_eq!(params.orcpt.as_deref(), Some("rfc822;joe+tag@b.test"));
        assert_eq!(
            ok("RCPT TO:<Postmaster>"),
            Command::Rcpt {
                to: "Postmaster".into(),
                params: RcptParams::default()
            }
        );
        assert!(matches!(
            ok("RCPT TO:<\"odd local\"@b.test>"),
            Command::Rcpt { .. }
        ));
        assert!(matches!(
            ok("RCPT TO:<joe@[192.0.2.1]>"),
            Command::Rcpt { .. }
        ));
        assert!(matches!(
            ok("RCPT TO:<joe@[IPv6:2001:db8::1]>"),
            Command::Rcpt { .. }
        ));
        assert!(matches!(ok("RCPT TO:<jö@bü.test>"), Command::Rcpt { .. }));
        assert_eq!(
            err("RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS"),
            ParseError::Parameter("NOTIFY".into())
        );
        assert!(matches!(err("RCPT TO:<>"), ParseError::Syntax(_)));
        assert!(matches!(err("RCPT TO:<a@[1.2.3]>"), ParseError::Syntax(_)));
        assert!(matches!(
            err("RCPT TO:<a..b@c.test>"),
            ParseError::Syntax(_)
        ));
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            ok("BDAT 100"),
            Command::Bdat {
                size: 100,
                last: false
            }
        );
        assert_eq!(
            ok("BDAT 0 LAST"),
            Command::Bdat {
                size: 0,
                last: true
            }
        );
        assert!(matches!(err("BDAT"), ParseError::Syntax(_)));
        assert!(matches!(err("BDAT -1"), ParseError::Syntax(_)));
        assert!(matches!(err("BDAT 1 FIRST"), ParseError::Syntax(_)));
        assert!(matches!(
            err("BDAT 9999999999999999999"),
            ParseError::Syntax(_)
        ));
        assert_eq!(
            ok("AUTH plain AGpvZQBzZWNyZXQ="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGpvZQBzZWNyZXQ=".into())
            }
        );
        assert_eq!(
            ok("AUTH LOGIN"),
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None
            }
        );
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        assert_eq!(parse_command(b"\xff\xfe").unwrap_err(), ParseError::NotUtf8);
        assert!(matches!(
            parse_command(b"MAIL FROM:<a\0@b.test>"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse_command(b"NOOP\rRSET"),
            Err(ParseError::Syntax(_))
        ));
        for len in 0..40 {
            let s = "MAIL FROM:<\"a\\\"b@c.test> SIZE=1 ORCPT="
                .chars()
                .take(len)
                .collect::<String>();
            let _ = parse_command(s.as_bytes());
        }
    }

    #[test]
    fn every_error_has_an_enhanced_reply() {
        for e in [
            ParseError::Unrecognized,
            ParseError::Syntax("x"),
            ParseError::Parameter("X".into()),
            ParseError::NotUtf8,
        ] {
            let r = e.reply();
            assert!(r.code >= 500 && r.enhanced.is_some(), "{r}");
        }
    }
}
