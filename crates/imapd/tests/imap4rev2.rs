//! IMAP4rev2 (RFC 9051) against the real daemon and Maildir store: `ENABLE IMAP4rev2`, UTF-8
//! mailbox names (a streamed APPEND included, which the shell parses itself), ESEARCH for
//! SEARCH, no \Recent, STATUS DELETED and DELETED-STORAGE; a rev1 client on the same store
//! is unchanged.
//!
//! None of the clients installed here speaks IMAP4rev2 (Python's imaplib, isync 1.4,
//! fetchmail, curl and interimap know only IMAP4rev1), so the protocol is spoken by hand.

mod common;

use common::{login, message, PASS, USER};

#[test]
fn rev2_session_over_maildir() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let caps = c.cmd("CAPABILITY");
    assert!(caps.has("IMAP4rev1 IMAP4rev2 "), "{}", caps.all());
    let r = c.cmd("ENABLE IMAP4rev2");
    assert_eq!(r.untagged, vec!["* ENABLED IMAP4rev2"], "{}", r.all());

    // `&` is a plain character once names are UTF-8.
    for name in ["\"R&-D\"", "\"台北\""] {
        let r = c.cmd(&format!("CREATE {name}"));
        assert!(r.ok(), "{}", r.all());
    }
    let r = c.cmd("LIST \"\" \"*\"");
    assert!(r.has("\"/\" \"R&-D\""), "{}", r.all());
    assert!(r.has("\"/\" \"台北\""), "{}", r.all());

    // Past 256 KiB the shell streams the APPEND and reads the mailbox name itself.
    let mut big = message("big", "x");
    big.extend(std::iter::repeat_n(b'y', 300 * 1024));
    big.extend_from_slice(b"\r\n");
    let r = c.append("\"R&-D\"", "\\Deleted", &big);
    assert!(r.ok(), "{}", r.all());
    let r = c.append("\"台北\"", "", &message("small", "z"));
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("STATUS \"R&-D\" (MESSAGES DELETED DELETED-STORAGE)");
    let kib = (big.len() as u64).div_ceil(1024);
    assert_eq!(
        r.untagged,
        vec![format!(
            "* STATUS \"R&-D\" (MESSAGES 1 DELETED 1 DELETED-STORAGE {kib})"
        )],
        "{}",
        r.all()
    );
    let r = c.cmd("STATUS \"台北\" (DELETED DELETED-STORAGE)");
    assert_eq!(
        r.untagged,
        vec!["* STATUS \"台北\" (DELETED 0 DELETED-STORAGE 0)"],
        "{}",
        r.all()
    );

    let r = c.cmd("SELECT \"台北\"");
    assert!(r.ok(), "{}", r.all());
    assert!(!r.has("RECENT"), "{}", r.all());
    assert!(r.has("* LIST () \"/\" \"台北\""), "{}", r.all());
    let r = c.cmd("FETCH 1 FLAGS");
    assert_eq!(r.untagged, vec!["* 1 FETCH (FLAGS ())"], "{}", r.all());
    let tag = c.next_tag();
    c.send(format!("{tag} UID SEARCH SUBJECT small\r\n").as_bytes());
    let r = c.read_until_tag(&tag);
    assert_eq!(
        r.untagged,
        vec![format!("* ESEARCH (TAG \"{tag}\") UID ALL 1")],
        "{}",
        r.all()
    );

    // The same mailboxes, in modified UTF-7, for a client that stays on IMAP4rev1.
    let mut old = login(&srv, USER, PASS);
    let r = old.cmd("LIST \"\" \"*\"");
    assert!(r.has("\"/\" \"R&--D\""), "{}", r.all());
    assert!(r.has("\"/\" \"&U,BTFw-\""), "{}", r.all());
    let r = old.cmd("SELECT \"&U,BTFw-\"");
    assert!(r.has("* 1 RECENT") || r.has("* 0 RECENT"), "{}", r.all());
    let r = old.cmd("SEARCH ALL");
    assert_eq!(r.untagged, vec!["* SEARCH 1"], "{}", r.all());
}
