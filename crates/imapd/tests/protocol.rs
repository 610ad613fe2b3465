//! Raw protocol transcripts against the real imapd binary.

mod common;

use std::time::Duration;

use common::{connect, inotify_watches, login, message, stop, PASS, USER};
use ferrymail_maildir::{DeliverOptions, Maildir};
use ferrymail_testkit::ImapClient;

#[test]
fn greeting_capabilities_and_logindisabled_without_tls() {
    let srv = common::start(false);
    let mut c = connect(&srv);
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{}",
        c.greeting
    );
    let r = c.cmd("CAPABILITY");
    assert!(r.ok());
    let caps = r.find("* CAPABILITY").unwrap().clone();
    for cap in [
        "STARTTLS",
        "LOGINDISABLED",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "LITERAL+",
        "SASL-IR",
        "SPECIAL-USE",
        "NAMESPACE",
        "ENABLE",
        "UNSELECT",
        "CHILDREN",
        "ID",
    ] {
        assert!(caps.split(' ').any(|c| c == cap), "{cap} missing in {caps}");
    }
    assert!(
        !caps.contains("AUTH=PLAIN") && !caps.contains("AUTH=LOGIN"),
        "{caps}"
    );
    let r = c.cmd("AUTHENTICATE LOGIN");
    assert!(
        r.status() == "NO" && r.tagged.contains("[PRIVACYREQUIRED]"),
        "{}",
        r.all()
    );
    let r = c.cmd(&format!("LOGIN {USER} {PASS}"));
    assert_eq!(r.status(), "NO", "{}", r.all());
    assert!(r.tagged.contains("[PRIVACYREQUIRED]"));
    let r = c.cmd("SELECT INBOX");
    assert_eq!(r.status(), "BAD");
    let r = c.cmd("LOGOUT");
    assert!(r.ok() && r.has("* BYE"));
}

#[test]
fn login_failures_are_answered_no_and_the_session_survives() {
    let srv = common::start(true);
    let mut c = connect(&srv);
    let r = c.cmd(&format!("LOGIN {USER} wrong"));
    assert_eq!(r.status(), "NO");
    assert!(r.tagged.contains("[AUTHENTICATIONFAILED]"));
    let r = c.cmd(&format!("LOGIN {USER} {PASS}"));
    assert!(r.ok(), "{}", r.all());
    assert!(r.tagged.contains("[CAPABILITY IMAP4rev1"));
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    let srv = common::start(true);
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let mut c = connect(&srv);
    let r = c.cmd(&format!(
        "AUTHENTICATE PLAIN {}",
        b64(&format!("\0{USER}\0{PASS}"))
    ));
    assert!(r.ok(), "{}", r.all());

    let mut c = connect(&srv);
    let tag = c.next_tag();
    c.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes());
    assert!(c.line().starts_with("+"));
    c.send(format!("{}\r\n", b64(&format!("\0{USER}\0{PASS}"))).as_bytes());
    assert!(c.read_until_tag(&tag).ok());

    let mut c = connect(&srv);
    let tag = c.next_tag();
    c.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes());
    assert!(c.line().starts_with("+"));
    c.send(b"*\r\n");
    assert_eq!(c.read_until_tag(&tag).status(), "BAD");
    let r = c.cmd(&format!(
        "AUTHENTICATE PLAIN {}",
        b64(&format!("\0{USER}\0nope"))
    ));
    assert_eq!(r.status(), "NO");
}

