//! A Unix account whose mail is a classic mbox (`userdb.unix_mailbox = "mbox"`): the real
//! local-delivery writes it over LMTP, Python's poplib reads it through pop3d's per-login
//! child running as the account, and Python's `mailbox.mbox` (a reader no one here wrote)
//! checks the file after the UPDATE. The spool directory is laid out as on Debian: not
//! writable by the account (no dot-lock possible, so the rewrite must be in place), with the
//! account's own 0600 mbox in it. Needs root (the child switches uid); prints SKIP otherwise.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{start_with, StepScript};
use ferrymail_dev::unix_account::{chown_tree, use_accounts, UnixAccount, PASSWORD};
use ferrymail_testkit::process::python;
use ferrymail_testkit::{skip_unless_root, Suite};

const UID: u32 = 51237;
const LOGIN: &str = "dave";
const RCPT: &str = "dave@example.test";
const SENDER: &str = "sender@remote.test";

const MSG1: &[u8] = b"From: a@remote.test\r\nSubject: one\r\n\r\nfirst message\r\n";
const MSG2: &[u8] = b"From: b@remote.test\r\nSubject: two\r\n\r\nsecond\r\n";
const MSG3: &[u8] =
    b"From: c@remote.test\r\nSubject: three\r\n\r\nFrom the body, quoted in the file\r\n>From too\r\n.dot\r\n";

/// Delivers one message over LMTP with Python's smtplib (a client no one here wrote);
/// prints the per-recipient DATA reply code.
const LMTP_SCRIPT: &str = r#"
import smtplib, sys
sock, sender, rcpt, path = sys.argv[1:5]
msg = open(path, "rb").read()
c = smtplib.LMTP(sock)
c.ehlo_or_helo_if_needed()
c.mail(sender)
code, _ = c.rcpt(rcpt)
assert code == 250, code
code, text = c.data(msg)
print(code, text.decode(), flush=True)
c.quit()
"#;

/// poplib over plain POP3 on loopback: reports the transaction commands as JSON, waits for
/// a line on stdin, then DELE 2 and QUIT.
const SESSION_SCRIPT: &str = r#"
import json, poplib, sys
host, port, user, pw = sys.argv[1:5]
p = poplib.POP3(host, int(port), timeout=120)
p.user(user)
out = {"pass": p.pass_(pw).decode()}
out["stat"] = list(p.stat())
out["list"] = [x.decode() for x in p.list()[1]]
out["uidl"] = [x.decode() for x in p.uidl()[1]]
out["top3"] = [l.decode("latin-1") for l in p.top(3, 1)[1]]
out["retr"] = [[l.decode("latin-1") for l in p.retr(i)[1]] for i in (1, 2, 3)]
print(json.dumps(out), flush=True)
sys.stdin.readline()
out = {"dele": p.dele(2).decode(), "quit": p.quit().decode()}
print(json.dumps(out), flush=True)
"#;

/// A second login while the first session holds the maildrop; prints the server's answer.
const SECOND_SCRIPT: &str = r#"
import json, poplib, sys
host, port, user, pw = sys.argv[1:5]
p = poplib.POP3(host, int(port), timeout=60)
p.user(user)
try:
    print(p.pass_(pw).decode())
    print(json.dumps(p.uidl()[1]))
except poplib.error_proto as e:
    print(e.args[0].decode())
"#;

const UIDL_SCRIPT: &str = r#"
import json, poplib, sys
host, port, user, pw = sys.argv[1:5]
p = poplib.POP3(host, int(port), timeout=60)
p.user(user)
p.pass_(pw)
print(json.dumps([x.decode() for x in p.uidl()[1]]), flush=True)
p.quit()
"#;

/// Every message of the mbox as Python's `mailbox.mbox` reads it: [subject, payload].
const READ_MBOX: &str = r#"
import json, mailbox, sys
print(json.dumps([[m["Subject"], m.get_payload()] for m in mailbox.mbox(sys.argv[1])]))
"#;

fn pop_args(s: &Suite) -> [String; 4] {
    [
        s.env.listen_addr.to_string(),
        s.env.ports.pop3.to_string(),
        LOGIN.to_owned(),
        PASSWORD.to_owned(),
    ]
}

fn deliver(s: &Suite, dir: &Path, n: usize, msg: &[u8]) -> String {
    let file = dir.join(format!("msg{n}.eml"));
    std::fs::write(&file, msg).unwrap();
    let sock = s.env.config.lmtp_socket();
    python(
        LMTP_SCRIPT,
        &[sock.to_str().unwrap(), SENDER, RCPT, file.to_str().unwrap()],
    )
}

fn trace(msg: &[u8]) -> Vec<u8> {
    let mut v = format!("Return-Path: <{SENDER}>\r\nDelivered-To: {RCPT}\r\n").into_bytes();
    v.extend_from_slice(msg);
    v
}

/// poplib's lines of a RETR joined back into the message.
fn joined(lines: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines.as_array().unwrap() {
        out.extend(l.as_str().unwrap().chars().map(|c| c as u8));
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn second_field(lines: &serde_json::Value) -> Vec<String> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().split(' ').nth(1).unwrap().to_owned())
        .collect()
}

