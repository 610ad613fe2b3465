//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) against the real binary over Maildir: a live
//! search is told of other sessions' flag changes and expunges and of an outside delivery,
//! in IDLE and on NOOP, and the configured limit answers NOUPDATE.

mod common;

use common::{login, message, start, start_with, PASS, USER};
use ferrymail_maildir::{DeliverOptions, Maildir};

#[test]
fn live_search_follows_other_sessions_and_deliveries() {
    let srv = start(true);
    let mut a = login(&srv, USER, PASS);
    let mut b = login(&srv, USER, PASS);
    for (s, body) in [("one", "marker"), ("two", "other"), ("three", "marker")] {
        assert!(a.append("INBOX", "", &message(s, body)).ok());
    }
    assert!(a.cmd("SELECT INBOX").ok());
    assert!(b.cmd("SELECT INBOX").ok());
    let caps = a.cmd("CAPABILITY");
    assert!(
        caps.has("ESORT") && caps.has("CONTEXT=SEARCH") && caps.has("CONTEXT=SORT"),
        "{}",
        caps.all()
    );
    a.send(b"c1 UID SEARCH RETURN (UPDATE ALL) BODY marker UNSEEN\r\n");
    let r = a.read_until_tag("c1");
    assert!(
        r.ok() && r.has("* ESEARCH (TAG \"c1\") UID ALL 1,3"),
        "{}",
        r.all()
    );
    a.send(b"c2 SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN\r\n");
    let r = a.read_until_tag("c2");
    // two, three, one.
    assert!(
        r.ok() && r.has("* ESEARCH (TAG \"c2\") ALL 2:3,1"),
        "{}",
        r.all()
    );

    // In IDLE: B reads message 1; it leaves both results.
    a.send(b"i1 IDLE\r\n");
    assert!(a.line().starts_with("+ "));
    assert!(b.cmd("STORE 1 +FLAGS (\\Seen)").ok());
    assert_eq!(a.line(), "* 1 FETCH (FLAGS (\\Seen \\Recent))");
    assert_eq!(a.line(), "* ESEARCH (TAG \"c1\") UID REMOVEFROM (0 1)");
    assert_eq!(a.line(), "* ESEARCH (TAG \"c2\") REMOVEFROM (3 1)");
    // A delivery by another process: after its EXISTS, at its sorted place ("four").
    let md = Maildir::open(srv.maildir(USER)).unwrap();
    md.deliver(&[&message("four", "marker")], DeliverOptions::default())
        .unwrap();
    assert_eq!(a.line(), "* 4 EXISTS");
    assert_eq!(a.line(), "* 4 RECENT");
    assert_eq!(a.line(), "* ESEARCH (TAG \"c1\") UID ADDTO (0 4)");
    assert_eq!(a.line(), "* ESEARCH (TAG \"c2\") ADDTO (3 4)");
    a.send(b"DONE\r\n");
    assert!(a.read_until_tag("i1").ok());

    // B expunges message 3: on A's NOOP the REMOVEFROM comes before the EXPUNGE.
    assert!(b.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)").ok());
    assert!(b.cmd("EXPUNGE").ok());
    let r = a.cmd("NOOP");
    let lines: Vec<&str> = r.untagged.iter().map(String::as_str).collect();
    let pos = |l: &str| lines.iter().position(|x| *x == l);
    let expunge = pos("* 3 EXPUNGE");
    assert!(expunge.is_some(), "{}", r.all());
    assert!(
        pos("* ESEARCH (TAG \"c1\") UID REMOVEFROM (0 3)") < expunge,
        "{}",
        r.all()
    );
    assert!(
        pos("* ESEARCH (TAG \"c2\") REMOVEFROM (2 3)") < expunge,
        "{}",
        r.all()
    );

    assert!(a.cmd("CANCELUPDATE \"c1\" \"c2\"").ok());
    assert!(b.cmd("STORE 1 -FLAGS (\\Seen)").ok());
    let r = a.cmd("NOOP");
    assert!(!r.has("ESEARCH"), "{}", r.all());
}

#[test]
fn configured_limit_answers_noupdate() {
    let srv = start_with(true, |c| c.imapd.max_search_updates = 1);
    let mut a = login(&srv, USER, PASS);
    assert!(a.append("INBOX", "", &message("one", "x")).ok());
    assert!(a.cmd("SELECT INBOX").ok());
    a.send(b"u1 SEARCH RETURN (UPDATE) SEEN\r\n");
    let r = a.read_until_tag("u1");
    assert!(r.ok() && !r.has("NOUPDATE"), "{}", r.all());
    a.send(b"u2 SEARCH RETURN (UPDATE COUNT) SEEN\r\n");
    let r = a.read_until_tag("u2");
    assert!(r.ok(), "{}", r.all());
    assert!(r.has("* ESEARCH (TAG \"u2\") COUNT 0"), "{}", r.all());
    assert!(r.has("* NO [NOUPDATE \"u2\"]"), "{}", r.all());
}