#[test]
fn authenticate_login_is_offered_beside_plain() {
    let srv = common::start(true);
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let mut c = connect(&srv);
    let r = c.cmd("CAPABILITY");
    let caps = r.find("* CAPABILITY").cloned().unwrap_or_default();
    for cap in ["AUTH=PLAIN", "AUTH=LOGIN"] {
        assert!(caps.split(' ').any(|c| c == cap), "{cap} missing in {caps}");
    }
    let tag = c.next_tag();
    c.send(format!("{tag} AUTHENTICATE LOGIN\r\n").as_bytes());
    assert_eq!(c.line(), "+ VXNlcm5hbWU6");
    c.send(format!("{}\r\n", b64(USER)).as_bytes());
    assert_eq!(c.line(), "+ UGFzc3dvcmQ6");
    c.send(format!("{}\r\n", b64("wrong")).as_bytes());
    let r = c.read_until_tag(&tag);
    assert!(
        r.tagged.contains("NO [AUTHENTICATIONFAILED]"),
        "{}",
        r.all()
    );

    // SASL-IR: the initial response is the user name.
    let tag = c.next_tag();
    c.send(format!("{tag} AUTHENTICATE LOGIN {}\r\n", b64(USER)).as_bytes());
    assert_eq!(c.line(), "+ UGFzc3dvcmQ6");
    c.send(format!("{}\r\n", b64(PASS)).as_bytes());
    let r = c.read_until_tag(&tag);
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("SELECT INBOX");
    assert!(r.ok(), "{}", r.all());
}

#[test]
fn syntax_errors_get_bad_with_the_tag_and_limits_hold() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("FROBNICATE");
    assert_eq!(r.status(), "BAD", "{}", r.all());
    let r = c.cmd("SELECT");
    assert_eq!(r.status(), "BAD");
    let r = c.cmd("FETCH 1 (FLAGS");
    assert_eq!(r.status(), "BAD");
    // An empty line is a command without a tag.
    c.send(b"\r\n");
    let l = c.line();
    assert!(l.starts_with("* BAD"), "{l}");
    // Line over imapd.max_command_line (64 KiB by default).
    let long = format!("x1 LOGIN {} y\r\n", "a".repeat(70_000));
    c.send(long.as_bytes());
    let l = c.line();
    assert!(l.starts_with("x1 BAD"), "{l}");
    // A synchronising literal over imapd.max_literal is refused before it is sent.
    c.send(b"x2 APPEND INBOX {999999999999}\r\n");
    let l = c.line();
    assert!(l.starts_with("x2 NO [TOOBIG]"), "{l}");
    let r = c.cmd("NOOP");
    assert!(r.ok(), "session survives: {}", r.all());
    // Names that would escape the store.
    for bad in ["\"../x\"", "\"a//b\"", "\"/etc\"", "\"a/./b\""] {
        let r = c.cmd(&format!("CREATE {bad}"));
        assert_eq!(r.status(), "NO", "{bad}: {}", r.all());
    }
}

