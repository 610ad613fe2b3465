//! The LMTP server for the MX hosts' queue-runners (RFC 2033 over TCP, the `lmtp` listener):
//! STARTTLS, then AUTH PLAIN as the cluster login acting for nobody, before any transaction.
//! Each recipient is resolved to its account and routed like that user's sessions; the
//! transaction is opened on that backend (one connection per backend, kept for the next
//! transactions of the session), MAIL passed on with all its parameters (XQUEUEID too), and
//! the recipient answered with the backend's own reply. The message is read once and sent to
//! every backend with recipients; the replies after DATA come per recipient, in RCPT order,
//! each the backend's (250 only after the backend's 250), or 451 4.4.0 for every recipient of
//! a backend that failed on the way.

use std::collections::HashMap;
use std::time::Duration;

use ferrymail_metrics::conn::Protocol;
use ferrymail_net::cluster::ClusterLogin;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::sasl::{Exchange, Mechanism};
use ferrymail_net::server::ConnInfo;
use ferrymail_net::stream::MaybeTls;
use ferrymail_smtp::{DataDecoder, DotStuffer, LineEndingPolicy};
use ferrymail_users::Destination;
use tokio::io::{AsyncWriteExt, BufReader};

use crate::backend::{self, Proto};
use crate::client::{Challenges, Client, ClientError};
use crate::context::Context;

/// Longest command line.
const MAX_LINE: usize = 4096;
/// Longest line of message text read (RFC 5322 allows 998 octets; be generous).
const MAX_TEXT_LINE: usize = 64 * 1024;
/// How long a backend may take for one reply (a delivery may run Sieve scripts).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Between two commands of a queue-runner's pooled session.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);

const UNAVAILABLE: &[u8] = b"451 4.4.0 mailbox server unavailable, try again later\r\n";

/// One backend's LMTP connection in this session.
struct Peer {
    s: BufReader<MaybeTls>,
    /// MAIL was accepted in the current transaction.
    in_mail: bool,
    /// Failed in this transaction: its recipients get 451 after DATA.
    broken: bool,
}

#[derive(Default)]
struct Transaction {
    mail: Option<Vec<u8>>,
    /// The accepted recipients, in RCPT order, by backend name.
    accepted: Vec<String>,
}

