//! SAVEDATE (RFC 8514) against the real binary: the date a message came into its mailbox
//! (APPEND, COPY, MOVE), not its INTERNALDATE; kept in the UID list so it survives a
//! restart, and INTERNALDATE for messages an older UID list recorded without one.

mod common;

use std::time::Duration;

use common::{login, message, start, stop, PASS, USER};
use ferrymail_imap_proto::date::{parse_date_time, unix_now};
use ferrymail_testkit::ImapClient;

const OLD_TS: i64 = 946_684_800;

/// (INTERNALDATE, SAVEDATE) of message 1 of the selected mailbox.
fn dates(c: &mut ImapClient) -> (i64, Option<i64>) {
    let r = c.cmd("FETCH 1 (INTERNALDATE SAVEDATE)");
    let line = r.find(" FETCH ").unwrap_or_else(|| panic!("{}", r.all()));
    let quoted_after = |name: &str| {
        let rest = line.split(name).nth(1)?;
        let value = rest.strip_prefix('"')?.split('"').next()?;
        parse_date_time(value.as_bytes())
    };
    let internal = quoted_after("INTERNALDATE ").unwrap_or_else(|| panic!("{line}"));
    (internal, quoted_after("SAVEDATE "))
}

#[test]
fn save_dates_of_append_copy_move_and_old_uid_lists() {
    let mut srv = start(true);
    let mut c = login(&srv, USER, PASS);
    let caps = c.cmd("CAPABILITY");
    assert!(caps.has(" SAVEDATE"), "{}", caps.all());
    assert!(c.cmd("CREATE Kept").ok());
    assert!(c.cmd("CREATE Other").ok());
    let before = unix_now();
    let m = message("old", "x");
    let body = String::from_utf8(m.clone()).unwrap();
    let r = c.cmd(&format!(
        "APPEND INBOX \" 1-Jan-2000 00:00:00 +0000\" {{{}+}}\r\n{body}",
        m.len()
    ));
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").ok());
    let (internal, saved) = dates(&mut c);
    assert_eq!(internal, OLD_TS);
    let saved = saved.expect("a save date");
    assert!(saved >= before && saved <= unix_now(), "{saved}");
    let r = c.cmd("SEARCH SAVEDBEFORE 1-Jan-2001");
    assert!(r.has("* SEARCH") && !r.has("* SEARCH 1"), "{}", r.all());
    let r = c.cmd("SEARCH BEFORE 1-Jan-2001 SAVEDSINCE 1-Jan-2001 SAVEDATESUPPORTED");
    assert!(r.has("* SEARCH 1"), "{}", r.all());

    // A later second: the copy and the moved message are saved anew, INTERNALDATE kept.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(c.cmd("COPY 1 Kept").ok());
    assert!(c.cmd("MOVE 1 Other").ok());
    for mailbox in ["Kept", "Other"] {
        assert!(c.cmd(&format!("SELECT {mailbox}")).ok());
        let (internal, copied) = dates(&mut c);
        assert_eq!(internal, OLD_TS, "{mailbox}");
        let copied = copied.expect("a save date");
        assert!(
            copied > saved && copied <= unix_now(),
            "{mailbox}: {copied}"
        );
    }
    drop(c);
    stop(&mut srv);

    // The save date is in the UID list; one written without save dates (an older imapd's
    // version 3) gives INTERNALDATE.
    let list = srv.maildir(USER).join(".Kept").join("ferrymail-uidlist");
    let text = std::fs::read_to_string(&list).unwrap();
    assert!(text.starts_with("4 V") && text.contains(" T"), "{text}");
    let old: String = text
        .lines()
        .map(|l| match l.split_once(" T") {
            Some((uid, rest)) if !l.starts_with("4 ") => {
                format!("{uid} {}\n", rest.split_once(' ').map_or("", |r| r.1))
            }
            _ => format!("{}\n", l.replacen("4 V", "3 V", 1)),
        })
        .collect();
    assert!(old.starts_with("3 V") && !old.contains(" T"), "{old}");
    std::fs::write(&list, old).unwrap();
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    assert!(c.cmd("SELECT Other").ok());
    let (_, kept) = dates(&mut c);
    assert!(kept.is_some_and(|k| k > saved), "{kept:?}");
    assert!(c.cmd("SELECT Kept").ok());
    assert_eq!(dates(&mut c), (OLD_TS, Some(OLD_TS)));
}
