//! Which TLS a delivery to another domain uses, host by host, and how the outcome is named
//! in the delivery's log line.
//!
//! The destination's policy is `queue.tls_policies[domain]` or `queue.tls_policy` (Postfix's
//! levels: none, may, encrypt, dane, dane-only, verify). On top of it, in order of strength:
//! - DANE (RFC 7672), under `dane`/`dane-only`: an MX host with DNSSEC-validated usable TLSA
//!   records gets TLS with a certificate matching them, whatever else applies (RFC 8461 §2:
//!   DANE wins over MTA-STS); validated records that are all unusable still require TLS; a
//!   TLSA lookup that fails or is bogus makes the host unusable for now; under `dane-only`
//!   a host without usable records is not used at all.
//! - REQUIRETLS on the message, `require_tls` routes and domains, and MTA-STS `enforce`
//!   require TLS with a certificate valid for the MX name.
//! - `TLS-Required: No` (RFC 8689 §5) waives all of these for the message: STARTTLS is
//!   still tried, nothing is required.

use std::sync::Arc;

use ferrymail_config::{Config, TlsPolicy};
use tokio_rustls::TlsConnector;

use crate::dane::{DaneVerifier, TlsaAnswer};
use crate::runner::Runner;
use crate::session::TlsUse;
use crate::tls_rpt::hook::DaneFailure;
use crate::wire::TlsClients;

/// The destination-wide part of the decision.
#[derive(Debug, Clone)]
pub struct DomainTls {
    pub policy: TlsPolicy,
    /// False when the message says `TLS-Required: No`.
    pub policy_applies: bool,
    /// TLS with a PKIX-valid certificate is required for every host, and by what:
    /// `requiretls` (the message), `require_tls` (a route or `require_tls_domains`),
    /// `mta-sts` (an enforce policy).
    pub require_verified: Option<&'static str>,
    /// TLSA records are looked up for each host (DANE policy, DNSSEC working, not waived).
    pub dane: bool,
    /// An MTA-STS `testing` policy: the first attempt at each host checks the certificate
    /// only to report.
    pub sts_testing: bool,
}

/// The policy for `domain` in `config`, before DNSSEC and message flags are considered.
pub fn policy_for(config: &Config, domain: &str) -> TlsPolicy {
    let q = &config.queue;
    q.tls_policies
        .iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        .map_or(q.tls_policy, |(_, p)| *p)
}

/// How one host is to be tried.
#[derive(Clone)]
pub struct HostTls {
    pub tls: TlsUse,
    /// What applied, for the log line: `dane`, `mta-sts`, `requiretls`, or the policy name.
    pub label: &'static str,
    /// Set for a DANE connection: which record matched.
    pub dane: Option<Arc<DaneVerifier>>,
    /// Checking an MTA-STS `testing` policy (see [`DomainTls::sts_testing`]).
    pub probing: bool,
}

impl HostTls {
    /// Whether a connection without TLS (or with a failed handshake) must not carry mail.
    pub fn required(&self) -> bool {
        matches!(self.tls, TlsUse::Starttls { required: true, .. })
    }

    /// The plan for a retry in plaintext after a failed opportunistic handshake.
    pub fn plaintext(&self) -> HostTls {
        HostTls {
            tls: TlsUse::Off,
            label: self.label,
            dane: None,
            probing: false,
        }
    }

    /// `tls=` of the delivery log line: the policy that applied and what was verified, then
    /// the protocol and cipher (`-` when the session was plaintext).
    pub fn describe(&self, session: Option<&str>) -> String {
        let verified = match (&self.tls, session, &self.dane) {
            (_, None, _) => "plaintext".to_owned(),
            (_, Some(_), Some(d)) => match d.matched() {
                Some(m) => format!("verified by TLSA {m}"),
                None => "unverified".to_owned(),
            },
            (TlsUse::Starttls { verified: true, .. }, Some(_), None) => {
                "verified certificate".to_owned()
            }
            _ => "unverified".to_owned(),
        };
        match session {
            Some(s) => format!("{} {verified}, {s}", self.label),
            None => format!("{} {verified}", self.label),
        }
    }
}

/// Why a host is not tried (the delivery waits, or tries the next host).
pub struct Skip {
    pub reason: String,
    /// What TLS-RPT calls it (none for a failure of our own).
    pub kind: Option<DaneFailure>,
}

