use super::*;
use crate::command::{AppendData, AppendMessage};
use crate::framing::*;
use crate::parse::{append_in_progress, next_append_message, url};

fn parse(s: &str) -> Command {
    match parse_command(s.as_bytes()) {
        Ok((tag, c)) => {
            assert_eq!(tag, "a1");
            c
        }
        Err(e) => panic!("{s}: {e:?}"),
    }
}

fn bad(s: &str) -> ParseError {
    parse_command(s.as_bytes()).expect_err(s)
}

#[test]
fn simple_commands_any_case() {
    assert_eq!(parse("a1 capability"), Command::Capability);
    assert_eq!(parse("a1 NOOP"), Command::Noop);
    assert_eq!(parse("a1 LogOut"), Command::Logout);
    assert_eq!(parse("a1 IDLE"), Command::Idle);
    assert_eq!(parse("a1 UNSELECT"), Command::Unselect);
}

#[test]
fn login_with_atoms_quoted_and_literals() {
    assert_eq!(
        parse("a1 LOGIN joe \"p a\\\"ss\""),
        Command::Login {
            user: b"joe".to_vec(),
            password: b"p a\"ss".to_vec()
        }
    );
    assert_eq!(
        parse("a1 LOGIN {3}\r\njoe {4+}\r\n\x01\"x}"),
        Command::Login {
            user: b"joe".to_vec(),
            password: b"\x01\"x}".to_vec()
        }
    );
    assert!(bad("a1 LOGIN {5}\r\njoe").message.contains("shorter"));
    assert_eq!(bad("a1 LOGIN joe").tag.as_deref(), Some("a1"));
}

#[test]
fn tags() {
    assert_eq!(bad("+a NOOP").tag, None);
    assert_eq!(bad("").tag, None);
    assert_eq!(peek_tag(b"x.y-1 whatever"), Some("x.y-1".into()));
    assert_eq!(bad("a1 NOOP extra").tag.as_deref(), Some("a1"));
    assert!(parse_command(format!("{} NOOP", "t".repeat(65)).as_bytes()).is_err());
}

#[test]
fn mailbox_names_are_decoded_from_modified_utf7() {
    assert_eq!(
        parse("a1 SELECT \"Entw&APw-rfe\""),
        Command::Select("Entwürfe".into())
    );
    assert_eq!(
        parse("a1 CREATE a&-b"),
        Command::Create {
            name: "a&b".into(),
            uses: vec![]
        }
    );
    assert_eq!(
        parse("a1 CREATE MySpecialTrash (USE (\\Trash \\Archive))"),
        Command::Create {
            name: "MySpecialTrash".into(),
            uses: vec!["\\Trash".into(), "\\Archive".into()]
        }
    );
    assert_eq!(
        parse("a1 CREATE x (USE ())"),
        Command::Create {
            name: "x".into(),
            uses: vec![]
        }
    );
    for bad in [
        "a1 CREATE x (FOO (\\Sent))",
        "a1 CREATE x (USE (Sent))",
        "a1 CREATE x (USE (\\Sent)",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(bad("a1 SELECT \"caf\u{e9}\"").message.contains("UTF-7"));
    assert_eq!(
        parse("a1 LIST \"\" %/*"),
        Command::List {
            reference: String::new(),
            pattern: "%/*".into()
        }
    );
    assert_eq!(
        parse("a1 RENAME a b/c"),
        Command::Rename("a".into(), "b/c".into())
    );
}

#[test]
fn sequence_sets() {
    let Command::Fetch { set, uid, .. } = parse("a1 UID FETCH 1:3,7,9:*,* FLAGS") else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        set.0,
        vec![
            (SeqNum::Value(1), SeqNum::Value(3)),
            (SeqNum::Value(7), SeqNum::Value(7)),
            (SeqNum::Value(9), SeqNum::Star),
            (SeqNum::Star, SeqNum::Star)
        ]
    );
    assert!(set.contains(2, 20) && set.contains(20, 20) && !set.contains(8, 20));
    assert!(bad("a1 FETCH 0 FLAGS").message.contains("non-zero"));
    assert!(bad("a1 FETCH 1: FLAGS").tag.is_some());
    assert!(bad("a1 FETCH 99999999999 FLAGS").tag.is_some());
}

