//! SORT and THREAD over the memory store: the search keys select, UID variants report UIDs,
//! and the commands need a selected mailbox.

use super::*;
use crate::sort::ThreadNode;

fn mail(from: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!("From: {from}\r\nSubject: {subject}\r\n{extra}\r\nbody\r\n").into_bytes()
}

fn leaf(id: u32) -> ThreadNode {
    ThreadNode {
        id: Some(id),
        children: Vec::new(),
    }
}

#[test]
fn sort_and_thread_over_the_selected_mailbox() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    let r = c.run("a0 SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(last(&r).kind, Kind::Bad, "{r:?}");
    for m in [
        mail("Zed <z@x>", "b", "Message-ID: <1@x>\r\n"),
        mail(
            "al@x",
            "Re: a",
            "Message-ID: <2@x>\r\nReferences: <1@x>\r\n",
        ),
        mail("\"Bo\" <b@x>", "a", "Message-ID: <3@x>\r\n"),
    ] {
        store.deliver("INBOX", &m).unwrap();
    }
    store.expunge("INBOX", 1);
    store.deliver("INBOX", &mail("c@x", "c", "")).unwrap();
    let mut c = Client::selected(&store, "INBOX");
    // Sequence numbers 1..3 are UIDs 2..4.
    let r = c.run("a1 SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(data(&r), vec![Data::Sort(vec![1, 2, 3])]);
    assert_eq!(last(&r).kind, Kind::Ok);
    let r = c.run("a2 UID SORT (REVERSE DISPLAYFROM) US-ASCII NOT SUBJECT c");
    // "Bo" before "al@x", reversed.
    assert_eq!(data(&r), vec![Data::Sort(vec![3, 2])]);
    let r = c.run("a3 SORT (REVERSE ARRIVAL) KOI8-R ALL");
    assert_eq!(
        code(&r),
        Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
        "{r:?}"
    );
    let r = c.run("a4 THREAD ORDEREDSUBJECT UTF-8 ALL");
    assert_eq!(
        data(&r),
        vec![Data::Thread(vec![
            ThreadNode {
                id: Some(1),
                children: vec![leaf(2)]
            },
            leaf(3)
        ])]
    );
    // The parent of UID 2 is gone, so it is a root, gathered under UID 3 by its subject.
    let r = c.run("a5 UID THREAD REFERENCES UTF-8 ALL");
    assert_eq!(
        data(&r),
        vec![Data::Thread(vec![
            ThreadNode {
                id: Some(3),
                children: vec![leaf(2)]
            },
            leaf(4)
        ])]
    );
}
