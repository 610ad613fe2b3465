//! REQUIRETLS (RFC 8689) and `TLS-Required: No` end to end: queue-runner against scripted
//! loopback MX hosts. A REQUIRETLS message needs MX records validated with DNSSEC (or listed
//! by MTA-STS), so its tests take names from a signed zone served by Knot DNS.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_dev::signed_zone::{self, ChildZone, SignedDns};
use ferrymail_spool::{ClientInfo, Envelope, QueueId, Recipient, Source};
use ferrymail_testkit::{free_port, wait_until};

const MX: [u8; 4] = [127, 0, 0, 3];
const MX_NAME: &str = "mx.secure.test";

fn mx_ip() -> IpAddr {
    IpAddr::from(MX)
}

/// secure.test's one MX is `mx.secure.test` at 127.0.0.3.
fn zone() -> Zone {
    let mut z = Zone::new();
    z.mx("secure.test", 10, MX_NAME).a(MX_NAME, mx_ip());
    z
}

/// Points `t` at a signed root holding secure.test (as [`zone`]) with an unsigned child zone
/// plain.test whose MX is the same host; `None` (with a SKIP line) without Knot.
fn signed_dns(t: &mut TestEnv) -> Option<SignedDns> {
    if let Some(why) = signed_zone::unavailable() {
        eprintln!("SKIP: {why}");
        return None;
    }
    let ip = mx_ip();
    let root = format!("secure.test. 300 MX 10 {MX_NAME}.\n{MX_NAME}. 300 A {ip}\n");
    let plain = format!("plain.test. 300 MX 10 mx.plain.test.\nmx.plain.test. 300 A {ip}\n");
    let dns = SignedDns::start(
        &t.env.state_dir.join("knot"),
        &root,
        &[ChildZone {
            name: "plain.test",
            lines: &plain,
            signed: false,
        }],
    )
    .unwrap();
    t.env.config.queue.dns_servers = vec![dns.addr];
    t.env.config.queue.dnssec_trust_anchors = Some(dns.trust_anchor.clone());
    t.env.save_config().unwrap();
    Some(dns)
}

/// A test environment whose queue-runner trusts a certificate made for `mx.secure.test`,
/// and the server config presenting it.
fn env_trusting_the_mx(port: u16) -> (TestEnv, Arc<rustls::ServerConfig>) {
    let mut t = test_env(zone(), port);
    let (cert, key) = ferrymail_net::tls::self_signed(&[MX_NAME.to_string()]).unwrap();
    let cert_path = t.env.state_dir.join("mx-cert.pem");
    let key_path = t.env.state_dir.join("mx-key.pem");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    t.env.config.queue.tls_trust_anchors = vec![cert_path.clone()];
    t.env.save_config().unwrap();
    let server = ferrymail_net::tls::load_server_config(&cert_path, &key_path).unwrap();
    (t, server)
}

/// A script that answers every command positively and records each verb it was asked about.
fn recording() -> (Arc<Script>, Arc<Mutex<Vec<String>>>) {
    let verbs = Arc::new(Mutex::new(Vec::new()));
    let seen = verbs.clone();
    let script = move |_: usize, verb: &str, _: &str| -> Option<String> {
        seen.lock().unwrap().push(verb.to_string());
        None
    };
    (Arc::new(script), verbs)
}

fn enqueue_requiretls(t: &TestEnv) -> QueueId {
    let mut env = Envelope::new(
        Some("alice@example.test".into()),
        vec![Recipient::new("x@secure.test")],
        ClientInfo {
            protocol: "ESMTPS".into(),
            ..ClientInfo::default()
        },
        Source::Local,
    );
    env.require_tls = true;
    t.enqueue_env(env, "for your eyes only")
}

/// Waits for `id` to leave the queue with a bounce to its sender, and returns the bounce text.
/// The bounce itself must carry REQUIRETLS and only the original's header section.
fn bounce_of(t: &TestEnv, id: QueueId) -> String {
    let bounce = || t.queued().into_iter().find(|e| e.source == Source::Bounce);
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| e.id != id)
            && bounce().is_some()),
        "no bounce; log:\n{}",
        t.log()
    );
    let b = bounce().unwrap();
    assert_eq!(b.recipients[0].address, "alice@example.test");
    // The report goes out under REQUIRETLS too, and without the body (RFC 8689 §5).
    assert!(b.require_tls, "{b:?}");
    let text = t.message_text(&b.id);
    assert!(!text.contains("for your eyes only"), "{text}");
    text
}

/// Runs a REQUIRETLS message against an MX offering `ext` (and STARTTLS with `tls`), which
/// must refuse it: a 5.7.10 bounce and MAIL FROM never sent. Returns the bounce text and the
/// verbs the MX saw.
fn refused_before_mail(
    t: &TestEnv,
    port: u16,
    ext: &'static [&'static str],
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, Vec<String>) {
    let (script, verbs) = recording();
    let server = smtp_server_tls(SocketAddr::new(mx_ip(), port), ext, tls, script);
    let _qr = t.start();
    let id = enqueue_requiretls(t);
    let text = bounce_of(t, id);
    assert!(text.contains("Status: 5.7.10"), "{text}");
    let verbs = verbs.lock().unwrap().clone();
    assert!(verbs.contains(&"EHLO".to_string()), "{verbs:?}");
    assert!(!verbs.contains(&"MAIL".to_string()), "{verbs:?}");
    assert!(server.messages().is_empty());
    (text, verbs)
}

