//! Response encoding: the string forms of RFC 3501 (atom, quoted, literal, NIL) and the
//! pieces every response is built from. Sans-IO: everything appends to a byte buffer that
//! the connection layer writes out.

use crate::utf7;

/// Appends `bytes` as a quoted string when that is possible (7-bit text without CR, LF or
/// NUL), otherwise as a literal.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    let quotable = bytes.len() < 1024
        && bytes
            .iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80);
    if quotable {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, bytes);
    }
}

/// Appends a literal `{n}\r\n<bytes>`.
pub fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// `NIL` or a string.
pub fn nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name, modified-UTF-7 encoded and quoted.
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    string(out, utf7::encode(name).as_bytes());
}

/// A string lower-cased for the parts of BODYSTRUCTURE that are case-insensitive tokens.
pub fn token(out: &mut Vec<u8>, s: &str) {
    string(out, s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, b);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings() {
        assert_eq!(s(b"hello"), "\"hello\"");
        assert_eq!(s(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(s(b"two\r\nlines"), "{10}\r\ntwo\r\nlines");
        assert_eq!(s("caf\u{e9}".as_bytes()), "{5}\r\ncaf\u{e9}");
        assert_eq!(s(b""), "\"\"");
        let mut out = Vec::new();
        nstring(&mut out, None);
        mailbox(&mut out, " Entw\u{fc}rfe");
        assert_eq!(out, b"NIL\" Entw&APw-rfe\"");
    }
}
