//! CONTEXT=SEARCH, CONTEXT=SORT and ESORT (RFC 5267) over the memory store: live results
//! told as ADDTO/REMOVEFROM where untagged updates go, CANCELUPDATE, the limit, and the
//! extended SORT's results in sort order. Transcripts follow the RFC's examples.

use super::esearch::esearch;
use super::*;
use crate::response::EsearchItem;
use crate::session::FlagSet;

const FLAGGED: FlagSet = FlagSet {
    system: FlagSet::FLAGGED,
    keywords: 0,
};
const SEEN: FlagSet = FlagSet {
    system: FlagSet::SEEN,
    keywords: 0,
};

/// The (tag, items) of each ESEARCH in a reply.
fn live_updates(r: &[Response]) -> Vec<(Option<String>, Vec<EsearchItem>)> {
    data(r)
        .into_iter()
        .filter_map(|d| match d {
            Data::Esearch(e) => Some((e.tag, e.items)),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc5267_update_transcript() {
    let (store, mut c) = inbox_with(5);
    assert_eq!(
        raw(&mut c, "B01 UID SEARCH RETURN (UPDATE COUNT) FLAGGED"),
        "* ESEARCH (TAG \"B01\") UID COUNT 0\r\nB01 OK Search completed\r\n"
    );
    // §4.3: a second UPDATE under a live tag is rejected and has no effect.
    let r = c.run("B01 SORT RETURN (UPDATE) (ARRIVAL) UTF-8 FLAGGED");
    assert_eq!(last(&r).kind, Kind::Bad, "{r:?}");
    assert_eq!(r.len(), 1, "{r:?}");
    // Another session flags UIDs 2 and 3: the FETCH, then the ADDTO (§4.3.3).
    assert!(store.set_flags("INBOX", 2, FLAGGED) && store.set_flags("INBOX", 3, FLAGGED));
    assert_eq!(
        raw(&mut c, "n1 NOOP"),
        "* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n* 3 FETCH (FLAGS (\\Flagged \\Recent))\r\n\
         * ESEARCH (TAG \"B01\") UID ADDTO (0 2:3)\r\nn1 OK NOOP completed\r\n"
    );
    // §4.3.4: the REMOVEFROM of an expunged message comes before its EXPUNGE.
    assert!(store.expunge("INBOX", 2));
    assert_eq!(
        raw(&mut c, "B03 NOOP"),
        "* ESEARCH (TAG \"B01\") UID REMOVEFROM (0 2)\r\n* 2 EXPUNGE\r\nB03 OK NOOP completed\r\n"
    );
    // A new message that matches: after its EXISTS.
    let uid = store.deliver("INBOX", &message(6)).unwrap();
    assert!(store.set_flags("INBOX", uid, FLAGGED));
    assert_eq!(
        raw(&mut c, "n2 NOOP"),
        "* 5 EXISTS\r\n* 5 RECENT\r\n* ESEARCH (TAG \"B01\") UID ADDTO (0 6)\r\nn2 OK NOOP completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "B04 CANCELUPDATE \"B01\""),
        "B04 OK Updates cancelled\r\n"
    );
    assert!(store.set_flags("INBOX", 1, FLAGGED));
    assert_eq!(live_updates(&c.run("n3 NOOP")), vec![]);
    let r = c.run("B05 CANCELUPDATE \"B01\"");
    assert_eq!(last(&r).kind, Kind::No, "{r:?}");
}

#[test]
fn sequence_numbered_updates_keep_numbers_valid() {
    let (store, mut c) = inbox_with(4);
    let r = c.run("t SEARCH RETURN (UPDATE) SEEN");
    assert_eq!(esearch(&r).items, vec![]);
    assert_eq!(
        raw(&mut c, "a STORE 2,3 +FLAGS.SILENT (\\Seen)"),
        "* ESEARCH (TAG \"t\") ADDTO (0 2:3)\r\na OK Store completed\r\n"
    );
    assert!(store.expunge("INBOX", 2));
    // After FETCH the EXPUNGE waits (RFC 3501 §7.4.1), but the REMOVEFROM goes now, under
    // the number the client still knows.
    let r = c.run("f FETCH 1 FLAGS");
    assert_eq!(
        live_updates(&r),
        vec![(
            Some("t".into()),
            vec![EsearchItem::RemoveFrom(vec![(0, vec![2])])]
        )]
    );
    assert!(expunges(&r).is_empty(), "{r:?}");
    // The EXPUNGE, and no second REMOVEFROM.
    assert_eq!(
        raw(&mut c, "n NOOP"),
        "* 2 EXPUNGE\r\nn OK NOOP completed\r\n"
    );
    // UID 3 is now message 2.
    assert!(store.set_flags("INBOX", 3, FlagSet::default()));
    assert_eq!(
        raw(&mut c, "n NOOP"),
        "* 2 FETCH (FLAGS (\\Recent))\r\n* ESEARCH (TAG \"t\") REMOVEFROM (0 2)\r\nn OK NOOP completed\r\n"
    );
}

#[test]
fn own_store_reports_the_change_after_its_fetches() {
    let (_, mut c) = inbox_with(5);
    c.run("t SEARCH RETURN (UPDATE ALL) SEEN");
    assert_eq!(
        raw(&mut c, "s STORE 1,2,4 +FLAGS (\\Seen)"),
        "* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n\
         * 4 FETCH (FLAGS (\\Seen \\Recent))\r\n* ESEARCH (TAG \"t\") ADDTO (0 1:2,4)\r\n\
         s OK Store completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "s STORE 1:5 -FLAGS.SILENT (\\Seen)"),
        "* ESEARCH (TAG \"t\") REMOVEFROM (0 1:2,4)\r\ns OK Store completed\r\n"
    );
}

#[test]
fn sequence_numbers_in_the_program_are_evaluated_once() {
    let (store, mut c) = inbox_with(4);
    c.run("t UID SEARCH RETURN (UPDATE) 2:3 FLAGGED");
    // A set reaching past the last message names the ones there are.
    c.run("w UID SEARCH RETURN (UPDATE) 4:10 FLAGGED");
    c.run("a STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.run("a EXPUNGE");
    // Message 2 is now UID 3 (in the set), message 3 is UID 4 (not in it, but in w's).
    assert!(store.set_flags("INBOX", 4, FLAGGED));
    assert_eq!(
        live_updates(&c.run("n NOOP")),
        vec![(
            Some("w".into()),
            vec![EsearchItem::AddTo(vec![(0, vec![4])])]
        )]
    );
    assert!(store.set_flags("INBOX", 3, FLAGGED));
    let r = c.run("n NOOP");
    assert!(
        data(&r).contains(&Data::Esearch(crate::response::Esearch {
            tag: Some("t".into()),
            uid: true,
            items: vec![EsearchItem::AddTo(vec![(0, vec![3])])],
        })),
        "{r:?}"
    );
}

#[test]
fn sort_context_positions_follow_the_sort_order() {
    let store = MemoryStore::new();
    for subject in ["d", "b", "e", "a"] {
        let m = format!("From: x@example.test\r\nSubject: {subject}\r\n\r\nbody\r\n");
        store.deliver("INBOX", m.as_bytes()).unwrap();
    }
    let mut c = Client::selected(&store, "INBOX");
    // Sorted: a(4) b(2) d(1) e(3).
    assert_eq!(
        raw(
            &mut c,
            "S1 UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN"
        ),
        "* ESEARCH (TAG \"S1\") UID ALL 4,2,1,3\r\nS1 OK Sort completed\r\n"
    );
    // b and d go: one run at position 2.
    assert!(store.set_flags("INBOX", 2, SEEN) && store.set_flags("INBOX", 1, SEEN));
    let r = c.run("n NOOP");
    let e = esearch(&r);
    assert_eq!(
        e.items,
        vec![EsearchItem::RemoveFrom(vec![(2, vec![2, 1])])]
    );
    // c arrives and d comes back: a c d e.
    store
        .deliver(
            "INBOX",
            b"From: x@example.test\r\nSubject: c\r\n\r\nbody\r\n",
        )
        .unwrap();
    assert!(store.set_flags("INBOX", 1, FlagSet::default()));
    let e = esearch(&c.run("n NOOP"));
    assert_eq!(e.items, vec![EsearchItem::AddTo(vec![(2, vec![5, 1])])]);
    // In sequence numbers, a SORT context names messages by number, same positions.
    c.run("S2 SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 UNSEEN");
    assert!(store.expunge("INBOX", 4));
    let r = c.run("n NOOP");
    assert_eq!(
        live_updates(&r),
        vec![
            (
                Some("S1".into()),
                vec![EsearchItem::RemoveFrom(vec![(1, vec![4])])]
            ),
            (
                Some("S2".into()),
                vec![EsearchItem::RemoveFrom(vec![(4, vec![4])])]
            ),
        ]
    );
    assert_eq!(expunges(&r), vec![4]);
}

#[test]
fn limit_refuses_updates_but_answers() {
    let (store, mut c) = inbox_with(2);
    for t in ["t1", "t2", "t3"] {
        let r = c.run(&format!("{t} SEARCH RETURN (UPDATE COUNT) FLAGGED"));
        assert_eq!(r.len(), 2, "{r:?}");
    }
    // The policy of the tests allows three.
    assert_eq!(
        raw(&mut c, "t4 SEARCH RETURN (UPDATE COUNT) FLAGGED"),
        "* ESEARCH (TAG \"t4\") COUNT 0\r\n\
         * NO [NOUPDATE \"t4\"] Too many updating searches; CANCELUPDATE one first\r\n\
         t4 OK Search completed\r\n"
    );
    c.run("c CANCELUPDATE \"t1\" \"t2\"");
    let r = c.run("t5 SEARCH RETURN (UPDATE) FLAGGED");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(store.set_flags("INBOX", 1, FLAGGED));
    let tags: Vec<Option<String>> = live_updates(&c.run("n NOOP"))
        .into_iter()
        .map(|(tag, _)| tag)
        .collect();
    assert_eq!(tags, [Some("t3".into()), Some("t5".into())]);
}

#[test]
fn contexts_end_with_the_selection() {
    let (store, mut c) = inbox_with(2);
    c.run("t SEARCH RETURN (UPDATE) FLAGGED");
    c.run("s SELECT INBOX");
    assert!(store.set_flags("INBOX", 1, FLAGGED));
    assert_eq!(live_updates(&c.run("n NOOP")), vec![]);
    let r = c.run("c CANCELUPDATE \"t\"");
    assert_eq!(last(&r).kind, Kind::No, "{r:?}");
    c.run("u UNSELECT");
    let r = c.run("c CANCELUPDATE \"t\"");
    assert_eq!(last(&r).kind, Kind::Bad, "{r:?}");
}

#[test]
fn esort_results_in_sort_order() {
    let (_, mut c) = inbox_with(5);
    // RFC 5267 §3.3: ALL in sort order, never a descending range.
    assert_eq!(
        raw(&mut c, "E01 UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL"),
        "* ESEARCH (TAG \"E01\") UID ALL 5,4,3,2,1\r\nE01 OK Sort completed\r\n"
    );
    // §3.1: MIN and MAX are the first and the last in sort order.
    assert_eq!(
        raw(
            &mut c,
            "E02 SORT RETURN (MIN MAX COUNT) (REVERSE SUBJECT) UTF-8 2:4"
        ),
        "* ESEARCH (TAG \"E02\") MIN 4 MAX 2 COUNT 3\r\nE02 OK Sort completed\r\n"
    );
    assert_eq!(
        raw(
            &mut c,
            "E03 SORT RETURN (PARTIAL -1:-2) (REVERSE SUBJECT) UTF-8 ALL"
        ),
        "* ESEARCH (TAG \"E03\") PARTIAL (-1:-2 2,1)\r\nE03 OK Sort completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "E04 SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL"),
        "* ESEARCH (TAG \"E04\") PARTIAL (2:3 2:3)\r\nE04 OK Sort completed\r\n"
    );
}

#[test]
fn sort_saves_and_names_the_saved_result() {
    let (_, mut c) = inbox_with(5);
    // SAVE with MIN in sort order keeps the first sorted message.
    let r = c.run("s1 SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 2:4");
    assert_eq!(esearch(&r).items, vec![EsearchItem::Min(4)]);
    assert_eq!(
        raw(&mut c, "s2 SORT (SUBJECT) UTF-8 OR $ 1"),
        "* SORT 1 4\r\ns2 OK Sort completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "s3 UID THREAD ORDEREDSUBJECT UTF-8 $"),
        "* THREAD (4)\r\ns3 OK Thread completed\r\n"
    );
}

#[test]
fn rfc5267_context_hint_and_partial_transcript() {
    let (_, mut c) = inbox_with(5);
    c.run("a STORE 2 +FLAGS.SILENT ($Junk)");
    // §4.2: CONTEXT is a hint; the results are as without it.
    assert_eq!(
        raw(
            &mut c,
            "A01 SEARCH RETURN (CONTEXT COUNT) UNDELETED UNKEYWORD $Junk"
        ),
        "* ESEARCH (TAG \"A01\") COUNT 4\r\nA01 OK Search completed\r\n"
    );
    // §4.4: a range spanning the end, one within, one beyond.
    for (line, answer) in [
        (
            "A02 UID SEARCH RETURN (PARTIAL 3:10) UNDELETED UNKEYWORD $Junk",
            "* ESEARCH (TAG \"A02\") UID PARTIAL (3:10 4:5)\r\nA02 OK Search completed\r\n",
        ),
        (
            "A03 UID SEARCH RETURN (PARTIAL 1:2) UNDELETED UNKEYWORD $Junk",
            "* ESEARCH (TAG \"A03\") UID PARTIAL (1:2 1,3)\r\nA03 OK Search completed\r\n",
        ),
        (
            "A04 UID SEARCH RETURN (PARTIAL 24000:24500) UNDELETED UNKEYWORD $Junk",
            "* ESEARCH (TAG \"A04\") UID PARTIAL (24000:24500 NIL)\r\nA04 OK Search completed\r\n",
        ),
    ] {
        assert_eq!(raw(&mut c, line), answer);
    }
}

#[test]
fn extended_sort_reports_modseq_as_extended_search() {
    let (_, mut c) = inbox_with(3);
    c.run("a STORE 1 +FLAGS.SILENT (\\Flagged)");
    let sorted = esearch(&c.run("s UID SORT RETURN (MAX ALL) (REVERSE SUBJECT) UTF-8 MODSEQ 1"));
    let searched = esearch(&c.run("s UID SEARCH RETURN (ALL) MODSEQ 1"));
    let modseq = |items: &[EsearchItem]| {
        items.iter().find_map(|i| match i {
            EsearchItem::ModSeq(m) => Some(*m),
            _ => None,
        })
    };
    // MAX is the last in sort order; the highest MODSEQ is the same either way.
    assert_eq!(sorted.items.first(), Some(&EsearchItem::Max(1)));
    assert!(modseq(&sorted.items).is_some(), "{sorted:?}");
    assert_eq!(modseq(&sorted.items), modseq(&searched.items));
}
