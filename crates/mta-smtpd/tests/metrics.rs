//! mta-smtpd's `/metrics` listener, scraped over HTTP and read with an independent parser:
//! the message, connection, login and disk-flush counters move with what the daemon does.

mod common;

use common::{PASS, USER};
use ferrymail_testkit::metrics::{self, Scrape};

/// Files the spool commit makes durable (the data file, then the envelope) and directories
/// whose new entry it makes durable (`data/`, then `queue/`): docs/architecture.md.
const COMMIT_FILE_FLUSHES: f64 = 2.0;
const COMMIT_DIR_FLUSHES: f64 = 2.0;

#[test]
fn messages_connections_logins_and_flushes_are_counted() {
    let mut addr = None;
    let s = common::start(|c| addr = Some(metrics::enable(c, "mta-smtpd")));
    let addr = addr.unwrap();
    let messages = |m: &Scrape, role, result, n| {
        m.expect(
            "ferrymail_smtpd_messages_total",
            &[("role", role), ("result", result)],
            n,
        )
    };

    let before = Scrape::fetch(addr);
    for result in ["accepted", "rejected", "failed"] {
        messages(&before, "mx", result, 0.0);
    }

    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let r = c.send_message("a@far.test", &[USER], b"Subject: counted\r\n\r\nhi\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let after = Scrape::fetch(addr);
    messages(&after, "mx", "accepted", 1.0);
    after.expect_flushes_since(&before, "file", COMMIT_FILE_FLUSHES);
    after.expect_flushes_since(&before, "dir", COMMIT_DIR_FLUSHES);
    let smtp = [("protocol", "smtp")];
    assert!(after.value("ferrymail_connections_total", &smtp) >= 1.0);
    assert!(after.value("ferrymail_connections_active", &smtp) >= 1.0);

    // A bare LF in the data: refused at its end (554 5.6.11).
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "250 2.1.0");
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).status(), "250 2.1.5");
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: bare\nbody\r\n.\r\n");
    assert_eq!(c.reply().status(), "554 5.6.11");
    let refused = Scrape::fetch(addr);
    messages(&refused, "mx", "rejected", 1.0);
    messages(&refused, "mx", "accepted", 1.0);
    messages(&refused, "submission", "accepted", 0.0);

    let mut t = s.smtp_tls(s.env.ports.submissions);
    t.hello();
    assert_eq!(t.auth_plain(USER, "wrong").status(), "535 5.7.8");
    assert_eq!(t.auth_plain(USER, PASS).status(), "235 2.7.0");
    let logins = Scrape::fetch(addr);
    logins.expect("ferrymail_auth_failures_total", &smtp, 1.0);
    assert!(logins.value("ferrymail_connections_total", &smtp) >= 2.0);
}

#[test]
fn other_paths_are_not_found() {
    let mut addr = None;
    let _s = common::start(|c| addr = Some(metrics::enable(c, "mta-smtpd")));
    let addr = addr.unwrap();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /debug HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 404 "), "{out}");
}
