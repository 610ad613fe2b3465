//! LMTP through proxyd to local-delivery's TCP listener, as an MX host's queue-runner
//! delivers: STARTTLS and the cluster login first, recipients answered with the backend's
//! replies, MAIL parameters passed on, and 451 for the recipients of a backend that fails
//! during the transaction.

mod common;

use std::net::SocketAddr;

use common::{prepare, Front, USER};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::{SmtpClient, Suite};

const MSG: &[u8] = b"Subject: through the front\r\n\r\nhello\r\n..dot\r\n";

fn start() -> (Suite, Front, ClusterAuth) {
    let (mut s, front) = prepare();
    let ip = "127.0.0.1".parse().unwrap();
    let port = ferrymail_testkit::free_port(ip);
    s.edit_config(|c| {
        c.delivery.lmtp_listen = vec![SocketAddr::new(ip, port)];
        c.proxy.backends[0].lmtp = port;
    });
    s.start("imapd");
    s.start("local-delivery");
    s.start("proxyd");
    let auth = ClusterAuth::load(&s.env.config.cluster).unwrap().unwrap();
    (s, front, auth)
}

fn logged_in(s: &Suite, front: &Front, auth: &ClusterAuth) -> SmtpClient {
    let mut c = SmtpClient::connect(s.addr(front.lmtp)).with_tls(s.tls());
    assert!(c.reply().starts_with("220 "));
    let lhlo = c.cmd("LHLO mx1.test");
    assert!(lhlo.lines().any(|l| &l[4..] == "STARTTLS"), "{lhlo}");
    assert!(!lhlo.lines().any(|l| l[4..].starts_with("AUTH")), "{lhlo}");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("530 5.7.0"));
    c.starttls();
    assert_eq!(c.cmd("LHLO mx1.test").code, 250);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response(USER)));
    assert!(r.starts_with("535"), "{r}");
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response("")));
    assert!(r.starts_with("235 2.7.0"), "{r}");
    c
}

#[test]
fn recipients_are_delivered_on_their_backend_with_its_replies() {
    let (s, front, auth) = start();
    let mut c = logged_in(&s, &front, &auth);
    let (rr, dr) = c.lmtp_deliver_with(
        "a@example.org",
        " XQUEUEID=0PROXYTEST",
        &[USER, "nobody@example.test", "bob@example.test"],
        MSG,
    );
    let codes: Vec<u16> = rr.iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 550, 250], "{rr:?}");
    assert_eq!(dr.len(), 2);
    assert!(dr.iter().all(|r| r.code == 250), "{dr:?}");
    let stored = std::fs::read_dir(s.maildir(USER).join("new"))
        .unwrap()
        .count();
    assert_eq!(stored, 1);
    s.expect_logged("proxyd", "recipient=alice@example.test backend=b1");
    // The connection to the backend serves the next transaction too.
    let (rr, dr) = c.lmtp_deliver("a@example.org", &[USER], MSG);
    assert_eq!((rr[0].code, dr[0].code), (250, 250));
    assert_eq!(
        std::fs::read_dir(s.maildir(USER).join("new"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn a_kept_backend_connection_that_closed_is_replaced() {
    let (mut s, front, auth) = start();
    let mut c = logged_in(&s, &front, &auth);
    let (rr, dr) = c.lmtp_deliver("a@example.org", &[USER], MSG);
    assert_eq!((rr[0].code, dr[0].code), (250, 250));
    // local-delivery restarts between two transactions of the queue-runner's session.
    s.stop("local-delivery");
    s.start("local-delivery");
    let (rr, dr) = c.lmtp_deliver("a@example.org", &[USER], MSG);
    assert_eq!(rr[0].code, 250, "{}\n{}", rr[0], s.logs());
    assert_eq!(dr[0].code, 250, "{}", dr[0]);
    assert_eq!(
        std::fs::read_dir(s.maildir(USER).join("new"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn a_backend_lost_during_the_transaction_gets_451_for_its_recipients() {
    let (mut s, front, auth) = start();
    let mut c = logged_in(&s, &front, &auth);
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).code, 250);
    s.kill("local-delivery");
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("451 4.4.0"), "{r}");
}

#[test]
fn only_crlf_dot_crlf_ends_the_message_and_dots_survive_the_relay() {
    let (s, front, auth) = start();
    let mut c = logged_in(&s, &front, &auth);
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).code, 250);
    assert_eq!(c.cmd("DATA").code, 354);
    // `<LF>.<LF>` is no end (the smuggling pattern); the stuffed `..dot` line is `.dot`.
    c.send(b"Subject: one message\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.org>\r\n..dot\r\n.\r\n");
    let r = c.reply();
    assert_eq!(r.code, 250, "{r:?}");
    let new = s.maildir(USER).join("new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.contains("first\r\n.\r\nMAIL FROM:<evil@example.org>\r\n.dot\r\n"),
        "{text}"
    );
    // The session is in step: the next command is a command.
    assert_eq!(c.cmd("NOOP").code, 250);
}