#[test]
fn fetch_items_and_macros() {
    let Command::Fetch { atts, .. } = parse("a1 FETCH 1 ALL") else {
        panic!()
    };
    assert_eq!(
        atts,
        vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
            FetchAtt::Envelope
        ]
    );
    let Command::Fetch { atts, .. } = parse(
        "a1 FETCH 1 (UID RFC822.SIZE BODY BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From \"To\")] BODY[1.2.MIME] BODY[]<10.20> BODY[2.TEXT] RFC822.HEADER BODY[HEADER.FIELDS.NOT (X)])",
    ) else {
        panic!()
    };
    assert_eq!(atts.len(), 10);
    assert_eq!(
        atts[4],
        FetchAtt::BodySection {
            peek: true,
            section: Section {
                parts: vec![],
                text: Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec!["From".into(), "To".into()]
                })
            },
            partial: None
        }
    );
    assert_eq!(
        atts[5],
        FetchAtt::BodySection {
            peek: false,
            section: Section {
                parts: vec![1, 2],
                text: Some(SectionText::Mime)
            },
            partial: None
        }
    );
    assert_eq!(
        atts[6],
        FetchAtt::BodySection {
            peek: false,
            section: Section::default(),
            partial: Some((10, 20))
        }
    );
    assert!(bad("a1 FETCH 1 BODY[MIME]").tag.is_some());
    assert!(bad("a1 FETCH 1 BODY[1.]").tag.is_some());
    assert!(bad("a1 FETCH 1 BODY.PEEK").tag.is_some());
    assert!(bad("a1 FETCH 1 (FLAGS").tag.is_some());
    assert!(bad("a1 FETCH 1 BODY[]<1.0>").tag.is_some());
}

#[test]
fn store_forms() {
    assert_eq!(
        parse("a1 STORE 1 +FLAGS.SILENT (\\Seen $Label1)"),
        Command::Store {
            uid: false,
            set: SeqSet(vec![(SeqNum::Value(1), SeqNum::Value(1))]),
            op: StoreOp::Add,
            silent: true,
            flags: vec![Flag::Seen, Flag::Keyword("$Label1".into())]
        }
    );
    let Command::Store { op, flags, .. } = parse("a1 UID STORE 1 -FLAGS \\Deleted \\Answered")
    else {
        panic!()
    };
    assert_eq!(op, StoreOp::Remove);
    assert_eq!(flags, vec![Flag::Deleted, Flag::Answered]);
    let Command::Store { op, flags, .. } = parse("a1 STORE 1 FLAGS ()") else {
        panic!()
    };
    assert_eq!((op, flags), (StoreOp::Replace, vec![]));
    assert!(bad("a1 STORE 1 +FLAG (\\Seen)").tag.is_some());
    assert!(bad("a1 STORE 1 FLAGS (\\*)").tag.is_some());
}