#[test]
fn mailbox_management_list_and_special_use() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("LIST \"\" \"*\"");
    assert!(r.ok());
    for (name, attr) in [
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        let line = r
            .find(&format!("\"/\" \"{name}\""))
            .unwrap_or_else(|| panic!("{name}: {}", r.all()));
        assert!(line.contains(attr), "{line}");
    }
    assert!(r.has("\"/\" \"INBOX\""));
    let r = c.cmd("LIST \"\" \"\"");
    assert!(r.has("* LIST (\\Noselect) \"/\" \"\""));
    assert!(c.cmd("CREATE Projects/2024/Q1").ok());
    assert!(c.cmd("CREATE \"Entw&APw-rfe\"").ok());
    let r = c.cmd("CREATE Projects/2024/Q1");
    assert!(r.tagged.contains("NO [ALREADYEXISTS]"), "{}", r.all());
    let r = c.cmd("LIST \"\" \"%\"");
    let p = r.find("\"Projects\"").unwrap();
    assert!(
        p.contains("\\Noselect") && p.contains("\\HasChildren"),
        "{p}"
    );
    assert!(!r.has("Q1"));
    assert!(r.has("\"Entw&APw-rfe\""), "{}", r.all());
    let r = c.cmd("LIST Projects/ *");
    assert!(
        r.has("\"Projects/2024/Q1\"") && r.has("\\HasNoChildren"),
        "{}",
        r.all()
    );
    // On disk: Maildir++ with '.' separators.
    assert!(srv.maildir(USER).join(".Projects.2024.Q1/cur").is_dir());
    assert!(c.cmd("RENAME Projects/2024 Old/2024").ok());
    let r = c.cmd("LIST \"\" \"*\"");
    assert!(
        r.has("\"Old/2024/Q1\"") && !r.has("\"Projects/2024/Q1\""),
        "{}",
        r.all()
    );
    let r = c.cmd("DELETE Nope");
    assert!(r.tagged.contains("NO [NONEXISTENT]"), "{}", r.all());
    let r = c.cmd("DELETE INBOX");
    assert_eq!(r.status(), "NO");
    assert!(c.cmd("DELETE Old/2024/Q1").ok());
    // Subscriptions.
    assert!(c.cmd("SUBSCRIBE \"Entw&APw-rfe\"").ok());
    let r = c.cmd("LSUB \"\" \"*\"");
    assert!(
        r.has("\"Entw&APw-rfe\"") && r.has("\"Sent\""),
        "{}",
        r.all()
    );
    assert!(c.cmd("UNSUBSCRIBE \"Entw&APw-rfe\"").ok());
    let r = c.cmd("LSUB \"\" \"*\"");
    assert!(!r.has("Entw"), "{}", r.all());
    let r = c.cmd("NAMESPACE");
    assert!(r.has("* NAMESPACE ((\"\" \"/\")) NIL NIL"));
    let r = c.cmd("ID (\"name\" \"test\")");
    assert!(r.ok() && r.has("* ID ("));
    let r = c.cmd("ENABLE CONDSTORE");
    assert!(r.ok() && r.has("* ENABLED"));
}