/// Decides how `host` is tried.
pub async fn for_host(
    runner: &Runner,
    d: &DomainTls,
    domain: &str,
    host: &str,
    port: u16,
) -> Result<HostTls, Skip> {
    // An address literal (a route's `[192.0.2.1]`) has no name to hold TLSA records.
    let named = host.parse::<std::net::IpAddr>().is_err();
    let tlsa = match (&runner.dane, d.dane && named) {
        (Some(dane), true) => dane.tlsa(host, port).await,
        _ => TlsaAnswer::None,
    };
    match tlsa {
        TlsaAnswer::Usable(records) => {
            let names = vec![host.to_owned(), domain.to_owned()];
            let verifier = Arc::new(DaneVerifier::new(
                records,
                names,
                runner.tls.provider.clone(),
            ));
            let connector = runner
                .tls
                .with_verifier(verifier.clone())
                .map_err(|e| Skip {
                    reason: format!("TLS client for {host}: {e}"),
                    kind: None,
                })?;
            return Ok(HostTls {
                tls: TlsUse::Starttls {
                    connector,
                    required: true,
                    verified: true,
                },
                label: "dane",
                dane: Some(verifier),
                probing: false,
            });
        }
        TlsaAnswer::Failed(e) => {
            crate::dane::count("lookup-failed");
            return Err(Skip {
                reason: format!("TLSA lookup for {host} failed, not used (DANE): {e}"),
                kind: Some(DaneFailure::Dnssec),
            });
        }
        TlsaAnswer::Unusable if d.policy == TlsPolicy::DaneOnly => {
            crate::dane::count("required-missing");
            return Err(Skip {
                reason: format!("{host} has no usable TLSA records (tls_policy dane-only)"),
                kind: Some(DaneFailure::Tlsa),
            });
        }
        TlsaAnswer::Unusable if d.require_verified.is_none() => {
            return Ok(HostTls {
                tls: TlsUse::Starttls {
                    connector: runner.tls.any.clone(),
                    required: true,
                    verified: false,
                },
                label: "dane",
                dane: None,
                probing: false,
            });
        }
        TlsaAnswer::None if d.policy == TlsPolicy::DaneOnly && d.policy_applies => {
            crate::dane::count("required-missing");
            return Err(Skip {
                reason: format!(
                    "{host} has no DNSSEC-validated TLSA records (tls_policy dane-only)"
                ),
                kind: Some(DaneFailure::Required),
            });
        }
        TlsaAnswer::Unusable | TlsaAnswer::None => {}
    }
    if d.sts_testing && d.require_verified.is_none() {
        return Ok(HostTls {
            tls: starttls(runner.tls.verify.clone(), false, true),
            label: "mta-sts",
            dane: None,
            probing: true,
        });
    }
    Ok(fallback(&runner.tls, d))
}

/// The plan without DANE: what the requirements and the policy level say.
pub fn fallback(clients: &TlsClients, d: &DomainTls) -> HostTls {
    let plain = |label| HostTls {
        tls: TlsUse::Off,
        label,
        dane: None,
        probing: false,
    };
    let tls = |connector: TlsConnector, required, verified, label| HostTls {
        tls: starttls(connector, required, verified),
        label,
        dane: None,
        probing: false,
    };
    if let Some(by) = d.require_verified {
        return tls(clients.verify.clone(), true, true, by);
    }
    if !d.policy_applies {
        return tls(clients.any.clone(), false, false, "waived");
    }
    match d.policy {
        TlsPolicy::None => plain("none"),
        TlsPolicy::May | TlsPolicy::Dane | TlsPolicy::DaneOnly => {
            tls(clients.any.clone(), false, false, d.policy.as_str())
        }
        TlsPolicy::Encrypt => tls(clients.any.clone(), true, false, "encrypt"),
        TlsPolicy::Verify => tls(clients.verify.clone(), true, true, "verify"),
    }
}

fn starttls(connector: TlsConnector, required: bool, verified: bool) -> TlsUse {
    TlsUse::Starttls {
        connector,
        required,
        verified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(policy: TlsPolicy) -> DomainTls {
        DomainTls {
            policy,
            policy_applies: true,
            require_verified: None,
            dane: false,
            sts_testing: false,
        }
    }

    /// (required, verified, label) of the plan, `None` for plaintext.
    fn shape(h: &HostTls) -> Option<(bool, bool, &'static str)> {
        match &h.tls {
            TlsUse::Off => None,
            TlsUse::Starttls {
                required, verified, ..
            } => Some((*required, *verified, h.label)),
        }
    }

    #[test]
    fn levels_without_dane_records() {
        let c = TlsClients::new(&[]).unwrap();
        let plan = |d: DomainTls| shape(&fallback(&c, &d));
        assert_eq!(plan(domain(TlsPolicy::None)), None);
        assert_eq!(plan(domain(TlsPolicy::May)), Some((false, false, "may")));
        assert_eq!(plan(domain(TlsPolicy::Dane)), Some((false, false, "dane")));
        assert_eq!(
            plan(domain(TlsPolicy::Encrypt)),
            Some((true, false, "encrypt"))
        );
        assert_eq!(
            plan(domain(TlsPolicy::Verify)),
            Some((true, true, "verify"))
        );
        // A requirement wins over any level, even `none`.
        let mut d = domain(TlsPolicy::None);
        d.require_verified = Some("requiretls");
        assert_eq!(plan(d), Some((true, true, "requiretls")));
        // `TLS-Required: No` waives the level but still tries STARTTLS.
        let mut d = domain(TlsPolicy::Verify);
        d.policy_applies = false;
        assert_eq!(plan(d), Some((false, false, "waived")));
    }

    #[test]
    fn per_destination_policy_overrides_the_default() {
        let mut config = Config::default();
        config.queue.tls_policy = TlsPolicy::May;
        config
            .queue
            .tls_policies
            .insert("bank.test".into(), TlsPolicy::DaneOnly);
        assert_eq!(policy_for(&config, "Bank.TEST"), TlsPolicy::DaneOnly);
        assert_eq!(policy_for(&config, "sub.bank.test"), TlsPolicy::May);
        assert_eq!(policy_for(&config, "other.test"), TlsPolicy::May);
    }

    #[test]
    fn the_log_names_policy_verification_and_session() {
        let c = TlsClients::new(&[]).unwrap();
        let verify = fallback(&c, &domain(TlsPolicy::Verify));
        assert_eq!(
            verify.describe(Some("TLSv1.3 with cipher X")),
            "verify verified certificate, TLSv1.3 with cipher X"
        );
        let may = fallback(&c, &domain(TlsPolicy::May));
        assert_eq!(may.describe(Some("TLSv1.2")), "may unverified, TLSv1.2");
        assert_eq!(may.plaintext().describe(None), "may plaintext");
    }
}
