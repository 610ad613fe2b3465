//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and RFC 6154's SPECIAL-USE list options
//! against the real binary: raw transcripts shaped like the RFC examples, and Python's
//! imaplib sending an extended LIST it has no method for.

mod common;

use std::process::Command;

use common::{login, message, PASS, USER};
use ferrymail_testkit::ImapClient;

/// RFC 5258 §5's hierarchy: Fruit/Peach is subscribed but does not exist, Tofu is not
/// subscribed, Vegetable has a subscribed child. INBOX has two messages (one seen).
fn fruit_store(c: &mut ImapClient) {
    for name in [
        "Fruit",
        "Fruit/Apple",
        "Fruit/Banana",
        "Tofu",
        "Vegetable",
        "Vegetable/Broccoli",
        "Vegetable/Corn",
    ] {
        assert!(c.cmd(&format!("CREATE {name}")).ok(), "{name}");
    }
    for name in [
        "INBOX",
        "Fruit/Banana",
        "Fruit/Peach",
        "Vegetable",
        "Vegetable/Broccoli",
    ] {
        assert!(c.cmd(&format!("SUBSCRIBE {name}")).ok(), "{name}");
    }
    // The special-use folders new users get are subscribed: drop them to keep to the RFC's data.
    for name in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(c.cmd(&format!("UNSUBSCRIBE {name}")).ok(), "{name}");
    }
    assert!(c.append("INBOX", "\\Seen", &message("one", "1")).ok());
    assert!(c.append("INBOX", "", &message("two", "2")).ok());
    assert!(c
        .append("Fruit/Banana", "", &message("ripe", "yellow"))
        .ok());
}

fn lines(r: &ferrymail_testkit::Response) -> Vec<&str> {
    r.untagged.iter().map(String::as_str).collect()
}

#[test]
fn capabilities_and_plain_list_unchanged() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("CAPABILITY");
    let caps = r.find("* CAPABILITY").unwrap().clone();
    for cap in ["LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CHILDREN"] {
        assert!(caps.split(' ').any(|c| c == cap), "{cap}: {caps}");
    }
    fruit_store(&mut c);
    // Plain LIST: \Noselect for levels without a mailbox, nothing extended.
    assert!(c.cmd("CREATE Deep/Nested").ok());
    let r = c.cmd("LIST \"\" \"%\"");
    assert!(
        r.has("* LIST (\\Noselect \\HasChildren) \"/\" \"Deep\""),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("NonExistent") && !r.all().contains("Subscribed"));
    assert!(!r.has("* STATUS"));
    // LSUB as Dovecot answers it: no CHILDREN attributes, a subscribed name that does not
    // exist is listed as it is.
    let r = c.cmd("LSUB \"\" \"*\"");
    assert!(
        r.has("* LSUB () \"/\" \"Fruit/Banana\"") && r.has("* LSUB () \"/\" \"Fruit/Peach\""),
        "{}",
        r.all()
    );
    // The extended form of the same: \NonExistent for the level.
    let r = c.cmd("LIST () \"\" \"%\"");
    assert!(
        r.has("* LIST (\\NonExistent \\HasChildren) \"/\" \"Deep\""),
        "{}",
        r.all()
    );
    let r = c.cmd("LIST () \"\" \"\"");
    assert_eq!(lines(&r), ["* LIST (\\Noselect) \"/\" \"\""]);
}

