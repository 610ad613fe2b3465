//! MTA-STS (RFC 8461) end to end: queue-runner against a loopback HTTPS policy server and
//! scripted MX hosts, names from a loopback DNS server, certificates from a test CA that the
//! configuration trusts through `queue.tls_trust_anchors`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::policy::{sts_world, BAD_CERT_MX, GOOD_MX, POLICY};
use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_testkit::https::PolicyServer;
use ferrymail_testkit::{free_port, wait_until};

/// An MX without STARTTLS.
const PLAIN_MX: [u8; 4] = [127, 0, 0, 6];

fn ip(o: [u8; 4]) -> IpAddr {
    IpAddr::from(o)
}

const DOMAINS: [&str; 7] = [
    "good.test",
    "wrong.test",
    "badcert.test",
    "testing.test",
    "testcert.test",
    "testplain.test",
    "slow.test",
];

/// GET requests for slow.test's policy, which its policy host answers only after a while.
static SLOW_GETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// good.test: enforce, its MX listed and trusted. wrong.test: enforce, but its MX is not
/// listed. badcert.test: enforce, MX listed but its certificate untrusted. testing.test:
/// testing, its MX not listed. testcert.test: testing, MX listed but its certificate
/// untrusted. testplain.test: testing, MX listed but without STARTTLS.
fn zone() -> Zone {
    let mut z = Zone::new();
    z.mx("good.test", 10, "mx.good.test")
        .a("mx.good.test", ip(GOOD_MX))
        .mx("wrong.test", 10, "mx.evil.test")
        .a("mx.evil.test", ip(GOOD_MX))
        .mx("badcert.test", 10, "mx.badcert.test")
        .a("mx.badcert.test", ip(BAD_CERT_MX))
        .mx("testing.test", 10, "mx.elsewhere.test")
        .a("mx.elsewhere.test", ip(GOOD_MX))
        .mx("testcert.test", 10, "mx.badcert.test")
        .mx("testplain.test", 10, "mx.testplain.test")
        .mx("slow.test", 10, "mx.good.test")
        .a("mx.testplain.test", ip(PLAIN_MX));
    for d in DOMAINS {
        z.txt(&format!("_mta-sts.{d}"), "v=STSv1; id=one;")
            .a(&format!("mta-sts.{d}"), ip(POLICY));
    }
    z
}

fn policy_for(host: &str) -> Option<&'static str> {
    Some(match host {
        "mta-sts.slow.test" => {
            SLOW_GETS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(700));
            "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n"
        }
        "mta-sts.good.test" => {
            "version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\nmax_age: 86400\r\n"
        }
        "mta-sts.wrong.test" => "version: STSv1\nmode: enforce\nmx: *.wrong.test\nmax_age: 86400\n",
        "mta-sts.badcert.test" => {
            "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 86400\n"
        }
        "mta-sts.testing.test" => {
            "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n"
        }
        "mta-sts.testcert.test" => {
            "version: STSv1\nmode: testing\nmx: mx.badcert.test\nmax_age: 86400\n"
        }
        "mta-sts.testplain.test" => {
            "version: STSv1\nmode: testing\nmx: mx.testplain.test\nmax_age: 86400\n"
        }
        _ => return None,
    })
}

struct Setup {
    t: TestEnv,
    good: FakeServer,
    bad: FakeServer,
    plain: FakeServer,
    policy: Option<PolicyServer>,
}

fn setup() -> Setup {
    setup_with(|_| {})
}

fn setup_with(edit: impl FnOnce(&mut ferrymail_config::MtaSts)) -> Setup {
    let port = free_port(ip(GOOD_MX));
    let https = free_port(ip(POLICY));
    let mut t = test_env(zone(), port);
    let mut names: Vec<String> = DOMAINS.iter().map(|d| format!("mta-sts.{d}")).collect();
    names.extend(["mx.good.test", "mx.evil.test", "mx.elsewhere.test"].map(String::from));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let w = sts_world(&mut t, port, https, &names, policy_for);
    edit(&mut t.env.config.queue.mta_sts);
    t.env.save_config().unwrap();
    let (good, bad, policy) = (w.good, w.bad, Some(w.policy));
    let plain = smtp_server(
        SocketAddr::new(ip(PLAIN_MX), port),
        &["PIPELINING"],
        Arc::new(always),
    );
    Setup {
        t,
        good,
        bad,
        plain,
        policy,
    }
}

/// Whether the message left the queue (delivered, as no bounce is expected here).
fn gone(t: &TestEnv, id: &ferrymail_spool::QueueId) -> bool {
    t.queued().iter().all(|e| e.id != *id)
}

fn deferred(t: &TestEnv, id: &ferrymail_spool::QueueId) -> bool {
    t.queued().iter().any(|e| e.id == *id && e.attempts >= 1)
}

fn delivered_to(server: &FakeServer, rcpt: &str) -> bool {
    server
        .messages()
        .iter()
        .any(|m| m.rcpts.iter().any(|r| r.contains(rcpt)))
}

#[test]
fn enforce_delivers_to_listed_mx_over_verified_tls_and_defers_otherwise() {
    let s = setup();
    let t = &s.t;
    let _qr = t.start();
    let good = t.enqueue(Some("alice@example.test"), &["x@good.test"], "fine");
    let wrong = t.enqueue(Some("alice@example.test"), &["x@wrong.test"], "not to evil");
    let badcert = t.enqueue(
        Some("alice@example.test"),
        &["x@badcert.test"],
        "not in clear",
    );
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &good)
            && deferred(t, &wrong)
            && deferred(t, &badcert)),
        "log:\n{}",
        t.log()
    );
    let msgs = s.good.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].tls && msgs[0].rcpts.iter().any(|r| r.contains("x@good.test")));
    assert!(!delivered_to(&s.good, "wrong.test"));
    assert!(s.bad.messages().is_empty(), "nothing to the untrusted MX");
    let log = t.log();
    assert!(
        log.contains("MTA-STS policy one of wrong.test (enforce)"),
        "{log}"
    );
    assert!(
        log.contains("MTA-STS policy one of badcert.test (enforce)"),
        "{log}"
    );
    assert!(log.contains("MTA-STS policy failure"), "{log}");
}

