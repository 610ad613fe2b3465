//! Local mail over the cluster's TCP LMTP (`queue.lmtp_server`): queue-runner does STARTTLS
//! verified against the cluster's CA with the configured name, then AUTH as the cluster
//! login, and delivers; a certificate that does not carry that name defers the message and
//! nothing is sent.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ferrymail_config::ClusterPeer;
use ferrymail_dev::dns::Zone;
use ferrymail_testkit::{free_port, wait_until, Suite};

/// local-delivery on TCP and queue-runner pointed at it with `tls_name`, both running.
fn start(tls_name: &str) -> (TestEnv, SocketAddr, Vec<ferrymail_dev::Daemon>) {
    let mut t = test_env(Zone::new(), 25);
    t.join_cluster();
    let ip = "127.0.0.1".parse().unwrap();
    let address = SocketAddr::new(ip, free_port(ip));
    t.edit_config(|c| {
        c.delivery.lmtp_listen = vec![address];
        c.queue.lmtp_server = Some(ClusterPeer {
            address,
            tls_name: tls_name.into(),
        });
    });
    let daemons = vec![t.start_daemon("local-delivery"), t.start()];
    (t, address, daemons)
}

fn inbox(t: &TestEnv, user: &str) -> usize {
    std::fs::read_dir(t.maildir(&format!("{user}@example.test")).join("new"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn local_mail_goes_over_tls_and_cluster_auth() {
    let (t, address, _daemons) = start("localhost");
    let id = t.enqueue(
        Some("someone@elsewhere.test"),
        &["alice@example.test", "bob@example.test"],
        "over the cluster",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "not delivered; queue-runner log:\n{}\nlocal-delivery log:\n{}",
        t.log(),
        Suite::log(&t, "local-delivery")
    );
    assert_eq!((inbox(&t, "alice"), inbox(&t, "bob")), (1, 1));
    let relay = format!("{id}: to=<alice@example.test>, relay=lmtp[{address}]");
    assert!(t.log().contains(&relay), "{}", t.log());
    t.expect_logged("local-delivery", "LMTP peer authenticated");
}

#[test]
fn a_certificate_without_the_tls_name_defers_and_sends_nothing() {
    let (t, _, _daemons) = start("wrong.cluster.test");
    let id = t.enqueue(
        Some("someone@elsewhere.test"),
        &["alice@example.test"],
        "must not leak",
    );
    let deferred = || t.queued().iter().any(|e| e.id == id && e.attempts > 0);
    assert!(
        wait_until(Duration::from_secs(30), deferred),
        "no attempt recorded; queue-runner log:\n{}",
        t.log()
    );
    assert_eq!(inbox(&t, "alice"), 0);
    t.expect_logged("queue-runner", "status=deferred");
    t.expect_logged("queue-runner", "not valid for name \"wrong.cluster.test\"");
    assert!(!Suite::log(&t, "local-delivery").contains("LMTP peer authenticated"));
}