#[test]
fn rfc5258_examples_on_our_store() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    fruit_store(&mut c);

    // Example 2: LIST (SUBSCRIBED) lists subscriptions, existing or not.
    let r = c.cmd("LIST (SUBSCRIBED) \"\" \"*\"");
    assert!(r.ok(), "{}", r.all());
    assert_eq!(
        lines(&r),
        [
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"",
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Vegetable/Broccoli\"",
        ]
    );

    // Example 3/4: RETURN (CHILDREN); REMOTE is accepted and changes nothing.
    let r = c.cmd("LIST () \"\" \"%\" RETURN (CHILDREN)");
    assert!(
        r.has("* LIST (\\HasChildren) \"/\" \"Fruit\""),
        "{}",
        r.all()
    );
    assert!(
        r.has("* LIST (\\HasNoChildren) \"/\" \"Tofu\""),
        "{}",
        r.all()
    );
    let remote = c.cmd("LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)");
    assert_eq!(remote.untagged, r.untagged);

    // Example 5: REMOTE with SUBSCRIBED is SUBSCRIBED.
    let r = c.cmd("LIST (REMOTE SUBSCRIBED) \"\" \"*\"");
    assert_eq!(r.untagged.len(), 5, "{}", r.all());

    // Example 6: RETURN (SUBSCRIBED) marks subscriptions among all mailboxes.
    let r = c.cmd("LIST (REMOTE) \"\" \"*\" RETURN (SUBSCRIBED)");
    assert!(
        r.has("* LIST (\\HasNoChildren) \"/\" \"Tofu\""),
        "{}",
        r.all()
    );
    assert!(r.has("* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\""));
    assert!(
        !r.has("Peach"),
        "a subscription alone is no mailbox: {}",
        r.all()
    );

    // Example 7: several patterns.
    let r = c.cmd("LIST () \"\" (\"Vegetable/*\" \"Tofu\" \"INBOX\")");
    assert_eq!(
        lines(&r),
        [
            "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren) \"/\" \"Tofu\"",
            "* LIST (\\HasNoChildren) \"/\" \"Vegetable/Broccoli\"",
            "* LIST (\\HasNoChildren) \"/\" \"Vegetable/Corn\"",
        ]
    );

    // Example 8: RECURSIVEMATCH reports parents of subscriptions "%" does not reach.
    let r = c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)");
    assert_eq!(
        lines(&r),
        [
            "* LIST (\\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        ]
    );
    // Example 9's point: nothing is reported twice, so "*" needs no CHILDINFO.
    let r = c.cmd("LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*\"");
    assert!(!r.all().contains("CHILDINFO"), "{}", r.all());
    assert_eq!(r.untagged.len(), 5);

    // RFC 5258 §3: BAD for unknown options and for RECURSIVEMATCH alone; session survives.
    for bad in [
        "LIST (RECURSIVEMATCH) \"\" \"*\"",
        "LIST (REMOTE RECURSIVEMATCH) \"\" \"*\"",
        "LIST (FROBNICATE) \"\" \"*\"",
        "LIST \"\" \"*\" RETURN (FROBNICATE)",
        "LIST \"\" \"*\" RETURN (STATUS (FROBNICATE))",
    ] {
        let r = c.cmd(bad);
        assert_eq!(r.status(), "BAD", "{bad}: {}", r.all());
        assert!(r.untagged.is_empty(), "{bad}: {}", r.all());
    }
    assert!(c.cmd("NOOP").ok());
}

