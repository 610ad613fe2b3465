//! queue-runner against scripted SMTP servers on loopback, found through a loopback DNS server.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::{Rdata, Zone};
use ferrymail_spool::{Envelope, Ret, Source};
use ferrymail_testkit::{free_port, wait_until};

const MX1: [u8; 4] = [127, 0, 0, 2];
const MX2: [u8; 4] = [127, 0, 0, 3];

fn ip(o: [u8; 4]) -> IpAddr {
    IpAddr::from(o)
}

/// A zone where remote.test has a dead preferred MX (127.0.0.2) and a working backup
/// (127.0.0.3), nomx.test has only an A record, and nullmx.test has a null MX.
fn zone() -> Zone {
    let mut z = Zone::new();
    z.mx("remote.test", 10, "mx1.remote.test")
        .mx("remote.test", 20, "mx2.remote.test")
        .a("mx1.remote.test", ip(MX1))
        .a("mx2.remote.test", ip(MX2))
        .a("nomx.test", ip(MX2))
        .add("nullmx.test", Rdata::Mx(0, ".".into()));
    z
}

fn bounces(t: &TestEnv) -> Vec<Envelope> {
    t.queued()
        .into_iter()
        .filter(|e| e.source == Source::Bounce)
        .collect()
}

#[test]
fn mx_preference_fallback_and_one_transaction_for_many_recipients() {
    let port = free_port(ip(MX2));
    let t = test_env(zone(), port);
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING", "8BITMIME", "SIZE 100000"],
        Arc::new(always),
    );
    let _qr = t.start();
    let id = t.enqueue(
        Some("alice@example.test"),
        &["x@remote.test", "y@remote.test", "z@nomx.test"],
        "hello",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "not delivered; log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    // remote.test's two recipients in one transaction, nomx.test (implicit MX) in another.
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let remote = msgs
        .iter()
        .find(|m| m.rcpts.len() == 2)
        .expect("one transaction for remote.test");
    assert_eq!(
        remote.rcpts,
        vec!["TO:<x@remote.test>", "TO:<y@remote.test>"]
    );
    assert!(
        remote
            .mail_from
            .starts_with("FROM:<alice@example.test> SIZE="),
        "{}",
        remote.mail_from
    );
    assert!(remote.data.contains("hello"));
    assert_eq!(remote.ehlo, "mail.example.test");
    let log = t.log();
    assert!(
        log.contains(&format!(
            "{id}: to=<x@remote.test>, relay=mx2.remote.test[127.0.0.3]:{port}"
        )),
        "{log}"
    );
    assert!(log.contains("status=sent"), "{log}");
    // Every attempt line is inside the message's span, keyed by queue id.
    assert!(
        log.lines()
            .filter(|l| l.contains("status=sent"))
            .all(|l| l.contains(&format!("qid={id}"))),
        "{log}"
    );
}

#[test]
fn temporary_failure_is_retried_then_delivered() {
    let port = free_port(ip(MX2));
    let t = test_env(zone(), port);
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &[],
        Arc::new(|session, verb, _| {
            (session == 0 && verb == "RCPT").then(|| "451 4.3.0 try again later\r\n".into())
        }),
    );
    let _qr = t.start();
    let id = t.enqueue(Some("alice@example.test"), &["x@nomx.test"], "retry me");
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].session >= 1, "delivered in a later session");
    let log = t.log();
    assert!(log.contains(&format!("{id}: to=<x@nomx.test>")), "{log}");
    assert!(
        log.contains("dsn=4.3.0, status=deferred (451 4.3.0 try again later)"),
        "{log}"
    );
    assert!(log.contains("status=sent"), "{log}");
    assert!(bounces(&t).is_empty());
}

