//! DANE for SMTP (RFC 7672): the TLSA records at `_25._tcp.<mx>`. For the MX hosts that are
//! this host, a usable record must match the certificate the daemons serve (`tls.cert`);
//! when none is published, the records to publish are computed from that certificate with
//! `ferrymail_net::tlsa`, the same code queue-runner matches other hosts' records with.
//!
//! TLSA only counts in a DNSSEC-signed zone. The answers are validated as queue-runner
//! validates them (`ferrymail_net::dnssec`, anchors from `queue.dnssec_trust_anchors`) when the
//! resolver allows it — the root's SOA must validate, as queue-runner checks before using
//! DANE; otherwise they are read unvalidated and the findings say that DNSSEC was not
//! verified rather than imply it.

use std::net::SocketAddr;

use ferrymail_config::Config;
use ferrymail_net::dns::{Options, TokioResolver};
use ferrymail_net::dnssec::{self, Proven, RecordType, Validated};
use ferrymail_net::tlsa::{association, Tlsa, DANE_EE, DANE_TA, SHA2_256, SPKI};
use rustls_pki_types::CertificateDer;

use super::lookup::{Answer, Dns};
use super::transport::Transport;
use super::{ok, problem, Finding, Level, DNS_TIMEOUT};

/// Most TLSA records of one name acted on.
const MAX_TLSA: usize = 32;

/// What goes with published TLSA records, for operators who add them.
pub(super) const NOTES: [&str; 2] = [
    "TLSA records count only in a DNSSEC-signed zone",
    "key rollover: publish the next key's record next to the current one before switching \
     certificates; with Let's Encrypt keep the key on renewal (certbot --reuse-key)",
];

