//! RFC 7162 CONDSTORE and QRESYNC over the memory store, after the RFC's own examples (the
//! mod-sequence values are the memory store's, not the RFC's).

use super::*;
use crate::command::{Command, QresyncParams, SelectParams};
use crate::parse::parse_command;
use crate::session::FlagSet;
use crate::session::Storage;
use crate::types::{Flag, SearchKey, SeqNum, SeqSet, StoreOp};

/// The HIGHESTMODSEQ of the store's INBOX now.
fn highest(store: &MemoryStore) -> u64 {
    let mut c = Client::logged_in(store);
    let r = c.run("h STATUS INBOX (HIGHESTMODSEQ)");
    match data(&r).first() {
        Some(Data::Status { items, .. }) => items.first().map_or(0, |i| i.1),
        other => panic!("no STATUS: {other:?}"),
    }
}

#[test]
fn the_grammar_of_select_fetch_store_and_search() {
    let (_, cmd) = parse_command(
        b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:5 41:45)))",
    )
    .unwrap();
    assert_eq!(
        cmd,
        Command::SelectWith {
            mailbox: "INBOX".into(),
            read_only: false,
            params: SelectParams {
                condstore: false,
                qresync: Some(QresyncParams {
                    uidvalidity: 67890007,
                    modseq: 20050715194045000,
                    known_uids: Some(SeqSet(vec![
                        (SeqNum::Value(41), SeqNum::Value(41)),
                        (SeqNum::Value(43), SeqNum::Value(211)),
                        (SeqNum::Value(214), SeqNum::Value(541)),
                    ])),
                    seq_match: Some((
                        SeqSet(vec![(SeqNum::Value(1), SeqNum::Value(5))]),
                        SeqSet(vec![(SeqNum::Value(41), SeqNum::Value(45))]),
                    )),
                }),
            },
        }
    );
    assert!(matches!(
        parse_command(b"a EXAMINE INBOX (CONDSTORE)").unwrap().1,
        Command::SelectWith {
            read_only: true,
            params: SelectParams {
                condstore: true,
                qresync: None
            },
            ..
        }
    ));
    assert!(matches!(
        parse_command(b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
            .unwrap()
            .1,
        Command::FetchChangedSince {
            uid: true,
            changed_since: 12345,
            vanished: true,
            ..
        }
    ));
    assert!(matches!(
        parse_command(
            b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)"
        )
        .unwrap()
        .1,
        Command::StoreUnchangedSince(crate::command::ConditionalStore {
            uid: true,
            silent: true,
            unchanged_since: 12121230045,
            ..
        })
    ));
    match parse_command(b"a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338")
        .unwrap()
        .1
    {
        Command::Search { key, .. } => assert_eq!(key, SearchKey::ModSeq(620162338)),
        other => panic!("{other:?}"),
    }
    // VANISHED without CHANGEDSINCE, a mod-sequence of 2^63 and an unknown entry are errors.
    assert!(parse_command(b"a UID FETCH 1:* (FLAGS) (VANISHED)").is_err());
    assert!(parse_command(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)").is_err());
    assert!(parse_command(b"a SEARCH MODSEQ \"/x\" all 5").is_err());
}

#[test]
fn enable_and_select_report_highestmodseq() {
    let (store, _) = inbox_with(3);
    let mut c = Client::logged_in(&store);
    assert_eq!(
        raw(&mut c, "e ENABLE CONDSTORE X-NONE"),
        "* ENABLED CONDSTORE\r\ne OK Enabled\r\n"
    );
    assert_eq!(
        raw(&mut c, "e ENABLE CONDSTORE QRESYNC"),
        "* ENABLED QRESYNC\r\ne OK Enabled\r\n"
    );
    let r = c.run("s SELECT INBOX");
    let h = highest(&store);
    assert!(
        untagged_ok_codes(&r).contains(&Code::HighestModSeq(h)),
        "{r:?}"
    );
    let r = c.run("s STATUS INBOX (MESSAGES HIGHESTMODSEQ)");
    assert!(
        matches!(data(&r).first(), Some(Data::Status { items, .. }) if items.get(1).map(|i| i.1) == Some(h)),
        "{r:?}"
    );
}

