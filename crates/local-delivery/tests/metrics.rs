//! local-delivery's `/metrics`, scraped over HTTP and read with an independent parser: copies
//! per mailbox kind and result, the per-recipient delivery time, LMTP connections and the
//! flushes of the Maildir writes move with what the daemon does.

mod common;

use common::*;
use ferrymail_testkit::metrics::{self, Scrape};
use ferrymail_users::{PasswdFile, Quota};
use std::time::Duration;

const MSG: &[u8] = b"From: s@remote.test\r\nSubject: counted\r\n\r\nbody\r\n";

#[test]
fn copies_durations_connections_and_flushes_are_counted() {
    let mut t = TestEnv::new();
    let addr = metrics::enable(&mut t.env.config, "local-delivery");
    // carol may hold one message and already does: hers is deferred (quota_action = defer).
    let mut pf = PasswdFile::load(&t.env.config.userdb.passwd_file).unwrap();
    let one = Quota {
        storage_bytes: None,
        messages: Some(1),
    };
    pf.set_quota("carol@example.test", one).unwrap();
    pf.save().unwrap();
    ferrymail_maildir::Maildir::create(t.maildir("carol"))
        .unwrap()
        .deliver(&[b"Subject: old\r\n\r\nx\r\n"], Default::default())
        .unwrap();
    t.start();

    let copies = |m: &Scrape, mailbox, result, n| {
        m.expect(
            "ferrymail_local_delivery_copies_total",
            &[("mailbox", mailbox), ("result", result)],
            n,
        )
    };
    let took = |m: &Scrape, result| {
        m.histogram_count(
            "ferrymail_local_delivery_duration_seconds",
            &[("result", result)],
        )
    };
    // The start-up's readiness probe is counted when the daemon accepts it, which on a busy
    // machine may come after the daemon was seen ready: wait for it, so only this test's
    // connection is new below.
    let lmtp = [("protocol", "lmtp")];
    assert!(ferrymail_testkit::wait_until(
        Duration::from_secs(10),
        || { Scrape::fetch(addr).value("ferrymail_connections_total", &lmtp) >= 1.0 }
    ));
    let before = Scrape::fetch(addr);
    copies(&before, "maildir", "delivered", 0.0);
    copies(&before, "mbox", "delivered", 0.0);
    assert_eq!(took(&before, "delivered"), 0.0);

    let mut c = t.connect();
    let rcpts = [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ];
    let (rr, dr) = c.lmtp_deliver("s@remote.test", &rcpts, MSG);
    assert!(rr.iter().all(|r| r.code == 250), "{rr:?}");
    let codes: Vec<u16> = dr.iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 250, 452], "{dr:?}");

    let after = Scrape::fetch(addr);
    copies(&after, "maildir", "delivered", 2.0);
    copies(&after, "maildir", "deferred", 1.0);
    copies(&after, "forward", "delivered", 0.0);
    assert_eq!(took(&after, "delivered"), 2.0);
    assert_eq!(took(&after, "deferred"), 1.0);
    let opened = |m: &Scrape| m.value("ferrymail_connections_total", &lmtp);
    assert_eq!(opened(&after), opened(&before) + 1.0);
    assert!(after.value("ferrymail_connections_active", &lmtp) >= 1.0);
    // Each Maildir copy: the file in tmp/ made durable, then its new name in new/.
    after.expect_flushes_since(&before, "file", 2.0);
    after.expect_flushes_since(&before, "dir", 2.0);
    drop(c);
}