/// `_25._tcp.<mx>. IN TLSA 3 1 1 <leaf key digest>` and, when the chain holds an issuer,
/// `2 1 1 <issuer key digest>`.
pub(super) fn records_to_publish(mx: &str, chain: &[CertificateDer<'static>]) -> Vec<String> {
    let pairs = [(DANE_EE, chain.first()), (DANE_TA, chain.get(1))];
    pairs
        .into_iter()
        .filter_map(|(usage, cert)| {
            let data = association(cert?, SPKI, SHA2_256).ok()?;
            let tlsa = Tlsa {
                usage,
                selector: SPKI,
                matching: SHA2_256,
                data,
            };
            Some(format!("_25._tcp.{mx}. IN TLSA {tlsa}"))
        })
        .collect()
}

/// Whether `r` authenticates `chain` as RFC 7672 senders match it: DANE-EE against the leaf,
/// DANE-TA against a certificate the server sends above it.
fn matches_chain(r: &Tlsa, chain: &[CertificateDer<'static>]) -> bool {
    match r.usage {
        DANE_EE => chain.first().is_some_and(|c| r.matches(c)),
        DANE_TA => chain.iter().skip(1).any(|c| r.matches(c)),
        _ => false,
    }
}

/// The TLSA answer for one name, with what DNSSEC proved when validation was possible.
enum TlsaSet {
    Records(Vec<Tlsa>, Option<Proven>),
    None(Option<Proven>),
    Bogus(String),
    Failed(String),
}

/// The validating resolver, if DNSSEC validation works with these servers and anchors.
async fn validator(config: &Config, servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let anchors = dnssec::trust_anchors(config.queue.dnssec_trust_anchors.as_deref())?;
    let options = Options {
        timeout: DNS_TIMEOUT,
        ..Default::default()
    };
    let r = dnssec::validating_resolver(servers, &options, anchors).map_err(|e| e.to_string())?;
    match dnssec::lookup(&r, ".", RecordType::SOA).await {
        Validated::Records(_, Proven::Secure) => Ok(r),
        _ => Err("the root's SOA does not validate with this resolver".into()),
    }
}

async fn lookup(dns: &Dns, validator: Option<&TokioResolver>, name: &str) -> TlsaSet {
    let Some(r) = validator else {
        return match dns.tlsa(name, MAX_TLSA).await {
            Answer::Records(v) => TlsaSet::Records(v, None),
            Answer::None => TlsaSet::None(None),
            Answer::Failed(e) => TlsaSet::Failed(e),
        };
    };
    match dnssec::lookup(r, &format!("{name}."), RecordType::TLSA).await {
        Validated::Records(l, p) => TlsaSet::Records(dnssec::tlsa_records(&l, MAX_TLSA), Some(p)),
        Validated::NoRecords(p) => TlsaSet::None(Some(p)),
        Validated::Bogus(e) => TlsaSet::Bogus(e),
        Validated::Failed(e) => TlsaSet::Failed(e),
    }
}

/// What the findings say about DNSSEC.
fn dnssec_note(proven: Option<Proven>, unverified: &str) -> String {
    match proven {
        Some(Proven::Secure) => "DNSSEC-secure".into(),
        Some(Proven::Insecure) => "in a zone that is not DNSSEC-signed".into(),
        None => format!("DNSSEC not verified: {unverified}"),
    }
}

pub(super) async fn check(config: &Config, dns: &Dns, t: &Transport<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (validator, unverified) = match validator(config, t.servers).await {
        Ok(r) => (Some(r), String::new()),
        Err(e) => (None, e),
    };
    for mx in t.mx {
        let name = format!("_25._tcp.{mx}");
        let ours = t.ours.contains(mx);
        let publish = records_to_publish(mx, t.chain);
        let fix = if publish.is_empty() {
            "install a readable certificate at tls.cert first (see the tls findings)".to_owned()
        } else {
            format!("publish {}", publish.join(" and "))
        };
        match lookup(dns, validator.as_ref(), &name).await {
            TlsaSet::Bogus(e) => out.push(problem(
                Level::Error,
                "dane",
                format!("{name}: DNSSEC validation fails ({e})"),
                "senders that validate DNSSEC defer all mail to this MX host (RFC 7672 §2.2)",
                "fix the zone's signatures, or the DS record at the parent zone",
            )),
            TlsaSet::Failed(e) => out.push(problem(
                Level::Warning,
                "dane",
                format!("looking up {name} TLSA failed: {e}"),
                "senders that use DANE defer mail when the TLSA lookup fails (RFC 7672 §2.2)",
                "check that the zone's name servers answer TLSA questions",
            )),
            TlsaSet::None(proven) if ours => {
                let why = match proven {
                    Some(Proven::Insecure) => format!(
                        "with DANE, senders can authenticate your server without trusting any \
                         CA; {}, so sign it first (DNSSEC) and publish its DS record",
                        dnssec_note(proven, &unverified)
                    ),
                    _ => format!(
                        "with DANE, senders can authenticate your server without trusting any \
                         CA; {} ({})",
                        NOTES[0],
                        dnssec_note(proven, &unverified)
                    ),
                };
                out.push(problem(
                    Level::Notice,
                    "dane",
                    format!("{mx} publishes no TLSA records ({name})"),
                    why,
                    format!("{fix}; {}", NOTES[1]),
                ))
            }
            TlsaSet::None(_) => {}
            TlsaSet::Records(records, _) if !ours => out.push(ok(
                "dane",
                format!(
                    "{name}: {} TLSA record(s) (not this host: not matched)",
                    records.len()
                ),
            )),
            TlsaSet::Records(_, _) if t.chain.is_empty() => {}
            TlsaSet::Records(records, proven) => {
                out.push(check_ours(
                    &name,
                    &records,
                    t.chain,
                    &fix,
                    proven,
                    &unverified,
                ));
                if proven == Some(Proven::Insecure) {
                    out.push(problem(
                        Level::Warning,
                        "dane",
                        format!("{name}: the TLSA records are in a zone that is not DNSSEC-signed"),
                        "senders ignore TLSA records without DNSSEC, so DANE does not protect \
                         this MX",
                        "sign the zone (DNSSEC) and publish its DS record at the parent zone",
                    ));
                }
            }
        }
    }
    out
}

/// Our MX host's TLSA records against the certificate chain at `tls.cert`.
fn check_ours(
    name: &str,
    records: &[Tlsa],
    chain: &[CertificateDer<'static>],
    fix: &str,
    proven: Option<Proven>,
    unverified: &str,
) -> Finding {
    let usable: Vec<&Tlsa> = records.iter().filter(|r| r.usable_for_smtp()).collect();
    if usable.is_empty() {
        problem(
            Level::Warning,
            "dane",
            format!(
                "{name} has {} TLSA record(s), none usable for SMTP (usages 0/1 are PKIX, or \
                 values unknown)",
                records.len()
            ),
            "RFC 7672 senders use only DANE-TA(2) and DANE-EE(3) records, so DANE does not \
             protect this MX",
            fix,
        )
    } else if let Some(r) = usable.iter().find(|r| matches_chain(r, chain)) {
        ok(
            "dane",
            format!(
                "{name}: TLSA {r} matches the certificate at tls.cert ({})",
                dnssec_note(proven, unverified)
            ),
        )
    } else {
        problem(
            Level::Error,
            "dane",
            format!(
                "{name}: none of its {} TLSA record(s) matches tls.cert",
                records.len()
            ),
            "senders that use DANE will defer all mail to you: the published TLSA does not \
             match the certificate at tls.cert",
            format!("{fix} (and remove the stale records once no certificate uses them)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    fn cert(name: &str) -> CertificateDer<'static> {
        let (pem, _) = ferrymail_net::tls::self_signed(&[name.to_owned()]).unwrap();
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn leaf_and_issuer_records_match_as_senders_match() {
        let chain = vec![cert("mx.a.test"), cert("ca.a.test")];
        let records = records_to_publish("mx.a.test", &chain);
        assert_eq!(records.len(), 2, "{records:?}");
        let parsed: Vec<Tlsa> = records
            .iter()
            .map(|r| Tlsa::parse(r.split_once(" IN TLSA ").unwrap().1).unwrap())
            .collect();
        assert_eq!((parsed[0].usage, parsed[1].usage), (DANE_EE, DANE_TA));
        assert!(parsed.iter().all(|r| matches_chain(r, &chain)));
        // DANE-EE is the leaf's, DANE-TA an issuer's: swapped usages match nothing.
        let swapped = [
            Tlsa {
                usage: DANE_TA,
                ..parsed[0].clone()
            },
            Tlsa {
                usage: DANE_EE,
                ..parsed[1].clone()
            },
        ];
        assert!(swapped.iter().all(|r| !matches_chain(r, &chain)));
        assert_eq!(records_to_publish("mx.a.test", &chain[..1]).len(), 1);
        assert!(records_to_publish("mx.a.test", &[]).is_empty());
    }
}
