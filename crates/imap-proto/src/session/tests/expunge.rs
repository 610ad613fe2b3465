//! When expunges are reported (RFC 3501 §7.4.1) and what LOGOUT says.

use super::*;

/// Three messages, selected by `a`; uid 2 then expunged by another process.
fn three_then_expunge_two() -> (MemoryStore, Client) {
    let store = MemoryStore::new();
    for n in 1..=3 {
        store.deliver("INBOX", &message(n)).unwrap();
    }
    let a = Client::selected(&store, "INBOX");
    assert!(store.expunge("INBOX", 2));
    (store, a)
}

#[test]
fn expunge_is_not_reported_during_sequence_number_commands() {
    let (_store, mut a) = three_then_expunge_two();
    let r = a.run("a1 FETCH 1:3 FLAGS");
    assert_eq!(expunges(&r), Vec::<u32>::new());
    // The client's numbers still stand: 3 is still the third message.
    let seqs: Vec<u32> = fetches(&r).iter().map(|f| f.0).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let r = a.run("a2 STORE 3 +FLAGS (\\Flagged)");
    assert_eq!(expunges(&r), Vec::<u32>::new());
    assert_eq!(fetches(&r)[0].0, 3);
    let r = a.run("a3 SEARCH ALL");
    assert_eq!(expunges(&r), Vec::<u32>::new());
    assert_eq!(data(&r), vec![Data::Search(vec![1, 3])]);
    let r = a.run("a4 COPY 1:3 INBOX");
    assert_eq!(expunges(&r), Vec::<u32>::new());
    // NOOP finally reports it, and the numbers shift.
    let r = a.run("a5 NOOP");
    assert_eq!(expunges(&r), vec![2]);
    let r = a.run("a6 FETCH 2 UID");
    assert_eq!(fetches(&r), vec![(2, vec![FetchItem::Uid(3)])]);
}

#[test]
fn expunge_is_reported_after_uid_commands() {
    let (_store, mut a) = three_then_expunge_two();
    let r = a.run("a1 UID FETCH 1:* FLAGS");
    assert_eq!(expunges(&r), vec![2]);
    assert_eq!(last(&r).kind, Kind::Ok);

    let (_store, mut b) = three_then_expunge_two();
    let r = b.run("b1 UID SEARCH ALL");
    assert_eq!(expunges(&r), vec![2]);
    let (_store, mut c) = three_then_expunge_two();
    assert_eq!(expunges(&c.run("c1 UID STORE 1 +FLAGS (\\Seen)")), vec![2]);
}

#[test]
fn logout_says_only_bye_and_ok() {
    let (store, mut a) = three_then_expunge_two();
    store.deliver("INBOX", &message(4)).unwrap();
    let r = a.run("a1 LOGOUT");
    assert_eq!(a.action, Action::Close);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(matches!(
        &r[0],
        Response::Status(Status {
            tag: None,
            kind: Kind::Bye,
            ..
        })
    ));
    assert_eq!(
        (last(&r).tag.as_deref(), last(&r).kind),
        (Some("a1"), Kind::Ok)
    );
    assert!(a.session.is_logged_out());
}

#[test]
fn expunge_command_and_other_sessions() {
    let store = MemoryStore::new();
    for n in 1..=4 {
        store.deliver("INBOX", &message(n)).unwrap();
    }
    let mut a = Client::selected(&store, "INBOX");
    let mut b = Client::selected(&store, "INBOX");
    a.run("a1 STORE 2,4 +FLAGS.SILENT (\\Deleted)");
    // A message marked \Deleted by others after this client last heard of the mailbox
    // is still expunged if the client knows it.
    let r = a.run("a2 EXPUNGE");
    assert_eq!(expunges(&r), vec![2, 3]);
    assert_eq!(last(&r).kind, Kind::Ok);
    let r = b.run("b1 NOOP");
    assert_eq!(expunges(&r), vec![2, 3]);
    // UID EXPUNGE only removes the UIDs named.
    a.run("a3 STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    let r = a.run("a4 UID EXPUNGE 3");
    assert_eq!(expunges(&r), vec![2]);
    assert_eq!(store.messages("INBOX").len(), 1);
    // CLOSE expunges silently.
    let r = a.run("a5 CLOSE");
    assert_eq!(r.len(), 1);
    assert!(store.messages("INBOX").is_empty());
    // b learns of it, and its EXISTS goes down by EXPUNGEs only.
    let r = b.run("b2 NOOP");
    assert_eq!(expunges(&r), vec![1, 1]);
    assert!(!data(&r).iter().any(|d| matches!(d, Data::Exists(_))));
}

#[test]
fn expunge_does_not_take_messages_the_client_was_not_told_of() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    let mut a = Client::selected(&store, "INBOX");
    let uid = store.deliver("INBOX", &message(2)).unwrap();
    store.set_flags(
        "INBOX",
        uid,
        crate::session::FlagSet {
            system: crate::session::FlagSet::DELETED,
            keywords: 0,
        },
    );
    // The EXPUNGE reply first reports the new message (EXISTS), but the expunge itself was
    // decided on what the client knew.
    let r = a.run("a1 EXPUNGE");
    assert_eq!(expunges(&r), Vec::<u32>::new());
    assert_eq!(store.messages("INBOX").len(), 2);
}
