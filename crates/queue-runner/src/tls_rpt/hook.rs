//! What delivery calls: one line at each point where a session's TLS outcome is known
//! (delivered over TLS, TLS refused under DANE or an MTA-STS policy, MX not in the policy),
//! translated here into recorded results.

use std::net::IpAddr;
use std::sync::Arc;

use ferrymail_spool::{unix_now, Envelope};

use super::model::{FailureDetail, Outcome, PolicyDesc, ResultType};
use super::store::Recorder;
use crate::dane::verify::DaneVerifier;
use crate::mta_sts::cache::Cached;
use crate::runner::Runner;
use crate::session::RefusalKind;

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

/// The policy a session was held to: DANE where the host has usable TLSA records (it takes
/// precedence over MTA-STS, RFC 8461 §2), else the domain's MTA-STS policy, else none.
fn policy(sts: Option<&Cached>, dane: Option<&DaneVerifier>) -> PolicyDesc {
    match (dane, sts) {
        (Some(d), _) => PolicyDesc::tlsa(d.records().iter().map(|t| t.to_string()).collect()),
        (None, Some(c)) => PolicyDesc::sts(&c.policy),
        (None, None) => PolicyDesc::none(),
    }
}

/// A session that delivered over TLS.
pub fn success(
    rpt: Option<&Recorder>,
    domain: &str,
    sts: Option<&Cached>,
    dane: Option<&DaneVerifier>,
) {
    if let Some(r) = rpt {
        r.record(domain, &policy(sts, dane), Outcome::Success, unix_now());
    }
}

/// A session refused for its TLS, as the session put it.
pub struct Failure<'a> {
    pub host: &'a str,
    pub ip: IpAddr,
    pub kind: RefusalKind,
    pub reason: &'a str,
}

/// A session that did not meet the host's DANE records or the domain's MTA-STS policy
/// (`sts`, when it was to be met); refusals under neither (REQUIRETLS, `require_tls`) and
/// a missing REQUIRETLS are no TLS-RPT failures.
pub fn refusal(
    rpt: Option<&Recorder>,
    domain: &str,
    sts: Option<&Cached>,
    dane: Option<&DaneVerifier>,
    f: Failure<'_>,
) {
    let Some(r) = rpt else {
        return;
    };
    if dane.is_none() && sts.is_none() {
        return;
    }
    let result_type = match f.kind {
        RefusalKind::NoRequireTls => return,
        RefusalKind::NoStarttls => ResultType::StarttlsNotSupported,
        RefusalKind::Handshake if dane.is_some_and(|d| d.rejected()) => ResultType::TlsaInvalid,
        RefusalKind::Handshake => ResultType::of_tls_failure(f.reason),
    };
    let detail = FailureDetail {
        result_type,
        sending_ip: source_address(f.ip),
        receiving_mx: Some(f.host.to_owned()),
        receiving_ip: Some(f.ip),
        reason: Some(f.reason.to_owned()),
    };
    r.record(
        domain,
        &policy(sts, dane),
        Outcome::Failure(detail),
        unix_now(),
    );
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

/// An MX host `sts` does not list: a validation failure (RFC 8460 §4.3.2.1).
pub fn mx_mismatch(rpt: Option<&Recorder>, domain: &str, sts: &Cached, host: &str) {
    if let Some(r) = rpt {
        let detail = FailureDetail {
            result_type: ResultType::ValidationFailure,
            sending_ip: None,
            receiving_mx: Some(host.to_owned()),
            receiving_ip: None,
            reason: Some("MX host not listed in the MTA-STS policy".into()),
        };
        let policy = policy(Some(sts), None);
        r.record(domain, &policy, Outcome::Failure(detail), unix_now());
    }
}

/// Why DANE stopped a delivery before any session (RFC 8460 result types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaneFailure {
    /// MX or TLSA records failed DNSSEC validation, or could not be had.
    Dnssec,
    /// Validated TLSA records, none usable, where usable ones were required.
    Tlsa,
    /// `dane-only` and no validated TLSA records.
    Required,
}

/// DANE kept mail from `domain` (from `host`, when one was chosen) before a session.
pub fn dane_failure(
    rpt: Option<&Recorder>,
    domain: &str,
    host: Option<&str>,
    kind: DaneFailure,
    reason: &str,
) {
    if let Some(r) = rpt {
        let detail = FailureDetail {
            result_type: match kind {
                DaneFailure::Dnssec => ResultType::DnssecInvalid,
                DaneFailure::Tlsa => ResultType::TlsaInvalid,
                DaneFailure::Required => ResultType::DaneRequired,
            },
            sending_ip: None,
            receiving_mx: host.map(str::to_owned),
            receiving_ip: None,
            reason: Some(reason.to_owned()),
        };
        let policy = PolicyDesc {
            kind: super::PolicyKind::Tlsa,
            strings: Vec::new(),
            mx_hosts: Vec::new(),
        };
        r.record(domain, &policy, Outcome::Failure(detail), unix_now());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::Mode;
    use crate::tls_rpt::day::Day;
    use crate::tls_rpt::PolicyKind;
    use ferrymail_net::tlsa::Tlsa;

    fn sts() -> Cached {
        Cached::for_test(Mode::Enforce, "mx.a.test")
    }

    fn dane() -> DaneVerifier {
        let record = Tlsa::parse("3 1 1 0123456789abcdef").unwrap();
        DaneVerifier::new(
            vec![record],
            vec!["mx.a.test".into()],
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
    }

    fn failure(kind: RefusalKind, reason: &str) -> Failure<'_> {
        Failure {
            host: "mx.a.test",
            ip: "127.0.0.1".parse().unwrap(),
            kind,
            reason,
        }
    }

    #[test]
    fn refusals_are_recorded_under_the_policy_that_applied() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::open(dir.path(), 100, 3).unwrap();
        let (sts, dane) = (sts(), dane());
        let untrusted = "TLS handshake failed: invalid peer certificate: UnknownIssuer";
        refusal(
            Some(&r),
            "a.test",
            Some(&sts),
            None,
            failure(RefusalKind::Handshake, untrusted),
        );
        refusal(
            Some(&r),
            "a.test",
            Some(&sts),
            Some(&dane),
            failure(RefusalKind::NoStarttls, "no"),
        );
        // Neither DANE nor MTA-STS, or a missing REQUIRETLS: nothing for TLS-RPT.
        refusal(
            Some(&r),
            "a.test",
            None,
            None,
            failure(RefusalKind::NoStarttls, "no"),
        );
        refusal(
            Some(&r),
            "a.test",
            Some(&sts),
            None,
            failure(RefusalKind::NoRequireTls, "no"),
        );
        success(Some(&r), "a.test", None, Some(&dane));
        success(Some(&r), "a.test", None, None);
        let got = r.read(Day::of(unix_now())).unwrap();
        let kinds: Vec<_> = got
            .iter()
            .map(|e| {
                let rt = e.detail.as_ref().map(|d| d.result_type);
                (e.policy.kind, rt)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (PolicyKind::Sts, Some(ResultType::CertificateNotTrusted)),
                (PolicyKind::Tlsa, Some(ResultType::StarttlsNotSupported)),
                (PolicyKind::Tlsa, None),
                (PolicyKind::NoPolicyFound, None),
            ]
        );
        assert_eq!(got[1].policy.strings, ["3 1 1 0123456789abcdef"]);
        let d = got[0].detail.as_ref().unwrap();
        assert_eq!(d.receiving_mx.as_deref(), Some("mx.a.test"));
        // The loopback route's source address.
        assert_eq!(d.sending_ip, Some("127.0.0.1".parse().unwrap()));
    }
}
