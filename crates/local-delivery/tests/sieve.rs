//! Sieve through the real binary: every command and test of the supported subset, folders
//! created on demand and read back by Dovecot, and broken scripts that keep the mail.

mod common;

use common::*;

const SCRIPT: &str = r#"require ["fileinto", "envelope"];
# Mailing lists first.
if header :contains "subject" "[list]" { fileinto "Lists"; stop; }
if address :is :domain "from" "spam.test" { discard; stop; }
if envelope :is "from" "fwd@remote.test" { redirect "elsewhere@far.test"; stop; }
if exists "x-copy" { keep; fileinto "Copies"; stop; }
if size :over 2K { fileinto "Big"; stop; }
if allof (header :matches "subject" "report *", not exists "x-skip") {
    fileinto "Reports";
} elsif anyof (header :is "subject" "EXACT", false) {
    fileinto "Exact";
} else {
    keep;
}
stop;
fileinto "Never";
"#;

fn msg(extra: &str, subject: &str) -> Vec<u8> {
    format!("From: Someone <someone@remote.test>\r\n{extra}Subject: {subject}\r\n\r\nbody\r\n")
        .into_bytes()
}

fn count(t: &TestEnv, folder: &str) -> usize {
    let md = if folder == "INBOX" {
        t.maildir("alice")
    } else {
        t.maildir("alice").join(format!(".{folder}"))
    };
    maildir_messages(&md).len()
}

#[test]
fn every_sieve_command_and_test() {
    let mut t = TestEnv::new();
    std::fs::create_dir_all(t.user_dir("alice")).unwrap();
    std::fs::write(t.user_dir("alice").join(".sieve"), SCRIPT).unwrap();
    t.start();
    let mut c = t.connect();
    let mut send = |from: &str, m: Vec<u8>| {
        let (_, dr) = c.lmtp_deliver(from, &["alice@example.test"], &m);
        assert_eq!(dr[0].code, 250, "{dr:?}");
    };
    send("a@remote.test", msg("", "[list] news"));
    send("a@remote.test", msg("", "Report weekly"));
    send("a@remote.test", msg("", "exact"));
    send("a@remote.test", msg("", "other"));
    send("a@remote.test", msg("X-Skip: 1\r\n", "report skipped"));
    send("a@remote.test", msg("X-Copy: yes\r\n", "copy me"));
    send(
        "a@remote.test",
        format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(3000)).into_bytes(),
    );
    send(
        "a@remote.test",
        b"From: Bad <bad@SPAM.test>\r\nSubject: buy\r\n\r\nx\r\n".to_vec(),
    );
    send("fwd@remote.test", msg("", "forward me"));

    assert_eq!(count(&t, "Lists"), 1);
    assert_eq!(count(&t, "Reports"), 1);
    assert_eq!(count(&t, "Exact"), 1);
    assert_eq!(count(&t, "Copies"), 1);
    assert_eq!(count(&t, "Big"), 1);
    // other, report skipped, copy me.
    assert_eq!(count(&t, "INBOX"), 3);
    assert!(!t.maildir("alice").join(".Never").exists());
    let inbox = maildir_messages(&t.maildir("alice"));
    assert!(
        inbox.iter().all(|m| !m.windows(3).any(|w| w == b"buy")),
        "discarded"
    );

    let q = t.requeued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, vec!["elsewhere@far.test".to_string()]);
    assert_eq!(q[0].1.as_deref(), Some("fwd@remote.test"));
    assert!(q[0].2.starts_with(b"Delivered-To: alice@example.test\r\n"));

    // Dovecot sees the folders fileinto created, with the right counts.
    let list = doveadm(&t, &t.maildir("alice"), &["mailbox", "list"]);
    for f in ["INBOX", "Lists", "Reports", "Exact", "Copies", "Big"] {
        assert!(list.lines().any(|l| l.trim() == f), "{f} in {list}");
    }
    let st = doveadm(
        &t,
        &t.maildir("alice"),
        &["mailbox", "status", "messages", "Lists"],
    );
    assert_eq!(st.trim(), "Lists messages=1");
    let st = doveadm(
        &t,
        &t.maildir("alice"),
        &["mailbox", "status", "messages", "INBOX"],
    );
    assert_eq!(st.trim(), "INBOX messages=3");
}

#[test]
fn broken_scripts_keep_the_mail() {
    let mut t = TestEnv::new();
    for (user, script) in [
        ("alice", "if header :is \"subject\" { fileinto \"X\"; }"),
        ("bob", "require \"vacation-weeks\"; vacation \"away\";"),
        ("carol", "redirect \"not an address\";"),
    ] {
        std::fs::create_dir_all(t.user_dir(user)).unwrap();
        std::fs::write(t.user_dir(user).join(".sieve"), script).unwrap();
    }
    t.start();
    let mut c = t.connect();
    let m = msg("", "hello");
    let (_, dr) = c.lmtp_deliver(
        "a@remote.test",
        &[
            "alice@example.test",
            "bob@example.test",
            "carol@example.test",
        ],
        &m,
    );
    assert!(dr.iter().all(|r| r.code == 250), "{dr:?}");
    for u in ["alice", "bob", "carol"] {
        assert_eq!(
            maildir_messages(&t.maildir(u)),
            vec![with_trace(
                "a@remote.test",
                &format!("{u}@example.test"),
                &m
            )],
            "{u}"
        );
    }
    let log = t.log();
    assert!(
        log.contains("Sieve script failed; keeping the message"),
        "{log}"
    );
    assert!(t.requeued().is_empty());
}
