//! imapd's `/metrics`, scraped over HTTP and read with an independent parser: connections,
//! failed logins and the flushes an APPEND makes move with what the daemon does.

mod common;

use common::{connect, login, message, PASS, USER};
use ferrymail_testkit::metrics::{self, Scrape};

#[test]
fn connections_failed_logins_and_append_flushes_are_counted() {
    let mut addr = None;
    let s = common::start_with(true, |c| addr = Some(metrics::enable(c, "imapd")));
    let addr = addr.unwrap();
    let imap = [("protocol", "imap")];
    let before = Scrape::fetch(addr);
    before.expect("ferrymail_auth_failures_total", &imap, 0.0);

    let mut bad = connect(&s);
    assert!(!bad.login(USER, "not the password").ok());
    let mut c = login(&s, USER, PASS);
    let logins = Scrape::fetch(addr);
    logins.expect("ferrymail_auth_failures_total", &imap, 1.0);
    let opened = |m: &Scrape| m.value("ferrymail_connections_total", &imap);
    assert!(opened(&logins) >= opened(&before) + 2.0);
    assert!(logins.value("ferrymail_connections_active", &imap) >= 2.0);

    // The message file and the UID list are made durable, and the message's directory entry.
    let r = c.append("INBOX", "", &message("counted", "hello"));
    assert!(r.ok(), "{r:?}");
    let after = Scrape::fetch(addr);
    after.expect_flushes_since(&logins, "file", 2.0);
    after.expect_flushes_since(&logins, "dir", 1.0);
    drop(bad);
}