pub async fn run(ctx: &Context, client: Client, _info: &ConnInfo) -> Result<(), ClientError> {
    let mut c = client;
    let host = ctx.config.hostname();
    let max_size = ctx.config.smtpd.max_message_size;
    let mut authed = false;
    let mut peers: HashMap<String, Peer> = HashMap::new();
    let mut tx = Transaction::default();
    c.send(format!("220 {host} LMTP ferrymail proxy ready\r\n").as_bytes())
        .await?;
    loop {
        c.extend_deadline(COMMAND_TIMEOUT);
        let Some(line) = c.line(MAX_LINE).await? else {
            c.send(b"500 5.5.2 line too long\r\n").await?;
            continue;
        };
        let text = String::from_utf8_lossy(ferrymail_net::lines::strip_eol(&line)).into_owned();
        let verb = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "LHLO" => {
                tx = Transaction::default();
                let mut ext = vec![
                    host.clone(),
                    "PIPELINING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    format!("SIZE {max_size}"),
                ];
                if c.is_tls() {
                    ext.push("AUTH PLAIN".into());
                } else if ctx.tls.is_some() {
                    ext.push("STARTTLS".into());
                }
                let n = ext.len();
                let mut out = String::new();
                for (i, e) in ext.iter().enumerate() {
                    let sep = if i + 1 == n { ' ' } else { '-' };
                    out.push_str(&format!("250{sep}{e}\r\n"));
                }
                c.send(out.as_bytes()).await?;
            }
            "STARTTLS" if !c.is_tls() && ctx.tls.is_some() => {
                c.send(b"220 2.0.0 ready to start TLS\r\n").await?;
                c.handshake(ctx).await?;
                tx = Transaction::default();
            }
            "AUTH" => {
                if !c.is_tls() {
                    c.send(b"530 5.7.0 must issue a STARTTLS command first\r\n")
                        .await?;
                } else if authed {
                    c.send(b"503 5.5.1 already authenticated\r\n").await?;
                } else if auth(ctx, &mut c, &text).await? {
                    authed = true;
                    c.send(b"235 2.7.0 authentication succeeded\r\n").await?;
                } else {
                    tokio::time::sleep(ctx.config.proxy.limits.auth_failure_delay).await;
                    crate::metrics::login(Protocol::Lmtp, false);
                    c.send(b"535 5.7.8 authentication credentials invalid\r\n")
                        .await?;
                }
            }
            "MAIL" | "RCPT" | "DATA" if !authed => {
                c.send(b"530 5.7.0 authentication required\r\n").await?;
            }
            "MAIL" if tx.mail.is_some() => {
                c.send(b"503 5.5.1 nested MAIL command\r\n").await?;
            }
            "MAIL" => {
                tx.mail = Some(line.clone());
                c.send(b"250 2.1.0 sender ok\r\n").await?;
            }
            "RCPT" => {
                let Some(mail) = tx.mail.clone() else {
                    c.send(b"503 5.5.1 need MAIL first\r\n").await?;
                    continue;
                };
                let reply = rcpt(ctx, &mut peers, &mail, &line, &text, &mut tx).await;
                c.send(&reply).await?;
            }
            "DATA" => {
                if tx.accepted.is_empty() {
                    c.send(b"503 5.5.1 no valid recipients\r\n").await?;
                    continue;
                }
                c.send(b"354 start mail input; end with <CRLF>.<CRLF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut c, max_size).await? else {
                    let n = tx.accepted.len();
                    let too_big = b"552 5.3.4 message too big\r\n".repeat(n);
                    c.send(&too_big).await?;
                    reset_peers(&mut peers).await;
                    tx = Transaction::default();
                    continue;
                };
                let replies = deliver(&mut peers, &tx.accepted, &data).await;
                c.send(&replies).await?;
                tx = Transaction::default();
            }
            "RSET" => {
                reset_peers(&mut peers).await;
                tx = Transaction::default();
                c.send(b"250 2.0.0 ok\r\n").await?;
            }
            "NOOP" => c.send(b"250 2.0.0 ok\r\n").await?,
            "QUIT" => {
                for p in peers.values_mut() {
                    let _ = p.s.get_mut().write_all(b"QUIT\r\n").await;
                }
                c.send(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => c.send(b"502 5.5.2 command not recognised\r\n").await?,
        }
    }
}

/// AUTH PLAIN, with or without an initial response; only the cluster login acting for
/// nobody is accepted.
async fn auth(ctx: &Context, c: &mut Client, text: &str) -> Result<bool, ClientError> {
    let mut words = text.split_whitespace().skip(1);
    let mech = words.next().unwrap_or("");
    if !mech.eq_ignore_ascii_case("PLAIN") {
        return Ok(false);
    }
    let ex = Exchange::new(Mechanism::Plain, ferrymail_users::login_key)
        .with_master(Some(ctx.cluster.login()));
    let Ok(creds) = c.sasl(ex, words.next(), Challenges::Smtp).await? else {
        return Ok(false);
    };
    let ok = ctx.cluster.check(&creds) == ClusterLogin::Accepted { acting_as: None };
    if !ok {
        tracing::warn!(user = %creds.authcid, "LMTP login refused");
    }
    Ok(ok)
}

/// The user whose backend gets `address`: its account's login when the address resolves
/// to exactly one local account, else the address itself (the backend resolves it again
/// and expands or refuses it).
fn route_key(ctx: &Context, address: &str) -> String {
    let accounts: Vec<String> = match ctx.users.resolve(address) {
        Ok(d) => d
            .into_iter()
            .filter_map(|d| match d {
                Destination::Virtual(v) => Some(v.login),
                Destination::Unix(u) => Some(u.name),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    match accounts.as_slice() {
        [one] => one.clone(),
        _ => ferrymail_users::login_key(address),
    }
}

/// The address of `RCPT TO:<address> …`.
fn rcpt_address(text: &str) -> Option<&str> {
    let start = text.find('<')? + 1;
    let end = start + text[start..].find('>')?;
    Some(&text[start..end])
}

/// Routes one recipient and returns the reply for it.
async fn rcpt(
    ctx: &Context,
    peers: &mut HashMap<String, Peer>,
    mail: &[u8],
    line: &[u8],
    text: &str,
    tx: &mut Transaction,
) -> Vec<u8> {
    let Some(address) = rcpt_address(text) else {
        return b"501 5.1.3 bad recipient address syntax\r\n".to_vec();
    };
    let key = route_key(ctx, address);
    // A kept connection the backend has meanwhile closed fails at MAIL: once more on a new one.
    let mut retry = true;
    let name = loop {
        let name = match peer_for(ctx, peers, &key).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(recipient = %address, error = %e, "no backend for the recipient");
                return UNAVAILABLE.to_vec();
            }
        };
        let Some(peer) = peers.get_mut(&name) else {
            return UNAVAILABLE.to_vec();
        };
        if peer.broken {
            return UNAVAILABLE.to_vec();
        }
        if peer.in_mail {
            break name;
        }
        match exchange(peer, mail).await {
            Ok(r) if r.starts_with(b"2") => {
                peer.in_mail = true;
                break name;
            }
            Ok(r) => return r,
            Err(e) => {
                tracing::warn!(backend = %name, error = %e, retry, "backend failed at MAIL");
                peers.remove(&name);
                if !std::mem::take(&mut retry) {
                    return UNAVAILABLE.to_vec();
                }
            }
        }
    };
    let Some(peer) = peers.get_mut(&name) else {
        return UNAVAILABLE.to_vec();
    };
    match exchange(peer, line).await {
        Ok(r) => {
            if r.starts_with(b"2") {
                tracing::info!(recipient = %address, backend = %name, "routed");
                crate::metrics::proxied(Protocol::Lmtp, &name);
                tx.accepted.push(name);
            }
            r
        }
        Err(e) => {
            tracing::warn!(backend = %name, error = %e, "backend failed at RCPT");
            peer.broken = true;
            UNAVAILABLE.to_vec()
        }
    }
}

/// The name of the backend for `key`, with a connection to it in `peers` (kept from an
/// earlier recipient or transaction, or opened now).
async fn peer_for(
    ctx: &Context,
    peers: &mut HashMap<String, Peer>,
    key: &str,
) -> Result<String, crate::context::OpenError> {
    if let Some((b, _)) = ctx.candidates(key).first() {
        if peers.contains_key(&b.name) {
            return Ok(b.name.clone());
        }
    }
    let opened = ctx.open(Proto::Lmtp, key).await?;
    let name = opened.backend.name.clone();
    peers.entry(name.clone()).or_insert(Peer {
        s: opened.conn.stream,
        in_mail: false,
        broken: false,
    });
    Ok(name)
}

/// Sends one command and reads its (possibly multi-line) reply. A 421 (the backend closing
/// the connection, as local-delivery tells idle sessions when it stops) is a failure of the
/// connection, not an answer to the command.
async fn exchange(peer: &mut Peer, command: &[u8]) -> Result<Vec<u8>, backend::BackendError> {
    peer.s.get_mut().write_all(command).await?;
    peer.s.get_mut().flush().await?;
    let r = reply(peer).await?;
    if r.starts_with(b"421") {
        return Err(backend::BackendError::Protocol(backend::shown(&r)));
    }
    Ok(r)
}

async fn reply(peer: &mut Peer) -> Result<Vec<u8>, backend::BackendError> {
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(REPLY_TIMEOUT, read_line(&mut peer.s, &mut line, MAX_LINE));
        match read.await {
            Err(_) => return Err(backend::BackendError::Timeout),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(Line::Complete)) => {}
            Ok(Ok(_)) => return Err(backend::BackendError::Protocol("no reply".into())),
        }
        let last = line.get(3) != Some(&b'-');
        out.extend_from_slice(&line);
        if last {
            return Ok(out);
        }
    }
}

