//! Where a session's TLS outcome is reported: the MTA-STS failure log line and counter
//! (`mta_sts::enforce::report`), the DANE counters, and the TLS-RPT record (`tls_rpt::hook`),
//! each from the one place in delivery that knows what happened.

use std::net::IpAddr;

use crate::destination::Destination;
use crate::mta_sts::enforce::{self, FailureKind};
use crate::session::RefusalKind;
use crate::tls_plan::HostTls;
use crate::tls_rpt::hook;

/// The host and address a session went to.
pub struct At<'a> {
    pub domain: &'a str,
    pub host: &'a str,
    pub ip: IpAddr,
    pub relay: &'a str,
}

/// A session delivered; `encrypted` says whether it ran inside TLS.
pub fn delivered(d: &Destination<'_>, at: &At<'_>, tls: &HostTls, encrypted: bool) {
    if tls.dane.is_some() {
        crate::dane::count("verified");
    }
    let probing_sts = d.sts.as_ref().filter(|_| tls.probing);
    if let (Some(p), false) = (probing_sts, encrypted) {
        // A `testing` policy learns of a missing STARTTLS only here.
        let reason = format!("{} does not offer STARTTLS", at.relay);
        enforce::report(at.domain, p, at.host, FailureKind::Tls, &reason);
        let failure = failure(at, RefusalKind::NoStarttls, &reason);
        hook::refusal(d.rpt, at.domain, Some(p), None, failure);
    }
    // Not after a failed `testing` probe: that session was reported as a failure.
    if encrypted && (tls.probing || !d.plan.sts_testing) {
        hook::success(d.rpt, at.domain, d.sts.as_ref(), tls.dane.as_deref());
    }
}

/// A session refused for its TLS: reports it and returns the reason as the log and the
/// deferral say it.
pub fn refused(
    d: &Destination<'_>,
    at: &At<'_>,
    tls: &HostTls,
    kind: RefusalKind,
    reason: String,
) -> String {
    let reason = match (&tls.dane, kind) {
        (Some(v), RefusalKind::Handshake) if v.rejected() => {
            crate::dane::count("mismatch");
            format!(
                "DANE: the certificate of {} matches none of its TLSA records: {reason}",
                at.host
            )
        }
        (Some(_), _) => format!("DANE: {reason}"),
        (None, _) => reason,
    };
    tracing::info!(relay = %at.relay, %reason, "TLS requirement not met");
    let enforced = d.sts_enforced();
    if let (Some(p), None) = (enforced, &tls.dane) {
        enforce::report(at.domain, p, at.host, FailureKind::Tls, &reason);
    }
    let f = failure(at, kind, &reason);
    hook::refusal(d.rpt, at.domain, enforced, tls.dane.as_deref(), f);
    reason
}

/// The certificate check of a `testing` policy failed (the mail then goes without it).
pub fn probe_failed(d: &Destination<'_>, at: &At<'_>, reason: &str) {
    if let Some(p) = &d.sts {
        enforce::report(at.domain, p, at.host, FailureKind::Tls, reason);
        let f = failure(at, RefusalKind::Handshake, reason);
        hook::refusal(d.rpt, at.domain, Some(p), None, f);
    }
}

fn failure<'a>(at: &At<'a>, kind: RefusalKind, reason: &'a str) -> hook::Failure<'a> {
    hook::Failure {
        host: at.host,
        ip: at.ip,
        kind,
        reason,
    }
}
