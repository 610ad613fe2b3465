//! Extended SEARCH over the memory store: ESEARCH results (RFC 4731), PARTIAL (RFC 5267), the
//! saved result `$` (RFC 5182) and WITHIN (RFC 5032).

use super::*;
use crate::response::{Esearch, EsearchItem};

/// The one ESEARCH response of a successful reply.
pub(super) fn esearch(r: &[Response]) -> Esearch {
    assert_eq!(last(r).kind, Kind::Ok, "{r:?}");
    let mut found = data(r).into_iter().filter_map(|d| match d {
        Data::Esearch(e) => Some(e),
        _ => None,
    });
    let e = found.next().unwrap_or_else(|| panic!("no ESEARCH: {r:?}"));
    assert!(found.next().is_none(), "{r:?}");
    e
}

#[test]
fn rfc4731_min_count_transcript() {
    let (_, mut c) = inbox_with(5);
    c.run("a STORE 2,3,5 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        raw(&mut c, "A282 SEARCH RETURN (MIN COUNT) FLAGGED"),
        "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\nA282 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A283 UID SEARCH RETURN () FLAGGED"),
        "* ESEARCH (TAG \"A283\") UID ALL 2:3,5\r\nA283 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A284 SEARCH RETURN (MIN MAX) 10:12"),
        "* ESEARCH (TAG \"A284\")\r\nA284 OK Search completed\r\n"
    );
}

#[test]
fn results_in_uids_or_sequence_numbers() {
    let (_, mut c) = inbox_with(6);
    c.run("a STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.run("a EXPUNGE");
    let e = esearch(&c.run("t1 SEARCH RETURN (MIN MAX COUNT ALL) ALL"));
    assert_eq!(e.tag.as_deref(), Some("t1"));
    assert!(!e.uid);
    assert_eq!(
        e.items,
        vec![
            EsearchItem::Min(1),
            EsearchItem::Max(5),
            EsearchItem::All(vec![1, 2, 3, 4, 5]),
            EsearchItem::Count(5)
        ]
    );
    let e = esearch(&c.run("t2 UID SEARCH RETURN (MIN MAX) ALL"));
    assert!(e.uid);
    assert_eq!(e.items, vec![EsearchItem::Min(2), EsearchItem::Max(6)]);
    let e = esearch(&c.run("t3 SEARCH RETURN (COUNT) 1000"));
    assert_eq!(e.items, vec![EsearchItem::Count(0)]);
}

#[test]
fn partial_results() {
    let (_, mut c) = inbox_with(5);
    let partial = |c: &mut Client, line: &str| match esearch(&c.run(line)).items.as_slice() {
        [EsearchItem::Partial { range, hits }] => {
            ((range.from_end, range.first, range.last), hits.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        partial(&mut c, "p SEARCH RETURN (PARTIAL 4:2) ALL"),
        ((false, 2, 4), vec![2, 3, 4])
    );
    assert_eq!(
        partial(&mut c, "p SEARCH RETURN (PARTIAL 2:10) 1:2,4:5"),
        ((false, 2, 10), vec![2, 4, 5])
    );
    assert_eq!(
        partial(&mut c, "p SEARCH RETURN (PARTIAL 6:6) ALL"),
        ((false, 6, 6), vec![])
    );
    // RFC 9394: from the end, -1 the last; the hits stay in mailbox order.
    assert_eq!(
        partial(&mut c, "p SEARCH RETURN (PARTIAL -1:-2) ALL"),
        ((true, 1, 2), vec![4, 5])
    );
    assert_eq!(
        partial(&mut c, "p UID SEARCH RETURN (PARTIAL -4:-2) 1:2,4:5"),
        ((true, 2, 4), vec![1, 2, 4])
    );
    assert_eq!(
        partial(&mut c, "p SEARCH RETURN (PARTIAL -100:-6) ALL"),
        ((true, 6, 100), vec![])
    );
    let r = c.run("p SEARCH RETURN (PARTIAL 1:*) ALL");
    assert_eq!(last(&r).kind, Kind::Bad);
}

#[test]
fn saved_result_names_messages_in_later_commands() {
    let (_, mut c) = inbox_with(5);
    c.run("a STORE 2,4,5 +FLAGS.SILENT (\\Flagged)");
    // SAVE alone: no ESEARCH, only the completion.
    let r = c.run("s1 SEARCH RETURN (SAVE) FLAGGED");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(last(&r).kind, Kind::Ok);
    let seqs: Vec<u32> = fetches(&c.run("f1 FETCH $ UID"))
        .iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(seqs, vec![2, 4, 5]);
    // The saved result is of messages, so it follows them when sequence numbers shift.
    c.run("a STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.run("a EXPUNGE");
    let r = c.run("f2 FETCH $ UID");
    let got: Vec<(u32, Vec<FetchItem>)> = fetches(&r);
    assert_eq!(
        got,
        vec![
            (1, vec![FetchItem::Uid(2)]),
            (3, vec![FetchItem::Uid(4)]),
            (4, vec![FetchItem::Uid(5)])
        ]
    );
    let e = esearch(&c.run("s2 UID SEARCH RETURN (ALL) $ UNSEEN"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2, 4, 5])]);
    let e = esearch(&c.run("s3 SEARCH RETURN (ALL) NOT $"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2])]);
    // An expunged message leaves the saved result.
    c.run("a UID STORE 4 +FLAGS.SILENT (\\Deleted)");
    c.run("a EXPUNGE");
    let e = esearch(&c.run("s4 UID SEARCH RETURN () UID $"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2, 5])]);
    // STORE and COPY take it too.
    let r = c.run("st UID STORE $ +FLAGS (\\Answered)");
    let uids: Vec<u32> = fetches(&r).iter().map(|f| f.0).collect();
    assert_eq!(uids, vec![1, 3]);
    let r = c.run("cp COPY $ INBOX");
    assert!(matches!(
        code(&r),
        Some(Code::CopyUid { source, .. }) if source == vec![2, 5]
    ));
}

