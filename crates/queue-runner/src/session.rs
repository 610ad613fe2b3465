//! One client session: greeting, EHLO/LHLO, STARTTLS, AUTH, then one transaction carrying a
//! message to many recipients, pipelined when the server allows. The same code speaks SMTP
//! to remote servers and LMTP (RFC 2033: one reply per accepted recipient after the data) to
//! local-delivery.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use ferrymail_smtp::{xtext, DotStuffer, Reply};
use ferrymail_spool::{BodyType, Envelope, Recipient, Ret};
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsConnector;

use crate::outcome::{RcptOutcome, Verdict};
use crate::wire::{SmtpClientConn, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Smtp,
    Lmtp,
}

/// Time limits (RFC 5321 §4.5.3.2).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub command: Duration,
    pub data_block: Duration,
    pub data_done: Duration,
}

/// What to do about TLS on this connection.
#[derive(Clone)]
pub enum TlsUse {
    /// Plaintext only (LMTP, or a retry after a failed opportunistic handshake).
    Off,
    /// STARTTLS when offered with this connector; `required` makes its absence a deferral.
    /// `verified`: the connector authenticates the server (PKIX or DANE), for the log.
    Starttls {
        connector: TlsConnector,
        required: bool,
        verified: bool,
    },
}

/// How the client authenticates, after TLS unless `auth_plaintext_ok`.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// (user, password) for AUTH PLAIN, else LOGIN: a smarthost's account.
    Password(&'a (String, String)),
    /// A ready AUTH PLAIN initial response (base64): the cluster login's
    /// (`ClusterAuth::plain_response`).
    Plain(&'a str),
}

pub struct SessionParams<'a> {
    pub dialect: Dialect,
    pub helo: &'a str,
    /// The server's name for certificate checks and logs.
    pub server_name: &'a str,
    /// `host[ip]:port` or `local`.
    pub relay: &'a str,
    pub timeouts: Timeouts,
    pub tls: TlsUse,
    pub auth: Option<Auth<'a>>,
    /// Whether credentials may be sent without TLS (loopback relays).
    pub auth_plaintext_ok: bool,
    /// The message carries REQUIRETLS (RFC 8689): after validated TLS the server must also
    /// offer REQUIRETLS, or it is refused as [`SessionResult::TlsRefused`].
    pub requiretls: bool,
}

/// What a session achieved.
#[derive(Debug)]
pub enum SessionResult {
    /// The transaction ran: one outcome per recipient, in order.
    Done(Vec<RcptOutcome>),
    /// This server could not take the message; try the next one. `tls_failed` asks the
    /// caller to retry this server without TLS.
    NextHost { reason: String, tls_failed: bool },
    /// This server does not meet the TLS the delivery requires (no STARTTLS, a certificate
    /// that does not validate, no REQUIRETLS); nothing was sent.
    TlsRefused(TlsRefusal),
}

/// Why a server did not meet the TLS a delivery requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// STARTTLS not offered, or refused.
    NoStarttls,
    /// The handshake failed: above all, a certificate that did not validate.
    Handshake,
    /// TLS worked, but the server does not offer REQUIRETLS.
    NoRequireTls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRefusal {
    pub kind: RefusalKind,
    pub reason: String,
}

fn refused(kind: RefusalKind, reason: String) -> SessionResult {
    SessionResult::TlsRefused(TlsRefusal { kind, reason })
}

/// ESMTP extensions we act on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extensions {
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub size: Option<u64>,
    pub auth_plain: bool,
    pub auth_login: bool,
    /// local-delivery's `XQUEUEID`: it remembers which queue ids it delivered to whom, so
    /// a message sent again after we died before recording its 250 is not delivered twice.
    pub queue_id: bool,
    /// RFC 8689.
    pub requiretls: bool,
}

