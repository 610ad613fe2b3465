use super::*;

fn binary(msg: &[u8], parts: &[u32]) -> Result<Option<Vec<u8>>, Failure> {
    decoded(msg, &mime::parse(msg), parts)
}

const MULTI: &[u8] = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Transfer-Encoding: base64\r\n\r\n  aGVs \r\n bG8gd29y\t\r\nbGQ=\r\n\
--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\nhello  \r\nbar=\r\n\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n\
--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n\
--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3k\r\n\
--b\r\n\r\nplain\r\n\
--b--\r\n";

#[test]
fn base64_ignores_whitespace() {
    assert_eq!(binary(MULTI, &[1]), Ok(Some(b"hello world".to_vec())));
}

#[test]
fn quoted_printable_soft_breaks_and_trailing_space() {
    // Trailing white space is dropped; `=` then white space is still a soft line break.
    assert_eq!(
        binary(MULTI, &[2]),
        Ok(Some(b"hello\r\nbar\r\nfoo\t \tb\r\nfoo bar".to_vec()))
    );
}

#[test]
fn unknown_encoding_is_refused() {
    assert_eq!(binary(MULTI, &[3]), Err(Failure::UnknownCte));
}

#[test]
fn decoded_nul_bytes_are_kept() {
    assert_eq!(binary(MULTI, &[4]), Ok(Some(b"\0-\xe4".to_vec())));
}

#[test]
fn identity_parts_missing_parts_and_the_whole_message() {
    assert_eq!(binary(MULTI, &[5]), Ok(Some(b"plain".to_vec())));
    assert_eq!(binary(MULTI, &[6]), Ok(None));
    assert_eq!(binary(MULTI, &[1, 1]), Ok(Some(b"hello world".to_vec())));
    assert_eq!(binary(MULTI, &[1, 2]), Ok(None));
    assert_eq!(binary(MULTI, &[]), Ok(Some(MULTI.to_vec())));
}

#[test]
fn single_part_message_body_is_part_one() {
    let msg = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n";
    assert_eq!(binary(msg, &[1]), Ok(Some(b"hi".to_vec())));
}

#[test]
fn binary_parts_are_stored_as_base64_and_decode_back() {
    let msg: &[u8] = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\
\x20(folded)\r\n\r\n\0-\xe4\n\r\n\n\r\n\
--b--\r\n";
    let stored = encode_binary_parts(msg).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stored),
        "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AC3kCg0KCg==\r\n\r\n\
--b--\r\n"
    );
    assert_eq!(binary(&stored, &[2]), Ok(Some(b"\0-\xe4\n\r\n\n".to_vec())));
    assert_eq!(binary(&stored, &[1]), Ok(Some(b"plain text".to_vec())));
    // Nothing to change: None, and the message is stored as sent.
    assert_eq!(
        encode_binary_parts(b"Subject: x\r\n\r\n8bit \xe4\r\n"),
        None
    );
}

#[test]
fn a_single_part_binary_message_is_encoded_whole() {
    let msg = b"Subject: x\r\n\r\n\0\0";
    let stored = encode_binary_parts(msg).unwrap();
    assert_eq!(
        stored,
        b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nAAA=\r\n"
    );
    assert_eq!(binary(&stored, &[1]), Ok(Some(b"\0\0".to_vec())));
}
