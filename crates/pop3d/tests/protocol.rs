//! The real pop3d binary against the POP3 command set, over plaintext (loopback allowed by
//! config), STLS and implicit TLS.

mod common;

use std::time::{Duration, Instant};

use common::{deliver, expected_retr, files, implicit_tls, plain, start, stls, store, PASS, USER};
use ferrymail_maildir::{Flags, Subdir};
use ferrymail_testkit::{Pop3Client, Suite};

const M1: &[u8] =
    b"From: a@example.org\nSubject: one\n\nfirst body\n.leading dot\n..two dots\n.\nlast\n";
const M2: &[u8] = b"From: b@example.org\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";
const M3: &[u8] = b"Subject: three\n\nno final newline";

#[test]
fn whole_command_set_plaintext_on_loopback() {
    let s = start(true);
    let e1 = deliver(&s, USER, M1);
    let e2 = deliver(&s, USER, M2);
    let e3 = deliver(&s, USER, M3);
    let mut c = plain(&s);

    let (_, capa) = c.multi("CAPA");
    let capa = String::from_utf8(capa).unwrap();
    for cap in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "USER",
        "STLS",
    ] {
        assert!(capa.lines().any(|l| l == cap), "{cap} missing in {capa}");
    }
    assert!(capa.contains("SASL PLAIN"), "{capa}");
    assert!(capa.contains("IMPLEMENTATION "), "{capa}");

    assert!(c.cmd("STAT").starts_with("-ERR"), "STAT before login");
    let r = c.login(USER, PASS);
    assert!(r.starts_with("+OK"), "{r}");

    let sizes: Vec<usize> = [M1, M2, M3]
        .iter()
        .map(|m| {
            expected_retr(m).len()
                - 3
                - usize::from(!m.ends_with(b"\n")) * 2
                - m.split(|&b| b == b'\n')
                    .filter(|l| l.starts_with(b"."))
                    .count()
        })
        .collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(c.cmd("STAT"), format!("+OK 3 {total}\r\n"));
    let (_, list) = c.multi("LIST");
    assert_eq!(
        String::from_utf8(list).unwrap(),
        format!(
            "1 {}\r\n2 {}\r\n3 {}\r\n.\r\n",
            sizes[0], sizes[1], sizes[2]
        )
    );
    assert_eq!(c.cmd("LIST 2"), format!("+OK 2 {}\r\n", sizes[1]));
    let (_, uidl) = c.multi("UIDL");
    assert_eq!(
        String::from_utf8(uidl).unwrap(),
        format!(
            "1 {}\r\n2 {}\r\n3 {}\r\n.\r\n",
            e1.base(),
            e2.base(),
            e3.base()
        )
    );
    assert_eq!(c.cmd("UIDL 3"), format!("+OK 3 {}\r\n", e3.base()));

    // RETR: byte-exact, dot-stuffed, CRLF.
    for (i, m) in [M1, M2, M3].iter().enumerate() {
        let status = c.cmd(&format!("RETR {}", i + 1));
        assert!(status.starts_with("+OK"), "{status}");
        assert_eq!(c.body(), expected_retr(m), "RETR {}", i + 1);
    }
    // TOP: header, blank line, n body lines, still dot-stuffed.
    let (_, top) = c.multi("TOP 1 2");
    assert_eq!(
        top,
        b"From: a@example.org\r\nSubject: one\r\n\r\nfirst body\r\n..leading dot\r\n.\r\n"
    );
    let (_, top0) = c.multi("TOP 2 0");
    assert_eq!(top0, b"From: b@example.org\r\nSubject: two\r\n\r\n.\r\n");

    // Bad input: -ERR with a reason, session continues.
    for bad in [
        "RETR 4",
        "RETR 0",
        "LIST x",
        "TOP 1",
        "DELE",
        "XYZZY",
        "USER again",
        "STLS",
    ] {
        let r = c.cmd(bad);
        assert!(r.starts_with("-ERR "), "{bad}: {r}");
    }
    assert_eq!(c.cmd("NOOP"), "+OK\r\n");

    // DELE + RSET.
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("RETR 1").starts_with("-ERR"), "deleted message");
    assert!(c.cmd("DELE 1").starts_with("-ERR"), "deleted twice");
    assert_eq!(c.cmd("STAT"), format!("+OK 2 {}\r\n", total - sizes[0]));
    assert!(c.cmd("RSET").starts_with("+OK"));
    assert_eq!(c.cmd("STAT"), format!("+OK 3 {total}\r\n"));
    let r = c.cmd("QUIT");
    assert!(
        r.starts_with("+OK") && r.contains("0 messages deleted"),
        "{r}"
    );
    assert!(c.is_eof());

    // RETR marked all three seen and moved them to cur/; TOP did not matter.
    let md = store(&s, USER);
    let listed = md.list().unwrap();
    assert_eq!(listed.len(), 3);
    for e in &listed {
        assert_eq!(e.dir(), Subdir::Cur, "{}", e.file_name());
        assert!(e.flags().contains(Flags::SEEN), "{}", e.file_name());
    }
}