#[test]
fn permanent_failure_bounces_with_a_dsn_from_the_null_sender() {
    let port = free_port(ip(MX2));
    let t = test_env(zone(), port);
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING", "DSN"],
        Arc::new(|_, verb, arg| {
            (verb == "RCPT" && arg.contains("nobody"))
                .then(|| "550 5.1.1 <nobody@nomx.test>: \x01no such\x7f user\r\n".into())
        }),
    );
    // No LMTP server: the bounce to the local sender stays queued where we can read it.
    let _qr = t.start();
    let mut env = Envelope::new(
        Some("alice@example.test".into()),
        vec![
            ferrymail_spool::Recipient::new("nobody@nomx.test"),
            ferrymail_spool::Recipient::new("ok@nomx.test"),
        ],
        Default::default(),
        Source::Local,
    );
    env.dsn.envid = Some("ENV-42".into());
    env.dsn.ret = Some(Ret::Hdrs);
    env.recipients[0].orcpt = Some("rfc822;nobody@nomx.test".into());
    let id = t.enqueue_env(env, "the body text");
    assert!(
        wait_until(Duration::from_secs(30), || !bounces(&t).is_empty()
            && t.queued().iter().all(|e| e.id != id)),
        "log:\n{}",
        t.log()
    );
    // The good recipient got it, with the DSN parameters passed on.
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].rcpts, vec!["TO:<ok@nomx.test>"]);
    assert!(
        msgs[0].mail_from.contains("RET=HDRS") && msgs[0].mail_from.contains("ENVID=ENV-42"),
        "{}",
        msgs[0].mail_from
    );
    let b = bounces(&t);
    assert_eq!(b.len(), 1);
    let bounce = &b[0];
    assert_eq!(bounce.sender, None);
    assert_eq!(bounce.recipients.len(), 1);
    assert_eq!(bounce.recipients[0].address, "alice@example.test");
    let text = t.message_text(&bounce.id);
    assert!(
        text.contains("multipart/report; report-type=delivery-status"),
        "{text}"
    );
    assert!(
        text.contains("Final-Recipient: rfc822; nobody@nomx.test\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Original-Recipient: rfc822;nobody@nomx.test\r\n"),
        "{text}"
    );
    assert!(text.contains("Original-Envelope-Id: ENV-42\r\n"), "{text}");
    assert!(text.contains("Status: 5.1.1\r\n"), "{text}");
    assert!(text.contains("Action: failed\r\n"), "{text}");
    assert!(
        text.contains("text/rfc822-headers"),
        "RET=HDRS honoured: {text}"
    );
    assert!(!text.contains("the body text"), "{text}");
    assert!(
        !text.contains('\x01'),
        "control characters from the remote reply are removed"
    );
    assert!(
        !text.contains("ok@nomx.test"),
        "only the failed recipient is reported"
    );
    assert!(t.log().contains("status=bounced"));
}

#[test]
fn null_mx_bounces_at_once_and_a_bounce_is_never_bounced() {
    let t = test_env(zone(), free_port(ip(MX2)));
    let _qr = t.start();
    // A bounce (null sender) that fails: dropped without a new bounce.
    let mut dsn = Envelope::new(
        None,
        vec![ferrymail_spool::Recipient::new("x@nullmx.test")],
        Default::default(),
        Source::Bounce,
    );
    dsn.sender = None;
    let dsn_id = t.enqueue_env(dsn, "a bounce");
    // An ordinary message to the same domain: bounced at once with 5.1.10.
    let id = t.enqueue(
        Some("alice@example.test"),
        &["x@nullmx.test"],
        "to a null MX",
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            let q = t.queued();
            q.iter().all(|e| e.id != id && e.id != dsn_id) && !bounces(&t).is_empty()
        }),
        "log:\n{}",
        t.log()
    );
    // Let any (wrong) second bounce appear before counting.
    std::thread::sleep(Duration::from_secs(2));
    let b = bounces(&t);
    assert_eq!(
        b.len(),
        1,
        "exactly one bounce, for the message with a sender"
    );
    assert_eq!(b[0].recipients[0].address, "alice@example.test");
    let text = t.message_text(&b[0].id);
    assert!(text.contains("Status: 5.1.10"), "{text}");
    let log = t.log();
    assert!(
        log.contains(&format!("{dsn_id}: sender is <>, no bounce")),
        "{log}"
    );
}

