//! Transport security of mail sent to the domain: MTA-STS ([`super::mta_sts`]), DANE
//! ([`super::dane`]) and TLS-RPT ([`super::tlsrpt`]), and, when any of them is missing or
//! broken, the exact records that set all three up for this server.

use rustls_pki_types::CertificateDer;

use ferrymail_config::Config;

use super::lookup::Dns;
use super::{dane, mta_sts, tlsrpt, Finding, Level};

/// The policy `max_age` recommended in the records to publish: two weeks (RFC 8461 §3.2
/// recommends weeks, so a policy outlives an attacker blocking its refresh).
pub(super) const RECOMMENDED_MAX_AGE: u64 = 14 * 86_400;

/// What the transport checks know about the domain and this host.
pub(super) struct Transport<'a> {
    pub domain: &'a str,
    /// The DNS servers asked (empty: the system's), for the DNSSEC-validating resolver.
    pub servers: &'a [std::net::SocketAddr],
    /// This host's name (the MX to publish when the domain has none).
    pub host: &'a str,
    /// The domain's MX hosts in preference order, bounded, without a null MX.
    pub mx: &'a [String],
    /// Those of them that are this host (by name or address).
    pub ours: &'a [String],
    /// The certificate chain at `tls.cert`, leaf first; empty when unreadable (the `tls`
    /// check reports why).
    pub chain: &'a [CertificateDer<'static>],
}

pub(super) async fn check(
    config: &Config,
    dns: &Dns,
    t: &Transport<'_>,
    https_port: u16,
) -> Vec<Finding> {
    let mut out = mta_sts::check(config, dns, t, https_port).await;
    out.extend(dane::check(config, dns, t).await);
    out.extend(tlsrpt::check(dns, t.domain).await);
    if out.iter().any(|f| f.level != Level::Ok) {
        out.push(publish(t, now()));
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The records that give the domain MTA-STS, DANE and TLS-RPT for the current MX hosts, in
/// zone-file form (comments start with `;`); the policy file body is indented.
fn publish(t: &Transport<'_>, now: u64) -> Finding {
    let d = t.domain;
    let mx: Vec<&str> = if t.mx.is_empty() {
        vec![t.host]
    } else {
        t.mx.iter().map(String::as_str).collect()
    };
    let mut records = vec![
        format!("_mta-sts.{d}. IN TXT \"v=STSv1; id={}\"", policy_id(now)),
        format!(
            "; serve this as https://mta-sts.{d}/.well-known/mta-sts.txt (Content-Type: \
             text/plain), with a certificate for mta-sts.{d} from a public CA:"
        ),
        "    version: STSv1".to_owned(),
        "    mode: enforce".to_owned(),
    ];
    records.extend(mx.iter().map(|m| format!("    mx: {m}")));
    records.push(format!("    max_age: {RECOMMENDED_MAX_AGE}"));
    records.push("; change the id whenever the policy file changes".to_owned());
    let tlsa: Vec<String> = t
        .ours
        .iter()
        .flat_map(|m| dane::records_to_publish(m, t.chain))
        .collect();
    if !tlsa.is_empty() {
        records.extend(tlsa);
        records.extend(dane::NOTES.iter().map(|n| format!("; {n}")));
    }
    records.push(tlsrpt::record_to_publish(d));
    Finding {
        level: Level::Notice,
        check: "publish",
        what: format!("records that set up MTA-STS, DANE and TLS-RPT for {d}"),
        why: "senders can then insist on authenticated TLS to your MX hosts and report failures"
            .into(),
        fix: "publish the records below".into(),
        records,
    }
}

/// An MTA-STS policy id from a time: `YYYYMMDDhhmmss` (UTC), alphanumeric as §3.1 requires
/// and increasing, so each republished policy gets a new one.
fn policy_id(now: u64) -> String {
    let c = ferrymail_smtp::dates::Civil::of(i64::try_from(now).unwrap_or(0));
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_ids_are_utc_timestamps() {
        assert_eq!(policy_id(0), "19700101000000");
        assert_eq!(policy_id(1_796_564_593), "20261206134313");
    }

    #[test]
    fn publish_lists_every_mx_and_the_tls_rpt_record() {
        let mx = vec!["mx1.a.test".to_owned(), "mx2.a.test".to_owned()];
        let t = Transport {
            domain: "a.test",
            servers: &[],
            host: "mx1.a.test",
            mx: &mx,
            ours: &[],
            chain: &[],
        };
        let f = publish(&t, 0);
        assert_eq!(
            f.records[0],
            "_mta-sts.a.test. IN TXT \"v=STSv1; id=19700101000000\""
        );
        for line in [
            "    mx: mx1.a.test",
            "    mx: mx2.a.test",
            "    max_age: 1209600",
            "_smtp._tls.a.test. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@a.test\"",
        ] {
            assert!(
                f.records.iter().any(|r| r == line),
                "{line}: {:#?}",
                f.records
            );
        }
    }
}