impl Extensions {
    /// From an EHLO reply: the first line is the greeting, the rest keywords.
    pub fn parse(reply: &Reply) -> Extensions {
        let mut e = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "STARTTLS" => e.starttls = true,
                "PIPELINING" => e.pipelining = true,
                "8BITMIME" => e.eightbitmime = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "DSN" => e.dsn = true,
                "XQUEUEID" => e.queue_id = true,
                "REQUIRETLS" => e.requiretls = true,
                "SIZE" => {
                    e.size = words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|&n| n > 0)
                }
                "AUTH" => {
                    for m in words {
                        match m.to_ascii_uppercase().as_str() {
                            "PLAIN" => e.auth_plain = true,
                            "LOGIN" => e.auth_login = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        e
    }
}

/// Whether the message data holds any byte with the high bit set.
pub async fn has_eight_bit(path: &Path) -> std::io::Result<bool> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        if buf.get(..n).unwrap_or_default().iter().any(|&b| b >= 0x80) {
            return Ok(true);
        }
    }
}

/// The name to check the certificate against: the MX host name, or an IP literal relay.
fn server_name(host: &str) -> ServerName<'static> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ServerName::IpAddress(ip.into());
    }
    ServerName::try_from(host.to_owned()).unwrap_or(ServerName::IpAddress(
        std::net::Ipv4Addr::UNSPECIFIED.into(),
    ))
}

fn path_arg(addr: Option<&str>) -> String {
    format!("<{}>", addr.unwrap_or(""))
}

