//! TLS-RPT (RFC 8460): the `_smtp._tls.<domain>` TXT record telling senders where to report
//! failed TLS (MTA-STS and DANE failures included), without which nobody learns that
//! enforcing senders stopped delivering.
//!
//! The parser is `ferrymail_mta_sts::tlsrpt`, the one queue-runner reads other domains'
//! records with; here every URI must be usable.

use super::lookup::Dns;
use super::{ok, problem, Finding, Level};

pub(super) use ferrymail_mta_sts::tlsrpt::RecordError as RptError;
use ferrymail_mta_sts::tlsrpt::{parse_records, VERSION};

/// The report URIs of the one TLS-RPT record among a name's TXT records, as written; any
/// URI senders cannot report to makes the record malformed here, though senders only skip it.
pub(super) fn parse(txts: &[String]) -> Result<Vec<String>, RptError> {
    let uris = parse_records(txts)?;
    if uris.iter().any(|u| u.target.is_none()) {
        return Err(RptError::Malformed(
            "rua holds a URI that is neither mailto: nor https:",
        ));
    }
    Ok(uris.into_iter().map(|u| u.written).collect())
}

/// The record to publish: reports by mail to `tlsrpt@<domain>`.
pub(super) fn record_to_publish(domain: &str) -> String {
    format!("_smtp._tls.{domain}. IN TXT \"{VERSION}; rua=mailto:tlsrpt@{domain}\"")
}

pub(super) async fn check(dns: &Dns, domain: &str) -> Vec<Finding> {
    let name = format!("_smtp._tls.{domain}");
    let fix = record_to_publish(domain);
    let txts = match dns.txt_text(&name).await {
        Ok(t) => t,
        Err(e) => {
            return vec![problem(
                Level::Warning,
                "tlsrpt",
                format!("looking up {name} TXT failed: {e}"),
                "senders that cannot read it send no reports of failed TLS",
                "check that the domain's name servers answer",
            )]
        }
    };
    vec![match parse(&txts) {
        Ok(uris) => ok(
            "tlsrpt",
            format!("{name}: TLS failures are reported to {}", uris.join(", ")),
        ),
        Err(RptError::None) => problem(
            Level::Notice,
            "tlsrpt",
            format!("{domain} publishes no TLS-RPT record ({name} TXT)"),
            "senders that fail TLS to you (a broken MTA-STS policy or TLSA record) cannot tell \
             you, so such failures go unnoticed",
            fix,
        ),
        Err(e) => problem(
            Level::Warning,
            "tlsrpt",
            format!("{name}: {e}"),
            "senders ignore a malformed record and send no reports",
            fix,
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(txts: &[&str]) -> Result<Vec<String>, RptError> {
        parse(&txts.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn accepts_mailto_and_https_reporting() {
        assert_eq!(
            p(&[
                "v=TLSRPTv1; rua=mailto:r@a.test, https://r.a.test/x",
                "other"
            ]),
            Ok(vec!["mailto:r@a.test".into(), "https://r.a.test/x".into()])
        );
        assert_eq!(
            p(&["v=TLSRPTv1;rua=mailto:r@a.test;"]).map(|u| u.len()),
            Ok(1)
        );
    }

    #[test]
    fn refuses_what_senders_would_ignore() {
        assert_eq!(p(&["v=spf1 -all"]), Err(RptError::None));
        assert_eq!(
            p(&["v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"]),
            Err(RptError::Several(2))
        );
        for bad in [
            "v=TLSRPTv1",
            "v=TLSRPTv1; ruf=mailto:a@b",
            "v=TLSRPTv1; rua=ftp://x",
            "v=TLSRPTv1; rua=mailto:",
            "v=TLSRPTv1 rua=mailto:a@b",
            "v=TLSRPTv1; rua",
            "v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d",
        ] {
            assert!(matches!(p(&[bad]), Err(RptError::Malformed(_))), "{bad}");
        }
    }
}
