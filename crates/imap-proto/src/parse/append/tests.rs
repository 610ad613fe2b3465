use crate::command::{AppendData, AppendMessage, CatenatePart, Command};
use crate::parse::{append_before_literal, parse_command};
use crate::types::Flag;

fn messages(line: &[u8]) -> Result<Vec<AppendMessage>, String> {
    match parse_command(line) {
        Ok((_, Command::Append { messages, .. })) => Ok(messages),
        Ok((_, other)) => panic!("{other:?}"),
        Err(e) => Err(e.message),
    }
}

fn literal(flags: Vec<Flag>, binary: bool, data: &[u8]) -> AppendMessage {
    AppendMessage {
        flags,
        date: None,
        binary,
        data: AppendData::Literal(data.to_vec()),
    }
}

#[test]
fn multiappend_rfc3502_example_shape() {
    // RFC 3502 §6.3.11: two messages, the second with its own flags.
    assert_eq!(
        messages(b"A003 APPEND saved-messages (\\Seen) {3}\r\none (\\Seen) {3+}\r\ntwo"),
        Ok(vec![
            literal(vec![Flag::Seen], false, b"one"),
            literal(vec![Flag::Seen], false, b"two"),
        ])
    );
    assert!(messages(b"a1 APPEND INBOX {1}\r\nx ").is_err());
    assert!(messages(b"a1 APPEND INBOX {1}\r\nx  {1}\r\ny").is_err());
}

#[test]
fn literal8_messages() {
    assert_eq!(
        messages(b"a1 APPEND INBOX ~{3}\r\na\0b (\\Seen) {1+}\r\nc ~{0+}\r\n"),
        Ok(vec![
            literal(vec![], true, b"a\0b"),
            literal(vec![Flag::Seen], false, b"c"),
            literal(vec![], true, b""),
        ])
    );
    // NUL only in a literal8.
    assert!(messages(b"a1 APPEND INBOX {3}\r\na\0b")
        .unwrap_err()
        .contains("NUL"));
    let (_, head) = append_before_literal(b"a1 APPEND INBOX (\\Seen) ~{300000}\r\n").unwrap();
    assert!(head.binary);
    let (_, head) = append_before_literal(b"a1 APPEND INBOX {300000+}\r\n").unwrap();
    assert!(!head.binary);
    assert!(append_before_literal(b"a1 APPEND INBOX ~~{3}\r\n").is_none());
}

#[test]
fn catenate_rfc4469_example() {
    // RFC 4469 §5's first example, its literals inline.
    let cmd = b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE \
(URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER\" \
TEXT {42}\r\n\r\n--------------030308070208000400050907\r\n \
URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME\" \
URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1\" \
TEXT {42}\r\n\r\n--------------030308070208000400050907\r\n \
URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\" \
TEXT {44}\r\n\r\n--------------030308070208000400050907--\r\n)";
    let m = messages(cmd).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].flags.len(), 3);
    let AppendData::Catenate(parts) = &m[0].data else {
        panic!("{m:?}")
    };
    assert_eq!(parts.len(), 7);
    assert_eq!(
        parts[0],
        CatenatePart::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER".into())
    );
    assert_eq!(
        parts[6],
        CatenatePart::Text(b"\r\n--------------030308070208000400050907--\r\n".to_vec())
    );
}

#[test]
fn catenate_with_multiappend_and_literal8_text() {
    let m =
        messages(b"a1 APPEND INBOX CATENATE (TEXT ~{1}\r\n\0) (\\Seen) CATENATE (URL \";UID=1\")")
            .unwrap();
    assert_eq!(m.len(), 2);
    assert!(m[0].binary);
    assert_eq!(
        m[1].data,
        AppendData::Catenate(vec![CatenatePart::Url(";UID=1".into())])
    );
    for bad in [
        &b"a1 APPEND INBOX CATENATE ()"[..],
        b"a1 APPEND INBOX CATENATE (TEXT \"x\")",
        b"a1 APPEND INBOX CATENATE (URL)",
        b"a1 APPEND INBOX CATENATE (TEXT {1}\r\n\0)",
        b"a1 APPEND INBOX ~CATENATE (TEXT {1}\r\nx)",
    ] {
        assert!(messages(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn an_append_in_progress_at_each_literal() {
    use crate::parse::{append_in_progress, next_append_message};
    let p = append_in_progress(b"a1 APPEND Box (\\Seen) {3}\r\none ~{300000}\r\n").unwrap();
    assert_eq!(p.tag, "a1");
    assert_eq!(p.done.len(), 1);
    assert_eq!(p.done[0].0.flags, vec![Flag::Seen]);
    assert_eq!(p.done[0].1, b"one");
    assert_eq!((p.next.mailbox.as_str(), p.next.binary), ("Box", true));
    assert!(p.next.flags.is_empty());
    let p = append_in_progress(b"a1 APPEND Box {3}\r\none (\\Draft) {5+}\r\n").unwrap();
    assert_eq!(p.next.flags, vec![Flag::Draft]);
    for not_streamable in [
        &b"a1 APPEND Box CATENATE (TEXT {3}\r\n"[..],
        b"a1 APPEND Box CATENATE (TEXT {1}\r\nx) {3}\r\n",
        b"a1 APPEND Box {3}\r\none{3}\r\n",
        b"a1 APPEND Box {3}\r\na\0b ~{3}\r\n",
    ] {
        assert_eq!(append_in_progress(not_streamable), None);
    }
    let (head, size, sync) = next_append_message(b" (\\Seen) ~{10+}\r\n", "Box").unwrap();
    assert_eq!(
        (head.mailbox.as_str(), head.flags, head.binary, size, sync),
        ("Box", vec![Flag::Seen], true, 10, false)
    );
    assert_eq!(next_append_message(b" CATENATE (TEXT {1}", "Box"), None);
    assert_eq!(next_append_message(b"", "Box"), None);
    assert_eq!(next_append_message(b"{1}", "Box"), None);
}

#[test]
fn literal8_framing() {
    use crate::framing::{literal_marker, Collected, CommandCollector};
    assert_eq!(literal_marker(b"a APPEND INBOX ~{12}"), Some((12, true)));
    assert_eq!(literal_marker(b"a APPEND INBOX ~{12+}"), Some((12, false)));
    assert_eq!(literal_marker(b"a APPEND INBOX ~{}"), None);
    assert_eq!(literal_marker(b"a APPEND INBOX ~{+}"), None);
    let mut c = CommandCollector::new(200, 100);
    for (line, size, sync, data) in [
        (&b"a1 APPEND INBOX ~{3}\r\n"[..], 3, true, &b"\0\r\n"[..]),
        (b" ~{2+}\r\n", 2, false, b"\0\0"),
    ] {
        assert_eq!(c.push_line(line), Ok(Collected::Literal { size, sync }));
        c.push_literal(data);
    }
    assert_eq!(c.push_line(b"\r\n"), Ok(Collected::Complete));
    let Ok((_, Command::Append { messages, .. })) = parse_command(&c.take()) else {
        panic!()
    };
    assert_eq!(
        messages,
        vec![
            literal(vec![], true, b"\0\r\n"),
            literal(vec![], true, b"\0\0")
        ]
    );
    // A literal8 larger than allowed is refused like a literal.
    assert!(c.push_line(b"a2 APPEND INBOX ~{101}\r\n").is_err());
}