#[test]
fn the_first_condstore_command_enables_it_and_store_reports_modseq() {
    let (store, mut c) = inbox_with(4);
    let h = highest(&store);
    // FETCH MODSEQ turns CONDSTORE on: the HIGHESTMODSEQ comes with it.
    assert_eq!(
        raw(&mut c, "f FETCH 1 (MODSEQ)"),
        format!("* OK [HIGHESTMODSEQ {h}] Highest\r\n* 1 FETCH (MODSEQ (2))\r\nf OK Fetch completed\r\n")
    );
    // Each STORE is one new mod-sequence, reported with the flags.
    assert_eq!(
        raw(&mut c, "s STORE 1 +FLAGS (\\Seen)"),
        format!(
            "* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({}))\r\ns OK Store completed\r\n",
            h + 1
        )
    );
    // .SILENT still tells the new MODSEQ (RFC 7162 §3.1.3 example 3).
    assert_eq!(
        raw(&mut c, "s UID STORE 3 +FLAGS.SILENT (\\Deleted)"),
        format!(
            "* 3 FETCH (UID 3 MODSEQ ({}))\r\ns OK Store completed\r\n",
            h + 2
        )
    );
}

#[test]
fn store_unchangedsince_leaves_changed_messages_alone() {
    let (store, mut c) = inbox_with(5);
    c.run("e ENABLE CONDSTORE");
    let before = highest(&store);
    // Another session changes message 4 meanwhile.
    assert!(store.set_flags(
        "INBOX",
        4,
        FlagSet {
            system: FlagSet::FLAGGED,
            keywords: 0
        }
    ));
    let r = c.run(&format!(
        "a103 UID STORE 2,4,5 (UNCHANGEDSINCE {before}) +FLAGS.SILENT (\\Deleted)"
    ));
    assert_eq!(code(&r), Some(Code::Modified(vec![4])), "{r:?}");
    let deleted: Vec<u32> = store
        .messages("INBOX")
        .iter()
        .filter(|m| m.1.has(FlagSet::DELETED))
        .map(|m| m.0)
        .collect();
    assert_eq!(deleted, vec![2, 5]);
    // With sequence numbers, MODIFIED names sequence numbers; 0 fails every message.
    let r = c.run("b STORE 1:2 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)");
    assert_eq!(code(&r), Some(Code::Modified(vec![1, 2])), "{r:?}");
}

#[test]
fn fetch_changedsince_and_search_modseq_show_only_changes() {
    let (store, mut c) = inbox_with(6);
    let since = highest(&store);
    c.run("s STORE 2 +FLAGS (\\Draft)");
    c.run("s STORE 5 +FLAGS (\\Draft)");
    let h = highest(&store);
    assert_eq!(
        raw(&mut c, &format!("f FETCH 1:* (FLAGS) (CHANGEDSINCE {since})")),
        format!(
            "* OK [HIGHESTMODSEQ {h}] Highest\r\n* 2 FETCH (FLAGS (\\Draft \\Recent) MODSEQ ({}))\r\n* 5 FETCH (FLAGS (\\Draft \\Recent) MODSEQ ({h}))\r\nf OK Fetch completed\r\n",
            since + 1
        )
    );
    assert_eq!(
        raw(
            &mut c,
            &format!("a SEARCH MODSEQ \"/flags/\\\\draft\" all {}", since + 1)
        ),
        format!("* SEARCH 2 5 (MODSEQ {h})\r\na OK Search completed\r\n")
    );
    assert_eq!(
        raw(&mut c, &format!("a SEARCH MODSEQ {}", h + 1)),
        "* SEARCH\r\na OK Search completed\r\n"
    );
}

