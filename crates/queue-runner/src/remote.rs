//! Delivery to another domain: static route or MX lookup, then each host and each of its
//! addresses in turn until one takes the transaction (RFC 5321 §5.1).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ferrymail_config::{Route, TlsPolicy};
use ferrymail_net::stream::MaybeTls;
use ferrymail_spool::{Envelope, Recipient};
use tokio::net::TcpStream;

use crate::dane::lookup::MxSecurity;
use crate::dns::{AddrAnswer, MxAnswer};
use crate::mta_sts::{self, enforce::FailureKind, Mode};
use crate::outcome::RcptOutcome;
use crate::requiretls;
use crate::runner::Runner;
use crate::session::{
    self, Dialect, RefusalKind, SessionParams, SessionResult, TlsRefusal, TlsUse,
};
use crate::tls_plan::{self, DomainTls, HostTls};
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
fn read_auth_file(path: &Path) -> Result<(String, String), String> {
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
    let q = &runner.config.queue;
    let all = |o: RcptOutcome, unreachable: bool| DomainResult {
        outcomes: vec![o; rcpts.len()],
        unreachable,
    };
    let route = route_for(&q.routes, domain);
    let (target, port) = match route {
        Some(r) => match parse_relay(&r.relay) {
            Some(rel) => {
                let port = rel.port.unwrap_or(q.smtp_port);
                (rel, port)
            }
            None => {
                return all(
                    RcptOutcome::deferred(
                        "none",
                        "4.3.5",
                        &format!("bad relay `{}` in queue.routes", r.relay),
                    ),
                    false,
                )
            }
        },
        None => (
            Relay {
                host: domain.to_owned(),
                port: None,
                mx: true,
            },
            q.smtp_port,
        ),
    };
    let auth = match route.and_then(|r| r.auth_file.as_deref()) {
        Some(path) => match read_auth_file(path) {
            Ok(c) => Some(c),
            Err(e) => {
                return all(
                    RcptOutcome::deferred("none", "4.3.5", &format!("relay credentials: {e}")),
                    false,
                )
            }
        },
        None => None,
    };
    let tls_required_no = !env.require_tls
        && requiretls::has_tls_required_no(data_path)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(id = %env.id, error = %e, "reading header for TLS-Required");
                false
            });
    let policy_applies = requiretls::tls_policy_applies(env, tls_required_no);
    let policy_requires_tls = route.is_some_and(|r| r.require_tls)
        || q.require_tls_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain));
    if !policy_applies {
        tracing::info!(id = %env.id, domain, "TLS-Required: No: TLS policies waived for this message");
    }
    let policy = tls_plan::policy_for(&runner.config, domain);
    let wants_dane = policy_applies && policy.uses_dane();
    // DNSSEC matters for DANE, and for REQUIRETLS, whose MX lookup must be validated
    // (RFC 8689 §4.2.1).
    let dnssec = match &runner.dane {
        Some(d) if wants_dane || env.require_tls => d.available().await,
        _ => false,
    };
    let dane = dnssec && wants_dane;
    if policy == TlsPolicy::DaneOnly && policy_applies && !dane {
        return all(
            RcptOutcome::deferred(
                "none",
                "4.7.5",
                &format!("DNSSEC validation is not working: no delivery to {domain} (tls_policy dane-only)"),
            ),
            true,
        );
    }

    let hosts: Vec<String> = if target.mx {
        match runner.resolver.mx(&target.host).await {
            MxAnswer::Hosts(h) => h,
            MxAnswer::NullMx => {
                return all(
                    RcptOutcome::bounced(
                        "none",
                        "5.1.10",
                        &format!("domain {} accepts no mail (null MX)", target.host),
                    ),
                    false,
                )
            }
            MxAnswer::NoSuchDomain => {
                return all(
                    RcptOutcome::bounced(
                        "none",
                        "5.1.2",
                        &format!("Host or domain name not found: {}", target.host),
                    ),
                    false,
                )
            }
            MxAnswer::TempFail(e) => {
                return all(
                    RcptOutcome::deferred(
                        "none",
                        "4.4.3",
                        &format!("MX lookup for {} failed: {e}", target.host),
                    ),
                    false,
                )
            }
        }
    } else {
        vec![target.host.clone()]
    };
    let mx_secure = match (&runner.dane, dnssec && target.mx) {
        (Some(d), true) => match d.mx_security(&target.host).await {
            // RFC 7672 §2.2.1: MX records that fail validation may lead anywhere; wait.
            MxSecurity::Failed(e) => {
                crate::dane::count("lookup-failed");
                return all(
                    RcptOutcome::deferred(
                        "none",
                        "4.7.5",
                        &format!(
                            "MX records of {} do not validate (DNSSEC): {e}",
                            target.host
                        ),
                    ),
                    false,
                );
            }
            MxSecurity::Secure => true,
            MxSecurity::Insecure => false,
        },
        _ => false,
    };
    if dane && !mx_secure && target.mx && policy == TlsPolicy::DaneOnly {
        crate::dane::count("required-missing");
        return all(
            RcptOutcome::deferred(
                "none",
                "4.7.5",
                &format!(
                    "MX records of {} are not DNSSEC-signed (tls_policy dane-only)",
                    target.host
                ),
            ),
            false,
        );
    }
    // MTA-STS covers a domain's own MX hosts, not a relay chosen by a static route; like
    // every TLS policy it is waived by `TLS-Required: No` (RFC 8689 §5).
    let sts = match (&runner.mta_sts, route) {
        (Some(m), None) if policy_applies => m.policy_for(&runner.resolver, domain).await,
        _ => None,
    };
    let enforce = sts.as_ref().is_some_and(|p| p.policy.mode == Mode::Enforce);
    let testing = sts.as_ref().is_some_and(|p| p.policy.mode == Mode::Testing);
    // TLS-RPT, like MTA-STS, concerns the domain's own MX hosts.
    let rpt = route
        .is_none()
        .then(|| hook::for_message(runner, env))
        .flatten();
    let hosts = match &sts {
        Some(p) => mta_sts::enforce::screen_hosts(domain, p, hosts, |h| {
            hook::mx_mismatch(rpt, domain, p, h)
        }),
        None => hosts,
    };
    let hosts = if env.require_tls && target.mx && !mx_secure {
        match requiretls::validated_hosts(sts.as_ref(), hosts) {
            Ok(h) => h,
            Err(why) => return all(requiretls::refused(&why(&target.host)), false),
        }
    } else {
        hosts
    };
    let plan = DomainTls {
        policy,
        policy_applies,
        require_verified: if env.require_tls {
            Some("requiretls")
        } else if policy_applies && policy_requires_tls {
            Some("require_tls")
        } else if enforce {
            Some("mta-sts")
        } else {
            None
        },
        dane,
        sts_testing: testing,
    };

    let mut last_error = String::from("no usable mail exchanger");
    // REQUIRETLS bounces only when every host tried refused for want of TLS, not when some
    // could not be reached and might still qualify.
    let mut tls_refusal: Option<String> = None;
    let mut other_failure = false;
    let mut any_address = false;
    let mut permanent_no_address = true;
    for host in hosts.iter().take(MAX_HOSTS) {
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
        let host_tls = match tls_plan::for_host(runner, &plan, domain, host, port).await {
            Ok(t) => t,
            Err(skip) => {
                tracing::info!(id = %env.id, %host, reason = %skip.reason, "mail exchanger not used");
                last_error = skip.reason;
                other_failure = true;
                continue;
            }
        };
        for ip in addrs.into_iter().take(MAX_ADDRS_PER_HOST) {
            let relay = format!("{host}[{ip}]:{port}");
            let mut tls = host_tls.clone();
            // A failed opportunistic handshake is retried in plaintext (after the unverified
            // handshake, when probing an MTA-STS testing policy).
            for _ in 0..3 {
                match try_host(
                    runner,
                    host,
                    ip,
                    port,
                    &relay,
                    &tls,
                    auth.as_ref(),
                    env.require_tls,
                    env,
                    rcpts,
                    data_path,
                )
                .await
                {
                    Ok((outcomes, encrypted)) => {
                        if let (true, false, Some(p)) = (tls.probing, encrypted, &sts) {
                            // A `testing` policy learns of a missing STARTTLS only here.
                            let reason = format!("{relay} does not offer STARTTLS");
                            mta_sts::enforce::report(domain, p, host, FailureKind::Tls, &reason);
                            let kind = RefusalKind::NoStarttls;
                            let failure = hook::Failure {
                                host,
                                ip,
                                kind,
                                reason: &reason,
                            };
                            hook::refusal(rpt, domain, Some(p), None, failure);
                        }
                        // Not after a failed `testing` probe: that session was reported.
                        if encrypted && (tls.probing || !testing) {
                            hook::success(rpt, domain, sts.as_ref(), tls.dane.as_deref());
                        }
                        return DomainResult {
                            outcomes,
                            unreachable: false,
                        };
                    }
                    Err(SessionResult::TlsRefused(TlsRefusal { kind, reason })) => {
                        let reason = match (&tls.dane, kind) {
                            (Some(d), RefusalKind::Handshake) if d.rejected() => {
                                crate::dane::count("mismatch");
                                format!("DANE: the certificate of {host} matches none of its TLSA records: {reason}")
                            }
                            (Some(_), _) => format!("DANE: {reason}"),
                            (None, _) => reason,
                        };
                        tracing::info!(%relay, %reason, "TLS requirement not met");
                        if let Some(p) = sts.as_ref().filter(|_| enforce && tls.dane.is_none()) {
                            mta_sts::enforce::report(domain, p, host, FailureKind::Tls, &reason);
                        }
                        let sts_enforced = sts.as_ref().filter(|_| enforce);
                        let failure = hook::Failure {
                            host,
                            ip,
                            kind,
                            reason: &reason,
                        };
                        hook::refusal(rpt, domain, sts_enforced, tls.dane.as_deref(), failure);
                        last_error = reason.clone();
                        tls_refusal = Some(reason);
                        break;
                    }
                    Err(SessionResult::NextHost { reason, tls_failed }) => {
                        if tls_failed && tls.probing {
                            if let Some(p) = &sts {
                                mta_sts::enforce::report(
                                    domain,
                                    p,
                                    host,
                                    FailureKind::Tls,
                                    &reason,
                                );
                                let failure = hook::Failure {
                                    host,
                                    ip,
                                    kind: RefusalKind::Handshake,
                                    reason: &reason,
                                };
                                hook::refusal(rpt, domain, Some(p), None, failure);
                            }
                            last_error = reason;
                            tls = tls_plan::fallback(&runner.tls, &plan);
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
        && hosts.len() == 1
        && hosts.first() == Some(&target.host)
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
    if let Some(p) = sts.as_ref().filter(|_| enforce) {
        last_error = format!(
            "MTA-STS policy {} of {domain} (enforce): {last_error}",
            p.id
        );
    }
    all(RcptOutcome::deferred("none", "4.4.1", &last_error), true)
}

/// One session with one address of `host`: the outcomes and whether the session was
/// encrypted, or why it did not run.
#[allow(clippy::too_many_arguments)]
async fn try_host(
    runner: &Runner,
    host: &str,
    ip: IpAddr,
    port: u16,
    relay: &str,
    tls: &HostTls,
    auth: Option<&(String, String)>,
    requiretls: bool,
    env: &Envelope,
    rcpts: &[&Recipient],
    data_path: &Path,
) -> Result<(Vec<RcptOutcome>, bool), SessionResult> {
    let q = &runner.config.queue;
    let addr = SocketAddr::new(ip, port);
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
        server_name: host,
        relay,
        timeouts: runner.timeouts(),
        tls: tls.tls.clone(),
        auth,
        auth_plaintext_ok: ip.is_loopback(),
        requiretls,
    };
    let result = session::run(&mut wire, &params, env, rcpts, data_path).await;
    let described = tls.describe(wire.tls_description().as_deref());
    let with_tls = |mut outcomes: Vec<RcptOutcome>| {
        for o in &mut outcomes {
            o.tls = Some(described.clone());
        }
        outcomes
    };
    match result {
        SessionResult::Done(o) => {
            if tls.dane.is_some() {
                crate::dane::count("verified");
            }
            Ok((with_tls(o), wire.is_tls()))
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
