//! The vocabulary of a report (RFC 8460 §4.3): policy types, result types, and one recorded
//! session outcome, with the mapping from ferrymail's own failure descriptions.

use serde::{Deserialize, Serialize};

/// `policy-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// DANE (RFC 7672): `policy-string` is the TLSA records in presentation form.
    Tlsa,
    /// MTA-STS (RFC 8461): `policy-string` is the policy file's lines.
    Sts,
    NoPolicyFound,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Tlsa => "tlsa",
            PolicyKind::Sts => "sts",
            PolicyKind::NoPolicyFound => "no-policy-found",
        }
    }
}

/// The policy a session was held to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyDesc {
    pub kind: PolicyKind,
    /// `policy-string`.
    #[serde(default)]
    pub strings: Vec<String>,
    /// `mx-host`: the MX patterns of an MTA-STS policy.
    #[serde(default)]
    pub mx_hosts: Vec<String>,
}

impl PolicyDesc {
    pub fn none() -> PolicyDesc {
        PolicyDesc {
            kind: PolicyKind::NoPolicyFound,
            strings: Vec::new(),
            mx_hosts: Vec::new(),
        }
    }

    /// An MTA-STS policy, its file rebuilt from what was parsed (the RFC's canonical form:
    /// one `key: value` per line).
    pub fn sts(policy: &crate::mta_sts::Policy) -> PolicyDesc {
        let mut strings = vec![
            "version: STSv1".to_owned(),
            format!("mode: {}", policy.mode.as_str()),
        ];
        strings.extend(policy.mx.iter().map(|m| format!("mx: {m}")));
        strings.push(format!("max_age: {}", policy.max_age));
        PolicyDesc {
            kind: PolicyKind::Sts,
            strings,
            mx_hosts: policy.mx.clone(),
        }
    }

    /// A DANE policy: the TLSA records in presentation form.
    pub fn tlsa(records: Vec<String>) -> PolicyDesc {
        PolicyDesc {
            kind: PolicyKind::Tlsa,
            strings: records,
            mx_hosts: Vec::new(),
        }
    }
}

/// `result-type` (RFC 8460 §4.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    StarttlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
}

impl ResultType {
    /// The result type of a TLS failure described by the session (`reason` is its log text):
    /// the STARTTLS and certificate verdicts the TLS layer names, anything else a generic
    /// validation failure.
    pub fn of_tls_failure(reason: &str) -> ResultType {
        if reason.contains("does not offer STARTTLS") || reason.contains("STARTTLS refused") {
            ResultType::StarttlsNotSupported
        } else if reason.contains("NotValidForName") {
            ResultType::CertificateHostMismatch
        } else if reason.contains("Expired") {
            ResultType::CertificateExpired
        } else if reason.contains("UnknownIssuer")
            || reason.contains("BadSignature")
            || reason.contains("invalid peer certificate")
        {
            ResultType::CertificateNotTrusted
        } else {
            ResultType::ValidationFailure
        }
    }

    /// The result type of a failed policy fetch.
    pub fn of_fetch_error(e: &crate::mta_sts::fetch::FetchError) -> ResultType {
        use crate::mta_sts::fetch::FetchError as F;
        use ferrymail_net::https::HttpsError;
        match e {
            F::Https(HttpsError::Tls(..)) => ResultType::StsWebpkiInvalid,
            F::ContentType | F::TooLarge(_) => ResultType::StsPolicyInvalid,
            F::Https(_) | F::Malformed(_) | F::Status(_) => ResultType::StsPolicyFetchError,
        }
    }
}

/// One failed session, as `failure-details` lists it (before grouping).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FailureDetail {
    pub result_type: ResultType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_ip: Option<std::net::IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<std::net::IpAddr>,
    /// `failure-reason-code`: the error as the TLS layer or the fetch put it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What one session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(FailureDetail),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tls_failures_as_the_rfc() {
        let t = ResultType::of_tls_failure;
        assert_eq!(
            t("TLS is required but mx[1.2.3.4]:25 does not offer STARTTLS"),
            ResultType::StarttlsNotSupported
        );
        assert_eq!(
            t("STARTTLS refused by mx[1.2.3.4]:25: 454 no"),
            ResultType::StarttlsNotSupported
        );
        assert_eq!(
            t("TLS handshake failed: invalid peer certificate: UnknownIssuer with mx"),
            ResultType::CertificateNotTrusted
        );
        assert_eq!(
            t("TLS handshake failed: invalid peer certificate: NotValidForNameContext { .. }"),
            ResultType::CertificateHostMismatch
        );
        assert_eq!(
            t("TLS handshake failed: invalid peer certificate: ExpiredContext { .. }"),
            ResultType::CertificateExpired
        );
        assert_eq!(
            t("lost connection during handshake"),
            ResultType::ValidationFailure
        );
        let json = serde_json::to_string(&ResultType::StsWebpkiInvalid).unwrap();
        assert_eq!(json, "\"sts-webpki-invalid\"");
        let json = serde_json::to_string(&PolicyKind::NoPolicyFound).unwrap();
        assert_eq!(json, "\"no-policy-found\"");
    }

    #[test]
    fn rebuilds_an_sts_policy() {
        let p = crate::mta_sts::Policy {
            mode: crate::mta_sts::Mode::Enforce,
            mx: vec!["mx.a.test".into(), "*.b.test".into()],
            max_age: 86400,
        };
        let d = PolicyDesc::sts(&p);
        assert_eq!(
            d.strings,
            [
                "version: STSv1",
                "mode: enforce",
                "mx: mx.a.test",
                "mx: *.b.test",
                "max_age: 86400"
            ]
        );
        assert_eq!(d.mx_hosts, ["mx.a.test", "*.b.test"]);
    }
}