fn mail_command(env: &Envelope, ext: &Extensions, send_8bit: bool) -> String {
    let mut cmd = format!("MAIL FROM:{}", path_arg(env.sender.as_deref()));
    // RFC 1870: the parameter only goes to a server that advertised SIZE.
    if ext.size.is_some() {
        cmd.push_str(&format!(" SIZE={}", env.size));
    }
    if send_8bit && ext.eightbitmime {
        cmd.push_str(" BODY=8BITMIME");
    }
    if env.smtputf8 && ext.smtputf8 {
        cmd.push_str(" SMTPUTF8");
    }
    if env.require_tls && ext.requiretls {
        cmd.push_str(" REQUIRETLS");
    }
    if ext.queue_id {
        cmd.push_str(&format!(" XQUEUEID={}", env.id));
    }
    if ext.dsn {
        match env.dsn.ret {
            Some(Ret::Full) => cmd.push_str(" RET=FULL"),
            Some(Ret::Hdrs) => cmd.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(id) = &env.dsn.envid {
            cmd.push_str(&format!(" ENVID={}", xtext::encode(id)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

fn rcpt_command(r: &Recipient, ext: &Extensions) -> String {
    let mut cmd = format!("RCPT TO:<{}>", r.address);
    if ext.dsn {
        let n = &r.notify;
        if !n.is_unspecified() {
            let mut list = Vec::new();
            if n.never {
                list.push("NEVER");
            } else {
                if n.success {
                    list.push("SUCCESS");
                }
                if n.failure {
                    list.push("FAILURE");
                }
                if n.delay {
                    list.push("DELAY");
                }
            }
            cmd.push_str(&format!(" NOTIFY={}", list.join(",")));
        }
        if let Some(o) = &r.orcpt {
            // Stored verbatim as `addr-type;xtext`; refuse anything that would break the line.
            if o.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
                cmd.push_str(&format!(" ORCPT={o}"));
            }
        }
    }
    cmd.push_str("\r\n");
    cmd
}

fn wire_outcome(e: &WireError, relay: &str) -> RcptOutcome {
    let dsn = match e {
        WireError::Timeout(_) => "4.4.2",
        WireError::Closed(_) => "4.4.2",
        _ => "4.4.0",
    };
    RcptOutcome::deferred(relay, dsn, &format!("{e} with {relay}"))
}

/// One transaction's outcomes (one per recipient, in order), and whether the connection ended
/// it cleanly and can carry another.
pub struct Sent {
    pub outcomes: Vec<RcptOutcome>,
    pub reusable: bool,
}

/// Runs one whole session on a connected stream for `rcpts` of `env`, sending `data_path`:
/// [`open`], one transaction ([`send`]), QUIT.
pub async fn run(
    wire: &mut SmtpClientConn,
    p: &SessionParams<'_>,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
) -> SessionResult {
    let ext = match open(wire, p).await {
        Ok(ext) => ext,
        Err(next) => return next,
    };
    let sent = send(wire, p, &ext, env, rcpts, data_path).await;
    if sent.reusable {
        quit(wire, p.timeouts).await;
    }
    SessionResult::Done(sent.outcomes)
}

/// Greeting, EHLO/LHLO, STARTTLS and AUTH as `p` asks: the connection is then ready for
/// transactions with the returned extensions. `Err` is the [`SessionResult::NextHost`] to report.
pub async fn open(
    wire: &mut SmtpClientConn,
    p: &SessionParams<'_>,
) -> Result<Extensions, SessionResult> {
    let t = p.timeouts;
    let next = |reason: String| SessionResult::NextHost {
        reason,
        tls_failed: false,
    };
    // Greeting.
    match wire.reply("reading greeting", t.command).await {
        Ok(r) if r.code == 220 => {}
        Ok(r) => return Err(next(format!("{} greeted us with {r}", p.relay))),
        Err(e) => return Err(next(format!("{e} with {}", p.relay))),
    }
    let mut ext = match hello(wire, p).await {
        Ok(e) => e,
        Err(reason) => return Err(next(reason)),
    };
    // STARTTLS.
    if let TlsUse::Starttls {
        connector,
        required,
        ..
    } = &p.tls
    {
        if ext.starttls && !wire.is_tls() {
            let started = wire
                .command(
                    b"STARTTLS\r\n",
                    ("sending STARTTLS", "after STARTTLS"),
                    t.command,
                )
                .await;
            match started {
                Ok(r) if r.code == 220 => {
                    let name = server_name(p.server_name);
                    if let Err(e) = wire.upgrade(connector, name, t.command).await {
                        if *required {
                            return Err(refused(
                                RefusalKind::Handshake,
                                format!("{e} with {}", p.relay),
                            ));
                        }
                        return Err(SessionResult::NextHost {
                            reason: format!("{e} with {}", p.relay),
                            tls_failed: !required,
                        });
                    }
                    ext = match hello(wire, p).await {
                        Ok(e) => e,
                        Err(reason) => return Err(next(reason)),
                    };
                }
                Ok(r) if *required => {
                    return Err(refused(
                        RefusalKind::NoStarttls,
                        format!("STARTTLS refused by {}: {r}", p.relay),
                    ))
                }
                Ok(_) => {
                    // Opportunistic: the server refused STARTTLS; carry on in plaintext.
                }
                Err(e) => return Err(next(format!("{e} with {}", p.relay))),
            }
        } else if *required && !wire.is_tls() {
            return Err(refused(
                RefusalKind::NoStarttls,
                format!("TLS is required but {} does not offer STARTTLS", p.relay),
            ));
        }
    }
    if p.requiretls && !ext.requiretls {
        return Err(refused(
            RefusalKind::NoRequireTls,
            format!("{} does not offer REQUIRETLS", p.relay),
        ));
    }
    // AUTH to a smarthost.
    if let Some(auth) = p.auth {
        if !wire.is_tls() && !p.auth_plaintext_ok {
            return Err(next(format!(
                "not sending credentials to {} without TLS",
                p.relay
            )));
        }
        if let Err(reason) = authenticate(wire, p, &ext, auth).await {
            return Err(next(reason));
        }
    }

    Ok(ext)
}

/// One transaction on an [`open`]ed connection: the message to `rcpts`, pipelined when the
/// server allows. Refusals that make sending pointless (size, SMTPUTF8, 8BITMIME) end the
/// session; otherwise the connection is left ready for the next transaction (`reusable`).
pub async fn send(
    wire: &mut SmtpClientConn,
    p: &SessionParams<'_>,
    ext: &Extensions,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
) -> Sent {
    let t = p.timeouts;
    // Things the server must support, or the message cannot go there at all.
    let all = |o: RcptOutcome| Sent {
        outcomes: vec![o; rcpts.len()],
        reusable: false,
    };
    if env.smtputf8 && !ext.smtputf8 && p.dialect == Dialect::Smtp {
        quit(wire, t).await;
        return all(RcptOutcome::bounced(
            p.relay,
            "5.6.7",
            &format!(
                "{} does not support SMTPUTF8, which this message needs",
                p.relay
            ),
        ));
    }
    if let (Some(max), Dialect::Smtp) = (ext.size, p.dialect) {
        if env.size > max {
            quit(wire, t).await;
            return all(RcptOutcome::bounced(
                p.relay,
                "5.3.4",
                &format!(
                    "message size {} exceeds {}'s limit of {max}",
                    env.size, p.relay
                ),
            ));
        }
    }
    let mut send_8bit = env.body != BodyType::SevenBit;
    if send_8bit && !ext.eightbitmime && p.dialect == Dialect::Smtp {
        // Declared 8-bit but perhaps only ASCII after all: then it can go as 7-bit.
        match has_eight_bit(data_path).await {
            Ok(false) => send_8bit = false,
            Ok(true) => {
                quit(wire, t).await;
                return all(RcptOutcome::bounced(
                    p.relay,
                    "5.6.3",
                    &format!(
                        "{} does not support 8BITMIME and this message has 8-bit content",
                        p.relay
                    ),
                ));
            }
            Err(e) => {
                return all(RcptOutcome::deferred(
                    p.relay,
                    "4.3.0",
                    &format!("reading queued message: {e}"),
                ))
            }
        }
    }

    transaction(wire, p, ext, env, rcpts, data_path, send_8bit).await
}

async fn hello(wire: &mut SmtpClientConn, p: &SessionParams<'_>) -> Result<Extensions, String> {
    let t = p.timeouts;
    let verb = match p.dialect {
        Dialect::Smtp => "EHLO",
        Dialect::Lmtp => "LHLO",
    };
    let cmd = format!("{verb} {}\r\n", p.helo);
    let r = wire
        .command(cmd.as_bytes(), ("sending EHLO", "after EHLO"), t.command)
        .await
        .map_err(|e| format!("{e} with {}", p.relay))?;
    if r.code == 250 {
        return Ok(Extensions::parse(&r));
    }
    if p.dialect == Dialect::Lmtp || r.code < 500 {
        return Err(format!("{} refused {verb}: {r}", p.relay));
    }
    // An old server without ESMTP.
    let cmd = format!("HELO {}\r\n", p.helo);
    let r = wire
        .command(cmd.as_bytes(), ("sending HELO", "after HELO"), t.command)
        .await
        .map_err(|e| format!("{e} with {}", p.relay))?;
    if r.code == 250 {
        Ok(Extensions::default())
    } else {
        Err(format!("{} refused HELO: {r}", p.relay))
    }
}

async fn authenticate(
    wire: &mut SmtpClientConn,
    p: &SessionParams<'_>,
    ext: &Extensions,
    auth: Auth<'_>,
) -> Result<(), String> {
    let t = p.timeouts;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fail = |e: WireError| format!("{e} with {} during AUTH", p.relay);
    let r = if ext.auth_plain {
        let token = match auth {
            Auth::Password((user, pass)) => b64.encode(format!("\0{user}\0{pass}")),
            Auth::Plain(token) => token.to_owned(),
        };
        wire.send(
            format!("AUTH PLAIN {token}\r\n").as_bytes(),
            "sending AUTH",
            t.command,
        )
        .await
        .map_err(fail)?;
        wire.reply("after AUTH", t.command).await.map_err(fail)?
    } else if let (true, Auth::Password((user, pass))) = (ext.auth_login, auth) {
        wire.send(b"AUTH LOGIN\r\n", "sending AUTH", t.command)
            .await
            .map_err(fail)?;
        let mut r = wire.reply("after AUTH", t.command).await.map_err(fail)?;
        for secret in [user.as_str(), pass.as_str()] {
            if r.code != 334 {
                break;
            }
            wire.send(
                format!("{}\r\n", b64.encode(secret)).as_bytes(),
                "during AUTH",
                t.command,
            )
            .await
            .map_err(fail)?;
            r = wire.reply("after AUTH", t.command).await.map_err(fail)?;
        }
        r
    } else {
        return Err(format!("{} offers no AUTH mechanism we support", p.relay));
    };
    if r.code == 235 {
        Ok(())
    } else {
        Err(format!("authentication to {} failed: {r}", p.relay))
    }
}

pub(crate) async fn quit(wire: &mut SmtpClientConn, t: Timeouts) {
    let limit = t.command.min(Duration::from_secs(10));
    if wire.send(b"QUIT\r\n", "sending QUIT", limit).await.is_ok() {
        let _ = wire.reply("after QUIT", limit).await;
    }
}

async fn transaction(
    wire: &mut SmtpClientConn,
    p: &SessionParams<'_>,
    ext: &Extensions,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
    send_8bit: bool,
) -> Sent {
    let t = p.timeouts;
    let relay = p.relay;
    let mut out: Vec<Option<RcptOutcome>> = vec![None; rcpts.len()];
    let fill = |out: &mut Vec<Option<RcptOutcome>>, o: &RcptOutcome| {
        for slot in out.iter_mut().filter(|s| s.is_none()) {
            *slot = Some(o.clone());
        }
    };
    let finish = |out: Vec<Option<RcptOutcome>>| Sent {
        outcomes: out
            .into_iter()
            .map(|o| o.unwrap_or_else(|| RcptOutcome::deferred(relay, "4.4.2", "no reply")))
            .collect(),
        reusable: false,
    };
    let pipelining = ext.pipelining || p.dialect == Dialect::Lmtp;
    let mail = mail_command(env, ext, send_8bit);
    let rcpt_cmds: Vec<String> = rcpts.iter().map(|r| rcpt_command(r, ext)).collect();

    let mut accepted: Vec<usize> = Vec::new();
    let mail_reply;
    if pipelining {
        let mut batch = mail.into_bytes();
        for c in &rcpt_cmds {
            batch.extend_from_slice(c.as_bytes());
        }
        batch.extend_from_slice(b"DATA\r\n");
        if let Err(e) = wire.send(&batch, "sending MAIL FROM", t.command).await {
            fill(&mut out, &wire_outcome(&e, relay));
            return finish(out);
        }
        mail_reply = match wire.reply("after MAIL FROM", t.command).await {
            Ok(r) => r,
            Err(e) => {
                fill(&mut out, &wire_outcome(&e, relay));
                return finish(out);
            }
        };
        for i in 0..rcpts.len() {
            match wire.reply("after RCPT TO", t.command).await {
                Ok(r) if r.is_positive() && mail_reply.is_positive() => accepted.push(i),
                Ok(r) => {
                    if mail_reply.is_positive() {
                        out[i] = Some(RcptOutcome::from_reply(&r, relay));
                    }
                }
                Err(e) => {
                    fill(&mut out, &wire_outcome(&e, relay));
                    return finish(out);
                }
            }
        }
        let data_reply = match wire.reply("after DATA", t.command).await {
            Ok(r) => r,
            Err(e) => {
                fill(&mut out, &wire_outcome(&e, relay));
                return finish(out);
            }
        };
        if !mail_reply.is_positive() {
            fill(&mut out, &RcptOutcome::from_reply(&mail_reply, relay));
            abandon(wire, t, data_reply.code == 354).await;
            return finish(out);
        }
        if accepted.is_empty() {
            abandon(wire, t, data_reply.code == 354).await;
            return finish(out);
        }
        if data_reply.code != 354 {
            fill(&mut out, &RcptOutcome::from_reply(&data_reply, relay));
            quit(wire, t).await;
            return finish(out);
        }
    } else {
        let r = wire
            .command(
                mail.as_bytes(),
                ("sending MAIL FROM", "after MAIL FROM"),
                t.command,
            )
            .await;
        mail_reply = match r {
            Ok(r) => r,
            Err(e) => {
                fill(&mut out, &wire_outcome(&e, relay));
                return finish(out);
            }
        };
        if !mail_reply.is_positive() {
            fill(&mut out, &RcptOutcome::from_reply(&mail_reply, relay));
            quit(wire, t).await;
            return finish(out);
        }
        for (i, c) in rcpt_cmds.iter().enumerate() {
            let r = wire
                .command(
                    c.as_bytes(),
                    ("sending RCPT TO", "after RCPT TO"),
                    t.command,
                )
                .await;
            match r {
                Ok(r) if r.is_positive() => accepted.push(i),
                Ok(r) => out[i] = Some(RcptOutcome::from_reply(&r, relay)),
                Err(e) => {
                    fill(&mut out, &wire_outcome(&e, relay));
                    return finish(out);
                }
            }
        }
        if accepted.is_empty() {
            quit(wire, t).await;
            return finish(out);
        }
        let r = wire
            .command(b"DATA\r\n", ("sending DATA", "after DATA"), t.command)
            .await;
        match r {
            Ok(r) if r.code == 354 => {}
            Ok(r) => {
                fill(&mut out, &RcptOutcome::from_reply(&r, relay));
                quit(wire, t).await;
                return finish(out);
            }
            Err(e) => {
                fill(&mut out, &wire_outcome(&e, relay));
                return finish(out);
            }
        }
    }

    // The message itself.
    if let Err(e) = send_data(wire, data_path, t).await {
        fill(&mut out, &e);
        return finish(out);
    }
    match p.dialect {
        Dialect::Smtp => match wire.reply("after end of data", t.data_done).await {
            Ok(r) => {
                let mut o = RcptOutcome::from_reply(&r, relay);
                o.dsn_passed_on = ext.dsn;
                for &i in &accepted {
                    out[i] = Some(o.clone());
                }
            }
            Err(e) => fill(&mut out, &wire_outcome(&e, relay)),
        },
        Dialect::Lmtp => {
            for &i in &accepted {
                match wire.reply("after end of data", t.data_done).await {
                    Ok(r) => out[i] = Some(RcptOutcome::from_reply(&r, relay)),
                    Err(e) => {
                        fill(&mut out, &wire_outcome(&e, relay));
                        return finish(out);
                    }
                }
            }
        }
    }
    Sent {
        reusable: true,
        ..finish(out)
    }
}

/// After a pipelined DATA that the server answered 354 although nothing can be sent (MAIL
/// or every RCPT failed), RFC 2920 §3.1 has us send an empty message's end; then leave.
async fn abandon(wire: &mut SmtpClientConn, t: Timeouts, in_data: bool) {
    if in_data {
        if wire.send(b".\r\n", "ending DATA", t.command).await.is_err() {
            return;
        }
        let _ = wire.reply("after end of data", t.data_done).await;
    }
    quit(wire, t).await;
}

async fn send_data(wire: &mut SmtpClientConn, path: &Path, t: Timeouts) -> Result<(), RcptOutcome> {
    let local_err = |e: std::io::Error| {
        RcptOutcome::deferred("none", "4.3.0", &format!("reading queued message: {e}"))
    };
    let mut f = tokio::fs::File::open(path).await.map_err(local_err)?;
    let mut stuffer = DotStuffer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(70 * 1024);
    loop {
        let n = f.read(&mut buf).await.map_err(local_err)?;
        out.clear();
        if n == 0 {
            stuffer.finish(&mut out);
            return wire
                .send(&out, "sending end of data", t.data_block)
                .await
                .map_err(|e| RcptOutcome::deferred("none", "4.4.2", &e.to_string()));
        }
        stuffer.feed(buf.get(..n).unwrap_or_default(), &mut out);
        wire.send(&out, "sending message data", t.data_block)
            .await
            .map_err(|e| RcptOutcome::deferred("none", "4.4.2", &e.to_string()))?;
    }
}

/// Convenience for tests and logs: the verdicts of a result.
pub fn verdicts(outcomes: &[RcptOutcome]) -> Vec<Verdict> {
    outcomes.iter().map(|o| o.verdict).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_spool::{ClientInfo, Notify, Source};

    #[test]
    fn parses_ehlo_extensions() {
        let r = Reply::multiline(
            250,
            None,
            vec![
                "mx.test hello".into(),
                "PIPELINING".into(),
                "SIZE 1000".into(),
                "8bitmime".into(),
                "STARTTLS".into(),
                "AUTH LOGIN PLAIN".into(),
                "DSN".into(),
                "SMTPUTF8".into(),
                "XQUEUEID".into(),
                "REQUIRETLS".into(),
            ],
        );
        let e = Extensions::parse(&r);
        assert_eq!(
            e,
            Extensions {
                starttls: true,
                pipelining: true,
                eightbitmime: true,
                smtputf8: true,
                dsn: true,
                size: Some(1000),
                auth_plain: true,
                auth_login: true,
                queue_id: true,
                requiretls: true,
            }
        );
        let only_greeting = Reply::plain(250, "PIPELINING");
        assert_eq!(Extensions::parse(&only_greeting), Extensions::default());
    }

    #[test]
    fn builds_mail_and_rcpt_with_dsn_only_when_offered() {
        let mut r = Recipient::new("a@b.test");
        r.notify = Notify {
            failure: true,
            delay: true,
            ..Notify::default()
        };
        r.orcpt = Some("rfc822;a@b.test".into());
        let mut env = Envelope::new(
            Some("s@x.test".into()),
            vec![r.clone()],
            ClientInfo::default(),
            Source::Local,
        );
        env.size = 42;
        env.dsn.ret = Some(Ret::Hdrs);
        env.dsn.envid = Some("id 1".into());
        let plain = Extensions::default();
        assert_eq!(mail_command(&env, &plain, true), "MAIL FROM:<s@x.test>\r\n");
        assert_eq!(rcpt_command(&r, &plain), "RCPT TO:<a@b.test>\r\n");
        let full = Extensions {
            dsn: true,
            size: Some(100),
            eightbitmime: true,
            ..Extensions::default()
        };
        assert_eq!(
            mail_command(&env, &full, true),
            "MAIL FROM:<s@x.test> SIZE=42 BODY=8BITMIME RET=HDRS ENVID=id+201\r\n"
        );
        env.require_tls = true;
        assert_eq!(
            mail_command(&env, &plain, false),
            "MAIL FROM:<s@x.test>\r\n",
            "REQUIRETLS only to a server that offers it"
        );
        let requiretls = Extensions {
            requiretls: true,
            ..Extensions::default()
        };
        assert_eq!(
            mail_command(&env, &requiretls, false),
            "MAIL FROM:<s@x.test> REQUIRETLS\r\n"
        );
        env.require_tls = false;
        assert_eq!(
            rcpt_command(&r, &full),
            "RCPT TO:<a@b.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@b.test\r\n"
        );
        env.sender = None;
        assert_eq!(mail_command(&env, &plain, false), "MAIL FROM:<>\r\n");
        let lmtp = Extensions {
            queue_id: true,
            ..Extensions::default()
        };
        assert_eq!(
            mail_command(&env, &lmtp, false),
            format!("MAIL FROM:<> XQUEUEID={}\r\n", env.id)
        );
    }
}
