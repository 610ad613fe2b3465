//! Real clients that no one here wrote: Python's imaplib (STARTTLS, implicit TLS, a full
//! scripted session) and mbsync (isync) syncing both ways.

mod common;

use std::process::Command;

use common::{login, message, PASS, USER};
use ferrymail_testkit::process::required_tool;
use ferrymail_testkit::Suite;

#[test]
fn python_imaplib_scripted_session() {
    let srv = common::start(false);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imaplib_session.py");
    let out = Command::new(required_tool("python3", "python3"))
        .arg(&script)
        .env("HOST", "127.0.0.1")
        .env("PORT", srv.env.ports.imap.to_string())
        .env("TLS_PORT", srv.env.ports.imaps.to_string())
        .env("USER", USER)
        .env("PASSWORD", PASS)
        .env("CAFILE", &srv.env.config.tls.cert)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("done"),
        "imaplib session failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log("imapd")
    );
    for step in [
        "starttls",
        "login",
        "append",
        "search",
        "fetch-body",
        "uid-move",
        "rename",
        "imaps-fetch",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {step}")),
            "{step} missing:\n{stdout}"
        );
    }
    // What the script did is on disk, in Maildir form.
    let archive = srv.maildir(USER).join(".Archive/cur");
    let files: Vec<String> = std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(":2,FRS"), "{files:?}");
    let _ = message("unused", "");
}

fn mbsync(srv: &Suite, dir: &std::path::Path) -> String {
    let cfg = dir.join("mbsyncrc");
    let local = dir.join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "IMAPAccount srv\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass {PASS}\nSSLType STARTTLS\nCertificateFile {cert}\nAuthMechs LOGIN\n\n\
IMAPStore remote\nAccount srv\n\n\
MaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n\
Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = srv.env.ports.imap,
            cert = srv.env.config.tls.cert.display(),
            local = local.display(),
        ),
    )
    .unwrap();
    let out = Command::new(required_tool("mbsync", "isync"))
        .arg("-c")
        .arg(&cfg)
        .arg("-a")
        .env("HOME", dir)
        .output()
        .unwrap();
    let text = ferrymail_testkit::process::all_output(&out);
    assert!(
        out.status.success(),
        "mbsync failed:\n{text}\nserver log:\n{}",
        srv.log("imapd")
    );
    text
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd {
                v.push(e.unwrap().file_name().into_string().unwrap());
            }
        }
    }
    v.sort();
    v
}

#[test]
fn mbsync_syncs_both_ways() {
    // Plaintext LOGIN is allowed on loopback for the raw checks below; mbsync itself is
    // configured for STARTTLS.
    let srv = common::start(true);
    let work = tempfile::tempdir().unwrap();
    // Server side: two messages in INBOX, one in Archive (delivered the way local-delivery does).
    let store = ferrymail_maildir::Store::new(srv.maildir(USER));
    let inbox = store.ensure_inbox().unwrap();
    for s in ["srv-one", "srv-two"] {
        inbox
            .deliver(&[&message(s, "from the server")], Default::default())
            .unwrap();
    }
    // First login creates the special-use folders.
    drop(login(&srv, USER, PASS));
    let archive = store
        .folder(&ferrymail_maildir::MailboxName::new("Archive").unwrap())
        .unwrap();
    archive
        .deliver(&[&message("srv-archived", "old")], Default::default())
        .unwrap();
    // Local side: one message waiting to be uploaded.
    let local_inbox = ferrymail_maildir::Maildir::create(work.path().join("local/INBOX")).unwrap();
    local_inbox
        .deliver(
            &[&message("local-one", "from the laptop")],
            ferrymail_maildir::DeliverOptions::default().with_flags(ferrymail_maildir::Flags::SEEN),
        )
        .unwrap();

    mbsync(&srv, work.path());
    let local = work.path().join("local");
    assert_eq!(
        files(&local.join("INBOX")).len(),
        3,
        "{:?}",
        files(&local.join("INBOX"))
    );
    assert_eq!(files(&local.join("Archive")).len(), 1);
    assert!(local.join("Sent").is_dir() && local.join("Trash").is_dir());
    let server_inbox = inbox.list().unwrap();
    assert_eq!(server_inbox.len(), 3);
    let uploaded = server_inbox
        .iter()
        .find(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .contains("Subject: local-one")
        })
        .expect("the local message reached the server");
    assert!(uploaded.flags().contains(ferrymail_maildir::Flags::SEEN));

    // Changes on both sides: flag locally, expunge on the server, new folder locally.
    let mut c = login(&srv, USER, PASS);
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("UID SEARCH SUBJECT srv-two");
    let uid = r
        .find("* SEARCH")
        .unwrap()
        .split(' ')
        .nth(2)
        .unwrap()
        .to_owned();
    assert!(c.cmd(&format!("UID STORE {uid} +FLAGS (\\Deleted)")).ok());
    assert!(c.cmd("EXPUNGE").ok());
    drop(c);
    let local_md = ferrymail_maildir::Maildir::open(local.join("INBOX")).unwrap();
    let one = local_md
        .list()
        .unwrap()
        .into_iter()
        .find(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .contains("Subject: srv-one")
        })
        .unwrap();
    local_md
        .set_flags(
            &one,
            ferrymail_maildir::Flags::FLAGGED | ferrymail_maildir::Flags::SEEN,
        )
        .unwrap();
    ferrymail_maildir::Maildir::create(local.join("Projects"))
        .unwrap()
        .deliver(&[&message("local-project", "p")], Default::default())
        .unwrap();

    mbsync(&srv, work.path());
    assert_eq!(
        files(&local.join("INBOX")).len(),
        2,
        "server expunge reached the laptop"
    );
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("SELECT INBOX");
    assert!(r.has("* 2 EXISTS"), "{}", r.all());
    let r = c.cmd("SEARCH FLAGGED SUBJECT srv-one");
    assert!(
        r.find("* SEARCH").unwrap().split(' ').count() == 3,
        "local flag reached the server: {}",
        r.all()
    );
    let r = c.cmd("STATUS Projects (MESSAGES)");
    assert!(r.has("(MESSAGES 1)"), "{}", r.all());
}