#[test]
fn append_select_fetch_store_search_copy_move_expunge() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.append("INBOX", "\\Seen", &message("first", "hello world"));
    assert!(r.ok(), "{}", r.all());
    assert!(r.tagged.contains("[APPENDUID "), "{}", r.tagged);
    let uidvalidity: u32 = r.tagged.split(' ').nth(3).unwrap().parse().unwrap();
    assert!(c
        .append("INBOX", "", &message("second", "another body"))
        .ok());
    assert!(c
        .append(
            "INBOX",
            "\\Flagged $Important",
            &message("third", "needle in here")
        )
        .ok());
    // LITERAL+ (non-synchronising).
    let msg = message("fourth", "plus literal");
    let tag = c.next_tag();
    c.send(format!("{tag} APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
    c.send(&msg);
    c.send(b"\r\n");
    assert!(c.read_until_tag(&tag).ok());
    let r = c.append("Nope", "", &message("x", "y"));
    assert!(r.tagged.contains("NO [TRYCREATE]"), "{}", r.all());

    let r = c.cmd("SELECT INBOX");
    assert!(r.ok(), "{}", r.all());
    assert!(r.has("* 4 EXISTS"), "{}", r.all());
    assert!(r.has(&format!("[UIDVALIDITY {uidvalidity}]")));
    assert!(r.has("[UIDNEXT 5]"));
    assert!(r.has("[UNSEEN 2]"));
    assert!(r.has("$Important"));
    assert!(r.tagged.contains("[READ-WRITE]"));

    let r = c.cmd("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)");
    assert!(r.ok());
    assert_eq!(r.untagged.len(), 4);
    let first = &r.untagged[0];
    assert!(
        // APPENDed messages are \Recent for the first session to select the mailbox.
        first.starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) RFC822.SIZE "),
        "{first}"
    );
    let size = message("first", "hello world").len();
    assert!(first.contains(&format!("RFC822.SIZE {size}")), "{first}");
    assert!(
        r.untagged[2].contains("FLAGS (\\Flagged $Important \\Recent)"),
        "{}",
        r.untagged[2]
    );

    let r = c.cmd("FETCH 1 ENVELOPE");
    assert!(
        r.untagged[0].contains("ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"first\" ((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL \"carol\" \"example.org\")) ((NIL NIL \"alice\" \"example.test\")) NIL NIL NIL \"<first@example.org>\")"),
        "{}",
        r.untagged[0]
    );
    let r = c.cmd("FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.7>)");
    let l = &r.untagged[0];
    assert!(
        l.contains("BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: second\r\n\r\n"),
        "{l}"
    );
    assert!(l.contains("BODY[TEXT]<0> {7}\r\nanother"), "{l}");
    assert!(!l.contains("\\Seen"), "PEEK must not set \\Seen: {l}");
    let r = c.cmd("FETCH 2 BODY[]");
    let l = &r.untagged[0];
    assert!(
        l.contains("FLAGS (\\Seen \\Recent)"),
        "BODY[] sets \\Seen and reports it: {l}"
    );
    assert!(l.contains("Subject: second"));
    let r = c.cmd("FETCH 2 (RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE)");
    let l = &r.untagged[0];
    assert!(l.contains("RFC822.TEXT {14}\r\nanother body\r\n"), "{l}");
    assert!(l.contains("BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1 NIL NIL NIL NIL)"), "{l}");
    assert!(
        l.contains("BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1)"),
        "{l}"
    );
    let r = c.cmd("FETCH 9 FLAGS");
    assert_eq!(r.status(), "BAD");

    let r = c.cmd("SEARCH UNSEEN");
    assert!(r.has("* SEARCH 3 4"), "{}", r.all());
    let r = c.cmd("SEARCH BODY needle");
    assert!(r.has("* SEARCH 3"), "{}", r.all());
    let r = c.cmd("UID SEARCH OR SUBJECT first SUBJECT fourth");
    assert!(r.has("* SEARCH 1 4"), "{}", r.all());
    let r = c.cmd("SEARCH CHARSET UTF-8 FROM carol NOT FLAGGED SENTON 7-Feb-1994");
    assert!(r.has("* SEARCH 1 2 4"), "{}", r.all());
    let r = c.cmd("SEARCH KEYWORD $Important LARGER 10");
    assert!(r.has("* SEARCH 3"), "{}", r.all());
    let r = c.cmd("SEARCH CHARSET KOI8-R ALL");
    assert!(r.tagged.contains("NO [BADCHARSET"), "{}", r.all());

    let r = c.cmd("STORE 1:2 +FLAGS (\\Answered)");
    assert!(
        r.has("* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent))"),
        "{}",
        r.all()
    );
    let r = c.cmd("UID STORE 4 FLAGS.SILENT (\\Deleted)");
    assert!(r.ok() && r.untagged.is_empty(), "{}", r.all());
    let r = c.cmd("STORE 1 -FLAGS (\\Answered)");
    assert!(r.has("* 1 FETCH (FLAGS (\\Seen \\Recent))"), "{}", r.all());
    let files: Vec<String> = std::fs::read_dir(srv.maildir(USER).join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(":2,T")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(":2,RS")), "{files:?}");

    let r = c.cmd("COPY 1:2 Archive");
    assert!(r.tagged.contains("[COPYUID "), "{}", r.all());
    assert!(r.tagged.contains(" 1:2 1:2]"), "{}", r.tagged);
    let r = c.cmd("COPY 1 Nowhere");
    assert!(r.tagged.contains("NO [TRYCREATE]"));
    let r = c.cmd("UID MOVE 3 Trash");
    assert!(r.ok(), "{}", r.all());
    assert!(r.has("[COPYUID ") && r.has("* 3 EXPUNGE"), "{}", r.all());
    let r = c.cmd("EXPUNGE");
    assert!(r.has("* 3 EXPUNGE"), "{}", r.all());
    let r = c.cmd("STATUS Archive (MESSAGES UIDNEXT UNSEEN)");
    assert!(
        r.has("* STATUS \"Archive\" (MESSAGES 2 UIDNEXT 3 UNSEEN 0)"),
        "{}",
        r.all()
    );
    let r = c.cmd("STATUS Trash (MESSAGES)");
    assert!(r.has("(MESSAGES 1)"));
    let r = c.cmd("EXAMINE Trash");
    assert!(r.tagged.contains("[READ-ONLY]"));
    let r = c.cmd("FETCH 1 (FLAGS)");
    assert!(
        r.has("\\Flagged $Important"),
        "keyword kept across MOVE: {}",
        r.all()
    );
    let r = c.cmd("STORE 1 +FLAGS (\\Seen)");
    assert_eq!(r.status(), "NO");
    assert!(c.cmd("UNSELECT").ok());
    let r = c.cmd("FETCH 1 FLAGS");
    assert_eq!(r.status(), "BAD");
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("UID FETCH 1:* (FLAGS)");
    assert_eq!(r.untagged.len(), 2, "{}", r.all());
    assert!(c.cmd("STORE 1 +FLAGS (\\Deleted)").ok());
    let r = c.cmd("UID EXPUNGE 2");
    assert!(
        r.ok() && r.untagged.is_empty(),
        "UID EXPUNGE only touches listed UIDs: {}",
        r.all()
    );
    assert!(c.cmd("CLOSE").ok());
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert!(r.has("(MESSAGES 1)"), "{}", r.all());
}

