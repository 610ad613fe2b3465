//! The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): `v=STSv1; id=<1-32 alphanumerics>;`
//! plus extension fields. Exactly one record starting with `v=STSv1` must be present, and it
//! must be well-formed; anything else means the domain has no usable policy.

/// Longest policy id the grammar allows (`sts-id = 1*32(ALPHA / DIGIT)`).
pub const MAX_ID_LEN: usize = 32;

/// A parsed TXT record: only its id matters to a sender (a changed id means a new policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no MTA-STS TXT record")]
    None,
    #[error("{0} MTA-STS TXT records (exactly one is allowed)")]
    Several(usize),
    #[error("malformed MTA-STS TXT record: {0}")]
    Malformed(&'static str),
}

/// Chooses and parses the one STS record among a name's TXT records (each already the
/// concatenation of its character-strings). Records not starting with `v=STSv1` are other
/// uses of the name and are ignored.
pub fn parse_records<S: AsRef<str>>(txts: &[S]) -> Result<StsRecord, RecordError> {
    let sts: Vec<&str> = txts
        .iter()
        .map(AsRef::as_ref)
        .filter(|t| is_sts(t))
        .collect();
    match sts.as_slice() {
        [] => Err(RecordError::None),
        [one] => parse(one),
        many => Err(RecordError::Several(many.len())),
    }
}

/// Whether a TXT record claims to be an STS record: its first field is `v=STSv1`.
fn is_sts(txt: &str) -> bool {
    let first = txt.split(';').next().unwrap_or("");
    matches!(first.split_once('='), Some((k, v)) if k.trim() == "v" && v.trim() == "STSv1")
}

/// Parses one record: `v` first, exactly one `id`, other fields `name=value` by the
/// extension grammar; an optional trailing `;`.
pub fn parse(txt: &str) -> Result<StsRecord, RecordError> {
    let mut fields = txt.split(';').map(|f| f.trim_matches(is_wsp)).peekable();
    let mut id = None;
    let mut first = true;
    while let Some(field) = fields.next() {
        if field.is_empty() {
            // Only a single trailing delimiter is allowed.
            if fields.peek().is_none() && !first {
                break;
            }
            return Err(RecordError::Malformed("empty field"));
        }
        let (name, value) = field
            .split_once('=')
            .ok_or(RecordError::Malformed("field without `=`"))?;
        let (name, value) = (
            name.trim_end_matches(is_wsp),
            value.trim_start_matches(is_wsp),
        );
        if first {
            if name != "v" || value != "STSv1" {
                return Err(RecordError::Malformed("does not start with v=STSv1"));
            }
            first = false;
            continue;
        }
        match name {
            "id" => {
                if id.is_some() {
                    return Err(RecordError::Malformed("id given twice"));
                }
                if value.is_empty()
                    || value.len() > MAX_ID_LEN
                    || !value.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(RecordError::Malformed("id is not 1-32 letters and digits"));
                }
                id = Some(value.to_owned());
            }
            "v" => return Err(RecordError::Malformed("v given twice")),
            _ => {
                if !valid_field_name(name) || !valid_ext_value(value) {
                    return Err(RecordError::Malformed("bad extension field"));
                }
            }
        }
    }
    if first {
        return Err(RecordError::Malformed("empty record"));
    }
    id.map(|id| StsRecord { id })
        .ok_or(RecordError::Malformed("no id"))
}

pub(super) fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, the grammar of
/// the policy file's keys too (`sts-policy-ext-name`).
pub(super) fn valid_field_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// `sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)`: printable ASCII except `;` and `=`.
fn valid_ext_value(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b';' && c != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<String, RecordError> {
        parse_records(&[s]).map(|r| r.id)
    }

    #[test]
    fn rfc_example_and_variants() {
        assert_eq!(
            id("v=STSv1; id=20160831085700Z;").unwrap(),
            "20160831085700Z"
        );
        assert_eq!(id("v=STSv1;id=abc").unwrap(), "abc");
        assert_eq!(id("v = STSv1 ;\tid = abc ; ").unwrap(), "abc");
        assert_eq!(id("v=STSv1; id=abc; ext_1.a=some-value;").unwrap(), "abc");
        assert_eq!(
            id(&format!("v=STSv1; id={}", "a".repeat(32)))
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn malformed_records_are_no_policy() {
        for bad in [
            "v=STSv1;",
            "v=STSv1; id=;",
            "v=STSv1; id=abc-def;",
            "v=STSv1; id=abc; id=def;",
            "v=STSv1; id=abc;;",
            "v=STSv1;; id=abc",
            "v=STSv1; id=abc; v=STSv1",
            "v=STSv1; id=abc; junk",
            "v=STSv1; id=abc; _bad=1",
            "v=STSv1; id=abc; ok=a=b",
        ] {
            assert!(matches!(id(bad), Err(RecordError::Malformed(_))), "{bad}");
        }
        assert!(id(&format!("v=STSv1; id={}", "a".repeat(33))).is_err());
    }

    #[test]
    fn exactly_one_sts_record() {
        let other = "google-site-verification=xyz";
        assert_eq!(
            parse_records(&[other, "v=STSv1; id=1"]).map(|r| r.id),
            Ok("1".into())
        );
        assert_eq!(parse_records(&[other]), Err(RecordError::None));
        assert_eq!(parse_records::<&str>(&[]), Err(RecordError::None));
        assert_eq!(
            parse_records(&["v=STSv1; id=1", "v=STSv1; id=2"]),
            Err(RecordError::Several(2))
        );
        // Other versions are not STS records of this version: ignored.
        assert_eq!(parse_records(&["v=STSv2; id=1"]), Err(RecordError::None));
    }
}
