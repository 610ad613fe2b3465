//! Signing and verification against a loopback DNS server (`ferrymail_dev::dns`): SPF results,
//! DKIM signatures made by our signer and tampered with, DMARC alignment and policies, the
//! Authentication-Results field, forged-field removal, key generation and records.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_mailauth::{
    generate, strip_forged_results, Algorithm, AuthResults, Policy, Signer, SigningKeyPair,
    Verdict, Verifier, VerifyOptions,
};

const CLIENT: &str = "192.0.2.1";
const OTHER: &str = "198.51.100.7";
const ID: &str = "mx.ours.test";

fn opts(enforce: bool) -> VerifyOptions {
    VerifyOptions {
        authserv_id: ID.into(),
        dmarc_enforce: enforce,
        arc: true,
        dns_timeout: Duration::from_millis(500),
        verify_timeout: Duration::from_secs(20),
        dns_cache_size: 256,
    }
}

fn verifier(addr: SocketAddr, enforce: bool) -> Verifier {
    Verifier::new(&[addr], opts(enforce)).unwrap()
}

fn headers() -> Vec<String> {
    ferrymail_config::Dkim::default().headers
}

fn oversign() -> Vec<String> {
    ferrymail_config::Dkim::default().oversign
}

fn message(from_domain: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@{from_domain}>\r\nTo: bob@ours.test\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@{from_domain}>\r\n\r\n\
         Hello\r\n\r\nworld\r\n"
    )
    .into_bytes()
}

fn signed(signer: &Signer, msg: &[u8], domain: &str) -> Vec<u8> {
    let sig = signer.sign(msg, domain).unwrap();
    assert!(sig.starts_with("DKIM-Signature: "), "{sig}");
    assert!(sig.ends_with("\r\n"));
    [sig.as_bytes(), msg].concat()
}