#[test]
fn deferred_mail_expires_into_a_bounce() {
    let port = free_port(ip(MX2));
    let mut t = test_env(zone(), port);
    t.env.config.queue.max_lifetime = Duration::from_secs(3);
    t.env.save_config().unwrap();
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &[],
        Arc::new(|_, verb, _| (verb == "RCPT").then(|| "452 4.2.2 mailbox full\r\n".into())),
    );
    let _qr = t.start();
    let id = t.enqueue(
        Some("alice@example.test"),
        &["full@nomx.test"],
        "never arrives",
    );
    assert!(
        wait_until(Duration::from_secs(40), || t
            .queued()
            .iter()
            .all(|e| e.id != id)
            && !bounces(&t).is_empty()),
        "log:\n{}",
        t.log()
    );
    assert!(
        server.sessions.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "retried before expiring"
    );
    let b = bounces(&t);
    let text = t.message_text(&b[0].id);
    assert!(text.contains("Status: 5.4.7"), "{text}");
    assert!(text.contains("mailbox full"), "{text}");
    let log = t.log();
    assert!(log.contains("dsn=4.4.7, status=bounced"), "{log}");
}

#[test]
fn misbehaving_servers_are_deferred_not_trusted() {
    let port = free_port(ip(MX2));
    let mut t = test_env(zone(), port);
    t.env.config.queue.command_timeout = Duration::from_secs(2);
    t.env.save_config().unwrap();
    // Session 0: garbage greeting; session 1: endless multi-line EHLO reply;
    // session 2: a reply that never ends (slow drip); then a sane session.
    let _server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &[],
        Arc::new(|session, verb, _| match (session, verb) {
            (0, "CONNECT") => Some("hello there, I am not SMTP\r\n".into()),
            (1, "EHLO") => Some("250-x\r\n".repeat(500)),
            (2, "MAIL") => {
                std::thread::sleep(Duration::from_secs(3));
                Some("25".into())
            }
            _ => None,
        }),
    );
    let _qr = t.start();
    let id = t.enqueue(Some("alice@example.test"), &["x@nomx.test"], "eventually");
    assert!(
        wait_until(Duration::from_secs(60), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    let log = t.log();
    assert!(log.contains("malformed reply"), "{log}");
    assert!(log.contains("timeout"), "{log}");
    assert!(
        log.contains(&format!("{id}: to=<x@nomx.test>")) && log.contains("status=sent"),
        "{log}"
    );
}

fn tls_config(t: &TestEnv) -> Arc<rustls::ServerConfig> {
    ferrymail_net::tls::load_server_config(&t.env.config.tls.cert, &t.env.config.tls.key).unwrap()
}

#[test]
fn starttls_is_used_when_offered_and_required_tls_checks_the_certificate() {
    let port = free_port(ip(MX2));
    let mut z = zone();
    z.a("strict.test", ip(MX2));
    let mut t = test_env(z, port);
    t.env.config.queue.require_tls_domains = vec!["strict.test".into()];
    t.env.save_config().unwrap();
    let server = smtp_server_tls(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING"],
        Some(tls_config(&t)),
        Arc::new(always),
    );
    let _qr = t.start();
    let a = t.enqueue(Some("alice@example.test"), &["x@nomx.test"], "secret stuff");
    let b = t.enqueue(
        Some("alice@example.test"),
        &["x@strict.test"],
        "must be verified",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| e.id != a)),
        "log:\n{}",
        t.log()
    );
    // Opportunistic: the self-signed certificate is accepted and the message went over TLS.
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].tls, "delivered inside STARTTLS");
    assert!(msgs[0].data.contains("secret stuff"));
    // Required TLS with a certificate that does not verify: deferred, never sent in clear.
    assert!(
        wait_until(Duration::from_secs(20), || t
            .queued()
            .iter()
            .any(|e| e.id == b && e.attempts >= 1)),
        "log:\n{}",
        t.log()
    );
    assert_eq!(server.messages().len(), 1, "nothing sent to strict.test");
    let log = t.log();
    assert!(
        log.contains(&format!("{b}: to=<x@strict.test>")) && log.contains("TLS handshake failed"),
        "{log}"
    );
}

