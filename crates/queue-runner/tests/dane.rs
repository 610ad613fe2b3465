//! DANE (RFC 7672) end to end: queue-runner against scripted MX hosts, with every name from a
//! DNSSEC-signed root zone served by Knot DNS on loopback, trusted through
//! `queue.dnssec_trust_anchors`. The TLSA digests are computed here with `openssl`, not with
//! the code under test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrymail_config::TlsPolicy;
use ferrymail_dev::dns::Zone;
use ferrymail_dev::signed_zone::{self, ChildZone, SignedDns};
use ferrymail_testkit::{free_port, wait_until};

/// Presents the certificate of `good.test`'s TLSA record (its name is not the MX's: DANE-EE
/// does not look at names).
const EE_MX: [u8; 4] = [127, 0, 0, 3];
/// Presents a leaf for `mx.ta.test` under the test CA, with the CA in the chain.
const TA_MX: [u8; 4] = [127, 0, 0, 4];
/// No STARTTLS at all.
const PLAIN_MX: [u8; 4] = [127, 0, 0, 6];

fn ip(o: [u8; 4]) -> IpAddr {
    IpAddr::from(o)
}

/// `openssl`'s SHA-256 of the certificate's public key (selector 1, matching type 1).
fn spki_sha256(cert_pem: &Path) -> String {
    ferrymail_testkit::tls::openssl_spki_sha256(cert_pem)
        .unwrap_or_else(|| panic!("openssl cannot digest {}", cert_pem.display()))
}

struct Certs {
    /// Self-signed, for `unrelated.invalid`: matched by good.test's `3 1 1`.
    ee: Arc<rustls::ServerConfig>,
    ee_hash: String,
    /// Another key: the record bad.test publishes matches nothing presented.
    other_hash: String,
    /// Leaf for mx.ta.test signed by the CA, chain leaf + CA.
    ta: Arc<rustls::ServerConfig>,
    ca_hash: String,
}

fn certs(dir: &Path) -> Certs {
    std::fs::create_dir_all(dir).unwrap();
    let write = |stem: &str, cert: &str, key: &str| {
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    };
    let (c, k) = ferrymail_net::tls::self_signed(&["unrelated.invalid".into()]).unwrap();
    let (ee_c, ee_k) = write("ee", &c, &k);
    let (c, k) = ferrymail_net::tls::self_signed(&["other.invalid".into()]).unwrap();
    let (other_c, _) = write("other", &c, &k);

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "DANE test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["mx.ta.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let (ca_c, _) = write("ca", &ca.pem(), "");
    let (ta_c, ta_k) = write(
        "ta",
        &format!("{}{}", leaf.pem(), ca.pem()),
        &leaf_key.serialize_pem(),
    );
    Certs {
        ee: ferrymail_net::tls::load_server_config(&ee_c, &ee_k).unwrap(),
        ee_hash: spki_sha256(&ee_c),
        other_hash: spki_sha256(&other_c),
        ta: ferrymail_net::tls::load_server_config(&ta_c, &ta_k).unwrap(),
        ca_hash: spki_sha256(&ca_c),
    }
}

/// The signed root: good.test (DANE-EE), ta.test (DANE-TA), bad.test (a TLSA record matching
/// nothing presented), notls.test (TLSA, but no STARTTLS), notlsa.test (signed, no TLSA),
/// strict.test (no TLSA, tls_policy dane-only); unsigned.test is an unsigned zone and
/// bogus.test a signed zone under a wrong DS record.
fn root_zone(port: u16, c: &Certs) -> String {
    let (ee, ta, plain) = (
        ip(EE_MX).to_string(),
        ip(TA_MX).to_string(),
        ip(PLAIN_MX).to_string(),
    );
    let mut z = String::new();
    let mut add = |domain: &str, addr: &str, tlsa: Option<String>| {
        z.push_str(&format!(
            "{domain}. 300 MX 10 mx.{domain}.\nmx.{domain}. 300 A {addr}\n"
        ));
        if let Some(t) = tlsa {
            z.push_str(&format!("_{port}._tcp.mx.{domain}. 300 TLSA {t}\n"));
        }
    };
    add("good.test", &ee, Some(format!("3 1 1 {}", c.ee_hash)));
    add("ta.test", &ta, Some(format!("2 1 1 {}", c.ca_hash)));
    add("bad.test", &ee, Some(format!("3 1 1 {}", c.other_hash)));
    add("notls.test", &plain, Some(format!("3 1 1 {}", c.ee_hash)));
    add("notlsa.test", &plain, None);
    add("strict.test", &plain, None);
    z.push_str(&format!(
        "bogus.test. 300 DS 4242 13 2 {}\n",
        "ab".repeat(32)
    ));
    z
}

