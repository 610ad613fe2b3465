//! \Recent ownership and new messages reported to a session that has the mailbox selected.

use super::*;

fn exists_recent(r: &[Response]) -> Vec<Data> {
    data(r)
        .into_iter()
        .filter(|d| matches!(d, Data::Exists(_) | Data::Recent(_)))
        .collect()
}

#[test]
fn one_session_claims_new_messages() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    store.deliver("INBOX", &message(2)).unwrap();
    let mut a = Client::logged_in(&store);
    assert_eq!(
        exists_recent(&a.run("a1 SELECT INBOX")),
        vec![Data::Exists(2), Data::Recent(2)]
    );
    let mut b = Client::logged_in(&store);
    assert_eq!(
        exists_recent(&b.run("b1 SELECT INBOX")),
        vec![Data::Exists(2), Data::Recent(0)]
    );
    let fa = fetches(&a.run("a2 FETCH 1:* FLAGS"));
    assert!(fa
        .iter()
        .all(|(_, i)| flags_of(i) == Some(vec![Flag::Recent])));
    let fb = fetches(&b.run("b2 FETCH 1:* FLAGS"));
    assert!(fb.iter().all(|(_, i)| flags_of(i) == Some(vec![])));
    assert_eq!(
        data(&a.run("a3 SEARCH RECENT")),
        vec![Data::Search(vec![1, 2])]
    );
    assert_eq!(data(&b.run("b3 SEARCH RECENT")), vec![Data::Search(vec![])]);
    assert_eq!(
        data(&b.run("b4 SEARCH OLD")),
        vec![Data::Search(vec![1, 2])]
    );
}

#[test]
fn examine_claims_nothing_and_status_still_counts() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    store.deliver("INBOX", &message(2)).unwrap();
    let mut e = Client::logged_in(&store);
    assert_eq!(
        exists_recent(&e.run("e1 EXAMINE INBOX")),
        vec![Data::Exists(2), Data::Recent(2)]
    );
    let mut s = Client::logged_in(&store);
    let status =
        |s: &mut Client, tag: &str| data(&s.run(&format!("{tag} STATUS INBOX (MESSAGES RECENT)")));
    let recent = |n| {
        vec![Data::Status {
            mailbox: "INBOX".into(),
            items: vec![
                (crate::types::StatusAtt::Messages, 2),
                (crate::types::StatusAtt::Recent, n),
            ],
        }]
    };
    assert_eq!(status(&mut s, "s1"), recent(2));
    let mut a = Client::logged_in(&store);
    assert_eq!(
        exists_recent(&a.run("a1 SELECT INBOX")),
        vec![Data::Exists(2), Data::Recent(2)]
    );
    assert_eq!(status(&mut s, "s2"), recent(0));
    assert!(store.messages("INBOX").iter().all(|m| !m.2));
    // The read-only session was told of \Recent ones; a new delivery is \Recent for it too
    // but stays unclaimed.
    store.deliver("INBOX", &message(3)).unwrap();
    let r = e.run("e2 NOOP");
    assert_eq!(exists_recent(&r), vec![Data::Exists(3), Data::Recent(3)]);
    assert!(store.messages("INBOX")[2].2, "EXAMINE claimed a message");
    let r = a.run("a2 NOOP");
    assert_eq!(exists_recent(&r), vec![Data::Exists(3), Data::Recent(3)]);
    assert!(!store.messages("INBOX")[2].2);
}

#[test]
fn appended_copied_and_delivered_messages_show_up_on_noop() {
    let store = MemoryStore::new();
    let mut a = Client::selected(&store, "INBOX");
    let mut b = Client::logged_in(&store);
    assert_eq!(last(&b.run("b1 CREATE Work")).kind, Kind::Ok);
    let r = b.run("b2 APPEND INBOX (\\Seen) {5}\r\nhello");
    assert!(matches!(code(&r), Some(Code::AppendUid { uids, .. }) if uids == [1]));
    assert_eq!(
        exists_recent(&a.run("a1 NOOP")),
        vec![Data::Exists(1), Data::Recent(1)]
    );
    assert_eq!(
        fetches(&a.run("a2 FETCH 1 FLAGS")),
        vec![(1, vec![FetchItem::Flags(vec![Flag::Seen, Flag::Recent])])]
    );
    // Copied from another mailbox.
    b.run("b3 APPEND Work {5}\r\nwork1");
    b.run("b4 APPEND Work {5}\r\nwork2");
    b.run("b5 SELECT Work");
    let r = b.run("b6 COPY 1:2 INBOX");
    assert!(matches!(code(&r), Some(Code::CopyUid { .. })));
    assert_eq!(
        exists_recent(&a.run("a3 NOOP")),
        vec![Data::Exists(3), Data::Recent(3)]
    );
    // Delivered from outside, noticed by CHECK too.
    store.deliver("INBOX", &message(9)).unwrap();
    assert_eq!(
        exists_recent(&a.run("a4 CHECK")),
        vec![Data::Exists(4), Data::Recent(4)]
    );
    // Nothing new: nothing said.
    assert_eq!(a.run("a5 NOOP").len(), 1);
}

#[test]
fn idle_reports_changes_until_done() {
    let store = MemoryStore::new();
    let mut a = Client::selected(&store, "INBOX");
    let r = a.run("i1 IDLE");
    assert_eq!(r, vec![Response::Continue("idling".into())]);
    assert_eq!(a.action, Action::Idle { tag: "i1".into() });
    let mut out = Output::new();
    a.session.idle_updates(&mut out);
    assert!(out.is_empty());
    store.deliver("INBOX", &message(1)).unwrap();
    a.session.idle_updates(&mut out);
    assert_eq!(
        responses(&mut out),
        vec![
            Response::Data(Data::Exists(1)),
            Response::Data(Data::Recent(1))
        ]
    );
    store.set_flags(
        "INBOX",
        1,
        crate::session::FlagSet {
            system: crate::session::FlagSet::FLAGGED,
            keywords: 0,
        },
    );
    a.session.idle_done("i1", true, &mut out);
    let r = responses(&mut out);
    assert_eq!(
        fetches(&r),
        vec![(1, vec![FetchItem::Flags(vec![Flag::Flagged, Flag::Recent])])]
    );
    assert_eq!(
        last(&r),
        &Status::tagged("i1", Kind::Ok, None, "Idle completed")
    );
    a.session.idle_done("i2", false, &mut out);
    assert_eq!(last(&responses(&mut out)).kind, Kind::Bad);
}
