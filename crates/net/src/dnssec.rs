//! DNSSEC-validated lookups, for what must not be believed on an unsigned answer: DANE TLSA
//! records (RFC 7672) and the MX records that lead to them.
//!
//! The resolver is [`crate::dns`]'s, with hickory's validator on top: it checks every answer
//! from the trust anchors down itself and does not rely on the servers' AD bit, so any
//! recursive resolver that passes DNSSEC records through will do. [`lookup`] turns hickory's
//! results into the four cases a caller acts on: records or no records, each proven secure
//! or insecure (an unsigned zone), a bogus answer (validation failed: an attack or a broken
//! zone), or no answer at all.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::RData;
pub use hickory_resolver::proto::rr::RecordType;

use crate::dns::{Lookup, Options, ResolveError, TokioResolver};
use crate::tlsa::Tlsa;

/// A resolver like [`resolver`] that validates every answer with DNSSEC (RFC 4035) itself,
/// from `anchors` down, whatever the servers say: each record carries its proof (secure,
/// insecure), a bogus answer is an error. It does not trust the AD bit of the servers, so a
/// plain recursive resolver that passes signatures through is enough.
pub fn validating_resolver(
    servers: &[SocketAddr],
    options: &Options,
    anchors: Arc<TrustAnchors>,
) -> Result<TokioResolver, ResolveError> {
    crate::dns::build(servers, options, Some(anchors))
}

/// DNSSEC trust anchors: the DNSKEY records in `path` (zone-file syntax, as unbound's
/// `root.key`; keys for the root or for any other zone), or the IANA root keys built into
/// hickory when `path` is `None`.
pub fn trust_anchors(path: Option<&Path>) -> Result<Arc<TrustAnchors>, String> {
    match path {
        None => Ok(Arc::new(TrustAnchors::default())),
        Some(p) => {
            let anchors =
                TrustAnchors::from_file(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Arc::new(anchors))
        }
    }
}

/// Whether DNSSEC proved an answer (or the absence of one) authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proven {
    Secure,
    /// The name lies in a zone proven unsigned: authentic as far as DNSSEC can tell, which
    /// is not at all.
    Insecure,
}

/// What a validated lookup concluded.
#[derive(Debug)]
pub enum Validated {
    Records(Lookup, Proven),
    /// NXDOMAIN or no records of the type.
    NoRecords(Proven),
    /// Validation failed: signatures missing or wrong where the chain says they must be.
    Bogus(String),
    /// No usable answer (timeout, SERVFAIL, refused).
    Failed(String),
}

/// Asks `resolver` (from [`validating_resolver`]) for `name`'s records of `rtype`.
pub async fn lookup(resolver: &TokioResolver, name: &str, rtype: RecordType) -> Validated {
    match resolver.lookup(name, rtype).await {
        Ok(l) => {
            let answers: Vec<_> = l
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .collect();
            if answers.is_empty() {
                return Validated::NoRecords(Proven::Insecure);
            }
            let proven = if answers.iter().all(|r| r.proof == Proof::Secure) {
                Proven::Secure
            } else if answers.iter().any(|r| r.proof == Proof::Bogus) {
                return Validated::Bogus(format!("{name} {rtype}: bogus records"));
            } else {
                Proven::Insecure
            };
            Validated::Records(l, proven)
        }
        Err(e) => classify_error(name, rtype, e),
    }
}

fn classify_error(name: &str, rtype: RecordType, e: NetError) -> Validated {
    match &e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => {
            let secure = nr.soa.as_ref().is_some_and(|s| s.proof == Proof::Secure)
                || nr
                    .authorities
                    .as_ref()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|r| r.proof == Proof::Secure));
            Validated::NoRecords(if secure {
                Proven::Secure
            } else {
                Proven::Insecure
            })
        }
        NetError::Dns(DnsError::Nsec { proof, .. }) => match proof {
            Proof::Secure => Validated::NoRecords(Proven::Secure),
            Proof::Insecure => Validated::NoRecords(Proven::Insecure),
            _ => Validated::Bogus(format!("{name} {rtype}: {e}")),
        },
        NetError::Dns(DnsError::DnssecBogus) => {
            Validated::Bogus(format!("{name} {rtype}: DNSSEC validation failed"))
        }
        _ => Validated::Failed(format!("{name} {rtype}: {e}")),
    }
}

/// The TLSA records of a lookup, at most `max`.
pub fn tlsa_records(lookup: &Lookup, max: usize) -> Vec<Tlsa> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(t) => Some(Tlsa {
                usage: u8::from(t.cert_usage),
                selector: u8::from(t.selector),
                matching: u8::from(t.matching),
                data: t.cert_data.clone(),
            }),
            _ => None,
        })
        .take(max)
        .collect()
}
