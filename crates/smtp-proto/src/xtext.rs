//! RFC 3461 §4 xtext, the encoding of ENVID and ORCPT values.

/// Decodes xtext (`+XX` hex escapes). Fails on a malformed escape or a character xtext forbids.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c @ b'!'..=b'~' if c != b'=' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a value as xtext for sending in MAIL/RCPT parameters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if (b'!'..=b'~').contains(&c) && c != b'+' && c != b'=' {
            out.push(c as char);
        } else {
            out.push_str(&format!("+{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        assert_eq!(
            decode("rfc822;joe+2Bx@a.test").as_deref(),
            Some("rfc822;joe+x@a.test")
        );
        assert_eq!(encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(decode(&encode("a+b=c d")).as_deref(), Some("a+b=c d"));
        assert_eq!(decode("bad+2"), None);
        assert_eq!(decode("bad+zz"), None);
        assert_eq!(decode("sp ace"), None);
        assert_eq!(decode("a=b"), None);
    }
}