/// A signer for `domain` with selector `sel` whose record is published in `zone`.
fn keyed(zone: &mut Zone, domain: &str, sel: &str, alg: Algorithm) -> Signer {
    let pair = generate(alg).unwrap().pair;
    let rec = pair.record(domain, sel);
    zone.txt(&rec.name, &rec.value);
    Signer::with_key(domain, sel, pair, &headers(), &oversign())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn check(v: &Verifier, msg: &[u8], from_ip: &str, mail_from: &str) -> AuthResults {
    v.verify(msg, ip(from_ip), "client.example", mail_from)
        .await
}

#[tokio::test]
async fn spf_results() {
    let mut z = Zone::new();
    z.txt("pass.test", "v=spf1 ip4:192.0.2.0/24 -all")
        .txt("fail.test", "v=spf1 -all")
        .txt("soft.test", "v=spf1 ~all")
        .txt("neutral.test", "v=spf1 ?all")
        .a("none.test", ip("203.0.113.5"))
        .servfail("temp.test")
        .txt("perm.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("perm.test", "v=spf1 -all")
        .txt("redirect.test", "v=spf1 redirect=missing.test")
        .txt("badinclude.test", "v=spf1 include:missing.test -all")
        .txt("include.test", "v=spf1 include:pass.test -all")
        .txt("helo.test", "v=spf1 ip4:192.0.2.1 -all");
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);
    for (domain, from_ip, want) in [
        ("pass.test", CLIENT, Verdict::Pass),
        ("pass.test", OTHER, Verdict::Fail),
        ("include.test", CLIENT, Verdict::Pass),
        ("fail.test", CLIENT, Verdict::Fail),
        ("soft.test", CLIENT, Verdict::SoftFail),
        ("neutral.test", CLIENT, Verdict::Neutral),
        ("none.test", CLIENT, Verdict::None),
        ("temp.test", CLIENT, Verdict::TempError),
        ("perm.test", CLIENT, Verdict::PermError),
        ("redirect.test", CLIENT, Verdict::PermError),
        ("badinclude.test", CLIENT, Verdict::PermError),
    ] {
        let mail_from = format!("bounce@{domain}");
        let r = check(&v, &message(domain, "spf"), from_ip, &mail_from).await;
        assert_eq!(r.spf, want, "{domain} from {from_ip}: {}", r.header);
        assert_eq!(r.spf_domain, domain);
        assert!(
            r.header.contains(&format!("spf={want} ")),
            "{domain}: {}",
            r.header
        );
        assert!(r.header.contains(&format!("smtp.mailfrom={mail_from}")));
    }
    // The null sender is checked on the HELO name.
    let r = v
        .verify(&message("helo.test", "x"), ip(CLIENT), "helo.test", "")
        .await;
    assert_eq!((r.spf, r.spf_domain.as_str()), (Verdict::Pass, "helo.test"));
    assert!(r.header.contains("smtp.helo=helo.test"), "{}", r.header);
    let r = v
        .verify(&message("helo.test", "x"), ip(OTHER), "helo.test", "")
        .await;
    assert_eq!(r.spf, Verdict::Fail);
}

#[tokio::test]
async fn dkim_signatures_valid_broken_missing() {
    let mut z = Zone::new();
    let rsa = keyed(&mut z, "a.test", "rsa1", Algorithm::Rsa);
    let ed = keyed(&mut z, "b.test", "ed1", Algorithm::Ed25519);
    // A signer whose key is not published, and one whose selector has a different key.
    let unpublished = Signer::with_key(
        "c.test",
        "gone",
        generate(Algorithm::Ed25519).unwrap().pair,
        &headers(),
        &oversign(),
    );
    let other_key = generate(Algorithm::Ed25519).unwrap().pair;
    z.txt(
        "rot._domainkey.d.test",
        &generate(Algorithm::Ed25519)
            .unwrap()
            .pair
            .record("d.test", "rot")
            .value,
    );
    let rotated = Signer::with_key("d.test", "rot", other_key, &headers(), &oversign());
    z.servfail("tmp._domainkey.e.test");
    let tmp = Signer::with_key(
        "e.test",
        "tmp",
        generate(Algorithm::Ed25519).unwrap().pair,
        &headers(),
        &oversign(),
    );
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);

    for (signer, domain, sel) in [(&rsa, "a.test", "rsa1"), (&ed, "b.test", "ed1")] {
        let m = message(domain, "signed");
        let good = signed(signer, &m, domain);
        let r = check(&v, &good, OTHER, "").await;
        assert_eq!(r.dkim.len(), 1, "{}", r.header);
        assert_eq!(r.dkim[0].result, Verdict::Pass, "{}", r.header);
        assert_eq!(
            (r.dkim[0].domain.as_str(), r.dkim[0].selector.as_str()),
            (domain, sel)
        );
        assert!(
            r.header
                .contains(&format!("dkim=pass header.d={domain} header.s={sel}")),
            "{}",
            r.header
        );
        // LF line ends canonicalise the same (relaxed/relaxed).
        let lf: Vec<u8> = String::from_utf8(good.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        assert_eq!(
            check(&v, &lf, OTHER, "").await.dkim[0].result,
            Verdict::Pass
        );

        // Body changed, Subject changed, a second From added (From is oversigned).
        let body = String::from_utf8(good.clone())
            .unwrap()
            .replace("world", "w0rld");
        let subject = String::from_utf8(good.clone())
            .unwrap()
            .replace("Subject: signed", "Subject: changed");
        // From is oversigned, so a second From (added anywhere) breaks the signature.
        let extra_from = format!(
            "From: mallory@evil.test\r\n{}",
            String::from_utf8(good.clone()).unwrap()
        );
        for tampered in [body, subject, extra_from] {
            let r = check(&v, tampered.as_bytes(), OTHER, "").await;
            assert_eq!(r.dkim.len(), 1);
            assert_eq!(r.dkim[0].result, Verdict::Fail, "{tampered}\n{}", r.header);
            assert!(r.header.contains("dkim=fail"), "{}", r.header);
        }
        // Whitespace changes survive relaxed canonicalisation.
        let spaced = String::from_utf8(good.clone())
            .unwrap()
            .replace("Subject: signed", "Subject:   signed ");
        assert_eq!(
            check(&v, spaced.as_bytes(), OTHER, "").await.dkim[0].result,
            Verdict::Pass
        );
    }

    // Unsigned.
    let r = check(&v, &message("a.test", "plain"), OTHER, "").await;
    assert!(r.dkim.is_empty());
    assert!(r.header.contains("dkim=none"), "{}", r.header);
    // Garbled signature value.
    let good = String::from_utf8(signed(&rsa, &message("a.test", "x"), "a.test")).unwrap();
    let b_at = good.find(" b=").unwrap() + 3;
    let mut garbled = good.clone();
    garbled.replace_range(b_at..b_at + 8, "AAAAAAAA");
    let r = check(&v, garbled.as_bytes(), OTHER, "").await;
    assert_ne!(r.dkim[0].result, Verdict::Pass, "{}", r.header);
    // Key not published, key replaced in DNS, DNS failure.
    let r = check(
        &v,
        &signed(&unpublished, &message("c.test", "x"), "c.test"),
        OTHER,
        "",
    )
    .await;
    assert_eq!(r.dkim[0].result, Verdict::PermError, "{}", r.header);
    let r = check(
        &v,
        &signed(&rotated, &message("d.test", "x"), "d.test"),
        OTHER,
        "",
    )
    .await;
    assert_eq!(r.dkim[0].result, Verdict::Fail, "{}", r.header);
    let r = check(
        &v,
        &signed(&tmp, &message("e.test", "x"), "e.test"),
        OTHER,
        "",
    )
    .await;
    assert_eq!(r.dkim[0].result, Verdict::TempError, "{}", r.header);
}

#[tokio::test]
async fn dmarc_alignment_and_policies() {
    let mut z = Zone::new();
    // Relaxed (default) domain with a signing subdomain; strict domain; SPF-only domains.
    z.txt("_dmarc.relax.test", "v=DMARC1; p=reject");
    let sub_signer = keyed(&mut z, "mail.relax.test", "s", Algorithm::Ed25519);
    z.txt("_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s");
    let strict_sub = keyed(&mut z, "mail.strict.test", "s", Algorithm::Ed25519);
    let strict_own = keyed(&mut z, "strict.test", "s", Algorithm::Ed25519);
    z.txt("bounce.relax.test", "v=spf1 ip4:192.0.2.1 -all");
    z.txt("bounce.strict.test", "v=spf1 ip4:192.0.2.1 -all");
    z.txt("strict.test", "v=spf1 ip4:192.0.2.1 -all");
    for (d, p) in [
        ("none.test", "none"),
        ("quar.test", "quarantine"),
        ("rej.test", "reject"),
    ] {
        z.txt(&format!("_dmarc.{d}"), &format!("v=DMARC1; p={p}"));
        z.txt(d, "v=spf1 ip4:192.0.2.1 -all");
    }
    z.servfail("_dmarc.temp.test");
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);
    let tag_only = verifier(dns.addr, false);

    // Relaxed: d=mail.relax.test aligns with From relax.test; so does SPF for bounce.relax.test.
    let m = signed(&sub_signer, &message("relax.test", "x"), "mail.relax.test");
    let r = check(&v, &m, OTHER, "").await;
    assert_eq!(
        (r.dmarc, r.disposition, r.reject),
        (Verdict::Pass, Policy::None, false)
    );
    assert!(
        r.header
            .contains("dmarc=pass header.from=relax.test policy.dmarc=reject"),
        "{}",
        r.header
    );
    let r = check(
        &v,
        &message("relax.test", "x"),
        CLIENT,
        "b@bounce.relax.test",
    )
    .await;
    assert_eq!(
        (r.spf, r.dmarc),
        (Verdict::Pass, Verdict::Pass),
        "{}",
        r.header
    );

    // Strict: the subdomain signature and the subdomain SPF pass do not align...
    let m = signed(
        &strict_sub,
        &message("strict.test", "x"),
        "mail.strict.test",
    );
    let r = check(&v, &m, CLIENT, "b@bounce.strict.test").await;
    assert_eq!((r.spf, r.dkim[0].result), (Verdict::Pass, Verdict::Pass));
    assert_eq!(r.dmarc, Verdict::Fail, "{}", r.header);
    assert_eq!(
        (r.dmarc_policy, r.disposition, r.reject),
        (Policy::Reject, Policy::Reject, true)
    );
    assert!(r.reject_text().unwrap().contains("strict.test"));
    // ...the exact domain does, by DKIM or by SPF.
    let m = signed(&strict_own, &message("strict.test", "x"), "strict.test");
    assert_eq!(check(&v, &m, OTHER, "").await.dmarc, Verdict::Pass);
    let r = check(&v, &message("strict.test", "x"), CLIENT, "b@strict.test").await;
    assert_eq!(r.dmarc, Verdict::Pass, "{}", r.header);

    // Each policy on failure (unsigned, SPF fails from OTHER).
    for (d, want) in [
        ("none.test", Policy::None),
        ("quar.test", Policy::Quarantine),
        ("rej.test", Policy::Reject),
    ] {
        let r = check(&v, &message(d, "x"), OTHER, &format!("b@{d}")).await;
        assert_eq!(
            (r.spf, r.dmarc),
            (Verdict::Fail, Verdict::Fail),
            "{}",
            r.header
        );
        assert_eq!(r.dmarc_policy, want);
        assert_eq!(r.disposition, want);
        assert_eq!(r.reject, want == Policy::Reject);
        assert!(r.header.contains("dmarc=fail"), "{}", r.header);
        // Enforcement off: same verdict, never a rejection.
        let t = check(&tag_only, &message(d, "x"), OTHER, &format!("b@{d}")).await;
        assert_eq!((t.disposition, t.reject), (want, false));
        // And the same domains pass from the permitted address.
        let ok = check(&v, &message(d, "x"), CLIENT, &format!("b@{d}")).await;
        assert_eq!((ok.dmarc, ok.disposition), (Verdict::Pass, Policy::None));
    }

    // No record: none. DNS failure: temperror, never a rejection.
    let r = check(&v, &message("nodmarc.test", "x"), OTHER, "").await;
    assert_eq!(r.dmarc, Verdict::None);
    assert!(r.header.contains("dmarc=none"), "{}", r.header);
    let r = check(&v, &message("temp.test", "x"), OTHER, "").await;
    assert_eq!(
        (r.dmarc, r.reject),
        (Verdict::TempError, false),
        "{}",
        r.header
    );
}