#[test]
fn search_keys() {
    let Command::Search { key, uid, .. } = parse(
        "a1 UID SEARCH CHARSET UTF-8 OR FROM \"a b\" NOT (SEEN LARGER 100) SINCE 1-Feb-1994 HEADER X-Y z 2:4 UID 5:*",
    ) else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        key,
        SearchKey::And(vec![
            SearchKey::Or(
                Box::new(SearchKey::From("a b".into())),
                Box::new(SearchKey::Not(Box::new(SearchKey::And(vec![
                    SearchKey::Seen,
                    SearchKey::Larger(100)
                ]))))
            ),
            SearchKey::Since(Date {
                year: 1994,
                month: 2,
                day: 1
            }),
            SearchKey::Header("X-Y".into(), "z".into()),
            SearchKey::SeqSet(SeqSet(vec![(SeqNum::Value(2), SeqNum::Value(4))])),
            SearchKey::Uid(SeqSet(vec![(SeqNum::Value(5), SeqNum::Star)])),
        ])
    );
    assert_eq!(
        parse("a1 SEARCH SENTON \"7-Feb-1994\""),
        Command::Search {
            uid: false,
            key: SearchKey::SentOn(Date {
                year: 1994,
                month: 2,
                day: 7
            }),
            ret: None,
        }
    );
    // RFC 8514's keys.
    let d = Date {
        year: 2018,
        month: 3,
        day: 9,
    };
    let Command::Search { key, .. } = parse(
        "a1 SEARCH SAVEDBEFORE 9-Mar-2018 savedon \"9-Mar-2018\" SAVEDSINCE 9-Mar-2018 SAVEDATESUPPORTED",
    ) else {
        panic!()
    };
    assert_eq!(
        key,
        SearchKey::And(vec![
            SearchKey::SavedBefore(d),
            SearchKey::SavedOn(d),
            SearchKey::SavedSince(d),
            SearchKey::SaveDateSupported,
        ])
    );
    assert!(bad("a1 SEARCH SAVEDON").tag.is_some());
    let Command::Fetch { atts, .. } = parse("a1 FETCH 1 (UID SAVEDATE)") else {
        panic!()
    };
    assert_eq!(atts, vec![FetchAtt::Uid, FetchAtt::SaveDate]);
    assert_eq!(
        bad("a1 SEARCH CHARSET KOI8-R ALL").kind,
        ErrorKind::BadCharset
    );
    assert_eq!(
        bad("a1 SELECT \"!#$&'+,-.0123456789:;<=>?@^_`|[}\"").kind,
        ErrorKind::InvalidMailboxName
    );
    assert_eq!(bad("a1 SELECT").kind, ErrorKind::Syntax);
    assert!(bad("a1 SEARCH SINCE 1-Foo-1994").tag.is_some());
    assert!(bad("a1 SEARCH").tag.is_some());
    let deep = format!("a1 SEARCH {}ALL{}", "(".repeat(100), ")".repeat(100));
    assert!(bad(&deep).message.contains("deeply"));
    let nots = format!("a1 SEARCH {}ALL", "NOT ".repeat(100));
    assert!(bad(&nots).message.contains("deeply"));
}

#[test]
fn append_status_id_enable_authenticate() {
    assert_eq!(
        parse("a1 APPEND Sent (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello"),
        Command::Append {
            mailbox: "Sent".into(),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen],
                date: Some(760_686_745),
                binary: false,
                data: AppendData::Literal(b"hello".to_vec())
            }]
        }
    );
    assert!(matches!(
        parse("a1 APPEND INBOX {0+}\r\n"),
        Command::Append { ref messages, .. }
            if messages[0].data == AppendData::Literal(Vec::new())
    ));
    assert!(bad("a1 APPEND INBOX \"bad date\" {1}\r\nx")
        .message
        .contains("date"));
    assert_eq!(
        parse("a1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)"),
        Command::Status(
            "INBOX".into(),
            vec![
                StatusAtt::Messages,
                StatusAtt::UidNext,
                StatusAtt::UidValidity,
                StatusAtt::Unseen,
                StatusAtt::Recent
            ]
        )
    );
    assert_eq!(parse("a1 ID NIL"), Command::Id(vec![]));
    assert_eq!(
        parse("a1 ID (\"name\" \"mutt\" \"os\" NIL)"),
        Command::Id(vec![
            ("name".into(), Some("mutt".into())),
            ("os".into(), None)
        ])
    );
    assert_eq!(
        parse("a1 ENABLE CONDSTORE utf8=accept"),
        Command::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()])
    );
    assert_eq!(
        parse("a1 AUTHENTICATE plain AGpvZQBwdw=="),
        Command::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some("AGpvZQBwdw==".into())
        }
    );
    assert_eq!(
        parse("a1 UID EXPUNGE 3:5"),
        Command::UidExpunge(SeqSet(vec![(SeqNum::Value(3), SeqNum::Value(5))]))
    );
    assert!(matches!(
        parse("a1 UID MOVE 1 Trash"),
        Command::Move { uid: true, .. }
    ));
    assert!(matches!(
        parse("a1 COPY 1:2 Trash"),
        Command::Copy { uid: false, .. }
    ));
}

