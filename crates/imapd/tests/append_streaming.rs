//! Large APPENDs are streamed into the mailbox's `tmp/` instead of being held in memory:
//! byte-exact storage of a 5 MiB message, no trace of a client that disconnects
//! mid-literal, refusals before the literal, and imapd's peak memory during a 50 MiB
//! APPEND (printed, not asserted).

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{connect, login, PASS, USER};
use ferrymail_testkit::{wait_until, ImapClient};

/// A CRLF message of about `size` bytes with varied lines, so FETCH BODY[] must give back
/// exactly these bytes.
fn big_message(size: usize, seed: u64) -> Vec<u8> {
    let mut out = format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: big {seed}\r\nMessage-ID: <big{seed}@example.org>\r\n\r\n"
    )
    .into_bytes();
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ .,;:-_";
    while out.len() < size {
        let len = 1 + (x >> 58) as usize; // 1..=64
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls (bounded) until `cond` holds.
fn eventually(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(20), cond),
        "timed out waiting for: {what}"
    );
}

/// `UID FETCH uid BODY.PEEK[]`, returning the literal's bytes exactly.
fn fetch_body(c: &mut ImapClient, uid: u32) -> Vec<u8> {
    common::fetch_literal(c, "f1", &format!("UID FETCH {uid} BODY.PEEK[]")).1
}

fn appenduid(tagged: &str) -> (u32, u32) {
    let code = tagged
        .split("[APPENDUID ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("no APPENDUID in {tagged}"));
    let (v, u) = code.split_once(' ').unwrap();
    (v.parse().unwrap(), u.parse().unwrap())
}

#[test]
fn five_mib_append_is_stored_byte_exact_with_flags_date_and_appenduid() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let msg = big_message(5 * 1024 * 1024, 1);
    // Synchronising literal, with flags and a date.
    c.send(
        format!(
            "a1 APPEND INBOX (\\Seen $Work) \"14-Jul-2020 10:00:00 +0000\" {{{}}}\r\n",
            msg.len()
        )
        .as_bytes(),
    );
    let cont = c.line();
    assert!(cont.starts_with("+ "), "{cont}");
    c.send(&msg);
    c.send(b"\r\n");
    let r = c.read_until_tag("a1");
    assert!(r.ok(), "{}\n{}", r.all(), srv.log("imapd"));
    let (validity, uid) = appenduid(&r.tagged);
    // LITERAL+ too.
    let msg2 = big_message(3 * 1024 * 1024 + 17, 2);
    c.send(format!("a2 APPEND INBOX {{{}+}}\r\n", msg2.len()).as_bytes());
    c.send(&msg2);
    c.send(b"\r\n");
    let r = c.read_until_tag("a2");
    assert!(r.ok(), "{}", r.all());
    let (validity2, uid2) = appenduid(&r.tagged);
    assert_eq!(validity2, validity);
    assert_eq!(uid2, uid + 1);

    let r = c.cmd("SELECT INBOX");
    assert!(r.has(&format!("[UIDVALIDITY {validity}]")), "{}", r.all());
    assert!(r.has("* 2 EXISTS"), "{}", r.all());
    let r = c.cmd(&format!(
        "UID FETCH {uid}:{uid2} (UID FLAGS INTERNALDATE RFC822.SIZE)"
    ));
    let first = r.find(&format!("UID {uid} ")).unwrap();
    assert!(
        first.contains("\\Seen") && first.contains("$Work"),
        "{first}"
    );
    assert!(first.contains("14-Jul-2020 10:00:00 +0000"), "{first}");
    assert!(
        first.contains(&format!("RFC822.SIZE {}", msg.len())),
        "{first}"
    );
    assert_eq!(fetch_body(&mut c, uid), msg);
    assert_eq!(fetch_body(&mut c, uid2), msg2);
    assert!(files_in(&srv.maildir(USER).join("tmp")).is_empty());
}