#[test]
fn smarthost_route_with_auth() {
    let port = free_port(ip(MX2));
    // Empty zone: a bracketed relay needs no DNS at all.
    let mut t = test_env(Zone::new(), 25);
    let secret = t.env.state_dir.join("smarthost.secret");
    std::fs::write(&secret, "relayuser\nrelay pass\n").unwrap();
    t.env.config.queue.routes = vec![ferrymail_config::Route {
        domain: "*".into(),
        relay: format!("[127.0.0.3]:{port}"),
        auth_file: Some(secret),
        require_tls: false,
    }];
    t.env.save_config().unwrap();
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING", "AUTH LOGIN PLAIN"],
        Arc::new(always),
    );
    let _qr = t.start();
    t.enqueue(
        Some("alice@example.test"),
        &["a@anywhere.test", "b@elsewhere.test"],
        "via the smarthost",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2, "one transaction per destination domain");
    let token = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "\0relayuser\0relay pass",
    );
    assert!(
        msgs.iter()
            .all(|m| m.auth.as_deref() == Some(&format!("PLAIN {token}"))),
        "{msgs:?}"
    );
    assert!(
        t.log()
            .contains(&format!("relay=127.0.0.3[127.0.0.3]:{port}")),
        "{}",
        t.log()
    );
}

#[test]
fn eight_bit_and_smtputf8_mail_to_servers_without_support() {
    let port = free_port(ip(MX2));
    let t = test_env(zone(), port);
    // A server with no extensions at all.
    let server = smtp_server(SocketAddr::new(ip(MX2), port), &[], Arc::new(always));
    let _qr = t.start();
    let mut eight = Envelope::new(
        Some("alice@example.test".into()),
        vec![ferrymail_spool::Recipient::new("x@nomx.test")],
        Default::default(),
        Source::Local,
    );
    eight.body = ferrymail_spool::BodyType::EightBitMime;
    let eight_id = t.enqueue_env(eight.clone(), "caf\u{e9} cr\u{e8}me");
    let mut ascii = eight.clone();
    ascii.id = ferrymail_spool::QueueId::generate();
    let ascii_id = t.enqueue_env(ascii, "plain ascii after all");
    let mut utf8 = Envelope::new(
        Some("alice@example.test".into()),
        vec![ferrymail_spool::Recipient::new("j\u{f6}rg@nomx.test")],
        Default::default(),
        Source::Local,
    );
    utf8.smtputf8 = true;
    let utf8_id = t.enqueue_env(utf8, "needs smtputf8");
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| ![eight_id, ascii_id, utf8_id].contains(&e.id))),
        "log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "only the ASCII message went out: {msgs:?}");
    assert!(msgs[0].data.contains("plain ascii after all"));
    assert!(
        !msgs[0].mail_from.contains("BODY="),
        "{}",
        msgs[0].mail_from
    );
    let b = bounces(&t);
    let texts: Vec<String> = b.iter().map(|e| t.message_text(&e.id)).collect();
    assert_eq!(texts.len(), 2);
    assert!(
        texts.iter().any(|x| x.contains("Status: 5.6.3")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|x| x.contains("Status: 5.6.7")),
        "{texts:?}"
    );
}