#[test]
fn testing_mode_reports_and_delivers() {
    let s = setup();
    let t = &s.t;
    let _qr = t.start();
    let mx = t.enqueue(
        Some("alice@example.test"),
        &["x@testing.test"],
        "delivered anyway",
    );
    let cert = t.enqueue(
        Some("alice@example.test"),
        &["x@testcert.test"],
        "over TLS anyway",
    );
    let plain = t.enqueue(
        Some("alice@example.test"),
        &["x@testplain.test"],
        "in clear anyway",
    );
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &mx)
            && gone(t, &cert)
            && gone(t, &plain)),
        "log:\n{}",
        t.log()
    );
    assert!(delivered_to(&s.good, "x@testing.test"));
    // The unverifiable certificate is reported, then the mail goes over unverified TLS.
    let to_bad = s.bad.messages();
    assert!(
        to_bad
            .iter()
            .any(|m| m.tls && m.rcpts.iter().any(|r| r.contains("x@testcert.test"))),
        "{to_bad:?}"
    );
    let log = t.log();
    let failure = |domain: &str, needle: &str| {
        log.lines().any(|l| {
            l.contains("MTA-STS policy failure") && l.contains(domain) && l.contains(needle)
        })
    };
    assert!(failure("testing.test", "mx.elsewhere.test"), "{log}");
    assert!(failure("testcert.test", "certificate-or-starttls"), "{log}");
    assert!(delivered_to(&s.plain, "x@testplain.test"));
    assert!(
        failure("testplain.test", "does not offer STARTTLS"),
        "{log}"
    );
}

#[test]
fn cached_policy_survives_a_restart_without_the_policy_server() {
    let mut s = setup();
    let qr = s.t.start();
    let first =
        s.t.enqueue(Some("alice@example.test"), &["x@wrong.test"], "first");
    assert!(
        wait_until(Duration::from_secs(30), || deferred(&s.t, &first)),
        "log:\n{}",
        s.t.log()
    );
    drop(qr);
    // The policy host is gone and the TXT id changed: the refresh fails, and the cached,
    // unexpired policy still applies.
    s.policy = None;
    s.t.dns.update(|z| {
        z.remove("_mta-sts.wrong.test");
        z.txt("_mta-sts.wrong.test", "v=STSv1; id=two;");
    });
    let _qr = s.t.start();
    let second =
        s.t.enqueue(Some("alice@example.test"), &["y@wrong.test"], "second");
    assert!(
        wait_until(Duration::from_secs(30), || deferred(&s.t, &second)),
        "log:\n{}",
        s.t.log()
    );
    assert!(
        !delivered_to(&s.good, "wrong.test"),
        "{:?}",
        s.good.messages()
    );
    let log = s.t.log();
    assert!(log.contains("using_cached=true"), "{log}");
}

#[test]
fn an_ignored_domain_gets_mail_as_without_a_policy() {
    let s = setup_with(|m| m.ignore_domains = vec!["Wrong.Test".into()]);
    let t = &s.t;
    let _qr = t.start();
    let id = t.enqueue(
        Some("alice@example.test"),
        &["x@wrong.test"],
        "policy ignored",
    );
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &id)),
        "log:\n{}",
        t.log()
    );
    assert!(delivered_to(&s.good, "x@wrong.test"));
    assert!(!t.log().contains("MTA-STS policy failure"), "{}", t.log());
}

#[test]
fn tls_required_no_waives_an_enforce_policy() {
    let s = setup();
    let t = &s.t;
    let _qr = t.start();
    let env = ferrymail_spool::Envelope::new(
        Some("alice@example.test".into()),
        vec![ferrymail_spool::Recipient::new("x@wrong.test")],
        ferrymail_spool::ClientInfo::default(),
        ferrymail_spool::Source::Local,
    );
    let msg = "TLS-Required: No\r\nSubject: t\r\n\r\nwaived\r\n";
    let waived = t.spool().enqueue(env, msg.as_bytes()).unwrap();
    ferrymail_spool::notify_wake(t.env.config.wake_socket(), &waived);
    let strict = t.enqueue(
        Some("alice@example.test"),
        &["y@wrong.test"],
        "still enforced",
    );
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &waived)
            && deferred(t, &strict)),
        "log:\n{}",
        t.log()
    );
    assert!(delivered_to(&s.good, "x@wrong.test"));
    assert!(!delivered_to(&s.good, "y@wrong.test"));
}

#[test]
fn concurrent_deliveries_fetch_a_policy_once() {
    let s = setup();
    let t = &s.t;
    let ids: Vec<_> = (0..4)
        .map(|i| {
            let rcpt = format!("r{i}@slow.test");
            t.enqueue(Some("alice@example.test"), &[rcpt.as_str()], "same policy")
        })
        .collect();
    let _qr = t.start();
    assert!(
        wait_until(Duration::from_secs(30), || ids.iter().all(|id| gone(t, id))),
        "log:\n{}",
        t.log()
    );
    for i in 0..4 {
        assert!(delivered_to(&s.good, &format!("r{i}@slow.test")));
    }
    assert_eq!(
        SLOW_GETS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "log:\n{}",
        t.log()
    );
}
