//! Delivery to another domain: the destination ([`crate::destination`]: static route or MX
//! lookup, TLS policies), then each host and each of its addresses in turn until one takes
//! the transaction (RFC 5321 §5.1).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ferrymail_config::Route;
use ferrymail_net::stream::MaybeTls;
use ferrymail_spool::{Envelope, Recipient};
use tokio::net::TcpStream;

use crate::destination;
use crate::dns::AddrAnswer;
use crate::outcome::RcptOutcome;
use crate::requiretls;
use crate::runner::Runner;
use crate::session::{self, Auth, Dialect, SessionParams, SessionResult, TlsRefusal, TlsUse};
use crate::tls_events;
use crate::tls_plan::{self, HostTls};
use crate::tls_rpt::hook;
use crate::wire::SmtpClientConn;

/// Most MX hosts and addresses tried in one attempt, so a domain with a hundred MX records
/// cannot keep a delivery slot for hours.
const MAX_HOSTS: usize = 10;
const MAX_ADDRS_PER_HOST: usize = 4;

/// A relay written as `host`, `host:port`, `[host]` or `[host]:port` (brackets: no MX
/// lookup, as in Postfix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    pub host: String,
    pub port: Option<u16>,
    pub mx: bool,
}

pub fn parse_relay(s: &str) -> Option<Relay> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        if host.is_empty() {
            return None;
        }
        return Some(Relay {
            host: host.to_ascii_lowercase(),
            port,
            mx: false,
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (s, None),
    };
    if host.is_empty() || host.contains(':') {
        return None;
    }
    Some(Relay {
        host: host.to_ascii_lowercase(),
        port,
        mx: true,
    })
}

/// The static route for `domain`: an exact match wins over `*`.
pub fn route_for<'a>(routes: &'a [Route], domain: &str) -> Option<&'a Route> {
    routes
        .iter()
        .find(|r| r.domain == domain)
        .or_else(|| routes.iter().find(|r| r.domain == "*"))
}

/// Reads a credentials file: user on the first line, password on the second.
pub fn read_auth_file(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(u), Some(p)) if !u.is_empty() => Ok((u.to_owned(), p.to_owned())),
        _ => Err(format!(
            "{}: expected a user line and a password line",
            path.display()
        )),
    }
}

/// Result of one domain's attempt: outcomes in `rcpts` order, and whether no server could
/// be reached at all (for dead-destination back-off).
pub struct DomainResult {
    pub outcomes: Vec<RcptOutcome>,
    pub unreachable: bool,
}

pub async fn deliver(
    runner: &Runner,
    domain: &str,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
) -> DomainResult {
    let all = |o: RcptOutcome, unreachable: bool| DomainResult {
        outcomes: vec![o; rcpts.len()],
        unreachable,
    };
    let d = match destination::resolve(runner, domain, env, data_path).await {
        Ok(d) => d,
        Err(stop) => return all(stop.outcome, stop.unreachable),
    };
    let port = d.port;
    let mut last_error = String::from("no usable mail exchanger");
    // REQUIRETLS bounces only when every host tried refused for want of TLS, not when some
    // could not be reached and might still qualify.
    let mut tls_refusal: Option<String> = None;
    let mut other_failure = false;
    let mut any_address = false;
    let mut permanent_no_address = true;
    for host in d.hosts.iter().take(MAX_HOSTS) {
        let addrs = match runner.resolver.addrs(host).await {
            AddrAnswer::Addrs(a) => a,
            AddrAnswer::NoAddress => {
                last_error = format!("no address for mail exchanger {host}");
                continue;
            }
            AddrAnswer::TempFail(e) => {
                permanent_no_address = false;
                other_failure = true;
                last_error = format!("address lookup for {host} failed: {e}");
                continue;
            }
        };
        any_address = true;
        let host_tls = match tls_plan::for_host(runner, &d.plan, domain, host, port).await {
            Ok(t) => t,
            Err(skip) => {
                tracing::info!(id = %env.id, %host, reason = %skip.reason, "mail exchanger not used");
                if let Some(kind) = skip.kind {
                    hook::dane_failure(d.rpt, domain, Some(host), kind, &skip.reason);
                }
                last_error = skip.reason;
                other_failure = true;
                continue;
            }
        };
        for ip in addrs.into_iter().take(MAX_ADDRS_PER_HOST) {
            let relay = format!("{host}[{ip}]:{port}");
            let at = tls_events::At {
                domain,
                host,
                ip,
                relay: &relay,
            };
            let mut tls = host_tls.clone();
            // A failed opportunistic handshake is retried in plaintext (after the unverified
            // handshake, when probing an MTA-STS testing policy).
            for _ in 0..3 {
                let session = Session {
                    host,
                    ip,
                    port,
                    relay: &relay,
                    tls: &tls,
                    auth: d.auth.as_ref(),
                };
                match try_host(runner, &session, env, rcpts, data_path).await {
                    Ok((outcomes, encrypted)) => {
                        tls_events::delivered(&d, &at, &tls, encrypted);
                        return DomainResult {
                            outcomes,
                            unreachable: false,
                        };
                    }
                    Err(SessionResult::TlsRefused(TlsRefusal { kind, reason })) => {
                        let reason = tls_events::refused(&d, &at, &tls, kind, reason);
                        last_error = reason.clone();
                        tls_refusal = Some(reason);
                        break;
                    }
                    Err(SessionResult::NextHost { reason, tls_failed }) => {
                        if tls_failed && tls.probing {
                            tls_events::probe_failed(&d, &at, &reason);
                            last_error = reason;
                            tls = tls_plan::fallback(&runner.tls, &d.plan);
                            continue;
                        }
                        last_error = reason;
                        if tls_failed
                            && !tls.required()
                            && matches!(tls.tls, TlsUse::Starttls { .. })
                        {
                            tracing::info!(%relay, "TLS handshake failed; retrying without TLS");
                            tls = tls.plaintext();
                            continue;
                        }
                        other_failure = true;
                        break;
                    }
                    Err(SessionResult::Done(outcomes)) => {
                        return DomainResult {
                            outcomes,
                            unreachable: false,
                        }
                    }
                }
            }
        }
    }
    if !any_address
        && permanent_no_address
        && d.hosts.len() == 1
        && d.hosts.first() == Some(&d.target.host)
    {
        // The domain's implicit MX has no address: the domain cannot receive mail.
        return all(
            RcptOutcome::bounced(
                "none",
                "5.1.2",
                &format!("Host or domain name not found: {last_error}"),
            ),
            false,
        );
    }
    if let (true, false, Some(why)) = (env.require_tls, other_failure, &tls_refusal) {
        return all(requiretls::refused(why), false);
    }
    if let Some(p) = d.sts_enforced() {
        last_error = format!(
            "MTA-STS policy {} of {domain} (enforce): {last_error}",
            p.id
        );
    }
    all(RcptOutcome::deferred("none", "4.4.1", &last_error), true)
}