#[test]
fn per_domain_concurrency_limit_holds() {
    let port = free_port(ip(MX2));
    let mut t = test_env(zone(), port);
    t.env.config.queue.max_per_domain = 2;
    t.env.config.queue.max_parallel = 50;
    t.env.save_config().unwrap();
    // Slow servers make overlapping sessions likely if the limit were not enforced.
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING"],
        Arc::new(|_, verb, _| {
            if verb == "DOT" {
                std::thread::sleep(Duration::from_millis(300));
            }
            None
        }),
    );
    let _qr = t.start();
    for i in 0..10 {
        t.enqueue(
            Some("alice@example.test"),
            &["x@nomx.test"],
            &format!("n{i}"),
        );
    }
    assert!(
        wait_until(Duration::from_secs(60), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    assert_eq!(server.messages().len(), 10);
    let max = server
        .max_concurrent
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=2).contains(&max),
        "at most 2 parallel sessions to one domain, saw {max}"
    );
}

#[test]
fn dead_destination_is_suspended_and_flush_lifts_it() {
    let mut z = Zone::new();
    z.mx("dead.test", 10, "mx.dead.test")
        .a("mx.dead.test", ip(MX1));
    let port = free_port(ip(MX1));
    let mut t = test_env(z, port);
    t.env.config.queue.retry_initial = Duration::from_secs(30);
    t.env.config.queue.retry_max = Duration::from_secs(30);
    t.env.save_config().unwrap();
    let _qr = t.start();
    let first = t.enqueue(Some("alice@example.test"), &["a@dead.test"], "one");
    let second = t.enqueue(Some("alice@example.test"), &["b@dead.test"], "two");
    assert!(
        wait_until(Duration::from_secs(20), || t
            .log()
            .contains("destination unreachable; suspending")),
        "log:\n{}",
        t.log()
    );
    // A third message is deferred without a connection attempt.
    let third = t.enqueue(Some("alice@example.test"), &["c@dead.test"], "three");
    assert!(
        wait_until(Duration::from_secs(20), || t
            .log()
            .contains(&format!("{third}: to=<c@dead.test>, relay=none"))),
        "log:\n{}",
        t.log()
    );
    let log = t.log();
    assert!(
        log.contains("delivery to dead.test temporarily suspended"),
        "{log}"
    );
    for id in [first, second] {
        assert!(log.contains(&format!("{id}: to=<")), "{log}");
    }
    assert!(log.contains("connect to mx.dead.test[127.0.0.2]"), "{log}");
    assert_eq!(t.queued().len(), 3, "deferred, not bounced");
    // The destination comes back; a flush lifts the suspension and the 30 s back-off.
    let server = smtp_server(
        SocketAddr::new(ip(MX1), port),
        &["PIPELINING"],
        Arc::new(always),
    );
    let resp = ferrymail_queue_control::request(
        &t.env.config.control_socket(),
        &ferrymail_queue_control::Request::Flush,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(resp.ok, "{resp:?}");
    assert!(
        wait_until(Duration::from_secs(20), || t.queued().is_empty()),
        "log:
{}",
        t.log()
    );
    assert_eq!(server.messages().len(), 3);
}

#[test]
fn one_delay_warning_for_long_deferred_mail() {
    let port = free_port(ip(MX2));
    let mut t = test_env(zone(), port);
    t.env.config.queue.delay_warning = Duration::from_secs(1);
    t.env.save_config().unwrap();
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &[],
        Arc::new(|_, verb, _| {
            (verb == "RCPT").then(|| "450 4.2.1 busy, come back later\r\n".into())
        }),
    );
    let _qr = t.start();
    let id = t.enqueue(Some("alice@example.test"), &["slow@nomx.test"], "patience");
    assert!(
        wait_until(Duration::from_secs(30), || server
            .sessions
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 4),
        "log:\n{}",
        t.log()
    );
    let b = bounces(&t);
    assert_eq!(b.len(), 1, "exactly one warning, however many retries");
    let text = t.message_text(&b[0].id);
    assert!(text.contains("Action: delayed\r\n"), "{text}");
    assert!(text.contains("Status: 4.2.1\r\n"), "{text}");
    assert!(text.contains("Will-Retry-Until: "), "{text}");
    assert!(
        t.queued().iter().any(|e| e.id == id),
        "the original stays queued"
    );
    assert!(t
        .log()
        .contains(&format!("{id}: sender delay notification: ")));
}

