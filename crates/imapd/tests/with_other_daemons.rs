//! imapd next to the daemons it shares mailboxes with: a delivery through local-delivery
//! (LMTP) wakes an IMAP session in IDLE, and a POP3 client deleting through pop3d is seen by
//! IMAP as EXPUNGE. Needs the local-delivery and pop3d binaries (`cargo build -p
//! local-delivery -p pop3d`; `cargo test --workspace` builds them).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{message, Server, PASS, USER};
use ferrymail_dev::{target_bin, wait_for_tcp, wait_for_unix, Daemon};

fn require(bin: &str) -> std::path::PathBuf {
    let p = target_bin(bin);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p {bin}` (cargo test --workspace builds it)",
        p.display()
    );
    p
}

fn lmtp_deliver(socket: &std::path::Path, rcpt: &str, msg: &[u8]) {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let reply = |r: &mut BufReader<UnixStream>| -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            assert!(r.read_line(&mut l).unwrap() > 0, "LMTP closed after {all}");
            all.push_str(&l);
            if l.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
        }
    };
    assert!(reply(&mut r).starts_with("220"));
    for (cmd, code) in [
        ("LHLO test.example".to_owned(), "250"),
        ("MAIL FROM:<sender@example.org>".to_owned(), "250"),
        (format!("RCPT TO:<{rcpt}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let got = reply(&mut r);
        assert!(got.starts_with(code), "{cmd}: {got}");
    }
    w.write_all(msg).unwrap();
    w.write_all(b".\r\n").unwrap();
    let got = reply(&mut r);
    assert!(got.starts_with("250"), "end of data: {got}");
    w.write_all(b"QUIT\r\n").unwrap();
}

#[test]
fn idle_sees_lmtp_delivery_and_pop3_deletion() {
    let ld = require("local-delivery");
    let pop = require("pop3d");
    let mut srv = Server::start(true);
    srv.env.config.pop3d.limits.plaintext_auth_on_loopback = true;
    srv.env.save_config().unwrap();
    let delivery = Daemon::spawn(&ld, &srv.env).unwrap();
    let socket = srv.env.config.lmtp_socket();
    assert!(
        wait_for_unix(&socket, Duration::from_secs(20)),
        "local-delivery did not start: {}",
        delivery.log(&srv.env)
    );
    let pop3 = Daemon::spawn(&pop, &srv.env).unwrap();
    assert!(
        wait_for_tcp(srv.env.addr(srv.env.ports.pop3), Duration::from_secs(20)),
        "pop3d did not start: {}",
        pop3.log(&srv.env)
    );

    let mut c = srv.login(USER, PASS);
    assert!(c.cmd("SELECT INBOX").ok());
    let tag = c.next_tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes());
    assert!(c.line().starts_with("+ "));
    lmtp_deliver(
        &socket,
        USER,
        &message("via-lmtp", "delivered by local-delivery"),
    );
    assert_eq!(c.line(), "* 1 EXISTS");
    assert_eq!(c.line(), "* 1 RECENT");
    c.send(b"DONE\r\n");
    assert!(c.read_until_tag(&tag).ok());
    let r = c.cmd("FETCH 1 (ENVELOPE)");
    assert!(r.has("\"via-lmtp\""), "{}", r.all());

    // POP3 deletes it.
    let p = std::net::TcpStream::connect(srv.env.addr(srv.env.ports.pop3)).unwrap();
    p.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut pw = p.try_clone().unwrap();
    let mut pr = BufReader::new(p);
    let line = |pr: &mut BufReader<std::net::TcpStream>| {
        let mut l = String::new();
        pr.read_line(&mut l).unwrap();
        l
    };
    assert!(line(&mut pr).starts_with("+OK"));
    for cmd in [
        format!("USER {USER}"),
        format!("PASS {PASS}"),
        "DELE 1".into(),
        "QUIT".into(),
    ] {
        pw.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let l = line(&mut pr);
        assert!(l.starts_with("+OK"), "{cmd}: {l}\n{}", pop3.log(&srv.env));
    }
    // IDLE again: the expunge arrives without polling.
    let tag = c.next_tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes());
    assert!(c.line().starts_with("+ "));
    assert_eq!(c.line(), "* 1 EXPUNGE");
    c.send(b"DONE\r\n");
    assert!(c.read_until_tag(&tag).ok());
    drop(pop3);
    drop(delivery);
    srv.stop();
}
