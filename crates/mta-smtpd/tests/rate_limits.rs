//! Submission rate limits (`[smtpd.rate]`) against the real binary: a login over its hourly
//! budget is refused with 450 4.7.1 at RCPT and then at MAIL, logged and counted, while
//! another login, even from the same address, is not; the address budget covers every login.

mod common;

use common::{PASS, USER};
use ferrymail_testkit::metrics::{self, Scrape};
use ferrymail_testkit::smtp::SmtpClient;
use ferrymail_testkit::Suite;

const OTHER: &str = "other@example.test";
const OTHER_PASS: &str = "other-pass";
const MSG: &[u8] = b"Subject: rate\r\n\r\nhi\r\n";

fn login(s: &Suite, user: &str, pass: &str) -> SmtpClient {
    let mut c = s.smtp_tls(s.env.ports.submissions);
    c.hello();
    assert_eq!(c.auth_plain(user, pass).status(), "235 2.7.0");
    c
}

#[test]
fn a_login_over_its_budget_is_refused_and_another_is_not() {
    let mut addr = None;
    let s = common::start(|c| {
        addr = Some(metrics::enable(c, "mta-smtpd"));
        c.smtpd.rate.user_messages_per_hour = 2;
        c.smtpd.rate.user_recipients_per_hour = 3;
    });
    let addr = addr.unwrap();
    let mut c = login(&s, USER, PASS);
    let r = c.send_message(USER, &["a@far.test", "b@far.test"], MSG);
    assert_eq!(r.status(), "250 2.0.0");
    assert_eq!(c.cmd(&format!("MAIL FROM:<{USER}>")).status(), "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<c@far.test>").status(), "250 2.1.5");
    let r = c.cmd("RCPT TO:<d@far.test>");
    assert_eq!(
        r.to_string().trim_end(),
        "450 4.7.1 Error: too many recipients from user demo@example.test (limit 3 per hour)"
    );
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(MSG);
    c.send(b".\r\n");
    assert_eq!(c.reply().status(), "250 2.0.0");
    let r = c.cmd(&format!("MAIL FROM:<{USER}>"));
    assert_eq!(
        r.to_string().trim_end(),
        "450 4.7.1 Error: too many messages from user demo@example.test (limit 2 per hour)"
    );
    // A new connection of the same login fares no better: the budget is the process's.
    let mut again = login(&s, USER, PASS);
    assert_eq!(
        again.cmd(&format!("MAIL FROM:<{USER}>")).status(),
        "450 4.7.1"
    );
    // Another login from the same address is unaffected.
    let mut other = login(&s, OTHER, OTHER_PASS);
    let r = other.send_message(OTHER, &["a@far.test", "b@far.test", "c@far.test"], MSG);
    assert_eq!(r.status(), "250 2.0.0");

    let queued = s.queued();
    assert_eq!(queued.len(), 3);
    let mut rcpts: Vec<usize> = queued.iter().map(|(e, _)| e.recipients.len()).collect();
    rcpts.sort();
    assert_eq!(rcpts, [1, 2, 3]);

    let m = Scrape::fetch(addr);
    let limited = |scope, budget| {
        m.value(
            "ferrymail_smtpd_rate_limited_total",
            &[("scope", scope), ("budget", budget)],
        )
    };
    assert_eq!(limited("user", "recipients"), 1.0);
    assert_eq!(limited("user", "messages"), 2.0);
    assert_eq!(limited("address", "messages"), 0.0);
    let log = s.log("mta-smtpd");
    assert!(
        log.lines()
            .any(|l| l.contains("submission rate limit reached")
                && l.contains("WARN")
                && l.contains("demo@example.test")
                && l.contains("client=127.0.0.1")),
        "{log}"
    );
}

#[test]
fn the_address_budget_covers_every_login_from_it() {
    let s = common::start(|c| {
        // Loopback is a trusted network; make it count like any other client.
        c.smtpd.limits.exempt_trusted = false;
        c.smtpd.rate.address_messages_per_hour = 1;
    });
    let mut c = login(&s, USER, PASS);
    assert_eq!(
        c.send_message(USER, &["a@far.test"], MSG).status(),
        "250 2.0.0"
    );
    let mut other = login(&s, OTHER, OTHER_PASS);
    let r = other.cmd(&format!("MAIL FROM:<{OTHER}>"));
    assert_eq!(
        r.to_string().trim_end(),
        "450 4.7.1 Error: too many messages from address 127.0.0.1 (limit 1 per hour)"
    );
    // Mail from the world on the MX role is not submission and is not counted.
    let mut mx = s.smtp(s.env.ports.smtp);
    mx.hello();
    assert_eq!(
        mx.send_message("x@far.test", &[USER], MSG).status(),
        "250 2.0.0"
    );
}