struct Setup {
    t: TestEnv,
    ee: FakeServer,
    ta: FakeServer,
    plain: FakeServer,
    _dns: SignedDns,
}

fn setup() -> Option<Setup> {
    if let Some(why) = signed_zone::unavailable() {
        eprintln!("SKIP: {why}");
        return None;
    }
    let port = free_port(ip(EE_MX));
    let mut t = test_env(Zone::new(), port);
    let c = certs(&t.env.state_dir.join("dane-certs"));
    let plain_lines = |d: &str| format!("{d}. 300 MX 10 mx.{d}.\nmx.{d}. 300 A {}\n", ip(PLAIN_MX));
    let (unsigned, bogus) = (plain_lines("unsigned.test"), plain_lines("bogus.test"));
    let dns = SignedDns::start(
        &t.env.state_dir.join("knot"),
        &root_zone(port, &c),
        &[
            ChildZone {
                name: "unsigned.test",
                lines: &unsigned,
                signed: false,
            },
            ChildZone {
                name: "bogus.test",
                lines: &bogus,
                signed: true,
            },
        ],
    )
    .unwrap();
    let q = &mut t.env.config.queue;
    q.dns_servers = vec![dns.addr];
    q.dnssec_trust_anchors = Some(dns.trust_anchor.clone());
    q.tls_policy = TlsPolicy::Dane;
    q.tls_policies
        .insert("strict.test".into(), TlsPolicy::DaneOnly);
    q.tls_rpt.enabled = true;
    t.env.save_config().unwrap();
    let ext: &[&str] = &["PIPELINING"];
    let at = |o| SocketAddr::new(ip(o), port);
    Some(Setup {
        ee: smtp_server_tls(at(EE_MX), ext, Some(c.ee), Arc::new(always)),
        ta: smtp_server_tls(at(TA_MX), ext, Some(c.ta), Arc::new(always)),
        plain: smtp_server(at(PLAIN_MX), ext, Arc::new(always)),
        t,
        _dns: dns,
    })
}

fn gone(t: &TestEnv, id: &ferrymail_spool::QueueId) -> bool {
    t.queued().iter().all(|e| e.id != *id)
}

fn deferred(t: &TestEnv, id: &ferrymail_spool::QueueId) -> bool {
    t.queued().iter().any(|e| e.id == *id && e.attempts >= 1)
}

fn got(server: &FakeServer, rcpt: &str) -> Vec<Received> {
    server
        .messages()
        .into_iter()
        .filter(|m| m.rcpts.iter().any(|r| r.contains(rcpt)))
        .collect()
}

/// TLS-RPT results recorded so far: (domain, policy type, result type or "ok").
fn recorded(t: &TestEnv) -> Vec<(String, String, String)> {
    let dir = t.env.config.paths.state_dir.join("tls-rpt");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let result = v["detail"]["result_type"].as_str().unwrap_or("ok");
                out.push((
                    v["domain"].as_str().unwrap_or("").to_owned(),
                    v["policy"]["kind"].as_str().unwrap_or("").to_owned(),
                    result.to_owned(),
                ));
            }
        }
    }
    out
}

fn has(rec: &[(String, String, String)], domain: &str, policy: &str, result: &str) -> bool {
    rec.iter()
        .any(|(d, p, r)| d == domain && p == policy && r == result)
}

fn log_line<'a>(log: &'a str, rcpt: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(&format!("to=<{rcpt}>")))
        .unwrap_or_else(|| panic!("no delivery line for {rcpt}:\n{log}"))
}

