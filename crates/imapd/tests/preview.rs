//! PREVIEW (RFC 8970) against the real binary: the decoded first words of the text, without
//! setting \Seen.

mod common;

use common::{login, start, PASS, USER};

#[test]
fn preview_of_a_quoted_printable_message() {
    let srv = start(true);
    let mut c = login(&srv, USER, PASS);
    let msg = b"From: a@example.test\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello Joe,=0D=0A  this is the =C3=BCber\r\nfirst part.\r\n";
    assert!(c.append("INBOX", "", msg).ok());
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("FETCH 1 (PREVIEW (LAZY) FLAGS)");
    assert!(r.ok(), "{}", r.all());
    let l = &r.untagged[0];
    assert!(
        l.contains("PREVIEW {40}\r\nHello Joe, this is the über first part."),
        "{l}"
    );
    assert!(!l.contains("\\Seen"), "{l}");
}
