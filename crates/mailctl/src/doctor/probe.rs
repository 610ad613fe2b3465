//! The network probes: whether every configured listener answers, and whether the MX hosts
//! relay for a stranger (an SMTP dialogue that stops at RCPT TO).
//!
//! The probed servers may be anyone's (the MX can point anywhere), so their replies are read
//! with the shared length-limited line reader and SMTP reply parser, and each probe has one
//! time budget from connect to the last reply.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrymail_config::{Config, Listener};
use ferrymail_net::lines::{read_line, Line};
use ferrymail_smtp::{Reply, ReplyParser};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;

use super::lookup::{Answer, Dns};
use super::{ok, problem, CheckArgs, Finding, Level};

/// Most addresses the relay probe talks to (a hostile zone can list thousands).
const MAX_RELAY_TARGETS: usize = 6;
/// Longest reply line read from a probed server (RFC 5321 says 512; servers exceed it).
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply (an EHLO answer has a dozen).
const MAX_REPLY_LINES: usize = 100;
/// A black-holed address is given up on sooner than a slow server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One probe, connect to the RCPT reply: a server dripping bytes cannot hold us longer.
const PROBE_BUDGET: Duration = Duration::from_secs(15);
/// How much of a server's reply a finding quotes.
const QUOTED_REPLY: usize = 200;

/// Where to reach a listener from this host: a wildcard bind is probed on loopback.
pub fn probe_addr(l: &Listener) -> SocketAddr {
    let mut a = l.listen;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        });
    }
    a
}

pub(super) async fn check_ports(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let all = config
        .smtpd
        .listeners
        .iter()
        .chain(&config.imapd.listeners)
        .chain(&config.pop3d.listeners);
    for l in all {
        let addr = probe_addr(l);
        let r = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
            .await;
        match r {
            Ok(Ok(_)) => out.push(ok("port", format!("{} answers on {}", l.role, l.listen))),
            _ => out.push(problem(
                Level::Error,
                "port",
                format!("nothing answers for {} on {}", l.role, l.listen),
                "clients and other servers cannot reach this service",
                format!("start the daemon for {} (see `mailctl status`) and open the port in the firewall", l.role),
            )),
        }
    }
    out
}

/// Tries to relay to a foreign domain through each MX host (the first [`MAX_RELAY_TARGETS`]
/// addresses), from a client the server should not trust. Stops at RCPT: no message is ever
/// sent.
pub(super) async fn check_open_relay(
    config: &Config,
    dns: &Dns,
    mx: &[(u16, String)],
    args: &CheckArgs,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut budget = MAX_RELAY_TARGETS;
    for (_, exchange) in mx.iter().filter(|(_, e)| !e.is_empty()) {
        let Answer::Records(ips) = dns.ips(exchange).await else {
            continue;
        };
        for ip in ips {
            if budget == 0 {
                return out;
            }
            budget -= 1;
            let target = SocketAddr::new(ip, args.smtp_port);
            match relay_probe(target, args.source_addr).await {
                Ok((source, accepted, reply)) => {
                    if config.is_trusted(source) {
                        out.push(problem(
                            Level::Warning,
                            "relay",
                            format!(
                                "could not test {exchange} ({target}) from outside: this machine's address {source} is in general.trusted_networks"
                            ),
                            "trusted clients may relay by design, so the probe proves nothing",
                            "run `mailctl check` from another machine, or pass --source-addr with an untrusted address",
                        ));
                    } else if accepted {
                        out.push(problem(
                            Level::Error,
                            "relay",
                            format!("{exchange} ({target}) is an OPEN RELAY: it accepted a foreign recipient from {source}"),
                            "spammers will use it within hours and the server will be blocklisted",
                            "remove the client's network from general.trusted_networks; only authenticated users may relay",
                        ));
                    } else {
                        out.push(ok(
                            "relay",
                            format!("{exchange} ({target}) refuses to relay: {}", clip(&reply)),
                        ));
                    }
                }
                Err(e) => out.push(problem(
                    Level::Warning,
                    "relay",
                    format!("could not run the relay probe against {target}: {e}"),
                    "the open-relay test did not run",
                    "make sure the MX host answers on port 25",
                )),
            }
        }
    }
    out
}

/// The probe of one address: `(our source address, RCPT accepted, last reply)`.
async fn relay_probe(
    target: SocketAddr,
    source: Option<IpAddr>,
) -> Result<(IpAddr, bool, String), String> {
    tokio::time::timeout(PROBE_BUDGET, relay_dialogue(target, source))
        .await
        .map_err(|_| {
            format!(
                "no complete dialogue within {} seconds",
                PROBE_BUDGET.as_secs()
            )
        })?
}

async fn relay_dialogue(
    target: SocketAddr,
    source: Option<IpAddr>,
) -> Result<(IpAddr, bool, String), String> {
    let sock = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(src) = source {
        sock.bind(SocketAddr::new(src, 0))
            .map_err(|e| e.to_string())?;
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(target))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let local = stream.local_addr().map_err(|e| e.to_string())?.ip();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut line = Vec::new();
    let greeting = read_reply(&mut r, &mut line).await?;
    if !greeting.is_positive() {
        return Err(format!("greeting: {}", clip(&greeting.to_string())));
    }
    for cmd in [
        "EHLO relay-probe.invalid\r\n",
        "MAIL FROM:<relay-probe@relay-probe.invalid>\r\n",
    ] {
        w.write_all(cmd.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let rep = read_reply(&mut r, &mut line).await?;
        if !rep.is_positive() {
            return Ok((local, false, rep.to_string()));
        }
    }
    w.write_all(b"RCPT TO:<relay-test@relay-target.example>\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let rep = read_reply(&mut r, &mut line).await?;
    let _ = w.write_all(b"RSET\r\nQUIT\r\n").await;
    Ok((local, rep.is_positive(), rep.to_string()))
}

/// One complete (possibly multi-line) reply.
async fn read_reply(r: &mut BufReader<OwnedReadHalf>, line: &mut Vec<u8>) -> Result<Reply, String> {
    let mut parser = ReplyParser::new(MAX_REPLY_LINES);
    loop {
        match read_line(r, line, MAX_REPLY_LINE)
            .await
            .map_err(|e| e.to_string())?
        {
            Line::Complete => {}
            Line::TooLong => {
                return Err(format!(
                    "a reply line is longer than {MAX_REPLY_LINE} bytes"
                ))
            }
            Line::Eof => return Err("connection closed".into()),
        }
        if let Some(reply) = parser.feed_line(line).map_err(|e| e.to_string())? {
            return Ok(reply);
        }
    }
}

/// A server's reply cut to a readable length for a finding.
fn clip(reply: &str) -> String {
    let mut chars = reply.chars();
    let mut s: String = chars.by_ref().take(QUOTED_REPLY).collect();
    if chars.next().is_some() {
        s.push('…');
    }
    s
}