#[test]
fn dele_then_quit_removes_only_deleted_messages() {
    let s = start(true);
    let e1 = deliver(&s, USER, M1);
    let e2 = deliver(&s, USER, M2);
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    let r = c.cmd("QUIT");
    assert!(
        r.starts_with("+OK") && r.contains("1 messages deleted"),
        "{r}"
    );
    let left: Vec<String> = store(&s, USER)
        .list()
        .unwrap()
        .iter()
        .map(|e| e.base().to_owned())
        .collect();
    assert_eq!(left, vec![e2.base().to_owned()]);
    assert_ne!(e1.base(), e2.base());
}

/// Logs in, retrying while the server has not yet noticed a previous session's end.
fn login_when_free(s: &Suite) -> Pop3Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = plain(s);
        let r = c.login(USER, PASS);
        if r.starts_with("+OK") {
            return c;
        }
        assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
        assert!(Instant::now() < deadline, "maildrop stayed locked");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropped_connection_deletes_nothing() {
    let s = start(true);
    deliver(&s, USER, M1);
    deliver(&s, USER, M2);
    let before = files(&s.maildir(USER));
    {
        let mut c = plain(&s);
        assert!(c.login(USER, PASS).starts_with("+OK"));
        assert!(c.cmd("DELE 1").starts_with("+OK"));
        assert!(c.cmd("DELE 2").starts_with("+OK"));
        // Dropped here without QUIT.
    }
    let mut c = login_when_free(&s);
    assert!(c.cmd("STAT").starts_with("+OK 2 "));
    assert_eq!(files(&s.maildir(USER)), before);
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn uidl_is_the_maildir_base_name_and_stable_across_sessions() {
    let s = start(true);
    let e1 = deliver(&s, USER, M1);
    let e2 = deliver(&s, USER, M2);
    let e3 = deliver(&s, USER, M3);
    let uidl = |c: &mut Pop3Client| String::from_utf8(c.multi("UIDL").1).unwrap();
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let first = uidl(&mut c);
    // RETR renames the file (new/ → cur/, :2,S); the UIDL must not change.
    assert!(c.cmd("RETR 2").starts_with("+OK"));
    c.body();
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));

    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let second = uidl(&mut c);
    assert_eq!(
        first,
        format!(
            "1 {}\r\n2 {}\r\n3 {}\r\n.\r\n",
            e1.base(),
            e2.base(),
            e3.base()
        )
    );
    // Message numbers are per session; the ids are not.
    assert_eq!(
        second,
        format!("1 {}\r\n2 {}\r\n.\r\n", e2.base(), e3.base())
    );
    // The Maildir file (now renamed) still has the same base.
    let found = store(&s, USER).find(e2.base()).unwrap().unwrap();
    assert_eq!(found.dir(), Subdir::Cur);
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn second_login_is_refused_while_the_maildrop_is_in_use() {
    let s = start(true);
    deliver(&s, USER, M1);
    let mut first = plain(&s);
    assert!(first.login(USER, PASS).starts_with("+OK"));
    let mut second = plain(&s);
    let r = second.login(USER, PASS);
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    // Refused, not disconnected; another user's maildrop is unaffected.
    let r = second.login("ann@example.test", "ann-pw");
    assert!(r.starts_with("+OK"), "{r}");
    assert!(second.cmd("QUIT").starts_with("+OK"));
    assert!(first.cmd("QUIT").starts_with("+OK"));
    let mut third = plain(&s);
    assert!(third.login(USER, PASS).starts_with("+OK"));
}

