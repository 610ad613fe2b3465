//! `mailctl check` on transport security towards us: a zone with an MTA-STS record whose
//! policy a loopback HTTPS server serves (its certificate trusted through
//! `queue.tls_trust_anchors`), a TLSA record for the test certificate and a TLS-RPT record,
//! then each broken variant, and a hostile zone. TLSA answers from a DNSSEC-signed root
//! served by Knot DNS (trusted through `queue.dnssec_trust_anchors`) are validated: secure,
//! unsigned and bogus zones are told apart.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::*;
use ferrymail_dev::dns::{DnsServer, Rdata, Zone};
use ferrymail_dev::signed_zone::{self, ChildZone, SignedDns};
use ferrymail_dev::DevEnv;
use ferrymail_testkit::free_port;
use ferrymail_testkit::https::{policy_server, PolicyServer};

const POLICY_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const GOOD_POLICY: &str = "version: STSv1\nmode: enforce\nmx: mail.a.test\nmax_age: 1209600\n";
const TLSRPT: &str = "v=TLSRPTv1; rua=mailto:tlsrpt@a.test";

/// The SHA-256 of the certificate's SubjectPublicKeyInfo, computed by openssl rather than by
/// the code under test; `None` without openssl.
fn spki_sha256(cert: &Path) -> Option<Vec<u8>> {
    let hex = ferrymail_testkit::tls::openssl_spki_sha256(cert)?;
    (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn transport_zone(digest: &[u8]) -> Zone {
    let mut z = good_zone();
    z.txt("_mta-sts.a.test", "v=STSv1; id=20260101000000")
        .a("mta-sts.a.test", POLICY_IP)
        .tlsa("_25._tcp.mail.a.test", 3, 1, 1, digest)
        .txt("_smtp._tls.a.test", TLSRPT);
    z
}

/// A policy server for `mta-sts.a.test` whose body the test changes (`None`: 404), and the
/// path of the certificate it serves.
fn serve(dir: &Path, stem: &str, body: Arc<Mutex<Option<String>>>) -> (PolicyServer, String) {
    let (c, k) = ferrymail_net::tls::self_signed(&["mta-sts.a.test".to_owned()]).unwrap();
    let (cp, kp) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&cp, c).unwrap();
    std::fs::write(&kp, k).unwrap();
    let tls = ferrymail_net::tls::load_server_config(&cp, &kp).unwrap();
    let port = free_port(POLICY_IP);
    let server = policy_server(SocketAddr::new(POLICY_IP, port), tls, move |host| {
        let body = body.lock().unwrap_or_else(|p| p.into_inner());
        (host == "mta-sts.a.test").then(|| body.clone()).flatten()
    });
    (server, cp.display().to_string())
}

struct Fixture {
    _dir: tempfile::TempDir,
    env: DevEnv,
    dns: DnsServer,
    digest: Vec<u8>,
    body: Arc<Mutex<Option<String>>>,
    trusted: PolicyServer,
    untrusted: PolicyServer,
    _untrusted_body: Arc<Mutex<Option<String>>>,
}

fn fixture() -> Option<Fixture> {
    let (dir, mut env) = setup();
    let Some(digest) = spki_sha256(&env.config.tls.cert) else {
        println!("SKIP: openssl cannot compute the certificate's key digest");
        return None;
    };
    let certs = dir.path().join("policy-certs");
    std::fs::create_dir_all(&certs).unwrap();
    let body = Arc::new(Mutex::new(Some(GOOD_POLICY.to_owned())));
    let (trusted, anchor) = serve(&certs, "trusted", body.clone());
    let other = Arc::new(Mutex::new(Some(GOOD_POLICY.to_owned())));
    let (untrusted, _) = serve(&certs, "untrusted", other.clone());
    env.config.queue.tls_trust_anchors = vec![anchor.into()];
    env.save_config().unwrap();
    let dns = DnsServer::start(transport_zone(&digest)).unwrap();
    Some(Fixture {
        _dir: dir,
        env,
        dns,
        digest,
        body,
        trusted,
        untrusted,
        _untrusted_body: other,
    })
}

impl Fixture {
    fn run(&self, server: &PolicyServer) -> (i32, Vec<serde_json::Value>) {
        let port = server.addr.port().to_string();
        let run = run_check(
            &self.env,
            &self.dns,
            &["--no-probe", "--mta-sts-port", &port],
        );
        let f = assert_report(&run, "transport");
        (run.code.unwrap_or(-1), f)
    }

    fn check(&self) -> (i32, Vec<serde_json::Value>) {
        self.run(&self.trusted)
    }

    fn policy(&self, body: Option<&str>) {
        *self.body.lock().unwrap() = body.map(str::to_owned);
    }

    fn zone(&self, edit: impl FnOnce(&mut Zone)) {
        let digest = self.digest.clone();
        self.dns.update(|z| {
            *z = transport_zone(&digest);
            edit(z);
        });
    }
}

fn text(f: &serde_json::Value, key: &str) -> String {
    f[key].as_str().unwrap_or_default().to_owned()
}

/// The one non-ok finding of `check`, which must have `level`.
fn only_problem<'a>(f: &'a [serde_json::Value], check: &str, level: &str) -> &'a serde_json::Value {
    let p = problems(f, check);
    assert_eq!(p.len(), 1, "{check}: {f:#?}");
    assert_eq!(p[0]["level"], level, "{:#?}", p[0]);
    p[0]
}