#[test]
fn collector_literals_and_limits() {
    let mut c = CommandCollector::new(1000, 10);
    assert_eq!(
        c.push_line(b"a1 LOGIN {3}\r\n"),
        Ok(Collected::Literal {
            size: 3,
            sync: true
        })
    );
    c.push_literal(b"joe");
    assert_eq!(
        c.push_line(b" {2+}\r\n"),
        Ok(Collected::Literal {
            size: 2,
            sync: false
        })
    );
    c.push_literal(b"pw");
    assert_eq!(c.push_line(b"\r\n"), Ok(Collected::Complete));
    let cmd = c.take();
    assert_eq!(
        parse_command(&cmd).unwrap().1,
        Command::Login {
            user: b"joe".to_vec(),
            password: b"pw".to_vec()
        }
    );
    assert_eq!(
        c.push_line(b"a2 APPEND INBOX {11}"),
        Err(CollectError::LiteralTooLarge {
            size: 11,
            sync: true
        })
    );
    assert!(c.bytes().is_empty());
    let long = vec![b'x'; 1001];
    assert_eq!(c.push_line(&long), Err(CollectError::LineTooLong));
    assert_eq!(literal_marker(b"x {12}"), Some((12, true)));
    assert_eq!(literal_marker(b"x {12+}"), Some((12, false)));
    assert_eq!(literal_marker(b"x {}"), None);
    assert_eq!(literal_marker(b"x {1a}"), None);
    assert_eq!(literal_marker(b"x {99999999999999999999}"), None);
}

/// The fuzz corpus: every input must parse or fail without panicking.
#[test]
fn fuzz_corpus_does_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_command");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = parse_command(&data);
        let _ = append_before_literal(&data);
        let _ = append_in_progress(&data);
        let _ = next_append_message(&data, "INBOX");
        let _ = url::message_url(&String::from_utf8_lossy(&data));
        let mut c = CommandCollector::new(200, 100);
        for line in data.split(|&b| b == b'\n') {
            let _ = c.push_line(line);
        }
        n += 1;
    }
    assert!(n >= 10, "corpus has {n} inputs");
}

/// A bounded, deterministic mutation run over the corpus (what the cargo-fuzz target does
/// without limits): no input may panic the collector or the parser.
#[test]
fn mutated_inputs_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_command");
    let seeds = crate::fuzzing::corpus(&dir);
    let mut rng = crate::fuzzing::Mutator::new(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let d = rng.mutate(&seeds, round, b"{}()[]<>\"\\*%:.,+-~/; \r\n0123456789");
        let _ = parse_command(&d);
        let _ = append_before_literal(&d);
        let _ = append_in_progress(&d);
        let _ = next_append_message(&d, "INBOX");
        let _ = url::message_url(&String::from_utf8_lossy(&d));
        let mut c = CommandCollector::new(256, 1024);
        for line in d.split(|&b| b == b'\n') {
            let _ = c.push_line(line);
        }
    }
}

