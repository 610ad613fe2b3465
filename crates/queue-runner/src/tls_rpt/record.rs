//! The `_smtp._tls.<domain>` TXT record (RFC 8460 §3), sans-IO: `v=TLSRPTv1; rua=...` with
//! a comma-separated list of `mailto:` and `https:` URIs where reports go.

/// Where a domain wants its reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rua {
    /// A mail address (the `mailto:` URI's path, percent-decoded, without `?` headers).
    Mailto(String),
    /// An `https:` URI, taken as written.
    Https(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TLSRPTv1 record")]
    None,
    #[error("{0} TLSRPTv1 records (exactly one is allowed)")]
    Several(usize),
    #[error("malformed TLSRPTv1 record: {0}")]
    Malformed(&'static str),
}

/// The reporting addresses from the TXT records of `_smtp._tls.<domain>` (each record's
/// strings already concatenated). Records not starting `v=TLSRPTv1` are not ours; more than
/// one of ours means no reporting (§3). Unknown URI schemes and fields are skipped.
pub fn parse_records(txts: &[String]) -> Result<Vec<Rua>, RecordError> {
    let ours: Vec<&String> = txts
        .iter()
        .filter(|t| {
            let t = t.trim_start();
            t.strip_prefix("v=TLSRPTv1")
                .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with(';'))
        })
        .collect();
    let record = match ours.as_slice() {
        [] => return Err(RecordError::None),
        [one] => one.as_str(),
        many => return Err(RecordError::Several(many.len())),
    };
    let mut rua = None;
    for field in record.split(';').skip(1) {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let Some((name, value)) = field.split_once('=') else {
            return Err(RecordError::Malformed("field without `=`"));
        };
        if name.trim() == "rua" {
            if rua.is_some() {
                return Err(RecordError::Malformed("several rua fields"));
            }
            rua = Some(parse_rua(value));
        }
    }
    match rua {
        None => Err(RecordError::Malformed("no rua field")),
        Some(v) if v.is_empty() => Err(RecordError::Malformed("no usable rua URI")),
        Some(v) => Ok(v),
    }
}

fn parse_rua(value: &str) -> Vec<Rua> {
    value
        .split(',')
        .filter_map(|u| {
            let u = strip_size(u.trim());
            let (scheme, rest) = u.split_once(':')?;
            if scheme.eq_ignore_ascii_case("mailto") {
                let addr = ferrymail_smtp::percent::decode(rest.split('?').next().unwrap_or(""))?;
                let (local, domain) = addr.rsplit_once('@')?;
                (!local.is_empty() && !domain.is_empty() && !addr.contains(['<', '>', ' ']))
                    .then_some(Rua::Mailto(addr))
            } else if scheme.eq_ignore_ascii_case("https") && rest.starts_with("//") {
                Some(Rua::Https(u.to_owned()))
            } else {
                None
            }
        })
        .collect()
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

    fn p(txts: &[&str]) -> Result<Vec<Rua>, RecordError> {
        parse_records(&txts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_mailto_and_https() {
        assert_eq!(
            p(&["v=TLSRPTv1; rua=mailto:tls@a.test, https://rpt.a.test/v1 ;"]),
            Ok(vec![
                Rua::Mailto("tls@a.test".into()),
                Rua::Https("https://rpt.a.test/v1".into())
            ])
        );
        assert_eq!(
            p(&[
                "v=spf1 -all",
                "v=TLSRPTv1;rua=mailto:r%2Bx@a.test!10m,ftp://x/,mailto:bad"
            ]),
            Ok(vec![Rua::Mailto("r+x@a.test".into())])
        );
        assert_eq!(
            p(&["v=TLSRPTv1; x-ext=1; rua=MAILTO:a@b.test?subject=x"]),
            Ok(vec![Rua::Mailto("a@b.test".into())])
        );
    }

    #[test]
    fn refuses_none_several_and_malformed() {
        assert_eq!(p(&[]), Err(RecordError::None));
        assert_eq!(p(&["v=TLSRPTv10; rua=mailto:a@b"]), Err(RecordError::None));
        assert_eq!(
            p(&["v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"]),
            Err(RecordError::Several(2))
        );
        assert!(matches!(
            p(&["v=TLSRPTv1; rua"]),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            p(&["v=TLSRPTv1;"]),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            p(&["v=TLSRPTv1; rua=ftp://x"]),
            Err(RecordError::Malformed(_))
        ));
    }
}
