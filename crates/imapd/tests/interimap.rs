//! interimap (a client no one here wrote) keeps two IMAP accounts in sync with QRESYNC: after
//! the first full sync it reconnects with the UIDVALIDITY/HIGHESTMODSEQ it stored and asks
//! only for what changed. Both ends are imapd (alice is interimap's "local" server, bob its
//! "remote", reached with COMPRESS=DEFLATE as interimap does by default), so every change it
//! carries across had to come out of our CONDSTORE/QRESYNC answers.

mod common;

use std::path::Path;
use std::process::Command;

use common::{login, message, PASS, USER};
use ferrymail_testkit::{ImapClient, Suite};

const BOB: &str = "bob@example.test";
const BOB_PASS: &str = "builder";

fn interimap(srv: &Suite, dir: &Path) -> String {
    let cfg = dir.join("config");
    let section = |user: &str, pass: &str| {
        format!(
            "type = imap\nhost = 127.0.0.1\nport = {port}\nSTARTTLS = YES\nSSL_CAfile = {ca}\n\
             SSL_hostname = localhost\nusername = {user}\npassword = {pass}\n",
            port = srv.env.ports.imap,
            ca = srv.env.config.tls.cert.display(),
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "database = {db}\n\n[local]\n{local}\n[remote]\n{remote}",
            db = dir.join("sync.db").display(),
            local = section(USER, PASS),
            remote = section(BOB, BOB_PASS),
        ),
    )
    .unwrap();
    let bin = ferrymail_testkit::process::required_tool("interimap", "interimap");
    // Bounded: a sync that loops must fail the test, not hang it.
    let log = dir.join("interimap.log");
    let out = Command::new("timeout")
        .arg("120")
        .arg(bin)
        .arg(format!("--config={}", cfg.display()))
        .arg("--debug")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .stderr(std::fs::File::create(&log).unwrap())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "interimap failed ({}):\n{}\n...\n{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            tail.join("\n"),
            srv.log("imapd")
        );
    }
    text
}

/// The UIDs of `mailbox` whose messages match `criteria`.
fn uids(c: &mut ImapClient, mailbox: &str, criteria: &str) -> Vec<u32> {
    assert!(c.cmd(&format!("SELECT {mailbox}")).ok());
    let r = c.cmd(&format!("UID SEARCH {criteria}"));
    assert!(r.ok(), "{}", r.all());
    let line = r.find("* SEARCH").expect("SEARCH answer").clone();
    line.split_whitespace()
        .skip(2)
        .map(|n| n.parse().expect("uid"))
        .collect()
}

fn count(c: &mut ImapClient, mailbox: &str, criteria: &str) -> usize {
    uids(c, mailbox, criteria).len()
}

#[test]
fn interimap_syncs_both_ways_with_qresync() {
    let srv = common::start(true);
    let work = tempfile::tempdir().unwrap();
    let mut alice = login(&srv, USER, PASS);
    let mut bob = login(&srv, BOB, BOB_PASS);
    for s in ["alice-one", "alice-two"] {
        assert!(alice.append("INBOX", "", &message(s, "from alice")).ok());
    }
    let r = alice.append("Archive", "\\Seen", &message("alice-archived", "old"));
    assert!(r.ok(), "{}", r.all());
    assert!(bob
        .append("INBOX", "\\Flagged", &message("bob-one", "from bob"))
        .ok());
    assert!(alice.cmd("LOGOUT").ok());
    assert!(bob.cmd("LOGOUT").ok());

    // First run: no database yet, so every message is copied to the other side.
    interimap(&srv, work.path());
    let mut alice = login(&srv, USER, PASS);
    let mut bob = login(&srv, BOB, BOB_PASS);
    for c in [&mut alice, &mut bob] {
        assert_eq!(count(c, "INBOX", "ALL"), 3);
        assert_eq!(count(c, "INBOX", "FLAGGED SUBJECT bob-one"), 1);
        assert_eq!(count(c, "Archive", "SEEN SUBJECT alice-archived"), 1);
    }

    // Changes on both sides between runs: flags, expunges and a new message.
    let one = uids(&mut alice, "INBOX", "SUBJECT alice-one");
    assert!(alice
        .cmd(&format!("UID STORE {} +FLAGS (\\Answered $Work)", one[0]))
        .ok());
    let bob_one = uids(&mut alice, "INBOX", "SUBJECT bob-one");
    assert!(alice
        .cmd(&format!("UID STORE {} -FLAGS (\\Flagged)", bob_one[0]))
        .ok());
    let two = uids(&mut bob, "INBOX", "SUBJECT alice-two");
    assert!(bob
        .cmd(&format!("UID STORE {} +FLAGS (\\Deleted)", two[0]))
        .ok());
    assert!(bob.cmd("EXPUNGE").ok());
    let archived = uids(&mut alice, "Archive", "ALL");
    assert!(alice.cmd(&format!("UID MOVE {} Trash", archived[0])).ok());
    assert!(bob
        .append("INBOX", "\\Seen", &message("bob-two", "later"))
        .ok());
    assert!(alice.cmd("LOGOUT").ok());
    assert!(bob.cmd("LOGOUT").ok());

    // Second run: a reconnect that resynchronises with QRESYNC.
    let log = interimap(&srv, work.path());
    assert!(
        log.contains("QRESYNC"),
        "interimap did not resynchronise with QRESYNC:\n{log}"
    );
    let mut alice = login(&srv, USER, PASS);
    let mut bob = login(&srv, BOB, BOB_PASS);
    for (who, c) in [("alice", &mut alice), ("bob", &mut bob)] {
        assert_eq!(
            count(c, "INBOX", "ALL"),
            3,
            "{who}: alice-one, bob-one, bob-two"
        );
        assert_eq!(count(c, "INBOX", "SUBJECT alice-two"), 0, "{who}");
        assert_eq!(
            count(c, "INBOX", "ANSWERED KEYWORD $Work SUBJECT alice-one"),
            1,
            "{who}"
        );
        assert_eq!(count(c, "INBOX", "UNFLAGGED SUBJECT bob-one"), 1, "{who}");
        assert_eq!(count(c, "INBOX", "SEEN SUBJECT bob-two"), 1, "{who}");
        assert_eq!(count(c, "Archive", "ALL"), 0, "{who}");
        assert_eq!(count(c, "Trash", "SUBJECT alice-archived"), 1, "{who}");
    }

    // A third run with nothing changed moves nothing.
    let log = interimap(&srv, work.path());
    for c in [&mut alice, &mut bob] {
        assert_eq!(count(c, "INBOX", "ALL"), 3, "{log}");
    }
}
