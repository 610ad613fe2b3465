//! STORE, FETCH, SEARCH, COPY/MOVE and APPEND replies.

use super::*;
use crate::types::{Section, SectionText};

#[test]
fn store_replies_with_flags_unless_silent() {
    let (store, mut a) = inbox_with(2);
    let mut b = Client::selected(&store, "INBOX");
    let r = a.run("a1 STORE 1 +FLAGS (\\Flagged)");
    assert_eq!(
        fetches(&r),
        vec![(1, vec![FetchItem::Flags(vec![Flag::Flagged, Flag::Recent])])]
    );
    let r = a.run("a2 STORE 2 +FLAGS.SILENT (\\Seen)");
    assert_eq!(r.len(), 1, "{r:?}");
    // Unchanged flags: nothing to say.
    assert!(fetches(&a.run("a3 STORE 1 +FLAGS (\\Flagged)")).is_empty());
    let r = a.run("a4 UID STORE 2 FLAGS (\\Answered)");
    assert_eq!(
        fetches(&r),
        vec![(
            2,
            vec![
                FetchItem::Uid(2),
                FetchItem::Flags(vec![Flag::Answered, Flag::Recent])
            ]
        )]
    );
    // A new keyword: FLAGS and PERMANENTFLAGS come first.
    let r = a.run("a5 STORE 1 +FLAGS ($Important)");
    assert!(
        matches!(&r[0], Response::Data(Data::Flags(f)) if f.contains(&Flag::Keyword("$Important".into())))
    );
    assert!(matches!(
        &r[1],
        Response::Status(Status {
            code: Some(Code::PermanentFlags(_)),
            ..
        })
    ));
    assert_eq!(
        flags_of(&fetches(&r)[0].1),
        Some(vec![
            Flag::Flagged,
            Flag::Keyword("$Important".into()),
            Flag::Recent
        ])
    );
    // The other session hears of all of it on its next command, silent changes included.
    let r = b.run("b1 NOOP");
    assert!(matches!(&r[0], Response::Data(Data::Flags(_))));
    assert_eq!(
        fetches(&r),
        vec![
            (
                1,
                vec![FetchItem::Flags(vec![
                    Flag::Flagged,
                    Flag::Keyword("$Important".into())
                ])]
            ),
            (2, vec![FetchItem::Flags(vec![Flag::Answered])]),
        ]
    );
    assert_eq!(last(&a.run("a6 STORE 3 +FLAGS (\\Seen)")).kind, Kind::Bad);
}

#[test]
fn fetch_body_sets_seen_and_reports_it() {
    let (store, mut a) = inbox_with(2);
    let r = a.run("a1 FETCH 1 BODY.PEEK[HEADER]");
    let (_, items) = &fetches(&r)[0];
    assert_eq!(items.len(), 1, "PEEK does not touch flags");
    let r = a.run("a2 FETCH 1 (BODY[] RFC822.SIZE)");
    let (seq, items) = &fetches(&r)[0];
    assert_eq!(*seq, 1);
    let whole = message(1);
    assert_eq!(
        items[0],
        FetchItem::BodySection {
            section: Section::default(),
            origin: None,
            data: Some(whole.clone())
        }
    );
    assert_eq!(items[1], FetchItem::Rfc822Size(whole.len() as u64));
    assert_eq!(flags_of(items), Some(vec![Flag::Seen, Flag::Recent]));
    assert!(store.messages("INBOX")[0]
        .1
        .has(crate::session::FlagSet::SEEN));
    // Already seen: no FLAGS added, and no later FETCH FLAGS update either.
    let r = a.run("a3 FETCH 1 BODY[TEXT]<0.4>");
    assert_eq!(
        fetches(&r),
        vec![(
            1,
            vec![FetchItem::BodySection {
                section: Section {
                    parts: vec![],
                    text: Some(SectionText::Text)
                },
                origin: Some(0),
                data: Some(b"body".to_vec())
            }]
        )]
    );
    assert_eq!(a.run("a4 NOOP").len(), 1);
    // Read-only: content served, \Seen not set.
    let mut e = Client::logged_in(&store);
    e.run("e1 EXAMINE INBOX");
    let r = e.run("e2 FETCH 2 RFC822");
    assert_eq!(fetches(&r)[0].1, vec![FetchItem::Rfc822(message(2))]);
    assert!(!store.messages("INBOX")[1]
        .1
        .has(crate::session::FlagSet::SEEN));
    // ENVELOPE and BODYSTRUCTURE are well-formed protocol.
    let r = a.run("a5 FETCH 2 (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE UID)");
    let (_, items) = &fetches(&r)[0];
    assert_eq!(items.len(), 5);
    assert!(
        matches!(&items[0], FetchItem::Envelope(e) if e.as_bytes().starts_with(b"(NIL \"message 2\" NIL"))
    );
}