/// The message as the backends receive it: read with the DATA decoder every server of ours
/// uses (only `<CRLF>.<CRLF>` ends it, never a bare LF; bare line endings become CRLF, as
/// local-delivery stores them) and dot-stuffed again, with its final `.` line, so the front
/// end and the backend can never disagree on where it ends. `None` when over `max` octets
/// or with a line over the limit (read to its end all the same).
async fn read_data(c: &mut Client, max: u64) -> Result<Option<Vec<u8>>, ClientError> {
    let mut decoder = DataDecoder::new(LineEndingPolicy::Normalize, max, MAX_TEXT_LINE);
    let mut message = Vec::new();
    let mut line_too_long = false;
    loop {
        c.extend_deadline(COMMAND_TIMEOUT);
        let Some(line) = c.line(MAX_TEXT_LINE).await? else {
            // Consumed through its LF, so the decoder is at a line start again.
            line_too_long = true;
            continue;
        };
        if decoder.feed(&line, &mut message).is_some() {
            break;
        }
    }
    let outcome = decoder.outcome();
    if outcome.too_big || outcome.line_too_long || line_too_long {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut stuffer = DotStuffer::new();
    stuffer.feed(&message, &mut data);
    stuffer.finish(&mut data);
    Ok(Some(data))
}

/// Sends the message to every backend with recipients and collects the replies in
/// recipient order.
async fn deliver(peers: &mut HashMap<String, Peer>, accepted: &[String], data: &[u8]) -> Vec<u8> {
    let mut per_backend: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
    let mut names: Vec<&str> = accepted.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let count = accepted.iter().filter(|a| *a == name).count();
        let replies = match peers.get_mut(name) {
            Some(peer) if !peer.broken => match data_on(peer, data, count).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(backend = %name, error = %e, "backend failed at DATA");
                    crate::metrics::backend_failed(name);
                    peers.remove(name);
                    vec![UNAVAILABLE.to_vec(); count]
                }
            },
            _ => vec![UNAVAILABLE.to_vec(); count],
        };
        per_backend.insert(name, replies);
    }
    for p in peers.values_mut() {
        p.in_mail = false;
        p.broken = false;
    }
    let mut out = Vec::new();
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for name in accepted {
        let i = taken.entry(name.as_str()).or_default();
        match per_backend.get(name.as_str()).and_then(|r| r.get(*i)) {
            Some(r) => out.extend_from_slice(r),
            None => out.extend_from_slice(UNAVAILABLE),
        }
        *i += 1;
    }
    out
}

async fn data_on(
    peer: &mut Peer,
    data: &[u8],
    count: usize,
) -> Result<Vec<Vec<u8>>, backend::BackendError> {
    let go = exchange(peer, b"DATA\r\n").await?;
    if !go.starts_with(b"354") {
        return Ok(vec![go; count]);
    }
    peer.s.get_mut().write_all(data).await?;
    peer.s.get_mut().flush().await?;
    let mut replies = Vec::with_capacity(count);
    for _ in 0..count {
        replies.push(reply(peer).await?);
    }
    Ok(replies)
}

/// RSET on every backend in a transaction; one that does not answer is dropped.
async fn reset_peers(peers: &mut HashMap<String, Peer>) {
    let mut gone = Vec::new();
    for (name, p) in peers.iter_mut() {
        if p.in_mail && exchange(p, b"RSET\r\n").await.is_err() {
            gone.push(name.clone());
        }
        p.in_mail = false;
        p.broken = false;
    }
    for n in gone {
        peers.remove(&n);
    }
}