#[tokio::test]
async fn authentication_results_format_and_forged_removal() {
    let mut z = Zone::new();
    let s = keyed(&mut z, "a.test", "sel", Algorithm::Rsa);
    z.txt("a.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.a.test", "v=DMARC1; p=quarantine");
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);
    assert_eq!(v.authserv_id(), ID);

    let forged = format!(
        "Authentication-Results: {ID}; dkim=pass header.d=bank.test\r\n\
         Authentication-Results: elsewhere.test; spf=pass\r\n{}",
        String::from_utf8(message("a.test", "hi")).unwrap()
    );
    let signed_forged = signed(&s, forged.as_bytes(), "a.test");
    let (clean, removed) = strip_forged_results(&signed_forged, ID);
    assert_eq!(removed, 1);
    let clean_text = String::from_utf8(clean.to_vec()).unwrap();
    assert!(!clean_text.contains("bank.test"));
    assert!(clean_text.contains("Authentication-Results: elsewhere.test; spf=pass"));

    let r = v
        .verify(&clean, ip(CLIENT), "client.example", "alice@a.test")
        .await;
    let h = &r.header;
    assert!(
        h.starts_with(&format!("Authentication-Results: {ID};\r\n\tspf=pass ")),
        "{h}"
    );
    assert!(h.ends_with("\r\n") && !h.ends_with("\r\n\r\n"), "{h}");
    let lines: Vec<&str> = h.trim_end_matches("\r\n").split("\r\n").collect();
    assert!(lines[1..].iter().all(|l| l.starts_with('\t')), "{h}");
    // One method per line, in order spf, dkim, dmarc, separated by ";".
    let methods: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.trim_start().split('=').next().unwrap())
        .collect();
    assert_eq!(methods, ["spf", "dkim", "dmarc"], "{h}");
    assert!(
        lines[..lines.len() - 1].iter().all(|l| l.ends_with(';')),
        "{h}"
    );
    assert!(h.contains("smtp.mailfrom=alice@a.test"), "{h}");
    assert!(
        h.contains("dkim=pass header.d=a.test header.s=sel header.b="),
        "{h}"
    );
    assert!(
        h.contains("dmarc=pass header.from=a.test policy.dmarc=quarantine"),
        "{h}"
    );
    // Our header goes in front; re-stripping it on a later hop by the same id removes it.
    let delivered = [r.header.as_bytes(), &clean].concat();
    assert_eq!(strip_forged_results(&delivered, ID).1, 1);
}

