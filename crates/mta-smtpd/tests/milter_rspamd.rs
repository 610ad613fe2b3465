//! mta-smtpd with a real rspamd in milter mode, when `FERRYMAIL_TEST_RSPAMD` names it (e.g.
//! `inet:127.0.0.1:11332`) and it runs with tests/rspamd/rspamd.conf (its header comment
//! says how); skipped otherwise.

mod common;

use std::time::Duration;

use common::USER;
use ferrymail_config::{Milter, MilterDefault, Role};

/// GTUBE and the test config's variants (`enable_test_patterns`).
const REJECT: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
const ADD_HEADER: &str = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@far.test\r\nTo: demo@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@far.test>\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[test]
fn rspamd_marks_and_rejects_as_its_verdicts_say() {
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
    let ham = message("lunch", "Shall we have lunch at noon tomorrow?");
    let r = c.send_message("a@far.test", &[USER], &ham);
    assert_eq!(r.status(), "250 2.0.0", "{}", s.log("mta-smtpd"));
    let r = c.send_message("a@far.test", &[USER], &message("offer", ADD_HEADER));
    assert_eq!(r.status(), "250 2.0.0");
    let r = c.send_message("a@far.test", &[USER], &message("spam", REJECT));
    // rspamd's own reply (the GTUBE symbol's text), passed on as it is.
    assert_eq!(r.status(), "554 5.7.1", "{r:?}");
    assert_eq!(c.cmd("QUIT").status(), "221 2.0.0");

    let q = s.queued();
    assert_eq!(q.len(), 2);
    let (env, bytes) = &q[0];
    let ham = String::from_utf8_lossy(bytes);
    // Scanned under our queue id (the `i` macro), its headers after ours.
    assert!(
        ham.contains(&format!("\r\nX-Rspamd-Queue-Id: {}\r\n", env.id)),
        "{ham}"
    );
    assert!(ham.contains("\r\nX-Spamd-Result: default: False"), "{ham}");
    assert!(!ham.contains("X-Spam: Yes"), "{ham}");
    // The test pattern's verdict comes before the header routines: only the spam header.
    let marked = String::from_utf8_lossy(&q[1].1);
    assert!(marked.contains("\r\nX-Spam: Yes\r\n\r\nYJS*"), "{marked}");
}
