//! MULTIAPPEND (RFC 3502) and literal8 APPEND (RFC 3516) against the real binary, on the
//! streamed path: several large messages in one APPEND stored all or none (a failing
//! message or the quota of the batch keeps every one out, and nothing is left in `tmp/`),
//! binary parts stored base64-encoded and given back exactly by BINARY[], and imapd's peak
//! memory during a 3 x 20 MiB MULTIAPPEND (printed, not asserted).

mod common;

use std::path::Path;

use common::{login, prepare, PASS, USER};
use ferrymail_testkit::{ImapClient, Response};
use ferrymail_users::{PasswdFile, Quota};

/// A CRLF message of `size` bytes or a little more.
fn message(size: usize, subject: &str) -> Vec<u8> {
    let mut out = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n").into_bytes();
    let mut n = 0u32;
    while out.len() < size {
        out.extend_from_slice(format!("line {n} of {subject}\r\n").as_bytes());
        n += 1;
    }
    out
}

/// `tag APPEND INBOX` of `msgs`, all LITERAL+; the reply.
fn multiappend(c: &mut ImapClient, tag: &str, msgs: &[&[u8]]) -> Response {
    c.send(format!("{tag} APPEND INBOX").as_bytes());
    for m in msgs {
        c.send(format!(" {{{}+}}\r\n", m.len()).as_bytes());
        c.send(m);
    }
    c.send(b"\r\n");
    c.read_until_tag(tag)
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.count())
}

fn messages(c: &mut ImapClient) -> String {
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    r.find("MESSAGES").cloned().unwrap_or_default()
}

#[test]
fn a_streamed_multiappend_is_stored_whole_or_not_at_all() {
    let srv = common::start(true);
    let tmp = srv.maildir(USER).join("tmp");
    let mut c = login(&srv, USER, PASS);
    let (m1, m2, m3) = (
        message(400 * 1024, "one"),
        message(10, "two"),
        message(300 * 1024, "three"),
    );
    // Large, small, large; synchronising then LITERAL+.
    c.send(format!("a1 APPEND INBOX (\\Seen) {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send(&m1);
    c.send(format!(" {{{}+}}\r\n", m2.len()).as_bytes());
    c.send(&m2);
    c.send(format!(" (\\Flagged) {{{}}}\r\n", m3.len()).as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send(&m3);
    c.send(b"\r\n");
    let r = c.read_until_tag("a1");
    assert!(r.ok(), "{}", r.all());
    assert!(r.tagged.contains(" 1:3]"), "{}", r.tagged);
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("FETCH 1:3 (FLAGS RFC822.SIZE)");
    assert!(r.has(&format!("RFC822.SIZE {}", m3.len())), "{}", r.all());
    assert!(r.find("* 3 FETCH").is_some_and(|l| l.contains("\\Flagged")));
    assert!(r.find("* 2 FETCH").is_some_and(|l| !l.contains("\\Seen")));

    // A NUL in a plain literal of the batch: nothing of it is kept.
    let mut bad = message(20, "nul");
    bad.push(0);
    c.send(format!("a2 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    c.send(&m1);
    c.send(format!(" {{{}+}}\r\n", bad.len()).as_bytes());
    c.send(&bad);
    c.send(b"\r\n");
    let r = c.read_until_tag("a2");
    assert_eq!(r.status(), "NO", "{}", r.all());
    assert_eq!(messages(&mut c), "* STATUS \"INBOX\" (MESSAGES 3)");
    assert_eq!(files_in(&tmp), 0);
    // A message too large after a streamed one: refused before its literal.
    c.send(format!("a3 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    c.send(&m1);
    c.send(b" {999999999999}\r\n");
    let l = c.line();
    assert!(l.starts_with("a3 NO [TOOBIG]"), "{l}");
    assert_eq!(messages(&mut c), "* STATUS \"INBOX\" (MESSAGES 3)");
    assert_eq!(files_in(&tmp), 0);
    // Small messages, collected until together they grow past what is held: the rest
    // streams, and the batch is one.
    let small = message(100 * 1024, "small");
    let r = multiappend(&mut c, "a4", &[&small, &small, &small, &m2]);
    assert!(r.ok() && r.tagged.contains(" 4:7]"), "{}", r.all());
    assert_eq!(messages(&mut c), "* STATUS \"INBOX\" (MESSAGES 7)");
    assert_eq!(files_in(&tmp), 0);
}

#[test]
fn the_quota_is_checked_for_the_whole_batch() {
    let mut srv = prepare(true);
    let mut passwd = None;
    srv.edit_config(|c| passwd = Some(c.userdb.passwd_file.clone()));
    let mut pf = PasswdFile::load(passwd.expect("passwd file")).expect("load");
    let quota = Quota {
        storage_bytes: Some(1024 * 1024),
        messages: None,
    };
    pf.set_quota(USER, quota).expect("quota");
    pf.save().expect("save");
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    // Each fits alone; together they do not.
    let m = message(400 * 1024, "q");
    let r = multiappend(&mut c, "q1", &[&m, &m, &m]);
    assert!(r.tagged.starts_with("q1 NO [OVERQUOTA]"), "{}", r.all());
    assert_eq!(messages(&mut c), "* STATUS \"INBOX\" (MESSAGES 0)");
    assert_eq!(files_in(&srv.maildir(USER).join("tmp")), 0);
    assert!(c.append("INBOX", "", &m).ok());
}

/// The data of a `BINARY[...]` item of message 1, exactly; sent as a literal8.
fn fetch_binary(c: &mut ImapClient, item: &str) -> Vec<u8> {
    let (head, data) = common::fetch_literal(c, "f1", &format!("FETCH 1 ({item})"));
    assert!(head.contains("~{"), "{head}");
    data
}

#[test]
fn a_streamed_literal8_keeps_its_binary_part_exactly() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let mut content: Vec<u8> = (0..=255u8).cycle().take(600 * 1024).collect();
    content.extend_from_slice(b"\n\r\0");
    let mut msg = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    msg.extend_from_slice(&content);
    c.send(format!("b1 APPEND INBOX ~{{{}+}}\r\n", msg.len()).as_bytes());
    c.send(&msg);
    c.send(b"\r\n");
    let r = c.read_until_tag("b1");
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("FETCH 1 (BINARY.SIZE[1] BODYSTRUCTURE)");
    assert!(
        r.has(&format!("BINARY.SIZE[1] {}", content.len())),
        "{}",
        r.all()
    );
    assert!(r.has("\"base64\""), "{}", r.all());
    assert_eq!(fetch_binary(&mut c, "BINARY.PEEK[1]"), content);
    assert_eq!(
        fetch_binary(&mut c, "BINARY.PEEK[1]<256.3>"),
        vec![0u8, 1, 2]
    );
}

/// Peak resident memory of imapd (VmHWM) over a MULTIAPPEND of three 20 MiB messages:
/// printed for the report.
#[test]
fn peak_memory_of_a_60_mib_multiappend() {
    let srv = common::start(true);
    let pid = srv.daemon("imapd").pid();
    let hwm = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut c = login(&srv, USER, PASS);
    let m = message(20 * 1024 * 1024, "big");
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let before = hwm();
    let r = multiappend(&mut c, "m1", &[&m, &m, &m]);
    assert!(r.ok(), "{}", r.all());
    println!(
        "imapd VmHWM: {before} before, {} after a 3 x {} byte MULTIAPPEND (peak reset: {reset})",
        hwm(),
        m.len()
    );
}
