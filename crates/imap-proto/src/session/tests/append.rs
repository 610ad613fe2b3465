//! APPEND with MULTIAPPEND (RFC 3502), literal8 (RFC 3516) and CATENATE (RFC 4469): the
//! RFCs' examples as transcripts, and all-or-nothing storage when one message fails.

use super::*;

/// `(uidvalidity, uids)` of an APPEND's tagged OK.
fn append_uids(r: &[Response]) -> (u32, Vec<u32>) {
    assert_eq!(last(r).kind, Kind::Ok, "{r:?}");
    match code(r) {
        Some(Code::AppendUid { uidvalidity, uids }) => (uidvalidity, uids),
        other => panic!("no APPENDUID: {other:?}"),
    }
}

/// `BODY[]` of each message of the selected mailbox, in order.
fn bodies(c: &mut Client) -> Vec<Vec<u8>> {
    fetches(&c.run("f FETCH 1:* BODY.PEEK[]"))
        .into_iter()
        .filter_map(|(_, items)| {
            items.into_iter().find_map(|i| match i {
                FetchItem::BodySection { data, .. } => data,
                _ => None,
            })
        })
        .collect()
}

/// `text` as a literal: `{n}` CRLF text.
fn lit(text: &str) -> String {
    format!("{{{}}}\r\n{text}", text.len())
}

const RFC3502_1: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.COM>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.siam.edu\r\n\
Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const RFC3502_2: &str = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n\
From: Joe Mooch <mooch@OWaTaGu.siam.EDU>\r\n\
Subject: Re: afternoon meeting\r\n\
To: foobar@blurdybloop.com\r\n\
Message-Id: <a0434793874930@OWaTaGu.siam.EDU>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
3:30 is fine with me.\r\n";

#[test]
fn rfc3502_example() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    assert_eq!(last(&c.run("a CREATE saved-messages")).kind, Kind::Ok);
    // C: A003 APPEND saved-messages (\Seen) {329} ... (\Seen) {295} ...
    // S: A003 OK [APPENDUID 38505 3955:3956] APPEND completed
    let r = c.run(&format!(
        "A003 APPEND saved-messages (\\Seen) {} (\\Seen) {}",
        lit(RFC3502_1),
        lit(RFC3502_2)
    ));
    assert_eq!(append_uids(&r).1, vec![1, 2]);
    // C: A004 APPEND bogusname (\Flagged) {1} a () {1} b
    // S: A004 NO [TRYCREATE] Mailbox does not exist
    let r = c.run("A004 APPEND bogusname (\\Flagged) {1}\r\na () {1}\r\nb");
    assert_eq!(code(&r), Some(Code::TryCreate));
    assert_eq!(last(&c.run("s SELECT saved-messages")).kind, Kind::Ok);
    assert_eq!(
        bodies(&mut c),
        vec![RFC3502_1.as_bytes().to_vec(), RFC3502_2.as_bytes().to_vec()]
    );
    let r = c.run("f FETCH 1:2 FLAGS");
    for (_, items) in fetches(&r) {
        assert!(flags_of(&items).is_some_and(|f| f.contains(&Flag::Seen)));
    }
}

#[test]
fn multiappend_keeps_none_when_one_fails() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    // The memory store refuses messages over 1 MiB: the third fails, the first two go.
    let big = "x".repeat((1 << 20) + 1);
    let r = c.run(&format!(
        "a APPEND INBOX {} {} (\\Seen) {}",
        lit("one"),
        lit("two"),
        lit(&big)
    ));
    assert_eq!(code(&r), Some(Code::TooBig), "{r:?}");
    assert!(store.messages("INBOX").is_empty());
    // A later APPEND is unaffected; the UIDs of the ones taken back are not reused.
    let (_, uids) = append_uids(&c.run(&format!("b APPEND INBOX {}", lit("three"))));
    assert_eq!(uids, vec![3]);
    assert_eq!(store.messages("INBOX").len(), 1);
}

#[test]
fn literal8_append_and_nul_in_a_plain_literal() {
    let store = MemoryStore::new();
    let mut c = Client::selected(&store, "INBOX");
    let r = c.run_bytes(b"a APPEND INBOX ~{11}\r\nS: x\r\n\r\n\0\xff\r");
    assert_eq!(append_uids(&r).1, vec![1]);
    let r = c.run_bytes(b"b APPEND INBOX {11}\r\nS: x\r\n\r\n\0\xff\r");
    assert_eq!(last(&r).kind, Kind::Bad);
    assert_eq!(store.messages("INBOX").len(), 1);
    // The memory store keeps no encodings: BINARY[1] is the text as sent, in a literal8.
    let r = c.run("c FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[2])");
    assert_eq!(
        fetches(&r)[0].1,
        vec![
            FetchItem::BinarySize {
                parts: vec![1],
                size: 3
            },
            FetchItem::Binary {
                parts: vec![1],
                origin: None,
                data: Some(b"\0\xff\r".to_vec())
            },
            FetchItem::Binary {
                parts: vec![2],
                origin: None,
                data: None
            },
        ]
    );
    // BINARY sets \Seen; BINARY.PEEK did not.
    let r = c.run("d FETCH 1 BINARY[1]<1.5>");
    let items = &fetches(&r)[0].1;
    assert!(items.contains(&FetchItem::Binary {
        parts: vec![1],
        origin: Some(1),
        data: Some(b"\xff\r".to_vec())
    }));
    assert!(flags_of(items).is_some_and(|f| f.contains(&Flag::Seen)));
}

