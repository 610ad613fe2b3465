//! REQUIRETLS (RFC 8689) through the real binary: offered only inside TLS, refused without
//! it, and recorded in the queued envelope.

mod common;

use common::USER;

fn offers_requiretls(ehlo: &str) -> bool {
    ehlo.lines().any(|l| l.get(4..) == Some("REQUIRETLS"))
}

#[test]
fn requiretls_only_under_tls_and_kept_in_the_envelope() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    let ehlo = c.hello();
    assert!(!offers_requiretls(&ehlo), "{ehlo}");
    assert_eq!(
        c.cmd("MAIL FROM:<a@far.test> REQUIRETLS").status(),
        "530 5.7.10"
    );
    c.starttls();
    let ehlo = c.cmd("EHLO client.test");
    assert!(offers_requiretls(&ehlo), "{ehlo}");
    assert_eq!(
        c.cmd("MAIL FROM:<a@far.test> REQUIRETLS").status(),
        "250 2.1.0"
    );
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).status(), "250 2.1.5");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: sealed\r\n\r\nx\r\n.\r\n");
    assert_eq!(c.reply().status(), "250 2.0.0");
    let r = c.send_message("b@far.test", &[USER], b"Subject: plain\r\n\r\ny\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 2);
    let (sealed, plain): (Vec<_>, Vec<_>) = q
        .iter()
        .partition(|(e, _)| e.sender.as_deref() == Some("a@far.test"));
    assert!(sealed[0].0.require_tls);
    assert!(!plain[0].0.require_tls);
}