#[test]
fn concurrent_sessions_see_each_others_changes() {
    let srv = common::start(true);
    let mut a = login(&srv, USER, PASS);
    let mut b = login(&srv, USER, PASS);
    assert!(a.append("INBOX", "", &message("one", "1")).ok());
    assert!(a.append("INBOX", "", &message("two", "2")).ok());
    assert!(a.cmd("SELECT INBOX").ok());
    assert!(b.cmd("SELECT INBOX").ok());
    // B flags and appends; A learns on NOOP.
    assert!(b.cmd("STORE 1 +FLAGS (\\Flagged)").ok());
    assert!(b.append("INBOX", "", &message("three", "3")).ok());
    let r = a.cmd("NOOP");
    // A selected first: the messages it saw then are its \Recent ones.
    assert!(
        r.has("* 1 FETCH (FLAGS (\\Flagged \\Recent))"),
        "{}",
        r.all()
    );
    // B appended the third one while it had INBOX selected: that one is B's.
    assert!(r.has("* 2 RECENT"), "{}", r.all());
    assert!(r.has("* 3 EXISTS"), "{}", r.all());
    // Other processes' changes are watched for only while a session idles (like Dovecot):
    // outside IDLE our own renames and opens must not cost inotify events.
    assert_eq!(inotify_watches(&srv), 0);
    // A is in IDLE; B expunges: A is told at once.
    let tag = a.next_tag();
    a.send(format!("{tag} IDLE\r\n").as_bytes());
    assert!(a.line().starts_with("+ "));
    assert_eq!(
        inotify_watches(&srv),
        2,
        "new/ and cur/ watched during IDLE"
    );
    assert!(b.cmd("STORE 2 +FLAGS (\\Deleted)").ok());
    let l = a.line();
    assert_eq!(l, "* 2 FETCH (FLAGS (\\Deleted \\Recent))");
    assert!(b.cmd("EXPUNGE").ok());
    assert_eq!(a.line(), "* 2 EXPUNGE");
    // A delivery by another process (what local-delivery does) reaches the IDLE session.
    let md = Maildir::open(srv.maildir(USER)).unwrap();
    md.deliver(
        &[&message("external", "from outside")],
        DeliverOptions::default(),
    )
    .unwrap();
    assert_eq!(a.line(), "* 3 EXISTS");
    // Message 1 and the delivered one.
    assert_eq!(a.line(), "* 2 RECENT");
    a.send(b"DONE\r\n");
    assert!(a.read_until_tag(&tag).ok());
    assert_eq!(
        inotify_watches(&srv),
        0,
        "the last IDLE's end removes the watch"
    );
    let r = a.cmd("FETCH 3 (FLAGS ENVELOPE)");
    assert!(r.has("\\Recent") && r.has("\"external\""), "{}", r.all());
    // Another process deletes a file (a POP3 client): seen on NOOP as EXPUNGE.
    for e in md.list().unwrap() {
        if e.path().to_string_lossy().contains("/new/") || e.flags().is_empty() {
            continue;
        }
    }
    let victim = md.list().unwrap().into_iter().next().unwrap();
    md.delete(&victim).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let r = a.cmd("NOOP");
    assert!(r.has("* 1 EXPUNGE"), "{}", r.all());
    let r = a.cmd("UID SEARCH ALL");
    let uids = r.find("* SEARCH").unwrap().clone();
    assert_eq!(uids, "* SEARCH 3 4", "UIDs never go backwards");
}