#[test]
fn search_keys_over_flags_numbers_and_content() {
    let (_store, mut a) = inbox_with(4);
    a.run("a1 STORE 1,3 +FLAGS.SILENT (\\Seen)");
    a.run("a2 STORE 2 +FLAGS.SILENT (\\Flagged)");
    let search = |c: &mut Client, q: &str| -> Vec<u32> {
        match data(&c.run(&format!("s {q}"))).as_slice() {
            [Data::Search(hits)] => hits.clone(),
            other => panic!("{q}: {other:?}"),
        }
    };
    assert_eq!(search(&mut a, "SEARCH SEEN"), vec![1, 3]);
    assert_eq!(search(&mut a, "SEARCH UNSEEN"), vec![2, 4]);
    assert_eq!(search(&mut a, "SEARCH NOT SEEN NOT FLAGGED"), vec![4]);
    assert_eq!(search(&mut a, "SEARCH OR FLAGGED 4"), vec![2, 4]);
    assert_eq!(search(&mut a, "SEARCH 2:* SEEN"), vec![3]);
    assert_eq!(search(&mut a, "UID SEARCH UID 3:*"), vec![3, 4]);
    assert_eq!(search(&mut a, "SEARCH SUBJECT \"MESSAGE 3\""), vec![3]);
    assert_eq!(search(&mut a, "SEARCH BODY \"body 4\""), vec![4]);
    assert_eq!(search(&mut a, "SEARCH LARGER 1000"), Vec::<u32>::new());
    assert_eq!(search(&mut a, "SEARCH NEW"), vec![2, 4]);
}

#[test]
fn copy_move_and_append_report_uids() {
    let (store, mut a) = inbox_with(3);
    a.run("a0 CREATE Archive");
    a.run("a1 STORE 2 +FLAGS.SILENT (\\Answered $Work)");
    let r = a.run("a2 COPY 2:3 Archive");
    let Some(Code::CopyUid {
        uidvalidity,
        source,
        dest,
    }) = code(&r)
    else {
        panic!("{r:?}")
    };
    assert_eq!((source, dest), (vec![2, 3], vec![1, 2]));
    let mut b = Client::logged_in(&store);
    let r = b.run("b1 STATUS Archive (UIDVALIDITY MESSAGES)");
    assert!(
        matches!(&data(&r)[0], Data::Status { items, .. } if items[0].1 == u64::from(uidvalidity))
    );
    b.run("b2 SELECT Archive");
    let r = b.run("b3 FETCH 1 FLAGS");
    assert_eq!(
        flags_of(&fetches(&r)[0].1),
        Some(vec![
            Flag::Answered,
            Flag::Keyword("$Work".into()),
            Flag::Recent
        ]),
        "COPY keeps flags"
    );
    // MOVE: untagged COPYUID, then the EXPUNGEs, then OK.
    let r = a.run("a3 MOVE 1,3 Archive");
    assert!(matches!(
        &r[0],
        Response::Status(Status {
            tag: None,
            code: Some(Code::CopyUid { .. }),
            ..
        })
    ));
    assert_eq!(expunges(&r), vec![1, 2]);
    assert_eq!(last(&r).kind, Kind::Ok);
    assert_eq!(store.messages("INBOX").len(), 1);
    // Missing destinations say TRYCREATE.
    assert_eq!(code(&a.run("a4 COPY 1 Nowhere")), Some(Code::TryCreate));
    assert_eq!(
        code(&a.run("a5 APPEND Nowhere {1}\r\nx")),
        Some(Code::TryCreate)
    );
    let r = a.run("a6 APPEND Archive (\\Draft) \" 7-Feb-1994 21:52:25 -0800\" {2}\r\nhi");
    assert!(
        matches!(code(&r), Some(Code::AppendUid { uidvalidity: v, uids }) if v == uidvalidity && uids == [5])
    );
    b.run("b4 NOOP");
    let r = b.run("b5 FETCH 5 (INTERNALDATE FLAGS)");
    assert_eq!(
        fetches(&r)[0].1,
        vec![
            FetchItem::InternalDate(760_686_745),
            FetchItem::Flags(vec![Flag::Draft, Flag::Recent])
        ]
    );
    assert_eq!(last(&a.run("a7 FETCH 9 FLAGS")).kind, Kind::Bad);
}
