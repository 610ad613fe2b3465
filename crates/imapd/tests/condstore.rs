//! CONDSTORE/QRESYNC against the real imapd: mod-sequences kept in the maildir survive a
//! restart without imapd's state directory, and a client reconnecting with QRESYNC is told
//! exactly what another session changed and expunged meanwhile.

mod common;

use common::{login, message, stop, PASS, USER};
use ferrymail_maildir::{DeliverOptions, Maildir};
use ferrymail_testkit::Response;

/// The number in `[NAME n]` of a response.
fn code_number(r: &Response, name: &str) -> u64 {
    let line = r
        .find(&format!("[{name} "))
        .unwrap_or_else(|| panic!("no {name}: {}", r.all()));
    let tail = line.split(&format!("[{name} ")).nth(1).unwrap_or_default();
    tail.split(']')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"))
}

/// (UID, MODSEQ) of every `FETCH (UID u MODSEQ (m))`-like line, in order.
fn uid_modseqs(r: &Response) -> Vec<(u32, u64)> {
    r.untagged
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .map(|l| {
            let after = |k: &str| {
                l.split(k)
                    .nth(1)
                    .and_then(|t| t.split([' ', ')']).next())
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                after("UID ").parse().unwrap_or(0),
                after("MODSEQ (").parse().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn modseqs_survive_a_restart_without_the_state_dir() {
    let mut srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    for i in 0..3 {
        assert!(c.append("INBOX", "", &message(&format!("m{i}"), "x")).ok());
    }
    assert!(c.cmd("SELECT INBOX (CONDSTORE)").ok());
    let r = c.cmd("STORE 2 +FLAGS (\\Flagged)");
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("UID FETCH 1:* (MODSEQ)");
    let before = uid_modseqs(&r);
    assert_eq!(before.len(), 3, "{}", r.all());
    let m2 = before[1].1;
    assert!(before.iter().all(|&(u, m)| u == 2 || m < m2), "{before:?}");
    let r = c.cmd("STATUS INBOX (HIGHESTMODSEQ)");
    let highest: u64 = r
        .find("HIGHESTMODSEQ")
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.trim_end_matches(')').parse().unwrap())
        .unwrap();
    assert_eq!(highest, m2);
    drop(c);
    stop(&mut srv);
    std::fs::remove_dir_all(srv.env.config.paths.state_dir.join("imapd")).unwrap();
    srv.start("imapd");

    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("SELECT INBOX (CONDSTORE)");
    assert!(code_number(&r, "HIGHESTMODSEQ") >= highest, "{}", r.all());
    let r = c.cmd("UID FETCH 1:* (MODSEQ)");
    assert_eq!(uid_modseqs(&r), before, "{}", r.all());
    let r = c.cmd(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})", m2 - 1));
    assert_eq!(uid_modseqs(&r), vec![(2, m2)], "{}", r.all());
    // The next change is above anything handed out before the restart.
    let r = c.cmd("STORE 1 +FLAGS (\\Seen)");
    let after = uid_modseqs(&r);
    assert!(after.len() == 1 && after[0].1 > highest, "{}", r.all());
}

#[test]
fn a_client_reconnecting_with_qresync_gets_exactly_the_changes() {
    let srv = common::start(true);
    let mut a = login(&srv, USER, PASS);
    for i in 0..5 {
        assert!(a.append("INBOX", "", &message(&format!("m{i}"), "x")).ok());
    }
    assert!(a.cmd("ENABLE QRESYNC").has("* ENABLED QRESYNC"));
    let r = a.cmd("SELECT INBOX");
    let validity = code_number(&r, "UIDVALIDITY");
    let known = code_number(&r, "HIGHESTMODSEQ");
    assert!(a.cmd("LOGOUT").ok());

    // Another session changes a flag and expunges; another program delivers a message.
    let mut b = login(&srv, USER, PASS);
    assert!(b.cmd("SELECT INBOX").ok());
    assert!(b.cmd("UID STORE 2 +FLAGS (\\Seen)").ok());
    assert!(b.cmd("UID STORE 4 +FLAGS.SILENT (\\Deleted)").ok());
    let r = b.cmd("EXPUNGE");
    assert!(
        r.has("* 4 EXPUNGE"),
        "without QRESYNC, EXPUNGE: {}",
        r.all()
    );
    let md = Maildir::open(srv.maildir(USER)).unwrap();
    md.deliver(&[&message("outside", "y")[..]], DeliverOptions::default())
        .unwrap();

    let mut a = login(&srv, USER, PASS);
    assert!(a.cmd("ENABLE QRESYNC").ok());
    let r = a.cmd(&format!("SELECT INBOX (QRESYNC ({validity} {known} 1:5))"));
    assert!(r.ok(), "{}", r.all());
    assert!(r.has("* VANISHED (EARLIER) 4"), "{}", r.all());
    assert!(r.has("* 5 EXISTS"), "{}", r.all());
    let fetches: Vec<&String> = r.untagged.iter().filter(|l| l.contains("FETCH")).collect();
    assert_eq!(fetches.len(), 1, "{}", r.all());
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("),
        "{}",
        r.all()
    );
    // The delivered message has a mod-sequence above the client's, so a resync without
    // known UIDs reports it too.
    let r = a.cmd(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)"
    ));
    assert!(r.has("* VANISHED (EARLIER) 4"), "{}", r.all());
    let uids: Vec<u32> = uid_modseqs(&r).iter().map(|x| x.0).collect();
    assert_eq!(uids, vec![2, 6], "{}", r.all());
    // And an expunge by the other session now comes as VANISHED.
    assert!(b.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)").ok());
    assert!(b.cmd("EXPUNGE").ok());
    let r = a.cmd("NOOP");
    assert!(r.has("* VANISHED 1"), "{}", r.all());
}
