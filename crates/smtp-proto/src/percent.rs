//! `%XX` escapes of URIs (RFC 3986 §2.1), as mail URIs carry them: `mailto:` addresses
//! (RFC 6068, TLS-RPT's `rua`) and IMAP URLs (RFC 5092).

/// `%XX` escapes undone; None for a broken escape or a result that is not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes() {
        assert_eq!(decode("a%2Bb%40c").as_deref(), Some("a+b@c"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
        for bad in ["%", "%4", "%zz", "%FF"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