#[test]
fn list_extended_forms() {
    // Plain LIST stays plain.
    assert_eq!(
        parse("a1 LIST \"\" *"),
        Command::List {
            reference: String::new(),
            pattern: "*".into()
        }
    );
    let Command::ListExtended(x) =
        parse("a1 list (subscribed recursivematch remote) \"\" (\"INBOX\" \"Sent*\") return (children STATUS (MESSAGES UNSEEN) special-use)")
    else {
        panic!()
    };
    assert!(x.select.subscribed && x.select.recursive_match && x.select.remote);
    assert!(!x.select.special_use);
    assert_eq!(x.patterns, vec!["INBOX".to_owned(), "Sent*".to_owned()]);
    assert!(x.ret.children && x.ret.special_use);
    // The SUBSCRIBED selection option implies the return option.
    assert!(x.ret.subscribed);
    assert_eq!(
        x.ret.status,
        Some(vec![StatusAtt::Messages, StatusAtt::Unseen])
    );
    let Command::ListExtended(x) = parse("a1 LIST () \"\" %") else {
        panic!()
    };
    assert_eq!(x.select, ListSelect::default());
    assert_eq!(x.ret, ListReturn::default());
    let Command::ListExtended(x) = parse("a1 LIST \"\" % RETURN ()") else {
        panic!()
    };
    assert_eq!(x.patterns, vec!["%".to_owned()]);
    let Command::ListExtended(x) = parse("a1 LIST (SPECIAL-USE) \"\" *") else {
        panic!()
    };
    assert!(x.select.special_use && x.ret.special_use && !x.ret.subscribed);
    for bad_cmd in [
        "a1 LIST (RECURSIVEMATCH) \"\" *",
        "a1 LIST (REMOTE RECURSIVEMATCH) \"\" *",
        "a1 LIST (BOGUS) \"\" *",
        "a1 LIST \"\" * RETURN (BOGUS)",
        "a1 LIST \"\" * RETURN (STATUS (BOGUS))",
        "a1 LIST \"\" ()",
        "a1 LIST (SUBSCRIBED \"\" *",
        "a1 LSUB (SUBSCRIBED) \"\" *",
    ] {
        assert_eq!(bad(bad_cmd).tag.as_deref(), Some("a1"), "{bad_cmd}");
    }
}

#[test]
fn append_is_recognised_before_its_literal() {
    let (tag, head) = append_before_literal(
        b"a7 append \"Sent\" (\\Seen kw) \"14-Jul-2020 10:00:00 +0000\" {300000}\r\n",
    )
    .unwrap();
    assert_eq!(tag, "a7");
    assert_eq!(head.mailbox, "Sent");
    assert_eq!(head.flags, vec![Flag::Seen, Flag::Keyword("kw".into())]);
    assert_eq!(head.date, Some(1_594_720_800));
    let (_, head) = append_before_literal(b"a8 APPEND INBOX {5+}\r\n").unwrap();
    assert_eq!((head.mailbox.as_str(), head.flags.len()), ("INBOX", 0));
    // The mailbox name may itself be a literal before the message's.
    let (_, head) = append_before_literal(b"a9 APPEND {3}\r\nBox {5}\r\n").unwrap();
    assert_eq!(head.mailbox, "Box");
    // What the collector holds at the same point for the in-memory form parses alike.
    let Command::Append { messages, .. } =
        parse("a1 APPEND \"Sent\" (\\Seen kw) \"14-Jul-2020 10:00:00 +0000\" {2}\r\nhi")
    else {
        panic!()
    };
    assert_eq!(
        (messages[0].flags.len(), messages[0].date),
        (2, Some(1_594_720_800))
    );
    for not_append in [
        &b"a1 LOGIN {5}\r\n"[..],
        b"a1 APPEND {5}\r\n",
        b"a1 APPEND INBOX {5}",
        b"a1 APPEND INBOX x{5}\r\n",
        b"a1 APPEND INBOX {5}{6}\r\n",
        b"a1 APPEND INBOX (\\Seen {5}\r\n",
        b"a1 APPEND INBOX {5}\r\nhello {6}\r\n",
    ] {
        assert!(
            append_before_literal(not_append).is_none(),
            "{}",
            String::from_utf8_lossy(not_append)
        );
    }
}

#[test]
fn quota_commands_and_status_size() {
    assert_eq!(parse("a1 GETQUOTA \"\""), Command::GetQuota(String::new()));
    assert_eq!(
        parse("a1 getquotaroot INBOX"),
        Command::GetQuotaRoot("INBOX".into())
    );
    assert_eq!(
        parse("a1 SETQUOTA \"\" (STORAGE 512 MESSAGE 1000)"),
        Command::SetQuota(String::new())
    );
    assert_eq!(
        parse("a1 SETQUOTA \"\" ()"),
        Command::SetQuota(String::new())
    );
    assert!(bad("a1 SETQUOTA \"\" (STORAGE)").tag.is_some());
    assert_eq!(
        parse("a1 STATUS INBOX (SIZE messages)"),
        Command::Status("INBOX".into(), vec![StatusAtt::Size, StatusAtt::Messages])
    );
}

