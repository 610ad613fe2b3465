//! queue-runner's `/metrics`, scraped over HTTP and read with an independent parser: delivery
//! results per transport, the delay histograms, the queue gauges and the disk flushes of the
//! spool updates move with what the daemon does.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_testkit::metrics::{self, Scrape};
use ferrymail_testkit::{free_port, wait_until};

const RECIPIENTS: &str = "ferrymail_queue_recipients_total";
const DELAY: &str = "ferrymail_queue_delivery_delay_seconds";

fn recipients(m: &Scrape, transport: &str, result: &str) -> f64 {
    m.value(RECIPIENTS, &[("transport", transport), ("result", result)])
}

#[test]
fn deliveries_delays_queue_gauges_and_flushes_are_counted() {
    let mx = IpAddr::from([127, 0, 0, 3]);
    let port = free_port(mx);
    let mut zone = Zone::new();
    zone.a("far.test", mx);
    let mut t = test_env(zone, port);
    let mut addr = None;
    t.edit_config(|c| addr = Some(metrics::enable(c, "queue-runner")));
    let addr = addr.unwrap();
    let _server = smtp_server(
        SocketAddr::new(mx, port),
        &[],
        Arc::new(|_, verb, line| {
            (verb == "RCPT" && line.contains("stuck")).then(|| "451 4.3.0 not now\r\n".into())
        }),
    );
    // Set aside before queue-runner starts: it must count as held, never be delivered.
    let held = t.enqueue(Some("alice@example.test"), &["bob@example.test"], "held");
    t.spool().hold(&held).unwrap();
    let _ld = t.start_daemon("local-delivery");
    let _qr = t.start();

    let hold = [("queue", "hold")];
    // The queue gauges appear once the scheduler is up, a moment after the listener.
    let mut before = None;
    wait_until(Duration::from_secs(30), || {
        let m = Scrape::fetch(addr);
        let up = m.get("ferrymail_queue_messages", &hold).is_some();
        before = Some(m);
        up
    });
    let before = before.unwrap();
    for (transport, result) in [("local", "delivered"), ("remote", "deferred")] {
        assert_eq!(
            recipients(&before, transport, result),
            0.0,
            "{}",
            before.text
        );
    }
    assert_eq!(
        before.histogram_count(DELAY, &[("transport", "local"), ("result", "delivered")]),
        0.0
    );
    let held_gauge = |m: &Scrape| m.value("ferrymail_queue_messages", &hold);
    assert_eq!(held_gauge(&before), 1.0, "{}", before.text);

    t.enqueue(
        Some("someone@elsewhere.test"),
        &["alice@example.test"],
        "local",
    );
    t.enqueue(Some("alice@example.test"), &["x@far.test"], "remote");
    t.enqueue(Some("alice@example.test"), &["stuck@far.test"], "stuck");
    let mut after = None;
    let settled = wait_until(Duration::from_secs(30), || {
        let m = Scrape::fetch(addr);
        let done = recipients(&m, "local", "delivered") >= 1.0
            && recipients(&m, "remote", "delivered") >= 1.0
            && recipients(&m, "remote", "deferred") >= 1.0;
        after = Some(m);
        done
    });
    let after = after.unwrap();
    assert!(settled, "{}\nlog:\n{}", after.text, t.log());

    assert_eq!(recipients(&after, "local", "delivered"), 1.0);
    assert_eq!(recipients(&after, "remote", "delivered"), 1.0);
    assert_eq!(recipients(&after, "local", "bounced"), 0.0);
    for transport in ["local", "remote"] {
        let labels = [("transport", transport), ("result", "delivered")];
        assert_eq!(after.histogram_count(DELAY, &labels), 1.0, "{}", after.text);
    }
    // Only final results have a delay: the deferred recipient is not in it.
    assert_eq!(
        after.histogram_count(DELAY, &[("transport", "remote"), ("result", "bounced")]),
        0.0
    );
    let active = after.value("ferrymail_queue_messages", &[("queue", "active")]);
    assert_eq!(
        active, 1.0,
        "only the stuck message is left: {}",
        after.text
    );
    assert_eq!(held_gauge(&after), 1.0);
    let oldest = after.value("ferrymail_queue_oldest_message_age_seconds", &[]);
    assert!((0.0..600.0).contains(&oldest), "{oldest}");

    // Finished messages removed (the envelope's entry in queue/ and the data's in data/ made
    // durable; concurrent removals may share those flushes), and the deferred one's envelope
    // rewritten (the file, then its directory).
    after.expect_flushes_since(&before, "dir", 2.0);
    after.expect_flushes_since(&before, "file", 1.0);
}
