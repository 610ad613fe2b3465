//! The DNSSEC side of DANE: TLSA records of an MX host and whether the MX records themselves
//! are authentic, through `ferrymail_net::dnssec`.
//!
//! Validation needs a resolver that passes signatures through. Where it cannot work (a
//! resolver that strips them, a network without the root), every signed answer would look
//! bogus and every delivery to a signed domain would stall; so [`Dane::available`] first
//! checks that the root's own records validate, and when they do not, DANE is off (logged,
//! counted) and `dane` behaves as `may` — what Postfix does on a resolver that does not
//! validate. The check is repeated, so DANE comes back when DNS does.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrymail_net::dns::{Options, TokioResolver};
use ferrymail_net::dnssec::{self, Proven, RecordType, Validated};
use ferrymail_net::tlsa::Tlsa;

/// How long a working validation is believed before it is checked again.
const PROBE_OK_FOR: Duration = Duration::from_secs(600);
/// How long after a failed check the next one is made.
const PROBE_FAILED_FOR: Duration = Duration::from_secs(60);
/// Most TLSA records considered for one host.
const MAX_TLSA: usize = 32;

/// What the TLSA lookup for one MX host concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaAnswer {
    /// Validated records, at least one usable: DANE applies.
    Usable(Vec<Tlsa>),
    /// Validated records, none usable for SMTP: TLS is still required, without
    /// authentication (RFC 7672 §2.2).
    Unusable,
    /// No validated records (none, or an unsigned zone): DANE does not apply.
    None,
    /// Bogus answer or no answer: the host must not be used now (RFC 7672 §2.2).
    Failed(String),
}

/// Whether a domain's MX records are authentic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxSecurity {
    Secure,
    Insecure,
    /// Bogus or unanswered: no delivery to the domain until this clears.
    Failed(String),
}

pub struct Dane {
    resolver: TokioResolver,
    /// Last validation check: when, and whether it worked.
    probe: Mutex<Option<(Instant, bool)>>,
}

impl Dane {
    /// `servers`: as `queue.dns_servers`; `anchors`: `queue.dnssec_trust_anchors`.
    pub fn new(servers: &[SocketAddr], anchors: Option<&Path>) -> Result<Dane, String> {
        let anchors = dnssec::trust_anchors(anchors)?;
        let options = Options {
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let resolver =
            dnssec::validating_resolver(servers, &options, anchors).map_err(|e| e.to_string())?;
        Ok(Dane {
            resolver,
            probe: Mutex::new(None),
        })
    }

    /// The validating resolver for `config`'s DNS servers and trust anchors. Built whatever
    /// the TLS policy: REQUIRETLS needs validated MX records too.
    pub fn from_config(config: &ferrymail_config::Config) -> Result<Option<Dane>, String> {
        let q = &config.queue;
        Dane::new(&q.dns_servers, q.dnssec_trust_anchors.as_deref()).map(Some)
    }

    /// Whether DNSSEC validation works here: the root's SOA must validate.
    pub async fn available(&self) -> bool {
        let now = Instant::now();
        let last = *self.probe.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ok)) = last {
            let valid_for = if ok { PROBE_OK_FOR } else { PROBE_FAILED_FOR };
            if now.duration_since(at) < valid_for {
                return ok;
            }
        }
        let result = dnssec::lookup(&self.resolver, ".", RecordType::SOA).await;
        let ok = matches!(result, Validated::Records(_, Proven::Secure));
        if !ok {
            tracing::warn!(
                answer = ?short(&result),
                "DNSSEC validation does not work with this resolver (the root's SOA does not \
                 validate): DANE is off until it does; the DNS server must pass DNSSEC records \
                 through (e.g. a local unbound)"
            );
        } else if last.is_some_and(|(_, was)| !was) {
            tracing::info!("DNSSEC validation works again: DANE is on");
        }
        super::set_available(ok);
        *self.probe.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, ok));
        ok
    }

    /// Whether `domain`'s MX records validate.
    pub async fn mx_security(&self, domain: &str) -> MxSecurity {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match dnssec::lookup(&self.resolver, &fqdn, RecordType::MX).await {
            Validated::Records(_, Proven::Secure) | Validated::NoRecords(Proven::Secure) => {
                MxSecurity::Secure
            }
            Validated::Records(_, Proven::Insecure) | Validated::NoRecords(Proven::Insecure) => {
                MxSecurity::Insecure
            }
            Validated::Bogus(e) | Validated::Failed(e) => MxSecurity::Failed(e),
        }
    }

    /// The TLSA records at `_<port>._tcp.<host>`.
    pub async fn tlsa(&self, host: &str, port: u16) -> TlsaAnswer {
        let name = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
        match dnssec::lookup(&self.resolver, &name, RecordType::TLSA).await {
            Validated::Records(l, Proven::Secure) => {
                let records = dnssec::tlsa_records(&l, MAX_TLSA);
                let usable: Vec<Tlsa> = records.into_iter().filter(Tlsa::usable_for_smtp).collect();
                if usable.is_empty() {
                    TlsaAnswer::Unusable
                } else {
                    TlsaAnswer::Usable(usable)
                }
            }
            Validated::Records(_, Proven::Insecure) | Validated::NoRecords(_) => TlsaAnswer::None,
            Validated::Bogus(e) | Validated::Failed(e) => TlsaAnswer::Failed(e),
        }
    }
}

fn short(v: &Validated) -> String {
    match v {
        Validated::Records(_, p) => format!("records, {p:?}"),
        Validated::NoRecords(p) => format!("no records, {p:?}"),
        Validated::Bogus(e) => format!("bogus: {e}"),
        Validated::Failed(e) => format!("failed: {e}"),
    }
}
