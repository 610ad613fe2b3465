//! Signing and verification cost, in messages per second on one core: DKIM signing with
//! RSA-2048 and Ed25519, and a full inbound verification (SPF + DKIM + DMARC) against a
//! loopback DNS server whose answers the resolver has cached (so the figure is the CPU cost,
//! not DNS latency). Run with `cargo bench -p ferrymail-mailauth`.

use std::time::{Duration, Instant};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_mailauth::{generate, Algorithm, Signer, Verdict, Verifier, VerifyOptions};

/// Runs `f` until `min_time` has passed or `max_iter` iterations, returns iterations/second.
fn rate(mut f: impl FnMut(), min_time: Duration, max_iter: u32) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut n = 0u32;
    while n < max_iter && (n < 10 || start.elapsed() < min_time) {
        f();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn message() -> Vec<u8> {
    let mut m = String::from(
        "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: benchmark\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <b@a.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    // About 4 KB of body, a typical text message.
    for i in 0..60 {
        m.push_str(&format!(
            "Line {i} of the message body, some ordinary text here.\r\n"
        ));
    }
    m.into_bytes()
}

fn main() {
    let cfg = ferrymail_config::Dkim::default();
    let msg = message();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut zone = Zone::new();
    zone.txt("a.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.a.test", "v=DMARC1; p=reject");
    let mut signers = Vec::new();
    for (alg, sel) in [(Algorithm::Rsa, "rsa"), (Algorithm::Ed25519, "ed")] {
        let pair = generate(alg).unwrap().pair;
        let rec = pair.record("a.test", sel);
        zone.txt(&rec.name, &rec.value);
        signers.push((
            alg,
            Signer::with_key("a.test", sel, pair, &cfg.headers, &cfg.oversign),
        ));
    }
    let dns = DnsServer::start(zone).unwrap();
    let verifier = Verifier::new(
        &[dns.addr],
        VerifyOptions {
            authserv_id: "mx.b.test".into(),
            dmarc_enforce: true,
            arc: true,
            dns_timeout: Duration::from_secs(2),
            verify_timeout: Duration::from_secs(10),
            dns_cache_size: 1024,
        },
    )
    .unwrap();
    let ip = "192.0.2.1".parse().unwrap();
    println!("message size: {} bytes", msg.len());
    for (alg, signer) in &signers {
        let sign = rate(
            || {
                std::hint::black_box(signer.sign(&msg, "a.test").unwrap());
            },
            Duration::from_secs(2),
            20_000,
        );
        let signed = [signer.sign(&msg, "a.test").unwrap().as_bytes(), &msg].concat();
        let r = rt.block_on(verifier.verify(&signed, ip, "client.a.test", "alice@a.test"));
        assert_eq!(
            (r.spf, r.dkim[0].result, r.dmarc),
            (Verdict::Pass, Verdict::Pass, Verdict::Pass),
            "{}",
            r.header
        );
        let verify = rate(
            || {
                let r = rt.block_on(verifier.verify(&signed, ip, "client.a.test", "alice@a.test"));
                std::hint::black_box(r);
            },
            Duration::from_secs(2),
            20_000,
        );
        println!("{alg:>8}: sign {sign:>8.0} msg/s   verify (SPF+DKIM+DMARC) {verify:>8.0} msg/s");
    }
}