#[test]
fn matching_tlsa_delivers_over_verified_tls() {
    let Some(s) = setup() else { return };
    let t = &s.t;
    let _qr = t.start();
    let ee = t.enqueue(Some("alice@example.test"), &["x@good.test"], "dane-ee");
    let ta = t.enqueue(Some("alice@example.test"), &["x@ta.test"], "dane-ta");
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &ee) && gone(t, &ta)),
        "log:\n{}",
        t.log()
    );
    let (to_ee, to_ta) = (got(&s.ee, "x@good.test"), got(&s.ta, "x@ta.test"));
    assert!(to_ee.len() == 1 && to_ee[0].tls, "{to_ee:?}");
    assert!(to_ta.len() == 1 && to_ta[0].tls, "{to_ta:?}");
    let log = t.log();
    let line = log_line(&log, "x@good.test");
    assert!(line.contains("status=sent"), "{line}");
    assert!(
        line.contains("tls=(dane verified by TLSA 3 1 1 leaf, TLSv1.3"),
        "{line}"
    );
    let line = log_line(&log, "x@ta.test");
    assert!(
        line.contains("tls=(dane verified by TLSA 2 1 1 trust anchor"),
        "{line}"
    );
    let rec = recorded(t);
    assert!(has(&rec, "good.test", "tlsa", "ok"), "{rec:?}");
    assert!(has(&rec, "ta.test", "tlsa", "ok"), "{rec:?}");
}

#[test]
fn mismatch_or_missing_starttls_defers_and_never_sends_in_clear() {
    let Some(s) = setup() else { return };
    let t = &s.t;
    let _qr = t.start();
    let bad = t.enqueue(Some("alice@example.test"), &["x@bad.test"], "wrong key");
    let notls = t.enqueue(Some("alice@example.test"), &["x@notls.test"], "no tls");
    assert!(
        wait_until(Duration::from_secs(30), || deferred(t, &bad)
            && deferred(t, &notls)),
        "log:\n{}",
        t.log()
    );
    assert!(got(&s.ee, "x@bad.test").is_empty());
    // The plaintext-only MX was greeted, never given the message.
    assert!(got(&s.plain, "x@notls.test").is_empty());
    let log = t.log();
    let line = log_line(&log, "x@bad.test");
    assert!(line.contains("status=deferred"), "{line}");
    assert!(line.contains("DANE"), "{line}");
    let line = log_line(&log, "x@notls.test");
    assert!(line.contains("status=deferred"), "{line}");
    assert!(line.contains("does not offer STARTTLS"), "{line}");
    let rec = recorded(t);
    assert!(has(&rec, "bad.test", "tlsa", "tlsa-invalid"), "{rec:?}");
    assert!(
        has(&rec, "notls.test", "tlsa", "starttls-not-supported"),
        "{rec:?}"
    );
}

#[test]
fn no_tlsa_falls_back_to_opportunistic_and_bogus_or_dane_only_waits() {
    let Some(s) = setup() else { return };
    let t = &s.t;
    let _qr = t.start();
    let notlsa = t.enqueue(Some("alice@example.test"), &["x@notlsa.test"], "signed");
    let unsigned = t.enqueue(Some("alice@example.test"), &["x@unsigned.test"], "unsigned");
    let bogus = t.enqueue(Some("alice@example.test"), &["x@bogus.test"], "bogus");
    let strict = t.enqueue(Some("alice@example.test"), &["x@strict.test"], "dane-only");
    assert!(
        wait_until(Duration::from_secs(30), || gone(t, &notlsa)
            && gone(t, &unsigned)
            && deferred(t, &bogus)
            && deferred(t, &strict)),
        "log:\n{}",
        t.log()
    );
    assert_eq!(got(&s.plain, "x@notlsa.test").len(), 1);
    assert_eq!(got(&s.plain, "x@unsigned.test").len(), 1);
    assert!(got(&s.plain, "x@bogus.test").is_empty());
    assert!(got(&s.plain, "x@strict.test").is_empty());
    let log = t.log();
    assert!(
        log_line(&log, "x@notlsa.test").contains("tls=(dane plaintext)"),
        "{log}"
    );
    let line = log_line(&log, "x@bogus.test");
    assert!(line.contains("do not validate (DNSSEC)"), "{line}");
    let line = log_line(&log, "x@strict.test");
    assert!(line.contains("dane-only"), "{line}");
    let rec = recorded(t);
    assert!(has(&rec, "bogus.test", "tlsa", "dnssec-invalid"), "{rec:?}");
    assert!(has(&rec, "strict.test", "tlsa", "dane-required"), "{rec:?}");
    // Plaintext sessions are no TLS results.
    assert!(!rec.iter().any(|(d, ..)| d == "notlsa.test"), "{rec:?}");
}
