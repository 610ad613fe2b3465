//! IMAP4rev2 (RFC 9051) after `ENABLE IMAP4rev2`, as transcripts from the RFC's own examples
//! where it has them, beside the same commands from a client that stays on IMAP4rev1.

use super::*;

/// A logged-in client that enabled IMAP4rev2.
fn rev2(store: &MemoryStore) -> Client {
    let mut c = Client::logged_in(store);
    assert_eq!(
        raw(&mut c, "t1 ENABLE IMAP4rev2"),
        "* ENABLED IMAP4rev2\r\nt1 OK Enabled\r\n"
    );
    c
}

#[test]
fn advertised_beside_rev1_and_enabled_once() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    let caps = raw(&mut c, "t2 CAPABILITY");
    assert!(
        caps.starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 "),
        "{caps}"
    );
    assert_eq!(
        raw(&mut c, "t3 ENABLE imap4REV2 CONDSTORE"),
        "* ENABLED IMAP4rev2 CONDSTORE\r\nt3 OK Enabled\r\n"
    );
    // RFC 5161 §3.1: ENABLED lists only what this command turned on.
    assert_eq!(
        raw(&mut c, "t4 ENABLE IMAP4rev2"),
        "* ENABLED\r\nt4 OK Enabled\r\n"
    );
    let mut fresh = Client::new(&store, policy(true, true));
    assert_eq!(
        raw(&mut fresh, "t5 ENABLE IMAP4rev2"),
        "t5 BAD Not logged in\r\n"
    );
}

#[test]
fn select_without_recent_or_unseen_and_with_list() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    store.deliver("INBOX", &message(2)).unwrap();
    let mut c = rev2(&store);
    let uidvalidity = match crate::session::Storage::status(&mut store.session(), "INBOX", false) {
        Ok(st) => st.uidvalidity,
        Err(e) => panic!("{e}"),
    };
    // RFC 9051 §6.3.2's example, with this store's numbers.
    assert_eq!(
        raw(&mut c, "A142 SELECT INBOX"),
        format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
             * 2 EXISTS\r\n\
             * OK [UIDVALIDITY {uidvalidity}] UIDs valid\r\n\
             * OK [UIDNEXT 3] Predicted next UID\r\n\
             * LIST () \"/\" \"INBOX\"\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
             * OK [HIGHESTMODSEQ 3] Highest\r\n\
             A142 OK [READ-WRITE] Select completed\r\n"
        )
    );
    // The session claimed both messages, but a rev2 client never hears of \Recent.
    assert_eq!(
        raw(&mut c, "f1 FETCH 1:2 FLAGS"),
        "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\nf1 OK Fetch completed\r\n"
    );
    store.deliver("INBOX", &message(3)).unwrap();
    assert_eq!(
        raw(&mut c, "n1 NOOP"),
        "* 3 EXISTS\r\nn1 OK NOOP completed\r\n"
    );
    // The RECENT key still parses; the messages it names are simply not shown as \Recent.
    assert_eq!(
        raw(&mut c, "s1 SEARCH RECENT"),
        "* ESEARCH (TAG \"s1\") ALL 1:3\r\ns1 OK Search completed\r\n"
    );
}

#[test]
fn rev1_session_is_unchanged() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    let mut c = Client::logged_in(&store);
    let r = raw(&mut c, "a SELECT INBOX");
    assert!(r.contains("* 1 RECENT\r\n"), "{r}");
    assert!(r.contains("* OK [UNSEEN 1] First unseen\r\n"), "{r}");
    assert!(!r.contains("* LIST"), "{r}");
    assert_eq!(
        raw(&mut c, "b SEARCH ALL"),
        "* SEARCH 1\r\nb OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "c FETCH 1 FLAGS"),
        "* 1 FETCH (FLAGS (\\Recent))\r\nc OK Fetch completed\r\n"
    );
    let r = raw(&mut c, "d SELECT INBOX");
    assert!(!r.contains("[CLOSED]"), "{r}");
    c.run("e CREATE \"&U,BTFw-\"");
    assert_eq!(
        raw(&mut c, "f LIST \"\" \"&U,BTFw-\""),
        "* LIST (\\HasNoChildren) \"/\" \"&U,BTFw-\"\r\nf OK List completed\r\n"
    );
}

#[test]
fn search_answers_with_esearch() {
    let (store, _) = inbox_with(5);
    let mut c = rev2(&store);
    c.run("s SELECT INBOX");
    c.run("a STORE 2,3,5 +FLAGS.SILENT (\\Flagged)");
    // RFC 9051 §6.4.4's examples.
    assert_eq!(
        raw(&mut c, "A282 SEARCH RETURN (MIN COUNT) FLAGGED"),
        "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\nA282 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A283 SEARCH RETURN () FLAGGED"),
        "* ESEARCH (TAG \"A283\") ALL 2:3,5\r\nA283 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A284 SEARCH TEXT \"string not in mailbox\""),
        "* ESEARCH (TAG \"A284\")\r\nA284 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A285 SEARCH CHARSET UTF-8 TEXT {7}\r\nmessage"),
        "* ESEARCH (TAG \"A285\") ALL 1:5\r\nA285 OK Search completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "A286 UID SEARCH FLAGGED"),
        "* ESEARCH (TAG \"A286\") UID ALL 2:3,5\r\nA286 OK Search completed\r\n"
    );
    let r = raw(&mut c, "A287 SEARCH CHARSET WINDOWS-1252 TEXT \"x\"");
    assert!(r.starts_with("A287 NO [BADCHARSET"), "{r}");
}

