//! The encoder's exact bytes for every response form (RFC 3501 examples where there is one,
//! hand-checked otherwise), each read back by the response parser to the same value.

mod binary;
mod structures;

use super::*;
use crate::parse_response::parse_response;
use crate::types::{Section, SectionText, StatusAtt};

fn s(b: &[u8]) -> String {
    let mut out = Vec::new();
    string(&mut out, b);
    String::from_utf8_lossy(&out).into_owned()
}

/// `r` encodes to exactly `wire`, and `wire` parses back to `r`.
fn check(r: Response, wire: &str) {
    assert_eq!(String::from_utf8_lossy(&r.to_bytes()), wire);
    let (back, n) = parse_response(wire.as_bytes()).unwrap_or_else(|e| panic!("{wire}: {e}"));
    assert_eq!(back, r, "{wire}");
    assert_eq!(n, wire.len());
}

fn data(d: Data, wire: &str) {
    check(Response::Data(d), wire);
}

fn fetch(item: FetchItem, wire: &str) {
    data(
        Data::Fetch {
            seq: 1,
            items: vec![item],
        },
        &format!("* 1 FETCH ({wire})\r\n"),
    );
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn b(x: &str) -> Option<Vec<u8>> {
    Some(x.as_bytes().to_vec())
}

#[test]
fn strings() {
    assert_eq!(s(b"hello"), "\"hello\"");
    assert_eq!(s(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(s(b"two\r\nlines"), "{10}\r\ntwo\r\nlines");
    assert_eq!(s("caf\u{e9}".as_bytes()), "{5}\r\ncaf\u{e9}");
    assert_eq!(s(b""), "\"\"");
    let mut out = Vec::new();
    nstring(&mut out, None);
    NameEncoding::ModifiedUtf7.encode(&mut out, " Entw\u{fc}rfe");
    assert_eq!(out, b"NIL\" Entw&APw-rfe\"");
}

#[test]
fn status_kinds_and_continuation() {
    check(Response::ok("a1", "done"), "a1 OK done\r\n");
    check(Response::no("a2", None, "no"), "a2 NO no\r\n");
    check(Response::bad("a3", "bad"), "a3 BAD bad\r\n");
    check(
        Response::Status(Status::untagged(Kind::PreAuth, None, "welcome")),
        "* PREAUTH welcome\r\n",
    );
    check(Response::bye("Logging out"), "* BYE Logging out\r\n");
    check(
        Response::Status(Status::untagged(Kind::Ok, Some(Code::Alert), "")),
        "* OK [ALERT] \r\n",
    );
    check(Response::Continue("idling".into()), "+ idling\r\n");
    // A line break in the text cannot start a new response.
    assert_eq!(Response::ok("t", "a\r\nb").to_bytes(), b"t OK a  b\r\n");
}

#[test]
fn every_response_code() {
    let simple = [
        (Code::Alert, "ALERT"),
        (Code::Parse, "PARSE"),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::ReadWrite, "READ-WRITE"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::Closed, "CLOSED"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (Code::Cannot, "CANNOT"),
        (Code::InUse, "INUSE"),
        (Code::Limit, "LIMIT"),
        (Code::Nonexistent, "NONEXISTENT"),
        (Code::NoPerm, "NOPERM"),
        (Code::MetadataTooMany, "METADATA TOOMANY"),
        (Code::MetadataLongEntries(2199), "METADATA LONGENTRIES 2199"),
        (Code::MetadataMaxSize(1024), "METADATA MAXSIZE 1024"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::TooBig, "TOOBIG"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::CompressionActive, "COMPRESSIONACTIVE"),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        (
            Code::BadCharset(strs(&["UTF-8", "US ASCII"])),
            "BADCHARSET (UTF-8 \"US ASCII\")",
        ),
        (
            Code::Capability(strs(&["IMAP4rev1", "AUTH=PLAIN"])),
            "CAPABILITY IMAP4rev1 AUTH=PLAIN",
        ),
        (
            Code::PermanentFlags(vec![
                Flag::Deleted,
                Flag::Seen,
                Flag::Keyword("$Junk".into()),
                Flag::Extension("*".into()),
            ]),
            "PERMANENTFLAGS (\\Deleted \\Seen $Junk \\*)",
        ),
        (Code::UidNext(4392), "UIDNEXT 4392"),
        (Code::UidValidity(3_857_529_045), "UIDVALIDITY 3857529045"),
        (Code::Unseen(12), "UNSEEN 12"),
        (
            Code::AppendUid {
                uidvalidity: 38505,
                uids: vec![3955],
            },
            "APPENDUID 38505 3955",
        ),
        // RFC 3502's example.
        (
            Code::AppendUid {
                uidvalidity: 38505,
                uids: vec![3955, 3956, 3957, 3960],
            },
            "APPENDUID 38505 3955:3957,3960",
        ),
        (Code::UnknownCte, "UNKNOWN-CTE"),
        (
            Code::BadUrl("/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9".into()),
            "BADURL /INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
        ),
        // RFC 4315's example.
        (
            Code::CopyUid {
                uidvalidity: 38505,
                source: vec![304, 319, 320],
                dest: vec![3956, 3957, 3958],
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
    ];
    for (code, wire) in simple {
        check(
            Response::Status(Status::tagged("a", Kind::No, Some(code), "text")),
            &format!("a NO [{wire}] text\r\n"),
        );
    }
}

#[test]
fn untagged_data() {
    data(
        Data::Capability(strs(&["IMAP4rev1", "STARTTLS", "AUTH=GSSAPI"])),
        "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI\r\n",
    );
    data(
        Data::Flags(vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ]),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
    );
    data(Data::Exists(23), "* 23 EXISTS\r\n");
    data(Data::Recent(5), "* 5 RECENT\r\n");
    data(Data::Expunge(44), "* 44 EXPUNGE\r\n");
    data(
        Data::Status {
            mailbox: "blurdybloop".into(),
            items: vec![(StatusAtt::Messages, 231), (StatusAtt::UidNext, 44292)],
        },
        "* STATUS \"blurdybloop\" (MESSAGES 231 UIDNEXT 44292)\r\n",
    );
    data(
        Data::Status {
            mailbox: "Entwürfe".into(),
            items: vec![
                (StatusAtt::Recent, 1),
                (StatusAtt::UidValidity, 7),
                (StatusAtt::Unseen, 0),
            ],
        },
        "* STATUS \"Entw&APw-rfe\" (RECENT 1 UIDVALIDITY 7 UNSEEN 0)\r\n",
    );
    data(Data::Search(vec![2, 84, 882]), "* SEARCH 2 84 882\r\n");
    data(Data::Search(vec![]), "* SEARCH\r\n");
    data(
        Data::Namespace {
            prefix: String::new(),
            delimiter: '/',
        },
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n",
    );
    data(Data::Enabled(vec![]), "* ENABLED\r\n");
    // RFC 5464 §4.4.1's example, and a multi-line value and a missing entry.
    data(
        Data::Metadata {
            mailbox: "INBOX".into(),
            entries: vec![
                ("/private/comment".into(), Some(b"My comment".to_vec())),
                ("/shared/comment".into(), Some(b"Its sunny outside!".to_vec())),
            ],
        },
        "* METADATA \"INBOX\" (/private/comment \"My comment\" /shared/comment \"Its sunny outside!\")\r\n",
    );
    data(
        Data::Metadata {
            mailbox: String::new(),
            entries: vec![
                ("/private/x".into(), Some(b"a\r\nb".to_vec())),
                ("/shared/y".into(), None),
            ],
        },
        "* METADATA \"\" (/private/x {4}\r\na\r\nb /shared/y NIL)\r\n",
    );
    // RFC 9208 §5.1 and §5.2's examples.
    data(
        Data::Quota {
            root: String::new(),
            resources: vec![("STORAGE".into(), 10, 512)],
        },
        "* QUOTA \"\" (STORAGE 10 512)\r\n",
    );
    data(
        Data::QuotaRoot {
            mailbox: "INBOX".into(),
            roots: vec![String::new()],
        },
        "* QUOTAROOT \"INBOX\" \"\"\r\n",
    );
    data(
        Data::QuotaRoot {
            mailbox: "comp.mail.mime".into(),
            roots: vec![],
        },
        "* QUOTAROOT \"comp.mail.mime\"\r\n",
    );
    // RFC 8438 §3.
    data(
        Data::Status {
            mailbox: "INBOX".into(),
            items: vec![(StatusAtt::Size, 44421)],
        },
        "* STATUS \"INBOX\" (SIZE 44421)\r\n",
    );
    data(
        Data::Enabled(strs(&["CONDSTORE"])),
        "* ENABLED CONDSTORE\r\n",
    );
    data(
        Data::Id(vec![
            ("name".into(), "Cyrus".into()),
            ("version".into(), "1.5".into()),
        ]),
        "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\")\r\n",
    );
    data(Data::Id(vec![]), "* ID NIL\r\n");
}

#[test]
fn list_and_lsub_items() {
    let item = |attrs: &[&str], delimiter, mailbox: &str, childinfo: &[&str]| ListItem {
        attrs: strs(attrs),
        delimiter,
        mailbox: mailbox.into(),
        childinfo: strs(childinfo),
    };
    data(
        Data::List(item(&["\\Noselect"], Some('/'), "~/Mail/foo", &[])),
        "* LIST (\\Noselect) \"/\" \"~/Mail/foo\"\r\n",
    );
    data(
        Data::List(item(&[], None, "foo", &[])),
        "* LIST () NIL \"foo\"\r\n",
    );
    // RFC 5258 §6's example.
    data(
        Data::List(item(&[], Some('/'), "Foo", &["SUBSCRIBED"])),
        "* LIST () \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
    );
    data(
        Data::Lsub(item(&[], Some('.'), "#news.comp.mail.misc", &[])),
        "* LSUB () \".\" \"#news.comp.mail.misc\"\r\n",
    );
    data(
        Data::Lsub(item(
            &["\\HasNoChildren", "\\Drafts"],
            Some('/'),
            "Entwürfe",
            &[],
        )),
        "* LSUB (\\HasNoChildren \\Drafts) \"/\" \"Entw&APw-rfe\"\r\n",
    );
}

#[test]
fn fetch_items() {
    fetch(FetchItem::Uid(4_827_313), "UID 4827313");
    fetch(
        FetchItem::Flags(vec![Flag::Seen, Flag::Recent]),
        "FLAGS (\\Seen \\Recent)",
    );
    fetch(FetchItem::Flags(vec![]), "FLAGS ()");
    // 17-Jul-1996 02:44:25 -0700, shown in UTC; a one-digit day is space-padded.
    fetch(
        FetchItem::InternalDate(837_596_665),
        "INTERNALDATE \"17-Jul-1996 09:44:25 +0000\"",
    );
    fetch(
        FetchItem::InternalDate(760_686_745),
        "INTERNALDATE \" 8-Feb-1994 05:52:25 +0000\"",
    );
    fetch(FetchItem::Rfc822Size(44827), "RFC822.SIZE 44827");
    // RFC 8514: a date-time like INTERNALDATE's, or NIL where none is kept.
    fetch(
        FetchItem::SaveDate(Some(837_596_665)),
        "SAVEDATE \"17-Jul-1996 09:44:25 +0000\"",
    );
    fetch(FetchItem::SaveDate(None), "SAVEDATE NIL");
    // RFC 8970 §5's example, and a preview there is none of.
    fetch(
        FetchItem::Preview(Some(
            "Hello Joe, this is the first part of the message.".into(),
        )),
        "PREVIEW \"Hello Joe, this is the first part of the message.\"",
    );
    fetch(FetchItem::Preview(None), "PREVIEW NIL");
    fetch(FetchItem::Rfc822(b"hi".to_vec()), "RFC822 {2}\r\nhi");
    fetch(
        FetchItem::Rfc822Header(b"A: b\r\n\r\n".to_vec()),
        "RFC822.HEADER {8}\r\nA: b\r\n\r\n",
    );
    fetch(FetchItem::Rfc822Text(vec![]), "RFC822.TEXT {0}\r\n");
    let section = |parts: Vec<u32>, text| Section { parts, text };
    fetch(
        FetchItem::BodySection {
            section: Section::default(),
            origin: None,
            data: Some(b"hello".to_vec()),
        },
        "BODY[] {5}\r\nhello",
    );
    fetch(
        FetchItem::BodySection {
            section: section(vec![1, 2], Some(SectionText::Mime)),
            origin: None,
            data: None,
        },
        "BODY[1.2.MIME] \"\"",
    );
    fetch(
        FetchItem::BodySection {
            section: section(vec![3], None),
            origin: Some(0),
            data: Some(b"x".to_vec()),
        },
        "BODY[3]<0> {1}\r\nx",
    );
    fetch(
        FetchItem::BodySection {
            section: section(vec![], Some(SectionText::Header)),
            origin: None,
            data: Some(vec![]),
        },
        "BODY[HEADER] {0}\r\n",
    );
    fetch(
        FetchItem::BodySection {
            section: section(vec![2], Some(SectionText::Text)),
            origin: Some(100),
            data: None,
        },
        "BODY[2.TEXT]<100> \"\"",
    );
    fetch(
        FetchItem::BodySection {
            section: section(
                vec![],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: strs(&["X-SPAM", "NIL"]),
                }),
            ),
            origin: None,
            data: None,
        },
        "BODY[HEADER.FIELDS.NOT (X-SPAM \"NIL\")] \"\"",
    );
    // Field names are sent in capitals, whatever the client wrote.
    let lower = FetchItem::BodySection {
        section: section(
            vec![],
            Some(SectionText::HeaderFields {
                not: false,
                fields: strs(&["From", "to"]),
            }),
        ),
        origin: None,
        data: None,
    };
    assert_eq!(
        Response::Data(Data::Fetch {
            seq: 2,
            items: vec![lower, FetchItem::Uid(9)]
        })
        .to_bytes(),
        b"* 2 FETCH (BODY[HEADER.FIELDS (FROM TO)] \"\" UID 9)\r\n"
    );
}

#[test]
fn sort_and_thread_data() {
    use crate::sort::ThreadNode;
    let n = |id: Option<u32>, children: Vec<ThreadNode>| ThreadNode { id, children };
    data(Data::Sort(vec![3, 1, 2]), "* SORT 3 1 2\r\n");
    data(Data::Sort(vec![]), "* SORT\r\n");
    data(Data::Thread(vec![]), "* THREAD\r\n");
    // RFC 5256 §4's example.
    data(
        Data::Thread(vec![
            n(Some(2), vec![]),
            n(
                Some(3),
                vec![n(
                    Some(6),
                    vec![
                        n(Some(4), vec![n(Some(23), vec![])]),
                        n(Some(44), vec![n(Some(7), vec![n(Some(96), vec![])])]),
                    ],
                )],
            ),
        ]),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n",
    );
    data(
        Data::Thread(vec![n(None, vec![n(Some(3), vec![]), n(Some(5), vec![])])]),
        "* THREAD ((3)(5))\r\n",
    );
}
