//! Modified UTF-7 (RFC 3501 §5.1.3), the encoding of mailbox names on the wire.
//!
//! Internally (and in `ferrymail_maildir::MailboxName`) names are UTF-8; only the protocol
//! layer converts. Decoding is strict: a name that is not canonical modified UTF-7 is refused,
//! so two different wire names can never reach the same folder.

use base64::alphabet::Alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

fn engine() -> GeneralPurpose {
    // RFC 3501: the base64 of RFC 2045 with ',' in place of '/', and no padding.
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .unwrap_or(base64::alphabet::STANDARD);
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    )
}

/// UTF-8 to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine().encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Why a wire name is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mailbox name is not valid modified UTF-7")]
pub struct Utf7Error;

/// Modified UTF-7 to UTF-8.
pub fn decode(wire: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while let Some(&b) = wire.get(i) {
        if !(0x20..=0x7e).contains(&b) {
            return Err(Utf7Error);
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let rest = wire.get(i + 1..).ok_or(Utf7Error)?;
        let end = rest.iter().position(|&c| c == b'-').ok_or(Utf7Error)?;
        let chunk = rest.get(..end).ok_or(Utf7Error)?;
        i += end + 2;
        if chunk.is_empty() {
            out.push('&');
            continue;
        }
        let bytes = engine().decode(chunk).map_err(|_| Utf7Error)?;
        if bytes.len() % 2 != 0 {
            return Err(Utf7Error);
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        let decoded = String::from_utf16(&units).map_err(|_| Utf7Error)?;
        // Printable ASCII must be sent directly; a shifted form of it is not canonical.
        if decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(Utf7Error);
        }
        out.push_str(&decoded);
        // Two adjacent shifted runs are not canonical either.
        if wire.get(i) == Some(&b'&') && wire.get(i + 1) != Some(&b'-') {
            return Err(Utf7Error);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode("a&b"), "a&-b");
        assert_eq!(decode(b"a&-b").unwrap(), "a&b");
    }

    #[test]
    fn round_trips() {
        for s in [
            "Entwürfe",
            "Gelöschte Elemente",
            "😀 emoji",
            "plain",
            "&&",
            "Ä&Ö",
        ] {
            assert_eq!(decode(encode(s).as_bytes()).unwrap(), s, "{s}");
        }
    }

    #[test]
    fn rejects_non_canonical() {
        assert!(decode(b"&AGE-").is_err()); // 'a' shifted
        assert!(decode(b"&U,BTFw").is_err()); // unterminated
        assert!(decode(b"caf\xc3\xa9").is_err()); // raw 8-bit
        assert!(decode(b"&U,BTFw-&ZeVnLIqe-").is_err()); // adjacent runs
        assert!(decode(b"&2D0-").is_err()); // lone surrogate
    }
}