#[test]
fn mbox_account_over_pop3_with_local_delivery_and_python() {
    if skip_unless_root("the session child and the delivery helper switch uid") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home-dave");
    std::fs::create_dir(&home).unwrap();
    chown_tree(&home, UID).unwrap();
    // Debian's /var/mail: the account may not create files here, only use its own mbox.
    let spool = dir.path().join("var-mail");
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mbox = spool.join(LOGIN);
    std::fs::write(&mbox, b"").unwrap();
    chown_tree(&mbox, UID).unwrap();
    std::fs::set_permissions(&mbox, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut s = start_with(|c| {
        use_accounts(c, dir.path(), &[UnixAccount::new(LOGIN, UID, &home)]).unwrap();
        c.userdb.unix_mailbox = ferrymail_config::UnixMailbox::Mbox;
        c.delivery.mbox_dir = spool.clone();
        c.pop3d.limits.plaintext_auth_on_loopback = true;
        c.pop3d.user = "nobody".into();
    });
    s.start("local-delivery");

    for (n, msg) in [MSG1, MSG2, MSG3].into_iter().enumerate() {
        let reply = deliver(&s, dir.path(), n, msg);
        assert!(
            reply.starts_with("250"),
            "{reply}\n{}",
            s.log("local-delivery")
        );
    }
    let stored = std::fs::read(&mbox).unwrap();
    assert!(
        stored
            .windows(b"\n>From the body".len())
            .any(|w| w == b"\n>From the body"),
        "local-delivery quotes the body's From line"
    );

    // Session 1, held open while the test looks around.
    let args = pop_args(&s);
    let mut py = StepScript::start(SESSION_SCRIPT, &args);
    let v = py.next(|| s.log("pop3d"));
    assert!(
        v["pass"]
            .as_str()
            .unwrap()
            .starts_with("+OK Logged in, maildrop has 3 messages"),
        "{v}\n{}",
        s.log("pop3d")
    );
    let expected = [trace(MSG1), trace(MSG2), trace(MSG3)];
    // poplib undoes the dot-stuffing; what remains is the message as delivered, with the
    // body's `From ` line un-quoted and the one that was `>From ` in it as it was.
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(&joined(&v["retr"][i])),
            String::from_utf8_lossy(want),
            "RETR {}",
            i + 1
        );
    }
    let sizes: Vec<u64> = second_field(&v["list"])
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    let want_sizes: Vec<u64> = expected.iter().map(|m| m.len() as u64).collect();
    assert_eq!(sizes, want_sizes, "LIST counts CRLF octets");
    assert_eq!(v["stat"][0], 3);
    assert_eq!(v["stat"][1], want_sizes.iter().sum::<u64>());
    assert_eq!(
        joined(&v["top3"]),
        b"Return-Path: <sender@remote.test>\r\nDelivered-To: dave@example.test\r\n\
          From: c@remote.test\r\nSubject: three\r\n\r\nFrom the body, quoted in the file\r\n"
            .to_vec()
    );
    let uidls = second_field(&v["uidl"]);
    assert_eq!(uidls.len(), 3);
    for u in &uidls {
        assert!(
            !u.is_empty() && u.len() <= 70 && u.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "{u}"
        );
    }
    assert_ne!(uidls[0], uidls[1]);
    assert_ne!(uidls[1], uidls[2]);

    // A second login meanwhile: its own child finds the maildrop in use.
    let second = python(SECOND_SCRIPT, &args.each_ref().map(|a| a.as_str()));
    assert!(
        second.starts_with("-ERR [IN-USE]"),
        "{second}\n{}",
        s.log("pop3d")
    );

    // A delivery meanwhile waits for the lock, then is deferred (4xx), not refused.
    let held = deliver(&s, dir.path(), 4, b"Subject: four\r\n\r\nlate\r\n");
    assert!(held.starts_with('4'), "{held}\n{}", s.log("local-delivery"));
    assert_eq!(
        std::fs::read(&mbox).unwrap(),
        stored,
        "nothing was appended"
    );

    // DELE 2, QUIT: the mbox is rewritten in place without message 2.
    py.proceed();
    let v = py.next(|| s.log("pop3d"));
    assert!(v["dele"].as_str().unwrap().starts_with("+OK"), "{v}");
    assert!(
        v["quit"].as_str().unwrap().starts_with("+OK"),
        "{v}\n{}",
        s.log("pop3d")
    );
    assert!(py.finish());

    let meta = std::fs::metadata(&mbox).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (UID, 0o600),
        "the same file, still the account's"
    );
    let read: serde_json::Value =
        serde_json::from_str(&python(READ_MBOX, &[mbox.to_str().unwrap()])).unwrap();
    assert_eq!(read.as_array().unwrap().len(), 2, "{read}");
    assert_eq!(read[0][0], "one");
    assert_eq!(read[0][1], "first message\n");
    assert_eq!(read[1][0], "three");
    // Python's mailbox does not un-quote: the file still holds the mboxrd quoting.
    assert_eq!(
        read[1][1],
        ">From the body, quoted in the file\n>>From too\n.dot\n"
    );

    // After QUIT the deferred message goes in.
    let retried = deliver(&s, dir.path(), 5, b"Subject: four\r\n\r\nlate\r\n");
    assert!(
        retried.starts_with("250"),
        "{retried}\n{}",
        s.log("local-delivery")
    );

    // Session 2: the kept messages keep their UIDLs.
    let again: Vec<String> =
        serde_json::from_str(&python(UIDL_SCRIPT, &args.each_ref().map(|a| a.as_str()))).unwrap();
    let again = second_field(&serde_json::json!(again));
    assert_eq!(again.len(), 3, "{again:?}");
    assert_eq!(again[0], uidls[0]);
    assert_eq!(again[1], uidls[2]);
    assert!(!uidls.contains(&again[2]));
}