#[test]
fn delivery_mid_session_is_neither_shown_nor_disturbed() {
    let s = start(true);
    deliver(&s, USER, M1);
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let stat = c.cmd("STAT");
    assert!(stat.starts_with("+OK 1 "), "{stat}");
    let late = deliver(&s, USER, M2);
    assert_eq!(c.cmd("STAT"), stat);
    assert!(c.cmd("LIST 2").starts_with("-ERR"));
    let (_, list) = c.multi("LIST");
    assert_eq!(list.iter().filter(|&&b| b == b'\n').count(), 2);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));

    let left = store(&s, USER).list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].base(), late.base());
    assert_eq!(left[0].dir(), Subdir::New, "untouched by the old session");
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let (_, uidl) = c.multi("UIDL");
    assert_eq!(uidl, format!("1 {}\r\n.\r\n", late.base()).into_bytes());
}

#[test]
fn stls_then_login_and_retr() {
    let s = start(false);
    deliver(&s, USER, M1);
    let mut plain = plain(&s);
    let (_, capa) = plain.multi("CAPA");
    let capa = String::from_utf8(capa).unwrap();
    assert!(capa.lines().any(|l| l == "STLS"), "{capa}");
    assert!(!capa.contains("USER") && !capa.contains("SASL"), "{capa}");
    let r = plain.cmd("USER joe@example.test");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert!(plain.cmd("QUIT").starts_with("+OK"));

    let mut c = stls(&s);
    let (_, capa) = c.multi("CAPA");
    let capa = String::from_utf8(capa).unwrap();
    assert!(capa.lines().any(|l| l == "USER"), "{capa}");
    assert!(!capa.lines().any(|l| l == "STLS"), "{capa}");
    assert!(c.login(USER, PASS).starts_with("+OK"));
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), expected_retr(M1));
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn plaintext_pipelined_after_stls_is_discarded() {
    let s = start(false);
    let mut c = plain(&s);
    // The injected command must not run inside the TLS session (CVE-2011-0411).
    c.send(b"STLS\r\nUSER joe@example.test\r\n");
    assert_eq!(c.line(), "+OK Begin TLS negotiation\r\n");
    c.conn().start_tls().unwrap();
    let r = c.cmd(&format!("PASS {PASS}"));
    assert!(r.starts_with("-ERR"), "{r}");
}

#[test]
fn implicit_tls_on_995_with_sasl_plain() {
    let s = start(false);
    deliver(&s, USER, M2);
    let mut c = implicit_tls(&s);
    let (_, capa) = c.multi("CAPA");
    let capa = String::from_utf8(capa).unwrap();
    assert!(!capa.lines().any(|l| l == "STLS"), "{capa}");
    assert!(capa.contains("SASL PLAIN"), "{capa}");
    let ir = ferrymail_net::sasl::encode(format!("\0{USER}\0{PASS}").as_bytes());
    let r = c.cmd(&format!("AUTH PLAIN {ir}"));
    assert!(r.starts_with("+OK"), "{r}");
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), expected_retr(M2));
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn failed_logins_back_off_then_disconnect() {
    let s = start(true);
    let mut c = plain(&s);
    for _ in 0..2 {
        let r = c.login(USER, "wrong");
        assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    }
    let r = c.login("nobody@example.test", "wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    // max_auth_failures = 3 by default: the third failure ends the session.
    let more = c.line();
    assert!(more.starts_with("-ERR [AUTH]"), "{more}");
    assert!(c.is_eof());
}

#[test]
fn overlong_line_is_refused_and_session_continues() {
    let s = start(true);
    let mut c = plain(&s);
    let long = format!("NOOP {}", "x".repeat(5000));
    let r = c.cmd(&long);
    assert!(r.starts_with("-ERR") && r.contains("too long"), "{r}");
    let r = c.cmd("CAPA");
    assert!(r.starts_with("+OK"), "{r}");
    c.body();
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let s = start(true);
    deliver(&s, USER, M3);
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    c.send(b"STAT\r\nRETR 1\r\nNOOP\r\nLIST 1\r\n");
    assert!(c.line().starts_with("+OK 1 "));
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.body(), expected_retr(M3));
    assert_eq!(c.line(), "+OK\r\n");
    assert!(c.line().starts_with("+OK 1 "));
}

