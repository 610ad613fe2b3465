//! Handing the queue to a peer MX host (`queue.handoff_relay`): two hosts in one machine (two
//! dev environments sharing the cluster secret). Host A cannot deliver its mail; handed over
//! on demand (`mailctl queue handoff`) and on a clean stop, each message lands in host B's
//! spool through B's mta-smtpd, with its envelope, and leaves A's.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::*;
use ferrymail_config::ClusterPeer;
use ferrymail_dev::dns::Zone;
use ferrymail_spool::{ClientInfo, Envelope, Recipient, Source};
use ferrymail_testkit::{free_port, wait_until, Suite};

/// Host B: mta-smtpd in the cluster, trusting no network, so only the cluster login relays.
fn peer() -> Suite {
    let mut b = Suite::new(&[("carol@example.test", "pw-carol")]);
    b.join_cluster();
    b.edit_config(|c| {
        c.general.trusted_networks.clear();
        c.smtpd.client_name_timeout = Duration::ZERO;
    });
    b.start("mta-smtpd");
    b
}

/// Host A: queue-runner whose remote mail cannot go anywhere, handing off to `b`.
fn host(b: &Suite) -> TestEnv {
    let mx = IpAddr::from([127, 0, 0, 3]);
    let mut zone = Zone::new();
    zone.a("elsewhere.test", mx);
    let mut a = test_env(zone, free_port(mx));
    a.join_cluster();
    let (anchor, address) = (b.env.config.tls.cert.clone(), b.addr(b.env.ports.smtp));
    a.edit_config(|c| {
        c.cluster.trust_anchors = vec![anchor];
        c.queue.handoff_relay = Some(ClusterPeer {
            address,
            tls_name: "localhost".into(),
        });
    });
    a
}

/// Waits until every queued message of `a` has been attempted (and deferred) once.
fn deferred(a: &TestEnv, n: usize) {
    let tried = || {
        let q = a.queued();
        q.len() == n && q.iter().all(|e| e.attempts > 0)
    };
    assert!(wait_until(Duration::from_secs(30), tried), "{}", a.log());
}

#[test]
fn queued_mail_moves_to_the_peer_on_demand_and_on_stop() {
    let b = peer();
    let a = host(&b);
    let mut qr = a.start();
    let mut rcpt = Recipient::new("far@elsewhere.test");
    rcpt.orcpt = Some("rfc822;far@elsewhere.test".into());
    rcpt.notify.success = true;
    let mut env = Envelope::new(
        Some("alice@example.test".into()),
        vec![rcpt],
        ClientInfo::default(),
        Source::Local,
    );
    env.dsn.envid = Some("handoff-1".into());
    a.enqueue_env(env, "first");
    deferred(&a, 1);

    let out = Command::new(ferrymail_dev::target_bin("mailctl"))
        .arg("-c")
        .arg(&a.env.config_path)
        .args(["queue", "handoff"])
        .output()
        .expect("mailctl runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}\n{}", a.log());
    assert!(said.contains("1 messages handed over, 0 kept"), "{said}");
    assert!(a.queued().is_empty());
    let taken = b.queued();
    assert_eq!(taken.len(), 1, "{}", b.log("mta-smtpd"));
    assert_eq!(taken[0].0.sender.as_deref(), Some("alice@example.test"));
    assert_eq!(taken[0].0.recipients[0].address, "far@elsewhere.test");
    assert_eq!(taken[0].0.client.auth_user, None);
    // The DSN parameters travel with it.
    assert_eq!(taken[0].0.dsn.envid.as_deref(), Some("handoff-1"));
    let r = &taken[0].0.recipients[0];
    assert!(r.notify.success, "{r:?}");
    assert_eq!(r.orcpt.as_deref(), Some("rfc822;far@elsewhere.test"));

    // A clean stop hands over what is left.
    a.enqueue(
        Some("bob@example.test"),
        &["far@elsewhere.test", "near@elsewhere.test"],
        "second",
    );
    deferred(&a, 1);
    qr.signal(nix::sys::signal::Signal::SIGTERM);
    let status = qr
        .wait_timeout(Duration::from_secs(60))
        .expect("queue-runner stops");
    assert!(status.success(), "{status:?}\n{}", a.log());
    assert!(a.queued().is_empty(), "{}", a.log());
    let taken = b.queued();
    assert_eq!(taken.len(), 2, "{}", a.log());
    assert!(taken
        .iter()
        .any(|(e, _)| e.recipients.len() == 2 && e.sender.as_deref() == Some("bob@example.test")));
}

#[test]
fn a_peer_that_cannot_be_verified_takes_nothing() {
    let b = peer();
    let mut a = host(&b);
    let address: SocketAddr = b.addr(b.env.ports.smtp);
    a.edit_config(|c| {
        c.queue.handoff_relay = Some(ClusterPeer {
            address,
            tls_name: "impostor.cluster.test".into(),
        });
    });
    let mut qr = a.start();
    a.enqueue(Some("alice@example.test"), &["far@elsewhere.test"], "stays");
    deferred(&a, 1);
    qr.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(qr
        .wait_timeout(Duration::from_secs(60))
        .is_some_and(|s| s.success()));
    assert_eq!(a.queued().len(), 1);
    assert!(b.queued().is_empty());
    assert!(a.log().contains("handoff: session refused"), "{}", a.log());
}
