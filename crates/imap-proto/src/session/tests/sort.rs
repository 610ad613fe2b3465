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

fn dated(subject: &str, day: u32, extra: &str) -> Vec<u8> {
    format!(
        "From: a@x\r\nSubject: {subject}\r\nDate: {day} Jan 2000 12:00:00 +0000\r\n{extra}\r\nbody\r\n"
    )
    .into_bytes()
}

/// RFC 5256 §4's SORT examples, on a mailbox made to give the RFC's answers: subjects first,
/// the newest first within one base subject ("Re: a" is "a").
#[test]
fn rfc5256_sort_transcript() {
    let store = MemoryStore::new();
    let mut c = Client::selected(&store, "INBOX");
    // The memory store sorts by INTERNALDATE (its messages' sent date is not parsed).
    for (subject, day) in [("b", 5), ("b", 1), ("a", 3), ("a", 2), ("Re: a", 4)] {
        let m = dated(subject, day, "");
        let line = format!(
            "a APPEND INBOX \"{day:02}-Jan-2000 12:00:00 +0000\" {{{}+}}\r\n",
            m.len()
        );
        let mut cmd = line.into_bytes();
        cmd.extend_from_slice(&m);
        assert_eq!(last(&c.run_bytes(&cmd)).kind, Kind::Ok);
    }
    c.run("n NOOP");
    assert_eq!(
        raw(&mut c, "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL"),
        "* SORT 5 3 4 1 2\r\nA283 OK Sort completed\r\n"
    );
    assert_eq!(
        raw(
            &mut c,
            "A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\""
        ),
        "* SORT\r\nA284 OK Sort completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A285 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\""),
        "* THREAD\r\nA285 OK Thread completed\r\n"
    );
}

/// RFC 5256 §4's THREAD response example, `(2)(3 6 (4 23)(44 7 96))`, built with References
/// among 96 messages of which only those eight match the search.
#[test]
fn rfc5256_thread_example_tree() {
    let parents: &[(u32, Option<u32>)] = &[
        (2, None),
        (3, None),
        (6, Some(3)),
        (4, Some(6)),
        (23, Some(4)),
        (44, Some(6)),
        (7, Some(44)),
        (96, Some(7)),
    ];
    // References lists the whole chain from the root, as mail clients write it.
    let chain = |mut n: u32| {
        let mut ids = Vec::new();
        while let Some(&(_, Some(p))) = parents.iter().find(|(m, _)| *m == n) {
            ids.insert(0, format!("<{p}@x>"));
            n = p;
        }
        ids.join(" ")
    };
    let store = MemoryStore::new();
    for n in 1..=96u32 {
        let in_tree = parents.iter().any(|(m, _)| *m == n);
        let subject = if in_tree {
            format!("tree {n}")
        } else {
            "filler".to_owned()
        };
        let mut extra = format!("Message-ID: <{n}@x>\r\n");
        let refs = chain(n);
        if !refs.is_empty() {
            extra.push_str(&format!("References: {refs}\r\n"));
        }
        // Days in delivery order, so siblings sort 4 before 44.
        let m = format!(
            "From: a@x\r\nSubject: {subject}\r\nDate: {} Jan 2000 {:02}:00:00 +0000\r\n{extra}\r\nbody\r\n",
            1 + n / 24,
            n % 24
        );
        store.deliver("INBOX", m.as_bytes()).unwrap();
    }
    let mut c = Client::selected(&store, "INBOX");
    assert_eq!(
        raw(&mut c, "A1 THREAD REFERENCES UTF-8 SUBJECT tree"),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\nA1 OK Thread completed\r\n"
    );
    // REFS: the same trees; 3's thread holds the newest message, so it stays last.
    assert_eq!(
        raw(&mut c, "A2 UID THREAD REFS UTF-8 SUBJECT tree"),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\nA2 OK Thread completed\r\n"
    );
}
