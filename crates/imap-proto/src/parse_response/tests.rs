use super::*;
use crate::response::{Data, Encoded, FetchItem, ListItem};
use crate::types::{Flag, StatusAtt};
use crate::types::{Section, SectionText};

fn one(s: &[u8]) -> Response {
    match parse_response(s) {
        Ok((r, n)) => {
            assert_eq!(n, s.len(), "{}", String::from_utf8_lossy(s));
            r
        }
        Err(e) => panic!("{}: {e:?}", String::from_utf8_lossy(s)),
    }
}

fn is_invalid(s: &[u8]) -> bool {
    matches!(parse_response(s), Err(ResponseError::Invalid(_)))
}

#[test]
fn status_responses_from_other_servers() {
    assert_eq!(
        one(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot ready.\r\n"),
        Response::Status(Status::untagged(
            Kind::Ok,
            Some(Code::Capability(vec![
                "IMAP4rev1".into(),
                "SASL-IR".into(),
                "AUTH=PLAIN".into()
            ])),
            "Dovecot ready."
        ))
    );
    assert_eq!(
        one(b"a1 ok [read-write] SELECT completed\r\n"),
        Response::Status(Status::tagged(
            "a1",
            Kind::Ok,
            Some(Code::ReadWrite),
            "SELECT completed"
        ))
    );
    // Without text, and with an unknown code (kept as text).
    assert_eq!(one(b"a2 OK\r\n"), Response::ok("a2", ""));
    assert_eq!(
        one(b"a3 NO [X-UNKNOWN 5] x\r\n"),
        Response::no("a3", None, "[X-UNKNOWN 5] x")
    );
    assert_eq!(
        one(b"a3 NO [HIGHESTMODSEQ 5] x\r\n"),
        Response::no("a3", Some(Code::HighestModSeq(5)), "x")
    );
    assert_eq!(
        one(b"* OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"),
        Response::Status(Status::untagged(
            Kind::Ok,
            Some(Code::CopyUid {
                uidvalidity: 38505,
                source: vec![304, 319, 320],
                dest: vec![3956, 3957, 3958],
            }),
            "Done"
        ))
    );
    assert_eq!(one(b"+\r\n"), Response::Continue(String::new()));
    assert_eq!(
        one(b"+ Ready for literal\r\n"),
        Response::Continue("Ready for literal".into())
    );
}

#[test]
fn fetch_with_literals_sections_and_structures() {
    let input = b"* 12 FETCH (FLAGS (\\Seen $Junk \\Recent) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"date\" \"a (b) \\\"c\\\"\" NIL NIL NIL NIL NIL NIL NIL {3}\r\n<x>) BODY[HEADER.FIELDS (from \"To\")]<5> {4}\r\nab\r\n BODY[1.2] NIL BODY[] \"\")\r\n";
    let Response::Data(Data::Fetch { seq, items }) = one(input) else {
        panic!()
    };
    assert_eq!(seq, 12);
    assert_eq!(
        items[0],
        FetchItem::Flags(vec![
            Flag::Seen,
            Flag::Keyword("$Junk".into()),
            Flag::Recent
        ])
    );
    assert_eq!(items[1], FetchItem::InternalDate(837_596_665));
    assert_eq!(items[2], FetchItem::Rfc822Size(4286));
    assert_eq!(
        items[3],
        FetchItem::Envelope(Encoded(
            b"(\"date\" \"a (b) \\\"c\\\"\" NIL NIL NIL NIL NIL NIL NIL {3}\r\n<x>)".to_vec()
        ))
    );
    assert_eq!(
        items[4],
        FetchItem::BodySection {
            section: Section {
                parts: vec![],
                text: Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec!["FROM".into(), "TO".into()]
                })
            },
            origin: Some(5),
            data: Some(b"ab\r\n".to_vec())
        }
    );
    assert!(
        matches!(&items[5], FetchItem::BodySection { section, data: None, .. } if section.parts == [1, 2])
    );
    assert!(matches!(
        &items[6],
        FetchItem::BodySection { data: None, .. }
    ));
}

