//! TLS-RPT (RFC 8460): the `_smtp._tls.<domain>` TXT record telling senders where to report
//! failed TLS (MTA-STS and DANE failures included), without which nobody learns that
//! enforcing senders stopped delivering.
//!
//! The parser is deliberately small: exactly one record starting `v=TLSRPTv1`, with a `rua`
//! field of `mailto:` or `https:` URIs.

use super::lookup::Dns;
use super::{ok, problem, Finding, Level};

const VERSION: &str = "v=TLSRPTv1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RptError {
    #[error("no TLS-RPT record")]
    None,
    #[error("{0} TLS-RPT records (exactly one is allowed)")]
    Several(usize),
    #[error("malformed TLS-RPT record: {0}")]
    Malformed(&'static str),
}

/// The report URIs of the one TLS-RPT record among a name's TXT records; records not
/// starting with the version are other uses of the name and are ignored.
pub(super) fn parse(txts: &[String]) -> Result<Vec<String>, RptError> {
    let rpt: Vec<&String> = txts.iter().filter(|t| t.starts_with(VERSION)).collect();
    let record = match rpt.as_slice() {
        [] => return Err(RptError::None),
        [one] => one.as_str(),
        many => return Err(RptError::Several(many.len())),
    };
    let mut fields = record.split(';').map(str::trim);
    if fields.next() != Some(VERSION) {
        return Err(RptError::Malformed("the version must be followed by `;`"));
    }
    let mut rua = None;
    for field in fields.filter(|f| !f.is_empty()) {
        let (key, value) = field
            .split_once('=')
            .ok_or(RptError::Malformed("a field without `=`"))?;
        if key.trim() == "rua" {
            if rua.is_some() {
                return Err(RptError::Malformed("more than one rua field"));
            }
            rua = Some(value.trim());
        }
    }
    let rua = rua.ok_or(RptError::Malformed("no rua field"))?;
    let uris: Vec<String> = rua.split(',').map(|u| u.trim().to_owned()).collect();
    for u in &uris {
        let scheme = u.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let rest_empty = u.split_once(':').is_none_or(|(_, r)| r.is_empty());
        if !matches!(scheme.as_deref(), Some("mailto" | "https")) || rest_empty {
            return Err(RptError::Malformed(
                "rua holds a URI that is neither mailto: nor https:",
            ));
        }
    }
    Ok(uris)
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