#[test]
fn save_with_min_or_max_keeps_only_those() {
    let (_, mut c) = inbox_with(5);
    let e = esearch(&c.run("s1 SEARCH RETURN (MIN MAX SAVE) 2:4"));
    assert_eq!(e.items, vec![EsearchItem::Min(2), EsearchItem::Max(4)]);
    let e = esearch(&c.run("s2 SEARCH RETURN (ALL) $"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2, 4])]);
    esearch(&c.run("s3 SEARCH RETURN (MIN SAVE COUNT) 2:4"));
    let e = esearch(&c.run("s4 SEARCH RETURN (ALL) $"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2, 3, 4])]);
}

#[test]
fn saved_result_is_empty_before_save_and_after_reselect() {
    let (_, mut c) = inbox_with(3);
    let e = esearch(&c.run("s1 SEARCH RETURN (COUNT) $"));
    assert_eq!(e.items, vec![EsearchItem::Count(0)]);
    let r = c.run("f1 FETCH $ FLAGS");
    assert_eq!(last(&r).kind, Kind::Ok);
    assert!(fetches(&r).is_empty());
    c.run("s2 SEARCH RETURN (SAVE) ALL");
    assert_eq!(
        esearch(&c.run("s3 SEARCH RETURN (COUNT) $")).items,
        vec![EsearchItem::Count(3)]
    );
    c.run("s SELECT INBOX");
    assert_eq!(
        esearch(&c.run("s4 SEARCH RETURN (COUNT) $")).items,
        vec![EsearchItem::Count(0)]
    );
}

#[test]
fn within_uses_internaldate() {
    let store = MemoryStore::new();
    let mut c = Client::selected(&store, "INBOX");
    let now = crate::date::format_internal_date(crate::date::unix_now());
    for date in ["01-Jan-2000 00:00:00 +0000", now.as_str()] {
        let m = message(1);
        let r = c.run(&format!(
            "a APPEND INBOX \"{date}\" {{{}+}}\r\n{}",
            m.len(),
            String::from_utf8_lossy(&m)
        ));
        assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    }
    c.run("n NOOP");
    let e = esearch(&c.run("w1 SEARCH RETURN (ALL) YOUNGER 3600"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![2])]);
    let e = esearch(&c.run("w2 SEARCH RETURN (ALL) OLDER 3600"));
    assert_eq!(e.items, vec![EsearchItem::All(vec![1])]);
}