#[test]
fn metadata_commands_from_rfc_5464() {
    use crate::types::{MetadataDepth, MetadataGet};
    assert_eq!(
        parse("a1 GETMETADATA \"\" /private/comment"),
        Command::GetMetadata(MetadataGet {
            mailbox: String::new(),
            entries: vec!["/private/comment".into()],
            maxsize: None,
            depth: MetadataDepth::Zero,
        })
    );
    assert_eq!(
        parse(
            "a1 GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/Private/Comment /shared/comment)"
        ),
        Command::GetMetadata(MetadataGet {
            mailbox: "INBOX".into(),
            entries: vec!["/private/comment".into(), "/shared/comment".into()],
            maxsize: Some(1024),
            depth: MetadataDepth::Infinity,
        })
    );
    assert_eq!(
        parse("a1 SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines. /shared/x NIL)"),
        Command::SetMetadata {
            mailbox: "INBOX".into(),
            entries: vec![
                (
                    "/private/comment".into(),
                    Some(b"My new comment across\r\ntwo lines.".to_vec())
                ),
                ("/shared/x".into(), None),
            ],
        }
    );
    for bad_entry in [
        "/comment",
        "/private/",
        "/private//x",
        "/private/a*",
        "private/x",
    ] {
        assert!(
            bad(&format!("a1 SETMETADATA INBOX ({bad_entry} \"v\")"))
                .tag
                .is_some(),
            "{bad_entry}"
        );
    }
}

#[test]
fn preview_with_and_without_lazy() {
    for cmd in [
        "a1 FETCH 1 (UID PREVIEW (LAZY))",
        "a1 FETCH 1 (UID PREVIEW)",
    ] {
        let Command::Fetch { atts, .. } = parse(cmd) else {
            panic!("{cmd}")
        };
        assert_eq!(atts, [FetchAtt::Uid, FetchAtt::Preview], "{cmd}");
    }
}

#[test]
fn compress_names_its_mechanism() {
    assert_eq!(
        parse("a1 compress deflate"),
        Command::Compress("DEFLATE".into())
    );
    assert_eq!(parse("a1 COMPRESS X-Z"), Command::Compress("X-Z".into()));
    assert!(matches!(bad("a1 COMPRESS").kind, ErrorKind::Syntax));
    assert!(matches!(
        bad("a1 COMPRESS DEFLATE extra").kind,
        ErrorKind::Syntax
    ));
}

#[test]
fn sort_and_thread() {
    use crate::sort::{SortCriterion, SortKey, ThreadAlgorithm};
    assert_eq!(
        parse("a1 UID SORT (REVERSE DATE displayfrom) UTF-8 SEEN 1:*"),
        Command::Sort {
            uid: true,
            criteria: vec![
                SortCriterion {
                    reverse: true,
                    key: SortKey::Date
                },
                SortCriterion {
                    reverse: false,
                    key: SortKey::DisplayFrom
                },
            ],
            key: SearchKey::And(vec![
                SearchKey::Seen,
                SearchKey::SeqSet(SeqSet(vec![(SeqNum::Value(1), SeqNum::Star)]))
            ]),
            ret: None
        }
    );
    assert_eq!(
        parse("a1 THREAD REFERENCES US-ASCII ALL"),
        Command::Thread {
            uid: false,
            algorithm: ThreadAlgorithm::References,
            key: SearchKey::All,
        }
    );
    assert_eq!(
        parse("a1 UID THREAD refs UTF-8 ALL"),
        Command::Thread {
            uid: true,
            algorithm: ThreadAlgorithm::Refs,
            key: SearchKey::All,
        }
    );
    assert_eq!(bad("a1 SORT (SIZE) KOI8-R ALL").kind, ErrorKind::BadCharset);
    for s in [
        "a1 SORT SIZE UTF-8 ALL",
        "a1 SORT () UTF-8 ALL",
        "a1 SORT (REVERSE) UTF-8 ALL",
        "a1 SORT (SIZE) UTF-8",
        "a1 THREAD X-REFERENCES2 UTF-8 ALL",
    ] {
        assert_eq!(bad(s).kind, ErrorKind::Syntax, "{s}");
    }
}