#[test]
fn uids_survive_restart_and_loss_of_the_state_dir() {
    let mut srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    for i in 0..3 {
        assert!(c.append("INBOX", "", &message(&format!("m{i}"), "x")).ok());
    }
    let r = c.cmd("SELECT INBOX");
    let validity = r.find("UIDVALIDITY").unwrap().clone();
    assert!(c.cmd("STORE 1 +FLAGS (\\Deleted)").ok());
    assert!(c.cmd("EXPUNGE").ok());
    let before = c.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)");
    drop(c);
    stop(&mut srv);
    let index = srv.env.config.paths.state_dir.join("imapd/index");
    assert!(index.is_dir(), "sled index at {}", index.display());
    // Maildir files never change, which the cache relies on; changing one behind imapd's
    // back shows whether an answer came from the cache or from the file.
    let md = Maildir::open(srv.maildir(USER)).unwrap();
    let m1 = md
        .list()
        .unwrap()
        .into_iter()
        .find(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .contains("Subject: m1")
        })
        .unwrap();
    let text = std::fs::read_to_string(m1.path()).unwrap();
    std::fs::write(m1.path(), text.replace("Subject: m1", "Subject: zz")).unwrap();
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    assert!(c.cmd("SELECT INBOX").ok());
    let after = c.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)");
    assert_eq!(
        before.untagged, after.untagged,
        "a restarted imapd answers from its sled cache"
    );
    drop(c);
    stop(&mut srv);
    let _ = std::fs::remove_dir_all(srv.env.config.paths.state_dir.join("imapd"));
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("SELECT INBOX");
    assert_eq!(r.find("UIDVALIDITY").unwrap(), &validity);
    assert!(r.has("[UIDNEXT 4]"), "{}", r.all());
    let r = c.cmd("UID SEARCH ALL");
    assert!(r.has("* SEARCH 2 3"), "{}", r.all());
    let r = c.cmd("FETCH 1 ENVELOPE");
    assert!(
        r.has("\"zz\""),
        "without the index the file is parsed again: {}",
        r.all()
    );
}

#[test]
fn concurrent_first_logins_of_a_new_user() {
    let srv = common::start(true);
    let addr = srv.env.addr(srv.env.ports.imap);
    let results: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                s.spawn(move || {
                    let mut c = ImapClient::connect(addr);
                    c.cmd("LOGIN bob@example.test builder").tagged
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(r.contains(" OK "), "{results:?}\n{}", srv.log("imapd"));
    }
    let mut c = login(&srv, "bob@example.test", "builder");
    let r = c.cmd("LSUB \"\" \"*\"");
    assert_eq!(
        r.untagged
            .iter()
            .filter(|l| l.ends_with("\"Sent\""))
            .count(),
        1,
        "{}",
        r.all()
    );
    assert_eq!(r.untagged.len(), 5, "{}", r.all());
}

#[test]
fn sigterm_exits_zero() {
    let mut srv = common::start(true);
    let _c = login(&srv, USER, PASS);
    stop(&mut srv);
}
