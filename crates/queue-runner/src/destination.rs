//! Everything decided about a delivery to another domain before the first connection: the
//! next hop (static route or MX lookup), its credentials, whether DNSSEC vouches for the MX
//! records, the domain's MTA-STS policy, and so which hosts may be tried under which TLS
//! policy ([`crate::tls_plan`]). A destination that cannot be tried at all ends here with
//! the outcome every recipient gets.

use std::path::Path;

use ferrymail_config::{Route, TlsPolicy};
use ferrymail_spool::Envelope;

use crate::dane::lookup::MxSecurity;
use crate::dns::MxAnswer;
use crate::mta_sts::{self, cache::Cached, Mode};
use crate::outcome::RcptOutcome;
use crate::remote::{parse_relay, read_auth_file, route_for, Relay};
use crate::requiretls;
use crate::runner::Runner;
use crate::tls_plan::{self, DomainTls};
use crate::tls_rpt::{hook, store::Recorder};

/// A destination ready to be tried.
pub struct Destination<'a> {
    /// The route's relay, or the domain itself for an MX lookup.
    pub target: Relay,
    pub port: u16,
    pub route: Option<&'a Route>,
    pub auth: Option<(String, String)>,
    /// Hosts to try, in order.
    pub hosts: Vec<String>,
    pub plan: DomainTls,
    /// The domain's MTA-STS policy (none for routes or when waived).
    pub sts: Option<Cached>,
    /// TLS-RPT recorder for this message and destination.
    pub rpt: Option<&'a Recorder>,
}

impl Destination<'_> {
    pub fn sts_enforced(&self) -> Option<&Cached> {
        self.sts.as_ref().filter(|p| p.policy.mode == Mode::Enforce)
    }
}

/// Why no host is tried: the outcome of every recipient, and whether the destination counts
/// as unreachable (for its back-off).
pub struct Stop {
    pub outcome: RcptOutcome,
    pub unreachable: bool,
}

fn stop(outcome: RcptOutcome) -> Stop {
    Stop {
        outcome,
        unreachable: false,
    }
}

fn dnssec_deferral(what: String) -> Stop {
    stop(RcptOutcome::deferred("none", "4.7.5", &what))
}

pub async fn resolve<'a>(
    runner: &'a Runner,
    domain: &str,
    env: &Envelope,
    data_path: &Path,
) -> Result<Destination<'a>, Stop> {
    let q = &runner.config.queue;
    let route = route_for(&q.routes, domain);
    let (target, port) = match route {
        Some(r) => match parse_relay(&r.relay) {
            Some(rel) => {
                let port = rel.port.unwrap_or(q.smtp_port);
                (rel, port)
            }
            None => {
                let why = format!("bad relay `{}` in queue.routes", r.relay);
                return Err(stop(RcptOutcome::deferred("none", "4.3.5", &why)));
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
                let why = format!("relay credentials: {e}");
                return Err(stop(RcptOutcome::deferred("none", "4.3.5", &why)));
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
    if !policy_applies {
        tracing::info!(id = %env.id, domain, "TLS-Required: No: TLS policies waived for this message");
    }
    let policy_requires_tls = route.is_some_and(|r| r.require_tls)
        || q.require_tls_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain));
    let policy = tls_plan::policy_for(&runner.config, domain);
    let wants_dane = policy_applies && policy.uses_dane();
    // DNSSEC matters for DANE, and for REQUIRETLS, whose MX lookup must be validated
    // (RFC 8689 §4.2.1).
    let dnssec = match &runner.dane {
        Some(d) if wants_dane || env.require_tls => d.available().await,
        _ => false,
    };
    let dane = dnssec && wants_dane;
    // TLS-RPT, like MTA-STS, concerns the domain's own MX hosts.
    let rpt = route
        .is_none()
        .then(|| hook::for_message(runner, env))
        .flatten();
    if policy == TlsPolicy::DaneOnly && policy_applies && !dane {
        let mut s = dnssec_deferral(format!(
            "DNSSEC validation is not working: no delivery to {domain} (tls_policy dane-only)"
        ));
        s.unreachable = true;
        return Err(s);
    }

    let hosts = if target.mx {
        next_hops(runner, &target.host).await?
    } else {
        vec![target.host.clone()]
    };
    let mx_secure = match (&runner.dane, dnssec && target.mx) {
        (Some(d), true) => match d.mx_security(&target.host).await {
            // RFC 7672 §2.2.1: MX records that fail validation may lead anywhere; wait.
            MxSecurity::Failed(e) => {
                crate::dane::count("lookup-failed");
                let why = format!(
                    "MX records of {} do not validate (DNSSEC): {e}",
                    target.host
                );
                hook::dane_failure(rpt, domain, None, hook::DaneFailure::Dnssec, &why);
                return Err(dnssec_deferral(why));
            }
            MxSecurity::Secure => true,
            MxSecurity::Insecure => false,
        },
        _ => false,
    };
    if dane && !mx_secure && target.mx && policy == TlsPolicy::DaneOnly {
        crate::dane::count("required-missing");
        let why = format!(
            "MX records of {} are not DNSSEC-signed (tls_policy dane-only)",
            target.host
        );
        hook::dane_failure(rpt, domain, None, hook::DaneFailure::Required, &why);
        return Err(dnssec_deferral(why));
    }
    // MTA-STS covers a domain's own MX hosts, not a relay chosen by a static route; like
    // every TLS policy it is waived by `TLS-Required: No` (RFC 8689 §5).
    let sts = match (&runner.mta_sts, route) {
        (Some(m), None) if policy_applies => m.policy_for(&runner.resolver, domain).await,
        _ => None,
    };
    let enforce = sts.as_ref().is_some_and(|p| p.policy.mode == Mode::Enforce);
    let hosts = match &sts {
        Some(p) => mta_sts::enforce::screen_hosts(domain, p, hosts, |h| {
            hook::mx_mismatch(rpt, domain, p, h)
        }),
        None => hosts,
    };
    let hosts = if env.require_tls && target.mx && !mx_secure {
        match requiretls::validated_hosts(sts.as_ref(), hosts) {
            Ok(h) => h,
            Err(why) => return Err(stop(requiretls::refused(&why(&target.host)))),
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
        sts_testing: sts.as_ref().is_some_and(|p| p.policy.mode == Mode::Testing),
    };
    Ok(Destination {
        target,
        port,
        route,
        auth,
        hosts,
        plan,
        sts,
        rpt,
    })
}

/// The MX hosts of `domain`, or why there are none to try.
async fn next_hops(runner: &Runner, domain: &str) -> Result<Vec<String>, Stop> {
    match runner.resolver.mx(domain).await {
        MxAnswer::Hosts(h) => Ok(h),
        MxAnswer::NullMx => Err(stop(RcptOutcome::bounced(
            "none",
            "5.1.10",
            &format!("domain {domain} accepts no mail (null MX)"),
        ))),
        MxAnswer::NoSuchDomain => Err(stop(RcptOutcome::bounced(
            "none",
            "5.1.2",
            &format!("Host or domain name not found: {domain}"),
        ))),
        MxAnswer::TempFail(e) => Err(stop(RcptOutcome::deferred(
            "none",
            "4.4.3",
            &format!("MX lookup for {domain} failed: {e}"),
        ))),
    }
}