#[test]
fn qresync_select_reports_exactly_what_changed() {
    let (store, mut a) = inbox_with(10);
    let r = a.run("x STATUS INBOX (UIDVALIDITY)");
    let uidvalidity = match data(&r).first() {
        Some(Data::Status { items, .. }) => items[0].1,
        other => panic!("{other:?}"),
    };
    let known = highest(&store);
    // Meanwhile: one flag change and two expunges, by another session.
    a.run("s STORE 3 +FLAGS (\\Seen)");
    a.run("s STORE 5:6 +FLAGS.SILENT (\\Deleted)");
    a.run("s EXPUNGE");
    let h = highest(&store);
    let mut b = Client::logged_in(&store);
    b.run("e ENABLE QRESYNC");
    let out = raw(
        &mut b,
        &format!("s SELECT INBOX (QRESYNC ({uidvalidity} {known}))"),
    );
    let tail = out
        .split_once("Highest\r\n")
        .map(|x| x.1)
        .unwrap_or_default();
    assert!(out.contains(&format!("[HIGHESTMODSEQ {h}]")), "{out}");
    assert_eq!(
        tail,
        format!("* VANISHED (EARLIER) 5:6\r\n* 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ ({}))\r\ns OK [READ-WRITE] Select completed\r\n", known + 1)
    );
    // Known UIDs narrow VANISHED; another UIDVALIDITY gets nothing but the SELECT.
    let out = raw(
        &mut b,
        &format!("s SELECT INBOX (QRESYNC ({uidvalidity} {known} 1:5))"),
    );
    assert!(out.starts_with("* OK [CLOSED]"), "{out}");
    assert!(out.contains("* VANISHED (EARLIER) 5\r\n"), "{out}");
    let out = raw(
        &mut b,
        &format!("s SELECT INBOX (QRESYNC ({} {known}))", uidvalidity + 1),
    );
    assert!(!out.contains("VANISHED") && !out.contains("FETCH"), "{out}");
}

#[test]
fn qresync_turns_expunge_into_vanished() {
    let (store, mut c) = inbox_with(4);
    c.run("e ENABLE QRESYNC");
    let since = highest(&store);
    assert!(store.expunge("INBOX", 2));
    assert_eq!(
        raw(&mut c, "n NOOP"),
        "* VANISHED 2\r\nn OK NOOP completed\r\n"
    );
    // Our own EXPUNGE: VANISHED, and the HIGHESTMODSEQ it reached on the OK.
    c.run("s STORE 1 +FLAGS.SILENT (\\Deleted)");
    let out = raw(&mut c, "x EXPUNGE");
    let h = highest(&store);
    assert_eq!(
        out,
        format!("* VANISHED 1\r\nx OK [HIGHESTMODSEQ {h}] Expunge completed\r\n")
    );
    assert_eq!(
        raw(
            &mut c,
            &format!("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {since} VANISHED)")
        ),
        format!("* VANISHED (EARLIER) 1:2\r\nf OK Fetch completed\r\n")
    );
    // CLOSE expunges silently, and tells where that left HIGHESTMODSEQ.
    c.run("s STORE 1 +FLAGS.SILENT (\\Deleted)");
    let out = raw(&mut c, "c CLOSE");
    assert_eq!(
        out,
        format!(
            "c OK [HIGHESTMODSEQ {}] Close completed\r\n",
            highest(&store)
        )
    );
    assert_eq!(store.messages("INBOX").len(), 1);
}

#[test]
fn qresync_needs_enabling_and_vanished_needs_uid_fetch() {
    let (store, mut c) = inbox_with(2);
    let r = c.run("s SELECT INBOX (QRESYNC (1 1))");
    assert_eq!(last(&r).kind, Kind::Bad, "{r:?}");
    let r = c.run("s SELECT INBOX");
    assert_eq!(last(&r).kind, Kind::Ok);
    c.run("e ENABLE QRESYNC");
    let r = c.run("f FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)");
    assert_eq!(last(&r).kind, Kind::Bad, "{r:?}");
    drop(store);
}

#[test]
fn a_resync_after_100_changes_in_10000_messages_is_small() {
    let (store, mut c) = inbox_with(10_000);
    let uidvalidity = match data(&c.run("x STATUS INBOX (UIDVALIDITY)")).first() {
        Some(Data::Status { items, .. }) => items[0].1,
        other => panic!("{other:?}"),
    };
    let known = highest(&store);
    for uid in (1..=10_000).step_by(100) {
        c.run(&format!("s UID STORE {uid} +FLAGS.SILENT (\\Seen)"));
    }
    let full = raw(&mut c, "f FETCH 1:* (FLAGS)").len();
    let mut r = Client::logged_in(&store);
    r.run("e ENABLE QRESYNC");
    let resync = raw(
        &mut r,
        &format!("s SELECT INBOX (QRESYNC ({uidvalidity} {known}))"),
    );
    // One line per change and nothing per unchanged message. RFC 7162 §3.2.5 makes each
    // line `* n FETCH (UID u FLAGS (...) MODSEQ (m))`, about 50 octets against about 30 for
    // a message in a FETCH (FLAGS): 100 changes cost some 1.5-2% of a full flag fetch.
    assert_eq!(resync.matches(" FETCH ").count(), 100, "{resync}");
    assert!(
        resync.len() * 50 < full,
        "resync {} bytes, full FETCH {full} bytes",
        resync.len()
    );
}

