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
        .get(&domain.to_ascii_lowercase())
        .copied()
        .unwrap_or(q.tls_policy)
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
}

/// Decides how `host` is tried.
pub async fn for_host(
    runner: &Runner,
    d: &DomainTls,
    domain: &str,
    host: &str,
    port: u16,
) -> Result<HostTls, Skip> {
    let tlsa = match (&runner.dane, d.dane) {
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
            });
        }
        TlsaAnswer::Unusable if d.policy == TlsPolicy::DaneOnly => {
            crate::dane::count("required-missing");
            return Err(Skip {
                reason: format!("{host} has no usable TLSA records (tls_policy dane-only)"),
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
    Ok(fallback(runner, d))
}

/// The plan without DANE: what the requirements and the policy level say.
pub fn fallback(runner: &Runner, d: &DomainTls) -> HostTls {
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
        return tls(runner.tls.verify.clone(), true, true, by);
    }
    if !d.policy_applies {
        return tls(runner.tls.any.clone(), false, false, "waived");
    }
    match d.policy {
        TlsPolicy::None => plain("none"),
        TlsPolicy::May | TlsPolicy::Dane | TlsPolicy::DaneOnly => {
            tls(runner.tls.any.clone(), false, false, d.policy.as_str())
        }
        TlsPolicy::Encrypt => tls(runner.tls.any.clone(), true, false, "encrypt"),
        TlsPolicy::Verify => tls(runner.tls.verify.clone(), true, true, "verify"),
    }
}

fn starttls(connector: TlsConnector, required: bool, verified: bool) -> TlsUse {
    TlsUse::Starttls {
        connector,
        required,
        verified,
    }
}
