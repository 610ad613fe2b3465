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