#[test]
fn requiretls_to_a_host_without_starttls_bounces_before_mail_from() {
    let port = free_port(mx_ip());
    let mut t = test_env(zone(), port);
    let Some(_dns) = signed_dns(&mut t) else {
        return;
    };
    // Even a server claiming REQUIRETLS does not qualify without TLS.
    let (text, _) = refused_before_mail(&t, port, &["PIPELINING", "REQUIRETLS"], None);
    assert!(
        text.contains("REQUIRETLS: TLS is required but")
            && text.contains("does not offer STARTTLS"),
        "{text}"
    );
}

#[test]
fn requiretls_to_a_verified_host_not_offering_requiretls_bounces() {
    let port = free_port(mx_ip());
    let (mut t, tls) = env_trusting_the_mx(port);
    let Some(_dns) = signed_dns(&mut t) else {
        return;
    };
    let (text, verbs) = refused_before_mail(&t, port, &["PIPELINING"], Some(tls));
    assert!(text.contains("does not offer REQUIRETLS"), "{text}");
    // TLS was set up (the second EHLO came through it), then the host was refused.
    assert_eq!(
        verbs.iter().filter(|v| *v == "EHLO").count(),
        2,
        "{verbs:?}"
    );
}

#[test]
fn requiretls_to_an_untrusted_certificate_bounces() {
    let port = free_port(mx_ip());
    let mut t = test_env(zone(), port);
    let Some(_dns) = signed_dns(&mut t) else {
        return;
    };
    // The environment's own certificate: not issued for mx.secure.test, not trusted.
    let tls = ferrymail_net::tls::load_server_config(&t.env.config.tls.cert, &t.env.config.tls.key)
        .unwrap();
    let (text, _) = refused_before_mail(&t, port, &["PIPELINING", "REQUIRETLS"], Some(tls));
    assert!(text.contains("REQUIRETLS: TLS handshake failed"), "{text}");
}

#[test]
fn requiretls_to_a_verified_host_offering_requiretls_is_delivered_with_the_parameter() {
    let port = free_port(mx_ip());
    let (mut t, tls) = env_trusting_the_mx(port);
    let Some(_dns) = signed_dns(&mut t) else {
        return;
    };
    let server = smtp_server_tls(
        SocketAddr::new(mx_ip(), port),
        &["PIPELINING", "REQUIRETLS"],
        Some(tls),
        Arc::new(always),
    );
    let _qr = t.start();
    let id = enqueue_requiretls(&t);
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "not delivered; log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].tls, "delivered inside STARTTLS");
    assert_eq!(msgs[0].mail_from, "FROM:<alice@example.test> REQUIRETLS");
    assert!(msgs[0].data.contains("for your eyes only"));
    assert!(t.log().contains(&format!("{id}: to=<x@secure.test>")));
}

#[test]
fn requiretls_to_unvalidated_mx_records_without_mta_sts_bounces_without_connecting() {
    let port = free_port(mx_ip());
    let (mut t, tls) = env_trusting_the_mx(port);
    let Some(_dns) = signed_dns(&mut t) else {
        return;
    };
    let (script, verbs) = recording();
    let server = smtp_server_tls(
        SocketAddr::new(mx_ip(), port),
        &["PIPELINING", "REQUIRETLS"],
        Some(tls),
        script,
    );
    let _qr = t.start();
    let mut env = Envelope::new(
        Some("alice@example.test".into()),
        vec![Recipient::new("x@plain.test")],
        ClientInfo::default(),
        Source::Local,
    );
    env.require_tls = true;
    let id = t.enqueue_env(env, "for your eyes only");
    let text = bounce_of(&t, id);
    assert!(text.contains("Status: 5.7.10"), "{text}");
    assert!(
        text.contains("the MX records of plain.test are not DNSSEC-validated"),
        "{text}"
    );
    assert!(verbs.lock().unwrap().is_empty(), "no connection to the MX");
    assert!(server.messages().is_empty());
}

#[test]
fn tls_required_no_waives_a_required_tls_domain() {
    let port = free_port(mx_ip());
    let mut t = test_env(zone(), port);
    t.env.config.queue.require_tls_domains = vec!["secure.test".into()];
    t.env.save_config().unwrap();
    let server = smtp_server(
        SocketAddr::new(mx_ip(), port),
        &["PIPELINING"],
        Arc::new(always),
    );
    let _qr = t.start();
    let enqueue = |headers: &str| {
        let env = Envelope::new(
            Some("alice@example.test".into()),
            vec![Recipient::new("x@secure.test")],
            ClientInfo::default(),
            Source::Local,
        );
        let msg = format!("{headers}Subject: t\r\n\r\nbody\r\n");
        let id = t.spool().enqueue(env, msg.as_bytes()).unwrap();
        ferrymail_spool::notify_wake(t.env.config.wake_socket(), &id);
        id
    };
    let waived = enqueue("TLS-Required: No\r\n");
    let strict = enqueue("");
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| e.id != waived)),
        "log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "only the waived message went in clear");
    assert!(!msgs[0].tls);
    assert!(msgs[0].data.contains("TLS-Required: No"));
    // Without the header the domain's policy holds: deferred, not sent.
    assert!(
        wait_until(Duration::from_secs(20), || t
            .queued()
            .iter()
            .any(|e| e.id == strict && e.attempts >= 1)),
        "log:\n{}",
        t.log()
    );
    assert_eq!(server.messages().len(), 1);
    assert!(t.log().contains("TLS policies waived"), "{}", t.log());
}
