//! `queue.tls_policy` and `queue.tls_policies`: how queue-runner uses TLS towards other
//! domains, named as Postfix's `smtp_tls_security_level` so admins can carry their policy over.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TlsPolicy {
    /// Never STARTTLS.
    None,
    /// STARTTLS when offered, any certificate, plaintext if the handshake fails (RFC 7435
    /// opportunistic security: encryption without authentication still beats plaintext).
    #[serde(alias = "opportunistic")]
    May,
    /// STARTTLS required, any certificate.
    Encrypt,
    /// Opportunistic DANE (RFC 7672): an MX host with DNSSEC-validated usable TLSA records is
    /// reached only over TLS with a certificate matching them; without such records as `may`
    /// (or as the domain's MTA-STS policy says).
    Dane,
    /// DANE required: every MX host must have DNSSEC-validated usable TLSA records.
    DaneOnly,
    /// STARTTLS required with a certificate valid for the MX name under the system's CAs
    /// (plus `queue.tls_trust_anchors`).
    Verify,
}

impl TlsPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsPolicy::None => "none",
            TlsPolicy::May => "may",
            TlsPolicy::Encrypt => "encrypt",
            TlsPolicy::Dane => "dane",
            TlsPolicy::DaneOnly => "dane-only",
            TlsPolicy::Verify => "verify",
        }
    }

    /// Whether TLSA records are looked up under this policy.
    pub fn uses_dane(self) -> bool {
        matches!(self, TlsPolicy::Dane | TlsPolicy::DaneOnly)
    }
}