#[test]
fn a_client_leaving_mid_literal_leaves_no_file_and_no_message() {
    let srv = common::start(true);
    let tmp = srv.maildir(USER).join("tmp");
    let msg = big_message(2 * 1024 * 1024, 3);
    for (tag, marker) in [("b1", ""), ("b2", "+")] {
        let mut c = login(&srv, USER, PASS);
        c.send(format!("{tag} APPEND INBOX {{{}{marker}}}\r\n", msg.len()).as_bytes());
        if marker.is_empty() {
            let cont = c.line();
            assert!(cont.starts_with("+ "), "{cont}");
        }
        c.send(&msg[..msg.len() / 2]);
        c.conn().flush().unwrap();
        // The first half is on disk in tmp/ while the rest is awaited: streamed, not held.
        eventually("the partial message in tmp/", || {
            files_in(&tmp).iter().any(|f| {
                std::fs::metadata(tmp.join(f)).is_ok_and(|m| m.len() >= (msg.len() / 4) as u64)
            })
        });
        c.conn().shutdown().unwrap();
        drop(c);
        eventually("tmp/ to be cleaned up", || files_in(&tmp).is_empty());
    }
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert!(r.has("(MESSAGES 0)"), "{}", r.all());
    assert!(files_in(&srv.maildir(USER).join("cur")).is_empty());
    assert!(files_in(&srv.maildir(USER).join("new")).is_empty());
}

#[test]
fn large_appends_are_refused_before_the_literal_and_the_session_survives() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let msg = big_message(600 * 1024, 4);
    // Synchronising: refused instead of the continuation, nothing sent.
    c.send(format!("c1 APPEND Nowhere {{{}}}\r\n", msg.len()).as_bytes());
    let l = c.line();
    assert!(l.starts_with("c1 NO [TRYCREATE]"), "{l}");
    c.send(format!("c2 APPEND \"../x\" {{{}}}\r\n", msg.len()).as_bytes());
    let l = c.line();
    assert!(l.starts_with("c2 NO [CANNOT]"), "{l}");
    // LITERAL+: the data is skipped, then refused.
    c.send(format!("c3 APPEND Nowhere {{{}+}}\r\n", msg.len()).as_bytes());
    c.send(&msg);
    c.send(b"\r\n");
    let r = c.read_until_tag("c3");
    assert!(r.tagged.starts_with("c3 NO [TRYCREATE]"), "{}", r.all());
    // Something after the literal that starts no further message: BAD, nothing stored.
    c.send(format!("c4 APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
    c.send(&msg);
    c.send(b" x\r\n");
    let r = c.read_until_tag("c4");
    assert_eq!(r.status(), "BAD", "{}", r.all());
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert!(r.has("(MESSAGES 0)"), "{}", r.all());
    assert!(files_in(&srv.maildir(USER).join("tmp")).is_empty());
    // Before login the literal is not even invited.
    let mut anon = connect(&srv);
    anon.send(format!("d1 APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes());
    let l = anon.line();
    assert!(l.starts_with("d1 BAD"), "{l}");
    // A selected session sees the new message arrive with its APPEND.
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.append("INBOX", "", &msg);
    assert!(r.ok() && r.has("* 1 EXISTS"), "{}", r.all());
}

/// Peak resident memory of imapd (VmHWM) over a 50 MiB APPEND: printed for the report.
#[test]
fn peak_memory_of_a_50_mib_append() {
    let srv = common::start(true);
    let pid = srv.daemon("imapd").pid();
    let hwm = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut c = login(&srv, USER, PASS);
    let msg = big_message(50 * 1024 * 1024, 5);
    // Start-up (sled's cache) sets a high-water mark of its own: reset it to the current
    // RSS so the figure is the APPEND's (Linux ≥ 4.0).
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let before = hwm();
    let r = c.append("INBOX", "", &msg);
    assert!(r.ok(), "{}", r.all());
    println!(
        "imapd VmHWM: {before} before, {} after a {} byte APPEND (peak reset: {reset})",
        hwm(),
        msg.len()
    );
}
