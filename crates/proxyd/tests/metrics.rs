//! proxyd's `/metrics`: sessions relayed per protocol and backend, logins by result, backend
//! failures, and the connection counts every daemon has.

mod common;

use common::{imap_login, imap_tls, prepare, USER};
use ferrymail_testkit::metrics::{self, Scrape};

#[test]
fn sessions_logins_and_backend_failures_are_counted() {
    let (mut s, front) = prepare();
    let mut addr = None;
    s.edit_config(|c| addr = Some(metrics::enable(c, "proxyd")));
    let addr = addr.expect("metrics address");
    s.start("imapd");
    s.start("proxyd");
    let before = Scrape::fetch(addr);
    before.expect(
        "ferrymail_proxy_sessions_total",
        &[("protocol", "imap"), ("backend", "b1")],
        0.0,
    );
    before.expect(
        "ferrymail_proxy_backend_failures_total",
        &[("backend", "b1")],
        0.0,
    );
    let c = imap_login(&s, &front);
    let mut bad = imap_tls(&s, &front);
    assert_eq!(bad.login(USER, "wrong").status(), "NO");
    let after = Scrape::fetch(addr);
    after.expect(
        "ferrymail_proxy_sessions_total",
        &[("protocol", "imap"), ("backend", "b1")],
        1.0,
    );
    let logins = |result| [("protocol", "imap"), ("result", result)];
    after.expect("ferrymail_proxy_logins_total", &logins("ok"), 1.0);
    after.expect("ferrymail_proxy_logins_total", &logins("failed"), 1.0);
    let opened = |m: &Scrape| m.value("ferrymail_connections_total", &[("protocol", "imap")]);
    assert_eq!(opened(&after) - opened(&before), 2.0);
    drop(c);

    // The backend gone: the login that finds it refused counts a failure and takes it out.
    s.kill("imapd");
    let mut late = imap_tls(&s, &front);
    assert_eq!(late.login(USER, common::PASS).status(), "NO");
    let end = Scrape::fetch(addr);
    assert!(
        end.value("ferrymail_proxy_backend_down_total", &[("backend", "b1")]) >= 1.0,
        "{}",
        end.text
    );
}