#[test]
fn rfc4469_example_with_the_memory_stores_sections() {
    // RFC 4469 §5 forwards parts of a draft; the memory store knows HEADER, TEXT and the
    // whole message, so those are what is catenated here.
    let store = MemoryStore::new();
    let draft = "From: a@example.test\r\nSubject: draft\r\n\r\nthe text\r\n";
    store.deliver("INBOX", b"unrelated\r\n").unwrap();
    let mut c = Client::selected(&store, "INBOX");
    let (v, uids) = append_uids(&c.run(&format!("a APPEND INBOX {}", lit(draft))));
    assert_eq!(uids, vec![2]);
    let r = c.run(&format!(
        "A003 APPEND INBOX (\\Seen \\Draft $MDNSent) CATENATE \
(URL \"/INBOX;UIDVALIDITY={v}/;UID=2/;SECTION=HEADER\" TEXT {} \
URL \"/INBOX;UIDVALIDITY={v}/;UID=2/;SECTION=TEXT\" URL \";UID=1\" \
URL \"/INBOX/;UID=2/;PARTIAL=0.4\")",
        lit("--sep\r\n")
    ));
    assert_eq!(append_uids(&r).1, vec![3]);
    let all = bodies(&mut c);
    assert_eq!(
        all.get(2).map(Vec::as_slice),
        Some(
            &b"From: a@example.test\r\nSubject: draft\r\n\r\n--sep\r\nthe text\r\nunrelated\r\nFrom"[..]
        )
    );
}

#[test]
fn catenate_with_a_bad_url_keeps_nothing() {
    let store = MemoryStore::new();
    store
        .deliver("INBOX", b"Subject: x\r\n\r\nbody\r\n")
        .unwrap();
    let mut c = Client::logged_in(&store);
    let uidvalidity = match data(&c.run("s STATUS INBOX (UIDVALIDITY)")).first() {
        Some(Data::Status { items, .. }) => items[0].1,
        other => panic!("{other:?}"),
    };
    let bad_validity = format!("/INBOX;UIDVALIDITY={}/;UID=1", uidvalidity + 1);
    for url in [
        bad_validity.as_str(),
        "/INBOX/;UID=9",
        "/Nowhere/;UID=1",
        "/INBOX/;UID=1/;SECTION=4",
        // Relative, with nothing selected.
        ";UID=1",
        "imap://host",
        // Without a login name no user's URL can be checked.
        "imap://me@host/INBOX/;UID=1",
    ] {
        // The first message is fine; the second's URL spoils the whole APPEND.
        let r = c.run(&format!(
            "a APPEND INBOX {} CATENATE (TEXT {} URL \"{url}\")",
            lit("ok"),
            lit("x")
        ));
        assert_eq!(code(&r), Some(Code::BadUrl(url.into())), "{url}: {r:?}");
        assert_eq!(store.messages("INBOX").len(), 1, "{url}");
    }
    // The target's existence is checked first.
    let r = c.run("b APPEND Nowhere CATENATE (URL \"/INBOX/;UID=9\")");
    assert_eq!(code(&r), Some(Code::TryCreate));
    // A result larger than the policy allows.
    let r = c.run(&format!(
        "c APPEND INBOX CATENATE (TEXT {} URL \"/INBOX/;UID=1\")",
        lit(&"y".repeat(64 * 1024))
    ));
    assert_eq!(code(&r), Some(Code::TooBig));
    assert_eq!(store.messages("INBOX").len(), 1);
}

/// An `imap://` URL names its user's mailbox: the logged-in user's own (however the name
/// is escaped) is read; another user's is `[BADURL]`, never the same-named mailbox of the
/// logged-in user.
#[test]
fn catenate_urls_of_another_user_are_bad() {
    let store = MemoryStore::new();
    store
        .deliver("INBOX", b"Subject: x\r\n\r\nbody\r\n")
        .unwrap();
    let mut c = Client::logged_in(&store);
    c.session.set_login("me@example.test");
    for url in [
        "imap://other@host/INBOX/;UID=1",
        "imap://ME%40example.test@host/INBOX/;UID=1",
        "imap://me@host/INBOX/;UID=1",
    ] {
        let r = c.run(&format!("a APPEND INBOX CATENATE (URL \"{url}\")"));
        assert_eq!(code(&r), Some(Code::BadUrl(url.into())), "{url}: {r:?}");
    }
    assert_eq!(store.messages("INBOX").len(), 1);
    for url in [
        "imap://me%40example.test@host/INBOX/;UID=1",
        "imap://me@example.test;AUTH=*@host/INBOX/;UID=1",
    ] {
        let r = c.run(&format!("a APPEND INBOX CATENATE (URL \"{url}\")"));
        assert_eq!(last(&r).kind, Kind::Ok, "{url}: {r:?}");
    }
    assert_eq!(store.messages("INBOX").len(), 3);
}
