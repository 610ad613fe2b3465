//! Unix accounts through the real binary: mbox delivery read back by Python's `mailbox`,
//! locking against Python's own mbox locker, `.forward`, and (as root) the per-delivery
//! switch to the account's uid.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::*;
use ferrymail_testkit::process::python;

const M1: &[u8] =
    b"From: a@remote.test\r\nSubject: one\r\n\r\nFrom here on\r\n>From quoted\r\nend\r\n";
const M2: &[u8] = b"Subject: two\r\n\r\nsecond\r\n";

/// What a mboxrd reader gets back: LF lines, `From ` lines quoted once more.
fn mbox_form(trace_and_msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(trace_and_msg.to_vec())
        .unwrap()
        .replace("\r\n", "\n");
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim_start_matches('>').starts_with("From ") {
            out.push('>');
        }
        out.push_str(line);
    }
    out.into_bytes()
}

const PY_READ: &str = r#"import mailbox,sys,json,base64
mb=mailbox.mbox(sys.argv[1],create=False)
print(json.dumps([{"from":mb.get_message(k).get_from(),"raw":base64.b64encode(mb.get_bytes(k)).decode()} for k in mb.keys()]))"#;

fn py_mbox(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let out = python(PY_READ, &[path.to_str().unwrap()]);
    // Tiny JSON picking without a JSON crate: the structure is fixed.
    let mut res = Vec::new();
    for item in out.split("{\"from\": \"").skip(1) {
        let (from, rest) = item.split_once("\", \"raw\": \"").unwrap();
        let raw = rest.split('"').next().unwrap();
        res.push((from.to_string(), decode_b64(raw)));
    }
    res
}

fn decode_b64(s: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    out.stdin.as_ref().unwrap().write_all(s.as_bytes()).unwrap();
    out.wait_with_output().unwrap().stdout
}

#[test]
fn mbox_delivery_read_by_python_and_owned_by_the_account() {
    if !unix_accounts_testable() {
        return;
    }
    let mut t = TestEnv::new();
    let (uid, _) = t.add_unix_account("unixer", true);
    t.start();
    let mut c = t.connect();
    let (rr, dr) = c.lmtp_deliver("a@remote.test", &["unixer@example.test"], M1);
    assert_eq!(rr[0].code, 250, "{rr:?}");
    assert_eq!(dr[0].code, 250, "{dr:?} {}", t.log());
    let (_, dr) = c.lmtp_deliver("", &["unixer@example.test"], M2);
    assert_eq!(dr[0].code, 250, "{dr:?}");

    let path = t.mbox_path("unixer");
    let got = py_mbox(&path);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].0.starts_with("a@remote.test "), "{}", got[0].0);
    assert!(got[1].0.starts_with("MAILER-DAEMON "), "{}", got[1].0);
    let want1 = mbox_form(&with_trace("a@remote.test", "unixer@example.test", M1));
    let want2 = mbox_form(&with_trace("", "unixer@example.test", M2));
    assert_eq!(got[0].1, want1);
    assert_eq!(got[1].1, want2);
    // The raw file, exactly.
    let raw = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("From a@remote.test "));
    assert!(text.contains("\n>From here on\n>>From quoted\nend\n\nFrom MAILER-DAEMON "));
    assert!(text.ends_with("second\n\n"));
    assert!(!t.mbox_path("unixer.lock").exists());

    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.uid(), uid, "written as the account");
    if !is_root() {
        ferrymail_testkit::skip::report(
            "the uid switch itself needs root (the account is our own uid here)",
        );
    }
}