/// Where one session goes and how.
struct Session<'a> {
    host: &'a str,
    ip: IpAddr,
    port: u16,
    relay: &'a str,
    tls: &'a HostTls,
    auth: Option<&'a (String, String)>,
}

/// One session: the outcomes and whether the session was encrypted, or why it did not run.
async fn try_host(
    runner: &Runner,
    s: &Session<'_>,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
) -> Result<(Vec<RcptOutcome>, bool), SessionResult> {
    let q = &runner.config.queue;
    let addr = SocketAddr::new(s.ip, s.port);
    let relay = s.relay;
    let unreachable = |reason: String| SessionResult::NextHost {
        reason,
        tls_failed: false,
    };
    let tcp = match tokio::time::timeout(q.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(unreachable(format!("connect to {relay}: {e}"))),
        Err(_) => return Err(unreachable(format!("connect to {relay}: timed out"))),
    };
    let mut wire = SmtpClientConn::new(MaybeTls::Plain(tcp));
    let params = SessionParams {
        dialect: Dialect::Smtp,
        helo: &runner.hostname,
        server_name: s.host,
        relay,
        timeouts: runner.timeouts(),
        tls: s.tls.tls.clone(),
        auth: s.auth.map(Auth::Password),
        auth_plaintext_ok: s.ip.is_loopback(),
        requiretls: env.require_tls,
    };
    let result = session::run(&mut wire, &params, env, rcpts, data_path).await;
    match result {
        SessionResult::Done(mut outcomes) => {
            let described = s.tls.describe(wire.tls_description().as_deref());
            for o in &mut outcomes {
                o.tls = Some(described.clone());
            }
            Ok((outcomes, wire.is_tls()))
        }
        SessionResult::NextHost { .. } | SessionResult::TlsRefused(_) => Err(result),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relays() {
        assert_eq!(
            parse_relay("[smart.example.net]:587"),
            Some(Relay {
                host: "smart.example.net".into(),
                port: Some(587),
                mx: false
            })
        );
        assert_eq!(
            parse_relay("Relay.Test"),
            Some(Relay {
                host: "relay.test".into(),
                port: None,
                mx: true
            })
        );
        assert_eq!(parse_relay("[::1]:25").map(|r| r.host), Some("::1".into()));
        assert_eq!(
            parse_relay("relay.test:2525").and_then(|r| r.port),
            Some(2525)
        );
        assert_eq!(parse_relay("[x]:notaport"), None);
        assert_eq!(parse_relay("[]"), None);
        assert_eq!(parse_relay(":25"), None);
    }

    #[test]
    fn exact_route_beats_wildcard() {
        let r = |d: &str, relay: &str| Route {
            domain: d.into(),
            relay: relay.into(),
            auth_file: None,
            require_tls: false,
        };
        let routes = vec![r("*", "[smart]"), r("b.test", "[b-relay]")];
        assert_eq!(
            route_for(&routes, "b.test").map(|r| r.relay.as_str()),
            Some("[b-relay]")
        );
        assert_eq!(
            route_for(&routes, "c.test").map(|r| r.relay.as_str()),
            Some("[smart]")
        );
        assert!(route_for(&[], "c.test").is_none());
    }

    #[test]
    fn auth_file_needs_two_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "user\npass word\n").unwrap();
        assert_eq!(
            read_auth_file(&p).unwrap(),
            ("user".into(), "pass word".into())
        );
        std::fs::write(&p, "user\n").unwrap();
        assert!(read_auth_file(&p).is_err());
    }
}