fn publish_records(f: &[serde_json::Value]) -> Vec<String> {
    let block = finding(f, "publish");
    block["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn complete_transport_security_passes() {
    let Some(fx) = fixture() else { return };
    let (code, f) = fx.check();
    let bad: Vec<_> = f.iter().filter(|x| x["level"] != "ok").collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(code, 0);
    for c in ["mta-sts", "dane", "tlsrpt"] {
        assert!(f.iter().any(|x| x["check"] == c), "no {c} finding: {f:#?}");
    }
    let sts = text(finding(&f, "mta-sts"), "what");
    assert!(
        sts.contains("mode enforce") && sts.contains("mx mail.a.test"),
        "{sts}"
    );
    let dane = text(finding(&f, "dane"), "what");
    assert!(dane.contains(&hex(&fx.digest)), "{dane}");
    // The loopback zone is not signed and its root does not validate.
    assert!(dane.contains("DNSSEC not verified"), "{dane}");
    assert!(!f.iter().any(|x| x["check"] == "publish"));
}

#[test]
fn broken_mta_sts_is_reported() {
    let Some(fx) = fixture() else { return };

    fx.policy(Some(
        "version: STSv1\nmode: enforce\nmx: other.a.test\nmax_age: 1209600\n",
    ));
    let (code, f) = fx.check();
    assert_eq!(code, 1);
    let p = only_problem(&f, "mta-sts", "error");
    assert!(
        text(p, "what").contains("MX host mail.a.test is not matched"),
        "{p:#?}"
    );
    assert!(text(p, "fix").contains("mx: mail.a.test"));

    fx.policy(None);
    let (code, f) = fx.check();
    assert_eq!(code, 1);
    let p = only_problem(&f, "mta-sts", "error");
    assert!(text(p, "what").contains("HTTP status 404"), "{p:#?}");
    assert!(publish_records(&f).contains(&"    mx: mail.a.test".to_owned()));

    // Served with a certificate no configured authority signed.
    fx.policy(Some(GOOD_POLICY));
    let (_, f) = fx.run(&fx.untrusted);
    let p = only_problem(&f, "mta-sts", "error");
    assert!(text(p, "what").contains("TLS"), "{p:#?}");

    fx.policy(Some(
        "version: STSv1\nmode: testing\nmx: mail.a.test\nmax_age: 3600\n",
    ));
    let (code, f) = fx.check();
    assert_eq!(code, 0, "{f:#?}");
    let levels: Vec<String> = problems(&f, "mta-sts")
        .iter()
        .map(|p| text(p, "level"))
        .collect();
    assert_eq!(levels, ["notice", "warning"], "{f:#?}");

    // No MTA-STS at all: a notice, and the records to publish.
    fx.policy(Some(GOOD_POLICY));
    fx.zone(|z| {
        z.remove("_mta-sts.a.test");
    });
    let (code, f) = fx.check();
    assert_eq!(code, 0);
    only_problem(&f, "mta-sts", "notice");
    let records = publish_records(&f);
    assert!(
        records[0].starts_with("_mta-sts.a.test. IN TXT \"v=STSv1; id=20"),
        "{records:#?}"
    );
    for line in [
        "    version: STSv1",
        "    mode: enforce",
        "    mx: mail.a.test",
        "    max_age: 1209600",
    ] {
        assert!(records.iter().any(|r| r == line), "{line}: {records:#?}");
    }
    assert!(records
        .iter()
        .any(|r| r.contains("https://mta-sts.a.test/.well-known/mta-sts.txt")));
}

#[test]
fn broken_tlsa_and_tls_rpt_are_reported() {
    let Some(fx) = fixture() else { return };
    let wanted = format!("_25._tcp.mail.a.test. IN TLSA 3 1 1 {}", hex(&fx.digest));

    fx.zone(|z| {
        z.remove("_25._tcp.mail.a.test")
            .tlsa("_25._tcp.mail.a.test", 3, 1, 1, &[0xab; 32]);
    });
    let (code, f) = fx.check();
    assert_eq!(code, 1);
    let p = only_problem(&f, "dane", "error");
    assert!(
        text(p, "why").contains("will defer all mail to you"),
        "{p:#?}"
    );
    assert!(text(p, "fix").contains(&wanted), "{p:#?}");

    // PKIX usages only: SMTP senders ignore them, even when the digest is right.
    let digest = fx.digest.clone();
    fx.zone(|z| {
        z.remove("_25._tcp.mail.a.test")
            .tlsa("_25._tcp.mail.a.test", 1, 1, 1, &digest)
            .tlsa("_25._tcp.mail.a.test", 0, 0, 1, &digest);
    });
    let (code, f) = fx.check();
    assert_eq!(code, 0);
    let p = only_problem(&f, "dane", "warning");
    assert!(text(p, "what").contains("none usable for SMTP"), "{p:#?}");

    fx.zone(|z| {
        z.remove("_25._tcp.mail.a.test");
    });
    let (_, f) = fx.check();
    let p = only_problem(&f, "dane", "notice");
    assert!(text(p, "why").contains("DNSSEC"), "{p:#?}");
    assert!(publish_records(&f).contains(&wanted), "{f:#?}");

    fx.zone(|z| {
        z.remove("_smtp._tls.a.test");
    });
    let (code, f) = fx.check();
    assert_eq!(code, 0);
    let p = only_problem(&f, "tlsrpt", "notice");
    let record = "_smtp._tls.a.test. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@a.test\"";
    assert_eq!(text(p, "fix"), record);
    let records = publish_records(&f);
    assert!(records.contains(&record.to_owned()), "{records:#?}");
    assert!(records.contains(&wanted), "{records:#?}");

    fx.zone(|z| {
        z.remove("_smtp._tls.a.test")
            .txt("_smtp._tls.a.test", "v=TLSRPTv1; rua=ftp://x.a.test");
    });
    let (_, f) = fx.check();
    only_problem(&f, "tlsrpt", "warning");
}

#[test]
fn hostile_transport_records_yield_findings() {
    let Some(fx) = fixture() else { return };
    fx.zone(|z| {
        z.remove("_mta-sts.a.test")
            .remove("_smtp._tls.a.test")
            .remove("_25._tcp.mail.a.test");
        let huge: Vec<Vec<u8>> = (0..200).map(|i| vec![b'v' + (i % 3) as u8; 255]).collect();
        z.txt_raw("_mta-sts.a.test", huge.clone())
            .txt("_mta-sts.a.test", "v=STSv1; id=\u{1b}[2J")
            .txt_raw(
                "_smtp._tls.a.test",
                vec![b"v=TLSRPTv1;\xff\x00rua=".to_vec()],
            );
        for i in 0..300u32 {
            let data: Vec<u8> = i.to_be_bytes().repeat(8 + (i % 5) as usize);
            z.tlsa(
                "_25._tcp.mail.a.test",
                (i % 7) as u8,
                (i % 3) as u8,
                (i % 4) as u8,
                &data,
            );
        }
        z.add("_25._tcp.mail.a.test", Rdata::Tlsa(3, 1, 1, Vec::new()));
    });
    let (_, f) = fx.check();
    for c in ["mta-sts", "dane", "tlsrpt"] {
        assert!(!problems(&f, c).is_empty(), "{c}: {f:#?}");
    }

    // A policy host that answers with an endless body.
    fx.zone(|_| {});
    let endless = "version: STSv1\nmode: enforce\nmx: mail.a.test\n".repeat(5000);
    fx.policy(Some(&endless));
    let (_, f) = fx.check();
    let p = only_problem(&f, "mta-sts", "error");
    assert!(text(p, "what").contains("larger than"), "{p:#?}");
}

/// MX hosts at this host's address in zones of each kind: `s.test` signed with a matching
/// record, `w.test` signed with a wrong one, `n.test` signed without TLSA, `u.test` unsigned
/// with a matching record, `bogus.test` signed under a DS record that matches no key.
#[test]
fn tlsa_answers_are_validated_with_dnssec() {
    if let Some(why) = signed_zone::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let (dir, mut env) = setup();
    let Some(digest) = spki_sha256(&env.config.tls.cert) else {
        println!("SKIP: openssl cannot compute the certificate's key digest");
        return;
    };
    let good = format!("3 1 1 {}", hex(&digest));
    let domain = |d: &str, tlsa: Option<&str>| {
        let mut z = format!("{d}. 300 MX 10 mx.{d}.\nmx.{d}. 300 A {HOST_IP}\n");
        if let Some(t) = tlsa {
            z.push_str(&format!("_25._tcp.mx.{d}. 300 TLSA {t}\n"));
        }
        z
    };
    let root = format!(
        "mail.a.test. 300 A {HOST_IP}\n{}{}{}bogus.test. 300 DS 4242 13 2 {}\n",
        domain("s.test", Some(&good)),
        domain("w.test", Some(&format!("3 1 1 {}", "ab".repeat(32)))),
        domain("n.test", None),
        "ab".repeat(32)
    );
    let (unsigned, bogus) = (
        domain("u.test", Some(&good)),
        domain("bogus.test", Some(&good)),
    );
    let children = [
        ChildZone {
            name: "u.test",
            lines: &unsigned,
            signed: false,
        },
        ChildZone {
            name: "bogus.test",
            lines: &bogus,
            signed: true,
        },
    ];
    let dns = SignedDns::start(&dir.path().join("knot"), &root, &children).unwrap();
    env.config.queue.dnssec_trust_anchors = Some(dns.trust_anchor.clone());
    env.save_config().unwrap();
    let dane = |d: &str| -> Vec<serde_json::Value> {
        let run = run_check_at(&env, dns.addr, d, &["--no-probe"]);
        let f = findings(&run);
        f.into_iter().filter(|x| x["check"] == "dane").collect()
    };

    let f = dane("s.test");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["level"], "ok", "{f:#?}");
    assert!(text(&f[0], "what").contains("DNSSEC-secure"), "{f:#?}");

    let f = dane("w.test");
    assert_eq!(only_problem(&f, "dane", "error")["level"], "error");

    let f = dane("n.test");
    assert_eq!(only_problem(&f, "dane", "notice")["level"], "notice");

    let f = dane("u.test");
    let p = only_problem(&f, "dane", "warning");
    assert!(text(p, "what").contains("not DNSSEC-signed"), "{p:#?}");

    let f = dane("bogus.test");
    let p = only_problem(&f, "dane", "error");
    assert!(
        text(p, "what").contains("DNSSEC validation fails"),
        "{p:#?}"
    );
}