#[test]
fn large_message_streams_byte_exact() {
    let s = start(true);
    // ~3 MB with dot lines spread so they straddle read chunks.
    let mut m = b"Subject: big\n\n".to_vec();
    for i in 0..60_000 {
        if i % 7 == 0 {
            m.extend_from_slice(b".");
        }
        m.extend_from_slice(format!("line {i} of a large message body, padded a bit\n").as_bytes());
    }
    deliver(&s, USER, &m);
    let mut c = implicit_tls(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), expected_retr(&m));
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut s = start(true);
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    s.daemon("pop3d").signal(nix::sys::signal::Signal::SIGTERM);
    let status = s
        .daemon_mut("pop3d")
        .wait_timeout(Duration::from_secs(15))
        .expect("exits");
    assert!(status.success(), "{status:?}");
    let r = c.line();
    assert!(r.is_empty() || r.starts_with("-ERR"), "{r}");
}

#[test]
fn idle_session_is_logged_out_without_update() {
    let s = common::start_with(|c| {
        c.pop3d.limits.plaintext_auth_on_loopback = true;
        c.pop3d.idle_timeout = Duration::from_millis(500);
    });
    deliver(&s, USER, M1);
    let before = files(&s.maildir(USER));
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    // Say nothing more: the server ends the session on its own.
    let r = c.line();
    assert!(r.starts_with("-ERR") && r.contains("idle"), "{r}");
    assert!(c.is_eof());
    assert_eq!(
        files(&s.maildir(USER)),
        before,
        "no UPDATE after autologout"
    );
}

#[test]
fn connections_over_the_per_address_limit_are_refused() {
    let s = common::start_with(|c| {
        c.pop3d.limits.max_connections_per_ip = 1;
        c.pop3d.limits.exempt_trusted = false;
    });
    let connect = || {
        let c = Pop3Client::connect(s.env.addr(s.env.ports.pop3));
        let greeting = c.greeting.clone();
        (c, greeting)
    };
    // The start-up probe's connection may still hold the slot for a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut first = loop {
        let (c, greeting) = connect();
        if greeting.starts_with("+OK") {
            break c;
        }
        assert!(Instant::now() < deadline, "slot never freed: {greeting}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut second, r) = connect();
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    assert!(second.is_eof());
    assert_eq!(
        first.cmd("NOOP"),
        "-ERR Command not valid in this state\r\n"
    );
}

/// What imapd does to the same Maildir (through the same library) while a POP3 session is
/// open: flag changes rename files, EXPUNGE removes them. Neither may break the session or
/// make POP3 touch the wrong message.
#[test]
fn imap_style_changes_mid_session_are_followed() {
    let s = start(true);
    let e1 = deliver(&s, USER, M1);
    let e2 = deliver(&s, USER, M2);
    let e3 = deliver(&s, USER, M3);
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let md = store(&s, USER);
    md.set_flags(&e1, Flags::FLAGGED | Flags::REPLIED).unwrap();
    md.delete(&e2).unwrap();
    // Renamed by "IMAP": still retrievable, byte-exact, and RETR adds S to its flags.
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), expected_retr(M1));
    let now = md.find(e1.base()).unwrap().unwrap();
    assert_eq!(now.flags(), Flags::FLAGGED | Flags::REPLIED | Flags::SEEN);
    // Expunged by "IMAP": a clean -ERR, and the session goes on.
    let r = c.cmd("RETR 2");
    assert!(
        r.starts_with("-ERR") && r.contains("no longer available"),
        "{r}"
    );
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    let r = c.cmd("QUIT");
    assert!(r.starts_with("+OK"), "{r}");
    let left: Vec<String> = md
        .list()
        .unwrap()
        .iter()
        .map(|e| e.base().to_owned())
        .collect();
    assert_eq!(left, vec![e3.base().to_owned()]);
}