#[test]
fn status_deleted() {
    let (store, mut other) = inbox_with(4);
    other.run("a STORE 1,3 +FLAGS.SILENT (\\Deleted)");
    let mut c = rev2(&store);
    // RFC 9051 §6.3.11's example, and the DELETED item it adds.
    assert_eq!(
        raw(&mut c, "A042 STATUS INBOX (UIDNEXT MESSAGES DELETED)"),
        "* STATUS \"INBOX\" (UIDNEXT 5 MESSAGES 4 DELETED 2)\r\nA042 OK Status completed\r\n"
    );
}

#[test]
fn status_deleted_storage() {
    let store = MemoryStore::new();
    let big = vec![b'x'; 3000];
    for m in [&big[..], &big[..], b"small\r\n"] {
        store.deliver("INBOX", m).unwrap();
    }
    let mut other = Client::selected(&store, "INBOX");
    other.run("a STORE 1,3 +FLAGS.SILENT (\\Deleted)");
    let mut c = Client::logged_in(&store);
    // RFC 9208: in units of 1024 octets, as the STORAGE resource; 3007 octets are 3 units.
    assert_eq!(
        raw(&mut c, "b STATUS INBOX (DELETED-STORAGE DELETED SIZE)"),
        "* STATUS \"INBOX\" (DELETED-STORAGE 3 DELETED 2 SIZE 6007)\r\nb OK Status completed\r\n"
    );
}

#[test]
fn mailbox_names_in_utf8_both_ways() {
    let store = MemoryStore::new();
    let mut c = rev2(&store);
    assert_eq!(
        raw(&mut c, "a CREATE \"台北\""),
        "a OK Create completed\r\n"
    );
    // `&` is an ordinary character once names are UTF-8.
    assert_eq!(raw(&mut c, "b CREATE \"R&D\""), "b OK Create completed\r\n");
    assert_eq!(
        raw(&mut c, "c LIST \"\" \"台*\""),
        "* LIST (\\HasNoChildren) \"/\" \"台北\"\r\nc OK List completed\r\n"
    );
    assert_eq!(
        raw(&mut c, "d STATUS {6}\r\n台北 (MESSAGES)"),
        "* STATUS \"台北\" (MESSAGES 0)\r\nd OK Status completed\r\n"
    );
    // The response parser reads what a rev2 session writes.
    let r = c.run("c2 LIST \"\" \"台*\"");
    assert_eq!(
        data(&r),
        vec![Data::List(crate::response::ListItem {
            attrs: vec!["\\HasNoChildren".into()],
            delimiter: Some('/'),
            mailbox: "台北".into(),
            childinfo: Vec::new(),
        })]
    );
    // A rev1 client sees the same mailboxes in modified UTF-7.
    let mut old = Client::logged_in(&store);
    assert_eq!(
        raw(&mut old, "e LIST \"\" \"*\""),
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n\
         * LIST (\\HasNoChildren) \"/\" \"R&-D\"\r\n\
         * LIST (\\HasNoChildren) \"/\" \"&U,BTFw-\"\r\n\
         e OK List completed\r\n"
    );
    let r = raw(&mut c, "f CREATE \"caf\u{e9}\"");
    assert_eq!(r, "f OK Create completed\r\n");
    let r = raw(&mut old, "g SELECT \"caf\u{e9}\"");
    assert!(r.starts_with("g NO "), "{r}");
}

#[test]
fn reselect_announces_closed() {
    let (store, _) = inbox_with(1);
    let mut c = rev2(&store);
    c.run("a CREATE other");
    let r = raw(&mut c, "b SELECT INBOX");
    assert!(!r.contains("[CLOSED]"), "{r}");
    let r = raw(&mut c, "c EXAMINE other");
    assert!(
        r.starts_with("* OK [CLOSED] Previous mailbox closed\r\n"),
        "{r}"
    );
}

#[test]
fn status_deleted_grammar_and_encoding() {
    use crate::command::Command;
    use crate::types::StatusAtt;
    match crate::parse::parse_command(b"a STATUS x (deleted MESSAGES)") {
        Ok((_, Command::Status(name, atts))) => {
            assert_eq!(name, "x");
            assert_eq!(atts, vec![StatusAtt::Deleted, StatusAtt::Messages]);
        }
        other => panic!("{other:?}"),
    }
    let status = Response::Data(Data::Status {
        mailbox: "x".into(),
        items: vec![(StatusAtt::Deleted, 2)],
    });
    let bytes = status.to_bytes();
    assert_eq!(bytes, b"* STATUS \"x\" (DELETED 2)\r\n");
    assert_eq!(
        crate::parse_response::parse_all(&bytes).ok(),
        Some(vec![status])
    );
}

#[test]
fn response_parser_reads_names_of_either_encoding() {
    let name = |line: &[u8]| match crate::parse_response::parse_response(line) {
        Ok((Response::Data(Data::List(item)), _)) => item.mailbox,
        other => panic!("{other:?}"),
    };
    assert_eq!(name(b"* LIST () \"/\" \"caf&AOk-\"\r\n"), "caf\u{e9}");
    assert_eq!(
        name("* LIST () \"/\" \"caf\u{e9}\"\r\n".as_bytes()),
        "caf\u{e9}"
    );
}

#[test]
fn list_status_reports_deleted() {
    let (store, mut other) = inbox_with(3);
    other.run("a STORE 2 +FLAGS.SILENT (\\Deleted)");
    let mut c = rev2(&store);
    assert_eq!(
        raw(
            &mut c,
            "b LIST \"\" \"INBOX\" RETURN (STATUS (MESSAGES DELETED))"
        ),
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n\
         * STATUS \"INBOX\" (MESSAGES 3 DELETED 1)\r\n\
         b OK List completed\r\n"
    );
}