#[test]
fn mbox_waits_for_a_concurrent_locker() {
    if !unix_accounts_testable() {
        return;
    }
    let mut t = TestEnv::new();
    let (uid, _) = t.add_unix_account("unixer", true);
    t.start();
    let path = t.mbox_path("unixer");
    std::fs::write(&path, b"").unwrap();
    if is_root() {
        nix::unistd::chown(&path, Some(uid.into()), Some(uid.into())).unwrap();
    }
    // Python's mailbox takes the same two locks (dot-lock + fcntl) as mutt and procmail.
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(
            r#"import mailbox,sys
mb=mailbox.mbox(sys.argv[1])
mb.lock()
print("locked",flush=True)
sys.stdin.readline()
mb.add(b"From: locker@x.test\nSubject: locker\n\nheld the lock\n")
mb.flush()
mb.unlock()
print("unlocked",flush=True)"#,
        )
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for these tests");
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let sock = t.env.config.lmtp_socket();
    let sender = std::thread::spawn(move || {
        let mut c = lmtp(&sock);
        c.lmtp_deliver("a@remote.test", &["unixer@example.test"], M2)
            .1
    });
    // Give the delivery time to reach the lock; if it ignored the lock it would finish now
    // and its message would come first in the file.
    std::thread::sleep(std::time::Duration::from_millis(700));
    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "unlocked");
    let dr = sender.join().unwrap();
    assert_eq!(dr[0].code, 250, "{dr:?}");
    assert!(py.wait().unwrap().success());

    let got = py_mbox(&path);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(String::from_utf8_lossy(&got[0].1).contains("held the lock"));
    assert!(String::from_utf8_lossy(&got[1].1).contains("second"));
}

#[test]
fn dot_forward_addresses_and_keep_copy() {
    if !unix_accounts_testable() {
        return;
    }
    let mut t = TestEnv::new();
    let (uid, home) = t.add_unix_account("unixer", false);
    let fwd = home.join(".forward");
    std::fs::write(
        &fwd,
        "# forward and keep\nfriend@far.test, \\unixer\n\"|/bin/false\"\n",
    )
    .unwrap();
    if is_root() {
        nix::unistd::chown(&fwd, Some(uid.into()), Some(uid.into())).unwrap();
    }
    t.start();
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver("a@remote.test", &["unixer@example.test"], M2);
    assert_eq!(dr[0].code, 250, "{dr:?} {}", t.log());
    let own = home.join("Maildir");
    assert_eq!(
        maildir_messages(&own),
        vec![with_trace("a@remote.test", "unixer@example.test", M2)]
    );
    let q = t.requeued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, vec!["friend@far.test".to_string()]);
    assert!(t
        .log()
        .contains("ignoring a command or file target in .forward"));

    // Forward only: nothing stays in the mailbox.
    std::fs::write(&fwd, "friend@far.test\n").unwrap();
    let (_, dr) = c.lmtp_deliver("a@remote.test", &["unixer@example.test"], M1);
    assert_eq!(dr[0].code, 250);
    assert_eq!(maildir_messages(&own).len(), 1);
    let q = t.requeued();
    assert_eq!(q.len(), 1);
    let mut want = b"Delivered-To: unixer@example.test\r\n".to_vec();
    want.extend_from_slice(M1);
    assert_eq!(q[0].2, want);
}

#[test]
fn unix_maildir_written_as_the_account_never_root() {
    if ferrymail_testkit::skip_unless_root("CI runs as root") {
        return;
    }
    let mut t = TestEnv::new();
    let (uid, home) = t.add_unix_account("unixer", false);
    t.start();
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver(
        "a@remote.test",
        &["unixer@example.test", "alice@example.test"],
        M2,
    );
    assert!(dr.iter().all(|r| r.code == 250), "{dr:?} {}", t.log());
    let md = home.join("Maildir");
    for p in [md.clone(), md.join("new")] {
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), uid, "{}", p.display());
    }
    for e in std::fs::read_dir(md.join("new")).unwrap() {
        assert_eq!(e.unwrap().metadata().unwrap().uid(), uid);
    }
    // A home the account cannot write: a temporary failure, not a root-owned mailbox.
    let other = t.state().join("home/locked");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::remove_dir_all(&md).unwrap();
    nix::unistd::chown(&home, Some(0.into()), Some(0.into())).unwrap();
    let (_, dr) = c.lmtp_deliver("a@remote.test", &["unixer@example.test"], M2);
    assert_eq!(dr[0].code, 450, "{dr:?}");
    assert!(!md.exists());
}
