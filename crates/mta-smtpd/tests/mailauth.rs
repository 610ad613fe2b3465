//! Inbound mail authentication on the mx role, with a loopback DNS server: a message failing
//! DMARC for a `p=reject` domain is refused at end of DATA (550 5.7.1), others are queued with
//! one Authentication-Results header, and forged results for our authserv-id are removed.

mod common;

use common::USER;
use ferrymail_dev::dns::{DnsServer, Zone};

fn zone() -> Zone {
    let mut z = Zone::new();
    z.txt("strict.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.strict.test", "v=DMARC1; p=reject")
        .txt("friendly.test", "v=spf1 ip4:127.0.0.0/8 -all")
        .txt("_dmarc.friendly.test", "v=DMARC1; p=none");
    z
}

#[test]
fn dmarc_reject_is_refused_and_results_are_recorded() {
    let dns = DnsServer::start(zone()).unwrap();
    let addr = dns.addr;
    let s = common::start(move |c| {
        c.mailauth.verify = true;
        c.queue.dns_servers = vec![addr];
    });
    let authserv = s.env.config.authserv_id();
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();

    let spoof = b"From: CEO <ceo@strict.test>\r\nSubject: wire money\r\n\r\nnow\r\n";
    let r = c.send_message("ceo@strict.test", &[USER], spoof);
    assert_eq!(r.status(), "550 5.7.1", "{r}");
    assert!(
        s.queued().is_empty(),
        "a refused message must not be queued"
    );

    // Same session goes on; a forged result claiming to be ours is dropped.
    let msg = format!(
        "Authentication-Results: {authserv}; dmarc=pass header.from=friendly.test\r\n\
         From: a@friendly.test\r\nSubject: hello\r\n\r\nbody\r\n"
    );
    let r = c.send_message("a@friendly.test", &[USER], msg.as_bytes());
    assert_eq!(r.status(), "250 2.0.0", "{r}");
    let q = s.queued();
    assert_eq!(q.len(), 1);
    let text = String::from_utf8_lossy(&q[0].1).into_owned();
    assert_eq!(
        text.matches("Authentication-Results:").count(),
        1,
        "exactly our own header: {text}"
    );
    assert!(
        text.contains(&format!("Authentication-Results: {authserv};")),
        "{text}"
    );
    assert!(text.contains("spf=pass"), "{text}");
    assert!(
        !text.contains("dmarc=pass header.from=friendly.test\r\nFrom"),
        "{text}"
    );
    assert!(
        text.ends_with("From: a@friendly.test\r\nSubject: hello\r\n\r\nbody\r\n"),
        "{text}"
    );
}

#[test]
fn authenticated_submission_is_not_checked() {
    let dns = DnsServer::start(zone()).unwrap();
    let addr = dns.addr;
    let s = common::start(move |c| {
        c.mailauth.verify = true;
        c.queue.dns_servers = vec![addr];
    });
    let mut c = s.smtp(s.env.ports.submission);
    c.hello();
    c.starttls();
    c.cmd("EHLO client.test");
    assert_eq!(c.auth_plain(USER, common::PASS).status(), "235 2.7.0");
    let r = c.send_message(USER, &["someone@strict.test"], b"Subject: x\r\n\r\ny\r\n");
    assert_eq!(r.status(), "250 2.0.0", "{r}");
    let text = String::from_utf8_lossy(&s.queued()[0].1).into_owned();
    assert!(!text.contains("Authentication-Results:"), "{text}");
}
