//! POP3 through proxyd to pop3d: STLS, USER/PASS and AUTH PLAIN reach the user's maildrop;
//! plaintext logins and wrong passwords stop at the front.

mod common;

use common::{message, prepare, PASS, USER};
use ferrymail_testkit::{Conn, Pop3Client};

#[test]
fn pop3_logins_through_the_front_end_reach_the_maildrop() {
    let (mut s, front) = prepare();
    s.start("imapd");
    s.start("pop3d");
    s.start("proxyd");
    let mut imap = common::imap_login(&s, &front);
    assert!(imap.append("INBOX", "", &message("via-pop3")).ok());
    drop(imap);

    let mut c = Pop3Client::greeted(Conn::open(s.addr(front.pop3)).with_tls(s.tls())).unwrap();
    let (capa, _) = c.multi("CAPA");
    assert!(capa.starts_with("+OK"), "{capa}");
    let r = c.cmd(&format!("USER {USER}"));
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert!(c.stls().starts_with("+OK"));
    let r = c.cmd(&format!("USER {USER}"));
    assert!(r.starts_with("+OK"), "{r}");
    let r = c.cmd("PASS wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert!(!s.log("proxyd").contains("proto=pop3"));
    let r = c.login(USER, PASS);
    assert!(r.starts_with("+OK"), "{r}\n{}", s.logs());
    let (list, body) = c.multi("LIST");
    assert!(list.starts_with("+OK"), "{list}");
    let listed = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(listed.lines().filter(|l| *l != ".").count(), 1, "{listed}");
    let (retr, msg) = c.multi("RETR 1");
    assert!(retr.starts_with("+OK"), "{retr}");
    assert!(String::from_utf8_lossy(&msg).contains("Subject: via-pop3"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    s.expect_logged("proxyd", "backend=b1 proto=pop3");

    // AUTH PLAIN with an initial response.
    use base64::Engine;
    let mut c = Pop3Client::greeted(Conn::open(s.addr(front.pop3)).with_tls(s.tls())).unwrap();
    assert!(c.stls().starts_with("+OK"));
    let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASS}"));
    let r = c.cmd(&format!("AUTH PLAIN {ir}"));
    assert!(r.starts_with("+OK"), "{r}");
    assert!(c.cmd("STAT").starts_with("+OK 1 "));
}
