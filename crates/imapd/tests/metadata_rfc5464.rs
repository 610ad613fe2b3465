//! METADATA (RFC 5464) against the real binary: the RFC's examples, entries that follow
//! RENAME, go with DELETE and survive a restart of imapd.

mod common;

use common::{login, start, stop, PASS, USER};

#[test]
fn rfc_examples_rename_delete_and_restart() {
    let mut srv = start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("CAPABILITY");
    assert!(
        r.all().split_whitespace().any(|w| w == "METADATA"),
        "{}",
        r.all()
    );

    // RFC 5464 §4.3: a value over two lines, sent as a literal.
    let tag = c.next_tag();
    c.send(format!("{tag} SETMETADATA INBOX (/private/comment {{33}}\r\n").as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send(b"My new comment across\r\ntwo lines.)\r\n");
    assert!(c.read_until_tag(&tag).ok());
    // §4.2: the value comes back as a literal.
    let r = c.cmd("GETMETADATA INBOX /private/comment");
    assert!(
        r.all().contains(
            "* METADATA \"INBOX\" (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)"
        ),
        "{}",
        r.all()
    );
    assert!(c
        .cmd("SETMETADATA \"\" (/shared/comment \"Shared comment\")")
        .ok());
    let r = c.cmd("GETMETADATA \"\" /shared/comment");
    assert!(
        r.has("* METADATA \"\" (/shared/comment \"Shared comment\")"),
        "{}",
        r.all()
    );

    assert!(c.cmd("CREATE Projects").ok());
    assert!(c
        .cmd("SETMETADATA Projects (/private/vendor/example/color \"blue\")")
        .ok());
    assert!(c.cmd("RENAME Projects Work").ok());
    let r = c.cmd("GETMETADATA (DEPTH infinity) Work /private/vendor");
    assert!(
        r.has("* METADATA \"Work\" (/private/vendor/example/color \"blue\")"),
        "{}",
        r.all()
    );
    assert_eq!(
        c.cmd("GETMETADATA Projects /private/comment").status(),
        "NO"
    );

    stop(&mut srv);
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("GETMETADATA (DEPTH infinity) Work /private");
    assert!(
        r.has("* METADATA \"Work\" (/private/vendor/example/color \"blue\")"),
        "{}",
        r.all()
    );
    assert!(c.cmd("DELETE Work").ok());
    assert!(c.cmd("CREATE Work").ok());
    let r = c.cmd("GETMETADATA Work /private/vendor/example/color");
    assert!(
        r.has("* METADATA \"Work\" (/private/vendor/example/color NIL)"),
        "{}",
        r.all()
    );
}