#[tokio::test]
async fn keygen_files_and_record_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut z = Zone::new();
    let mut keys = Vec::new();
    for (domain, alg) in [
        ("rsa.test", Algorithm::Rsa),
        ("ed.test", Algorithm::Ed25519),
    ] {
        let g = generate(alg).unwrap();
        let path = dir.path().join(format!("{domain}.sel.key"));
        std::fs::write(&path, &g.pem).unwrap();
        let loaded = SigningKeyPair::load(&path).unwrap();
        assert_eq!(loaded.algorithm, alg);
        let rec = loaded.record(domain, "sel");
        assert_eq!(rec, g.pair.record(domain, "sel"));
        assert!(rec.value.starts_with(&format!("v=DKIM1; k={alg}; p=")));
        z.txt(&rec.name, &rec.value);
        keys.push((domain.to_string(), "sel".to_string(), path));
    }
    let signer = Signer::new(&keys, &headers(), &oversign()).unwrap();
    assert_eq!(signer.domains(), ["ed.test", "rsa.test"]);
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);
    for (domain, _, _) in &keys {
        let (sel, rec) = signer.record(domain).unwrap();
        assert_eq!(sel, "sel");
        SigningKeyPair::load(&dir.path().join(format!("{domain}.sel.key")))
            .unwrap()
            .check_record(&rec.value)
            .unwrap();
        let m = message(domain, "round trip");
        let sig = signer.sign_from(&m).unwrap().unwrap();
        let r = check(&v, &[sig.as_bytes(), &m].concat(), OTHER, "").await;
        assert_eq!(r.dkim[0].result, Verdict::Pass, "{}", r.header);
    }
    // No key for the From domain: unsigned, and an explicit request names the domain.
    assert!(signer
        .sign_from(&message("other.test", "x"))
        .unwrap()
        .is_none());
    let err = signer
        .sign(&message("a.test", "x"), "Other.Test")
        .unwrap_err();
    assert!(err.to_string().contains("other.test"));
    // A missing key file is an error naming it.
    let missing = [(
        "x.test".to_string(),
        "s".to_string(),
        dir.path().join("nope.key"),
    )];
    let err = Signer::new(&missing, &headers(), &oversign()).unwrap_err();
    assert!(err.to_string().contains("nope.key"), "{err}");
}

