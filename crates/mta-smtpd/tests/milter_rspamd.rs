//! mta-smtpd with a real rspamd in milter mode (its proxy worker with `milter = yes` and a
//! self-scanning upstream), when `FERRYMAIL_TEST_RSPAMD` names it, e.g.
//! `inet:127.0.0.1:11332`; skipped otherwise.

mod common;

use std::time::Duration;

use common::USER;
use ferrymail_config::{Milter, MilterDefault, Role};

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

#[test]
fn rspamd_scans_each_message_and_rejects_gtube() {
    let Ok(address) = std::env::var("FERRYMAIL_TEST_RSPAMD") else {
        ferrymail_testkit::skip!("FERRYMAIL_TEST_RSPAMD does not name an rspamd milter");
    };
    let s = common::start(|c| {
        c.smtpd.milters.push(Milter {
            name: "rspamd".into(),
            address,
            roles: vec![Role::Mx],
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            content_timeout: Duration::from_secs(60),
            default_action: MilterDefault::Tempfail,
            max_reply_size: 1 << 20,
        })
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let ham =
        b"X-Spamd-Bar: +++++++\r\nFrom: a@far.test\r\nTo: demo@example.test\r\nSubject: lunch\r\n\
        Message-ID: <lunch@far.test>\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\n\r\n\
        Shall we have lunch at noon tomorrow?\r\n";
    let r = c.send_message("a@far.test", &[USER], ham);
    assert_eq!(r.status(), "250 2.0.0", "{}", s.log("mta-smtpd"));
    let spam =
        format!("From: a@far.test\r\nTo: demo@example.test\r\nSubject: test\r\n\r\n{GTUBE}\r\n");
    let r = c.send_message("a@far.test", &[USER], spam.as_bytes());
    assert_eq!(r.code, 554, "{r:?}");
    assert_eq!(c.cmd("QUIT").status(), "221 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 1);
    let text = String::from_utf8_lossy(&q[0].1);
    assert!(text.contains("Shall we have lunch"), "{text}");
    // With rspamd's extended headers on for local clients (milter_headers:
    // `extended_spam_headers = true; skip_local = false`), it names our queue id (the `i`
    // macro) and its spam bar replaces the one the message came with.
    if text.contains("X-Rspamd-Queue-Id") {
        assert!(
            text.contains(&format!("X-Rspamd-Queue-Id: {}\r\n", q[0].0.id)),
            "{text}"
        );
        assert_eq!(text.matches("X-Spamd-Bar:").count(), 1, "{text}");
        assert!(!text.contains("+++++++"), "{text}");
    } else {
        ferrymail_testkit::skip::report("rspamd adds no headers for local clients here");
    }
}