#[test]
fn notify_success_reports_delivered_and_relayed() {
    let port = free_port(ip(MX2));
    let t = test_env(zone(), port);
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["PIPELINING"],
        Arc::new(always),
    );
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    let _qr = t.start();
    let success = ferrymail_spool::Notify {
        success: true,
        ..Default::default()
    };
    let mut env = Envelope::new(
        Some("alice@example.test".into()),
        vec![
            ferrymail_spool::Recipient::new("bob@example.test"),
            ferrymail_spool::Recipient::new("x@nomx.test"),
        ],
        Default::default(),
        Source::Local,
    );
    for r in &mut env.recipients {
        r.notify = success;
    }
    let id = t.enqueue_env(env, "tell me when it arrives");
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()
            && lmtp.messages().len() == 2),
        "log:\n{}",
        t.log()
    );
    assert_eq!(server.messages().len(), 1);
    let report = lmtp
        .messages()
        .into_iter()
        .find(|m| m.mail_from.starts_with("FROM:<>"))
        .expect("a report from the null sender");
    assert_eq!(report.rcpts, vec!["TO:<alice@example.test>"]);
    assert!(
        report.data.contains(
            "Final-Recipient: rfc822; bob@example.test\r\nAction: delivered\r\nStatus: 2.0.0"
        ),
        "{}",
        report.data
    );
    assert!(
        report
            .data
            .contains("Final-Recipient: rfc822; x@nomx.test\r\nAction: relayed\r\n"),
        "{}",
        report.data
    );
    assert!(t
        .log()
        .contains(&format!("{id}: sender delivery status notification: ")));
}

#[test]
fn our_users_mail_is_dkim_signed_and_relayed_mail_is_not() {
    let port = free_port(ip(MX2));
    let mut t = test_env(zone(), port);
    let key = ferrymail_mailauth::generate(ferrymail_mailauth::Algorithm::Ed25519).unwrap();
    let keys = t.dir().join("dkim");
    std::fs::create_dir_all(&keys).unwrap();
    let selector = t.env.config.dkim.selector.clone();
    std::fs::write(keys.join(format!("example.test.{selector}.key")), &key.pem).unwrap();
    t.env.config.dkim.enabled = true;
    t.env.config.dkim.keys_dir = keys;
    t.env.save_config().unwrap();
    let record = key.pair.record("example.test", &selector);
    t.dns.update(|z| {
        z.txt(&record.name, &record.value);
    });
    let server = smtp_server(
        SocketAddr::new(ip(MX2), port),
        &["8BITMIME"],
        Arc::new(always),
    );
    let _qr = t.start();
    t.enqueue(Some("sender@example.test"), &["x@nomx.test"], "signed");
    let relayed = Envelope::new(
        Some("someone@far.test".into()),
        vec![ferrymail_spool::Recipient::new("y@nomx.test")],
        ferrymail_spool::ClientInfo::default(),
        Source::Smtp { role: "mx".into() },
    );
    t.enqueue_env(relayed, "relayed");
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    let msgs = server.messages();
    let signed = msgs.iter().find(|m| m.data.contains("signed")).unwrap();
    assert!(
        signed.data.starts_with("DKIM-Signature:"),
        "{}",
        signed.data
    );
    assert!(signed.data.contains("d=example.test"), "{}", signed.data);
    let relayed = msgs.iter().find(|m| m.data.contains("relayed")).unwrap();
    assert!(!relayed.data.contains("DKIM-Signature"), "{}", relayed.data);

    // An independent check of the signature against the published key.
    let verifier = ferrymail_mailauth::Verifier::new(
        &[t.dns.addr],
        ferrymail_mailauth::VerifyOptions::from_config(&t.env.config),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = signed.data.replace("\r\n", "\n").replace('\n', "\r\n");
    let r = rt.block_on(verifier.verify(
        data.as_bytes(),
        ip(MX1),
        "mail.example.test",
        "sender@example.test",
    ));
    assert!(r.header.contains("dkim=pass"), "{}", r.header);
}