#[test]
fn untagged_data() {
    assert_eq!(
        one(b"* LIST (\\HasNoChildren) \".\" \"Entw&APw-rfe\"\r\n"),
        Response::Data(Data::List(ListItem {
            attrs: vec!["\\HasNoChildren".into()],
            delimiter: Some('.'),
            mailbox: "Entwürfe".into(),
            childinfo: vec![],
        }))
    );
    assert_eq!(
        one(b"* LSUB () NIL INBOX\r\n"),
        Response::Data(Data::Lsub(ListItem {
            attrs: vec![],
            delimiter: None,
            mailbox: "INBOX".into(),
            childinfo: vec![],
        }))
    );
    assert_eq!(
        one(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"),
        Response::Data(Data::Status {
            mailbox: "blurdybloop".into(),
            items: vec![(StatusAtt::Messages, 231), (StatusAtt::UidNext, 44292)]
        })
    );
    assert_eq!(
        one(b"* SEARCH 2 84 882\r\n"),
        Response::Data(Data::Search(vec![2, 84, 882]))
    );
    assert_eq!(one(b"* SEARCH\r\n"), Response::Data(Data::Search(vec![])));
    assert_eq!(
        one(b"* ID (\"name\" \"Dovecot\")\r\n"),
        Response::Data(Data::Id(vec![("name".into(), "Dovecot".into())]))
    );
    assert_eq!(
        one(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"),
        Response::Data(Data::Namespace {
            prefix: String::new(),
            delimiter: '/'
        })
    );
}

#[test]
fn a_stream_is_read_response_by_response() {
    let stream = b"* 3 EXPUNGE\r\n* 4 EXISTS\r\na1 OK done\r\n* 1 FETCH (RFC822 {5}\r\nab";
    let mut pos = 0;
    let mut got = Vec::new();
    loop {
        match parse_response(&stream[pos..]) {
            Ok((r, n)) => {
                got.push(r);
                pos += n;
            }
            Err(ResponseError::Incomplete) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], Response::Data(Data::Exists(4)));
    assert_eq!(&stream[pos..], b"* 1 FETCH (RFC822 {5}\r\nab");
}

#[test]
fn every_prefix_of_a_response_is_incomplete() {
    let full = b"a9 OK [APPENDUID 7 12] x\r\n* 2 FETCH (BODY (\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1) UID 4)\r\n";
    let first = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    for end in 0..first {
        assert_eq!(
            parse_response(&full[..end]),
            Err(ResponseError::Incomplete),
            "{end}"
        );
    }
    let (_, n) = parse_response(full).unwrap();
    assert_eq!(n, first);
    for end in first..full.len() {
        assert_eq!(
            parse_response(&full[first..end]),
            Err(ResponseError::Incomplete)
        );
    }
}

#[test]
fn invalid_responses() {
    for bad in [
        &b"a1 FETCH 1\r\n"[..],
        b"* 1 FOO\r\n",
        b"* FOO bar\r\n",
        b"* OK x\n",
        b"* 1 FETCH (UID x)\r\n",
        b"* 1 FETCH (UID 99999999999)\r\n",
        b"* 1 FETCH (BODY[0] NIL)\r\n",
        b"* 1 FETCH (ENVELOPE (\"a\r\n\"))\r\n",
        b"* 1 FETCH (INTERNALDATE \"yesterday\")\r\n",
        b"* LIST () \"ab\" x\r\n",
        // Neither modified UTF-7 nor UTF-8.
        b"* LIST () \"/\" \"caf\xe9\"\r\n",
        b"* STATUS x (BOGUS 3)\r\n",
        b"* OK [COPYUID 1 1:4294967295 1] x\r\n",
        b"* 1 FETCH (RFC822 {99999999999999999999}\r\n",
        b"* 1 FETCH (FLAGS (\\Seen)) trailing\r\n",
        b"\r\n",
    ] {
        assert!(
            is_invalid(bad) || matches!(parse_response(bad), Ok((Response::Status(_), _))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // A huge UID set in a code is not expanded: the status keeps it as text.
    assert_eq!(
        one(b"* OK [COPYUID 1 1:4294967295 1] x\r\n"),
        Response::Status(Status::untagged(
            Kind::Ok,
            None,
            "[COPYUID 1 1:4294967295 1] x"
        ))
    );
    assert!(is_invalid(b"a1 FETCH 1\r\n"));
    assert!(is_invalid(b"* 1 FOO\r\n"));
}

/// Found by the `response_roundtrip` fuzzer: a NUL in a BADURL was read into the URL, and the
/// encoder (rightly) never writes one, so the response did not survive a round trip.
#[test]
fn badurl_holds_no_nul() {
    assert_eq!(
        one(b"a2 NO [BADURL /INBOX/;UID=2] no\r\n"),
        Response::Status(Status::tagged(
            "a2",
            Kind::No,
            Some(Code::BadUrl("/INBOX/;UID=2".into())),
            "no",
        ))
    );
    // Not a BADURL code then, but text that starts with '['.
    assert!(matches!(
        parse_response(b"a2 NO [BADURL /INB\0OX] no\r\n"),
        Ok((Response::Status(Status { code: None, .. }), _))
    ));
    crate::fuzzing::response_roundtrip(b"a2 NO [BADURL /INB\0\0(BINARY[1] ~{3}\r\n");
}

/// Found by the `response_roundtrip` fuzzer: text starting with `[BADCHARSET (` and ending
/// in `{2}` was read as a code waiting for a literal once re-encoded without the bytes that
/// had followed it. Codes take no literals: such a line is text.
#[test]
fn response_codes_take_no_literals() {
    assert_eq!(
        one(b"a5 NO [BADCHARSET (UTF-8 \"X y\")] no\r\n"),
        Response::Status(Status::tagged(
            "a5",
            Kind::No,
            Some(Code::BadCharset(vec!["UTF-8".into(), "X y".into()])),
            "no",
        ))
    );
    for line in [
        &b"a5 NO [BADCHARSET (UTF-9 {2}\r\n"[..],
        b"a5 NO [NOUPDATE {2}\r\n",
        "a5 NO [BADCHARSET (UTF-8 \"\u{1bb}\")] x\r\n".as_bytes(),
    ] {
        assert!(matches!(
            parse_response(line),
            Ok((Response::Status(Status { code: None, .. }), _))
        ));
        crate::fuzzing::response_roundtrip(line);
    }
}
