//! CATENATE's `imap://` URLs against the real binary: the logged-in user's own URL reads
//! the message; one naming another user is `[BADURL]`, even when the logged-in user has a
//! mailbox and message of the same name and UID.

mod common;

use common::{login, message, start, PASS, USER};

#[test]
fn another_users_url_is_bad_and_ones_own_is_read() {
    let srv = start(true);
    let mut c = login(&srv, USER, PASS);
    assert!(c.append("INBOX", "", &message("one", "1")).ok());
    let own = format!("imap://{}@localhost/INBOX/;UID=1", USER.replace('@', "%40"));
    let other = "imap://bob%40example.test@localhost/INBOX/;UID=1";
    let r = c.cmd(&format!("APPEND INBOX CATENATE (URL \"{other}\")"));
    assert!(r.tagged.contains(" NO [BADURL "), "{}", r.all());
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert!(r.has("* STATUS \"INBOX\" (MESSAGES 1)"), "{}", r.all());
    let r = c.cmd(&format!("APPEND INBOX CATENATE (URL \"{own}\")"));
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert!(r.has("* STATUS \"INBOX\" (MESSAGES 2)"), "{}", r.all());
}
