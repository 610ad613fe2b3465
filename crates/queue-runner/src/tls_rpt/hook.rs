//! What delivery calls: one line at each point where a session's TLS outcome is known
//! (delivered over TLS, TLS refused under a policy, MX not in the policy), translated here
//! into recorded results.

use std::net::IpAddr;
use std::sync::Arc;

use ferrymail_spool::{unix_now, Envelope};

use super::model::{FailureDetail, Outcome, PolicyDesc, ResultType};
use super::store::Recorder;
use crate::mta_sts::cache::Cached;
use crate::runner::Runner;

/// The recorder as configured: none when `queue.tls_rpt.enabled` is off or its directory
/// cannot be made (logged; delivery goes on without reporting).
pub fn open(config: &ferrymail_config::Config) -> Option<Arc<Recorder>> {
    let c = &config.queue.tls_rpt;
    if !c.enabled {
        return None;
    }
    match Recorder::open(&config.paths.state_dir, c.max_results_per_day, c.keep_days) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            tracing::error!(error = %e, "cannot open the TLS report store; not reporting");
            None
        }
    }
}

/// The recorder for the deliveries of `env`: none for a TLS report itself, so reports
/// never count (and never trigger) reports of their own delivery.
pub fn for_message<'a>(runner: &'a Runner, env: &Envelope) -> Option<&'a Recorder> {
    let rpt = runner.tls_rpt.as_deref()?;
    let sender = runner.config.queue.tls_rpt.sender(&runner.hostname);
    match env.sender.as_deref() {
        Some(s) if s.eq_ignore_ascii_case(&sender) => None,
        _ => Some(rpt),
    }
}

fn policy(sts: Option<&Cached>) -> PolicyDesc {
    sts.map_or_else(PolicyDesc::none, |c| PolicyDesc::sts(&c.policy))
}

/// A session that delivered over TLS.
pub fn success(rpt: Option<&Recorder>, domain: &str, sts: Option<&Cached>) {
    if let Some(r) = rpt {
        r.record(domain, &policy(sts), Outcome::Success, unix_now());
    }
}

/// A session to `host` at `ip` that failed TLS under `sts` (`reason` as the session put it).
pub fn tls_failure(
    rpt: Option<&Recorder>,
    domain: &str,
    sts: Option<&Cached>,
    host: &str,
    ip: IpAddr,
    reason: &str,
) {
    if let Some(r) = rpt {
        let detail = FailureDetail {
            result_type: ResultType::of_tls_failure(reason),
            sending_ip: source_address(ip),
            receiving_mx: Some(host.to_owned()),
            receiving_ip: Some(ip),
            reason: Some(reason.to_owned()),
        };
        r.record(domain, &policy(sts), Outcome::Failure(detail), unix_now());
    }
}

/// The local address the system routes from towards `ip` (`sending-mta-ip`): a connected
/// UDP socket sends nothing but is given the address a TCP connection would use.
fn source_address(ip: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = match ip {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = std::net::UdpSocket::bind((any, 0)).ok()?;
    s.connect((ip, 25)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// Each of `hosts` that `sts` does not list: a validation failure (RFC 8460 §4.3.2.1).
pub fn mx_mismatches(rpt: Option<&Recorder>, domain: &str, sts: &Cached, hosts: &[String]) {
    let Some(r) = rpt else {
        return;
    };
    for h in hosts.iter().filter(|h| !sts.policy.allows_mx(h)) {
        let detail = FailureDetail {
            result_type: ResultType::ValidationFailure,
            sending_ip: None,
            receiving_mx: Some(h.clone()),
            receiving_ip: None,
            reason: Some("MX host not listed in the MTA-STS policy".into()),
        };
        r.record(
            domain,
            &policy(Some(sts)),
            Outcome::Failure(detail),
            unix_now(),
        );
    }
}

/// A failed policy fetch for `domain`.
pub fn fetch_failure(rpt: Option<&Recorder>, domain: &str, result_type: ResultType, reason: &str) {
    if let Some(r) = rpt {
        let detail = FailureDetail {
            result_type,
            sending_ip: None,
            receiving_mx: None,
            receiving_ip: None,
            reason: Some(reason.to_owned()),
        };
        let policy = PolicyDesc {
            kind: super::PolicyKind::Sts,
            strings: Vec::new(),
            mx_hosts: Vec::new(),
        };
        r.record(domain, &policy, Outcome::Failure(detail), unix_now());
    }
}
