//! The TLS-RPT record (RFC 8460 §3) published beside an MTA-STS policy: the
//! `_smtp._tls.<domain>` TXT record `v=TLSRPTv1; rua=<uri>,<uri>` telling senders where to
//! report failed TLS, parsed sans-IO for queue-runner (which sends the reports) and
//! `mailctl check` (which verifies our own record).

/// The version tag a TLS-RPT record starts with.
pub const VERSION: &str = "v=TLSRPTv1";

/// Where a report can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rua {
    /// A mail address: the `mailto:` URI's path, percent-decoded, without `?` headers.
    Mailto(String),
    /// An `https:` URI, taken as written.
    Https(String),
}

/// One URI of the `rua` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUri {
    /// As the record has it.
    pub written: String,
    /// None for a scheme or a form reports cannot be sent to.
    pub target: Option<Rua>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TLS-RPT record")]
    None,
    #[error("{0} TLS-RPT records (exactly one is allowed)")]
    Several(usize),
    #[error("malformed TLS-RPT record: {0}")]
    Malformed(&'static str),
}

/// The report URIs of the one TLS-RPT record among a name's TXT records (each record's
/// strings already concatenated); records not starting with the version are other uses of
/// the name and are ignored, more than one TLS-RPT record means none (§3).
pub fn parse_records(txts: &[String]) -> Result<Vec<ReportUri>, RecordError> {
    let rpt: Vec<&String> = txts.iter().filter(|t| t.starts_with(VERSION)).collect();
    let record = match rpt.as_slice() {
        [] => return Err(RecordError::None),
        [one] => one.as_str(),
        many => return Err(RecordError::Several(many.len())),
    };
    let mut fields = record.split(';').map(str::trim);
    if fields.next() != Some(VERSION) {
        return Err(RecordError::Malformed(
            "the version must be followed by `;`",
        ));
    }
    let mut rua = None;
    for field in fields.filter(|f| !f.is_empty()) {
        let (key, value) = field
            .split_once('=')
            .ok_or(RecordError::Malformed("a field without `=`"))?;
        if key.trim() == "rua" {
            if rua.is_some() {
                return Err(RecordError::Malformed("more than one rua field"));
            }
            rua = Some(value.trim());
        }
    }
    let rua = rua.ok_or(RecordError::Malformed("no rua field"))?;
    Ok(rua
        .split(',')
        .map(|u| {
            let written = u.trim().to_owned();
            let target = target(&written);
            ReportUri { written, target }
        })
        .collect())
}

fn target(uri: &str) -> Option<Rua> {
    let u = strip_size(uri);
    let (scheme, rest) = u.split_once(':')?;
    if scheme.eq_ignore_ascii_case("mailto") {
        let addr = ferrymail_smtp::percent::decode(rest.split('?').next().unwrap_or(""))?;
        let (local, domain) = addr.rsplit_once('@')?;
        (!local.is_empty() && !domain.is_empty() && !addr.contains(['<', '>', ' ']))
            .then_some(Rua::Mailto(addr))
    } else if scheme.eq_ignore_ascii_case("https") && rest.len() > 2 && rest.starts_with("//") {
        Some(Rua::Https(u.to_owned()))
    } else {
        None
    }
}

/// Drops a DMARC-style `!<size>` limit (digits and an optional unit) that some publish.
fn strip_size(u: &str) -> &str {
    match u.rsplit_once('!') {
        Some((head, size))
            if !size.is_empty()
                && size
                    .trim_end_matches(['k', 'm', 'g', 't'])
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => u,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(txts: &[&str]) -> Result<Vec<Option<Rua>>, RecordError> {
        parse_records(&txts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .map(|v| v.into_iter().map(|u| u.target).collect())
    }

    #[test]
    fn parses_mailto_and_https() {
        assert_eq!(
            p(&["v=TLSRPTv1; rua=mailto:tls@a.test, https://rpt.a.test/v1 ;"]),
            Ok(vec![
                Some(Rua::Mailto("tls@a.test".into())),
                Some(Rua::Https("https://rpt.a.test/v1".into()))
            ])
        );
        assert_eq!(
            p(&[
                "v=spf1 -all",
                "v=TLSRPTv1;rua=mailto:r%2Bx@a.test!10m,ftp://x/,mailto:bad"
            ]),
            Ok(vec![Some(Rua::Mailto("r+x@a.test".into())), None, None])
        );
        assert_eq!(
            p(&["v=TLSRPTv1; x-ext=1; rua=MAILTO:a@b.test?subject=x"]),
            Ok(vec![Some(Rua::Mailto("a@b.test".into()))])
        );
        let written = parse_records(&["v=TLSRPTv1; rua=mailto:a@b.test!5".to_string()]);
        assert_eq!(
            written.map(|v| v[0].written.clone()),
            Ok("mailto:a@b.test!5".into())
        );
    }

    #[test]
    fn refuses_none_several_and_malformed() {
        assert_eq!(p(&[]), Err(RecordError::None));
        assert_eq!(
            p(&["v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"]),
            Err(RecordError::Several(2))
        );
        for bad in [
            "v=TLSRPTv1",
            "v=TLSRPTv10; rua=mailto:a@b",
            "v=TLSRPTv1 rua=mailto:a@b",
            "v=TLSRPTv1; rua",
            "v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d",
        ] {
            assert!(matches!(p(&[bad]), Err(RecordError::Malformed(_))), "{bad}");
        }
        assert_eq!(p(&["v=TLSRPTv1; rua=https://"]), Ok(vec![None]));
    }
}