#[test]
fn rfc5819_list_status_and_special_use_options() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    fruit_store(&mut c);
    // RFC 5819's example: a STATUS after each selectable mailbox, none for \NonExistent.
    let r = c.cmd("LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))");
    assert!(r.ok(), "{}", r.all());
    let l = lines(&r);
    let inbox = l
        .iter()
        .position(|x| *x == "* LIST (\\HasNoChildren) \"/\" \"INBOX\"")
        .unwrap_or_else(|| panic!("{}", r.all()));
    assert_eq!(l[inbox + 1], "* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 1)");
    let fruit = l.iter().position(|x| x.ends_with("\"Fruit\"")).unwrap();
    assert_eq!(l[fruit + 1], "* STATUS \"Fruit\" (MESSAGES 0 UNSEEN 0)");
    // The STATUS lines are the STATUS command's own.
    let s = c.cmd("STATUS INBOX (MESSAGES UNSEEN)");
    assert_eq!(s.untagged, [l[inbox + 1]]);
    // Every LIST line of a selectable mailbox is followed by its STATUS.
    let lists = l.iter().filter(|x| x.starts_with("* LIST")).count();
    let statuses = l.iter().filter(|x| x.starts_with("* STATUS")).count();
    assert_eq!(lists, statuses, "{}", r.all());

    // With SUBSCRIBED: the non-existent subscription gets no STATUS.
    let r = c.cmd("LIST (SUBSCRIBED) \"\" \"Fruit/*\" RETURN (STATUS (MESSAGES UIDNEXT))");
    assert_eq!(
        lines(&r),
        [
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"",
            "* STATUS \"Fruit/Banana\" (MESSAGES 1 UIDNEXT 2)",
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"",
        ]
    );
    // Nor does a parent listed only for its CHILDINFO, or a level without a mailbox.
    assert!(c.cmd("CREATE Deep/Nested").ok());
    let r = c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (STATUS (MESSAGES))");
    let l = lines(&r);
    let fruit = l.iter().position(|x| x.contains("\"Fruit\"")).unwrap();
    assert!(!l[fruit + 1].starts_with("* STATUS"), "{}", r.all());
    let veg = l.iter().position(|x| x.contains("\"Vegetable\"")).unwrap();
    assert_eq!(l[veg + 1], "* STATUS \"Vegetable\" (MESSAGES 0)");
    let r = c.cmd("LIST \"\" \"Deep\" RETURN (STATUS (MESSAGES))");
    assert_eq!(
        lines(&r),
        ["* LIST (\\NonExistent \\HasChildren) \"/\" \"Deep\""]
    );

    // RFC 6154 §3: the SPECIAL-USE selection and return options.
    let r = c.cmd("LIST (SPECIAL-USE) \"\" \"*\"");
    let l = lines(&r);
    assert_eq!(l.len(), 5, "{}", r.all());
    for (name, attr) in [("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Junk", "\\Junk")] {
        assert!(
            l.contains(&format!("* LIST (\\HasNoChildren {attr}) \"/\" \"{name}\"").as_str()),
            "{name}: {}",
            r.all()
        );
    }
    let r = c.cmd("LIST \"\" \"%\" RETURN (SPECIAL-USE)");
    assert!(r.has("* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\""));
    assert!(r.has("* LIST (\\HasChildren) \"/\" \"Fruit\""));
    // The selected mailbox reports fresh counts too.
    assert!(c.cmd("SELECT INBOX").ok());
    assert!(c.cmd("STORE 2 +FLAGS (\\Seen)").ok());
    let r = c.cmd("LIST \"\" INBOX RETURN (STATUS (UNSEEN))");
    assert!(r.has("* STATUS \"INBOX\" (UNSEEN 0)"), "{}", r.all());
}

#[test]
fn python_imaplib_list_status() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    fruit_store(&mut c);
    let python = ferrymail_testkit::process::required_tool("python3", "python3");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/imaplib_list_status.py");
    let out = Command::new(python)
        .arg(&script)
        .env("HOST", "127.0.0.1")
        .env("PORT", srv.env.ports.imap.to_string())
        .env("USER", USER)
        .env("PASSWORD", PASS)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "imaplib failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log("imapd")
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "Fruit/Banana 1 1",
            "Fruit/Peach nonexistent",
            "INBOX 2 1",
            "Vegetable 0 0",
            "Vegetable/Broccoli 0 0",
            "done"
        ]
    );
}

/// CREATE-SPECIAL-USE (RFC 6154 §3): the use is kept in the store's METADATA, so it is
/// listed in later sessions and goes with the mailbox on RENAME.
#[test]
fn create_special_use_is_kept_and_renamed() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let caps = c.cmd("CAPABILITY");
    assert!(caps.has("CREATE-SPECIAL-USE"), "{}", caps.all());
    assert!(c.cmd("CREATE Bin (USE (\\Trash))").ok());
    let r = c.cmd("CREATE Everything (USE (\\All))");
    assert!(r.tagged.contains("NO [USEATTR]"), "{}", r.all());
    drop(c);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("LIST (SPECIAL-USE) \"\" *");
    assert!(
        r.has("* LIST (\\HasNoChildren \\Trash) \"/\" \"Bin\""),
        "{}",
        r.all()
    );
    assert!(r.has("\\Trash) \"/\" \"Trash\""), "{}", r.all());
    assert!(!r.has("Everything"), "{}", r.all());
    assert!(c.cmd("RENAME Bin Recycling").ok());
    let r = c.cmd("LIST \"\" Recycling");
    assert!(r.has("\\Trash) \"/\" \"Recycling\""), "{}", r.all());
}