#[test]
fn move_uid_expunge_and_idle_report_vanished_once_qresync_is_on() {
    let (store, mut c) = inbox_with(5);
    c.run("e ENABLE QRESYNC");
    c.run("c CREATE Archive");
    let out = raw(&mut c, "m UID MOVE 2 Archive");
    assert!(out.contains("* OK [COPYUID "), "{out}");
    assert!(
        out.contains("* VANISHED 2\r\n") && !out.contains("EXPUNGE"),
        "{out}"
    );
    c.run("s UID STORE 4:5 +FLAGS.SILENT (\\Deleted)");
    let out = raw(&mut c, "x UID EXPUNGE 5");
    assert!(
        out.starts_with("* VANISHED 5\r\nx OK [HIGHESTMODSEQ "),
        "{out}"
    );
    c.run("i IDLE");
    assert_eq!(c.action, Action::Idle { tag: "i".into() });
    assert!(store.expunge("INBOX", 1));
    let mut out = Output::new();
    c.session.idle_updates(&mut out);
    assert_eq!(String::from_utf8_lossy(&out.take()), "* VANISHED 1\r\n");
}

/// A mailbox deleted by another session while selected: the store no longer knows its
/// HIGHESTMODSEQ, and the session must not report one below what it already told.
#[test]
fn highestmodseq_never_goes_down_when_the_selected_mailbox_is_deleted() {
    let store = MemoryStore::new();
    let mut a = Client::logged_in(&store);
    let mut b = Client::logged_in(&store);
    a.run("c CREATE Archive");
    store
        .deliver("Archive", b"Subject: x\r\n\r\nx\r\n")
        .unwrap();
    let r = raw(&mut a, "s SELECT Archive");
    assert!(r.contains("* OK [HIGHESTMODSEQ 2] "), "{r}");
    b.run("d DELETE Archive");
    let r = raw(&mut a, "m SEARCH MODSEQ 1");
    assert!(r.contains("* OK [HIGHESTMODSEQ 2] "), "{r}");
    let r = raw(&mut a, "e EXPUNGE");
    assert!(!r.contains("HIGHESTMODSEQ 0"), "{r}");
}

/// RFC 6851 §4.4: with CONDSTORE on, MOVE's tagged OK carries the HIGHESTMODSEQ its
/// expunges reached (as EXPUNGE's does); without it, none.
#[test]
fn move_reports_highestmodseq_once_condstore_is_on() {
    let (store, mut c) = inbox_with(3);
    c.run("c CREATE Archive");
    let out = raw(&mut c, "m MOVE 1 Archive");
    assert!(out.ends_with("m OK Move completed\r\n"), "{out}");
    c.run("e ENABLE CONDSTORE");
    let out = raw(&mut c, "n UID MOVE 3 Archive");
    let h = highest(&store);
    assert!(
        out.ends_with(&format!("n OK [HIGHESTMODSEQ {h}] Move completed\r\n")),
        "{h}: {out}"
    );
    assert!(out.contains("* 2 EXPUNGE\r\n"), "{out}");
}

/// The store itself makes the UNCHANGEDSINCE test, with the change, under its lock: what
/// another session changed is reported, not overwritten.
#[test]
fn the_store_tests_unchangedsince_with_the_change() {
    let (store, _c) = inbox_with(3);
    let since = highest(&store);
    let mut s = store.session();
    let mb = s.open("INBOX", true).unwrap();
    assert!(store.set_flags(
        "INBOX",
        2,
        FlagSet {
            system: FlagSet::FLAGGED,
            keywords: 0
        }
    ));
    let (changed, failed) = s
        .store_unchanged_since(&mb, &[1, 2, 9], since, StoreOp::Add, &[Flag::Seen])
        .unwrap();
    assert_eq!(failed, vec![2]);
    assert_eq!(changed.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
    let seen: Vec<u32> = store
        .messages("INBOX")
        .iter()
        .filter(|m| m.1.has(FlagSet::SEEN))
        .map(|m| m.0)
        .collect();
    assert_eq!(seen, vec![1]);
}