#[tokio::test]
async fn silent_dns_gives_temperror_not_a_hang() {
    // A UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut o = opts(true);
    o.dns_timeout = Duration::from_millis(200);
    o.verify_timeout = Duration::from_secs(3);
    let v = Verifier::new(&[silent.local_addr().unwrap()], o).unwrap();
    let r = check(&v, &message("a.test", "x"), CLIENT, "b@a.test").await;
    assert_eq!(r.spf, Verdict::TempError, "{}", r.header);
    assert_ne!(r.dmarc, Verdict::Pass);
    assert!(!r.reject);
    assert!(r.header.contains("spf=temperror"), "{}", r.header);
}

#[tokio::test]
async fn answers_are_cached_between_messages() {
    let mut z = Zone::new();
    let s = keyed(&mut z, "a.test", "sel", Algorithm::Ed25519);
    z.txt("a.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.a.test", "v=DMARC1; p=reject");
    z.negative_caching(60);
    let dns = DnsServer::start(z).unwrap();
    let v = verifier(dns.addr, true);
    let m = signed(&s, &message("a.test", "x"), "a.test");
    let first = check(&v, &m, CLIENT, "b@a.test").await;
    assert_eq!(
        (first.spf, first.dkim[0].result, first.dmarc),
        (Verdict::Pass, Verdict::Pass, Verdict::Pass),
        "{}",
        first.header
    );
    // With the DNS server gone, the same questions are answered from the cache.
    drop(dns);
    let again = check(&v, &m, CLIENT, "b@a.test").await;
    assert_eq!(again.header, first.header);
}
