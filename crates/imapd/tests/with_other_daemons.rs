//! imapd next to the daemons it shares mailboxes with: a delivery through local-delivery
//! (LMTP) wakes an IMAP session in IDLE, and a POP3 client deleting through pop3d is seen by
//! IMAP as EXPUNGE. Needs the local-delivery and pop3d binaries (`cargo build -p
//! local-delivery -p pop3d`; `cargo test --workspace` builds them).

mod common;

use common::{login, message, stop, PASS, USER};
use ferrymail_testkit::SmtpClient;

/// One message into `rcpt`'s mailbox through local-delivery's LMTP socket.
fn lmtp_deliver(socket: &std::path::Path, rcpt: &str, msg: &[u8]) {
    let mut c = SmtpClient::connect_unix(socket);
    assert!(c.reply().starts_with("220"));
    let (rr, dr) = c.lmtp_deliver("sender@example.org", &[rcpt], msg);
    assert_eq!(rr[0].code, 250, "RCPT: {}", rr[0]);
    assert_eq!(dr[0].code, 250, "end of data: {}", dr[0]);
    c.send(b"QUIT\r\n");
}

#[test]
fn idle_sees_lmtp_delivery_and_pop3_deletion() {
    let mut srv = common::start_with(true, |c| c.pop3d.limits.plaintext_auth_on_loopback = true);
    srv.start("local-delivery");
    srv.start("pop3d");
    let socket = srv.env.config.lmtp_socket();

    let mut c = login(&srv, USER, PASS);
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
    let mut p = srv.pop3(srv.env.ports.pop3);
    for cmd in [
        format!("USER {USER}"),
        format!("PASS {PASS}"),
        "DELE 1".into(),
        "QUIT".into(),
    ] {
        let l = p.cmd(&cmd);
        assert!(l.starts_with("+OK"), "{cmd}: {l}\n{}", srv.log("pop3d"));
    }
    // IDLE again: the expunge arrives without polling.
    let tag = c.next_tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes());
    assert!(c.line().starts_with("+ "));
    assert_eq!(c.line(), "* 1 EXPUNGE");
    c.send(b"DONE\r\n");
    assert!(c.read_until_tag(&tag).ok());
    stop(&mut srv);
}
