//! pop3d's `/metrics`, scraped over HTTP and read with an independent parser: connections and
//! failed logins move with what the daemon does, and reading mail makes nothing durable.

mod common;

use common::{deliver, plain, PASS, USER};
use ferrymail_testkit::metrics::{self, Scrape};

#[test]
fn connections_and_failed_logins_are_counted_and_reading_flushes_nothing() {
    let mut addr = None;
    let s = common::start_with(|c| {
        c.pop3d.limits.plaintext_auth_on_loopback = true;
        addr = Some(metrics::enable(c, "pop3d"));
    });
    let addr = addr.unwrap();
    deliver(&s, USER, b"Subject: one\r\n\r\nbody\r\n");
    let pop3 = [("protocol", "pop3")];

    let before = Scrape::fetch(addr);
    before.expect("ferrymail_auth_failures_total", &pop3, 0.0);

    let mut bad = plain(&s);
    assert!(bad.login(USER, "wrong").starts_with("-ERR"));
    let mut c = plain(&s);
    assert!(c.login(USER, PASS).starts_with("+OK"));
    let (status, body) = c.multi("RETR 1");
    assert!(status.starts_with("+OK"), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("Subject: one"));

    let after = Scrape::fetch(addr);
    after.expect("ferrymail_auth_failures_total", &pop3, 1.0);
    let opened = |m: &Scrape| m.value("ferrymail_connections_total", &pop3);
    assert!(opened(&after) >= opened(&before) + 2.0);
    assert!(after.value("ferrymail_connections_active", &pop3) >= 1.0);
    assert_eq!(after.flushes(), before.flushes(), "{}", after.text);
    assert!(c.cmd("QUIT").starts_with("+OK"));
    drop(bad);
}
