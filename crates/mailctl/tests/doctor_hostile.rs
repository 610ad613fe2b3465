//! `mailctl check` against hostile DNS data, hand-made and seeded random: whatever the zone,
//! the doctor reports findings and exits within its limits. No panic (exit 101), no hang.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::{reverse_name, DnsServer, Rdata, Zone};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn spf_zone(strings: Vec<Vec<u8>>) -> Zone {
    zone_with(|z| {
        z.remove("a.test")
            .mx("a.test", 10, "mail.a.test")
            .txt_raw("a.test", strings);
    })
}

#[test]
fn hostile_zones_give_findings() {
    let (_d, env) = setup();
    let dns = DnsServer::start(good_zone()).unwrap();
    let host: IpAddr = HOST_IP.parse().unwrap();
    let mut cases: Vec<(&str, Zone)> = vec![
        // `v=spf` followed by a multi-byte character, by bytes that are not UTF-8, and a
        // valid version followed by garbage.
        ("spf é", spf_zone(vec!["v=spfé mx -all".into()])),
        (
            "spf invalid utf-8",
            spf_zone(vec![b"v=spf\xff\xfe".to_vec()]),
        ),
        (
            "spf1 then 0xff",
            spf_zone(vec![b"v=spf1\xff -all".to_vec()]),
        ),
        (
            "spf1 non-ascii mechanism",
            spf_zone(vec!["v=spf1 a:mäil.a.test ip4:1.2.3.4/€ -all".into()]),
        ),
        ("empty strings", spf_zone(vec![Vec::new(), Vec::new()])),
        ("no strings", spf_zone(Vec::new())),
        (
            "control characters",
            spf_zone(vec![b"v=spf1 \x1b[2J\x00\r\n -all".to_vec()]),
        ),
        (
            "DMARC with invalid bytes",
            zone_with(|z| {
                z.remove("_dmarc.a.test").txt_raw(
                    "_dmarc.a.test",
                    vec![b"v=DMARC1; p=rej\xc3ect; rua=mailto:\xff".to_vec()],
                );
            }),
        ),
        (
            "DMARC v=DMARC1 cut in a character",
            zone_with(|z| {
                z.remove("_dmarc.a.test").txt("_dmarc.a.test", "v=DMARCé");
            }),
        ),
        (
            "many TXT records",
            zone_with(|z| {
                for i in 0..400 {
                    z.txt("a.test", &format!("junk-{i}"));
                }
            }),
        ),
        (
            "many SPF records",
            zone_with(|z| {
                for _ in 0..50 {
                    z.txt("a.test", "v=spf1 +all");
                }
            }),
        ),
        (
            "MX to the root beside a real one",
            zone_with(|z| {
                z.add("a.test", Rdata::Mx(0, String::new()));
            }),
        ),
        (
            "MX with an empty name only",
            zone_with(|z| {
                z.remove("a.test").add("a.test", Rdata::Mx(0, ".".into()));
            }),
        ),
        (
            "MX pointing at the domain itself",
            zone_with(|z| {
                z.remove("a.test")
                    .mx("a.test", 10, "a.test")
                    .txt("a.test", "v=spf1 mx -all");
            }),
        ),
        (
            "MX to a name with control bytes",
            zone_with(|z| {
                z.remove("a.test")
                    .mx("a.test", 10, "\u{1b}[31m.\u{0}.evil.test")
                    .txt("a.test", "v=spf1 mx -all");
            }),
        ),
        (
            "CNAME loop at the host",
            zone_with(|z| {
                z.remove("mail.a.test")
                    .cname("mail.a.test", "mail2.a.test")
                    .cname("mail2.a.test", "mail.a.test");
            }),
        ),
        (
            "CNAME to itself at _dmarc",
            zone_with(|z| {
                z.remove("_dmarc.a.test")
                    .cname("_dmarc.a.test", "_dmarc.a.test");
            }),
        ),
        (
            "CNAME loop for the MX host",
            zone_with(|z| {
                z.remove("a.test")
                    .mx("a.test", 10, "loop.a.test")
                    .cname("loop.a.test", "loop2.a.test")
                    .cname("loop2.a.test", "loop.a.test")
                    .txt("a.test", "v=spf1 mx -all");
            }),
        ),
        (
            "PTR loop",
            zone_with(|z| {
                z.remove(&reverse_name(host))
                    .cname(&reverse_name(host), &reverse_name(host));
            }),
        ),
        (
            "SPF include loop and macros",
            zone_with(|z| {
                z.remove("a.test").mx("a.test", 10, "mail.a.test").txt(
                    "a.test",
                    "v=spf1 include:a.test exists:%{l1r+-}.%{d}.%{i}.%{h} redirect=a.test",
                );
            }),
        ),
        (
            "everything SERVFAIL",
            zone_with(|z| {
                for n in [
                    "a.test",
                    "mail.a.test",
                    "_dmarc.a.test",
                    &reverse_name(host),
                ] {
                    z.servfail(n);
                }
            }),
        ),
        (
            "thousands of MX",
            zone_with(|z| {
                for i in 0..2000u16 {
                    z.mx("a.test", i, &format!("mx{i}.a.test"));
                }
            }),
        ),
        (
            "thousands of addresses",
            zone_with(|z| {
                for i in 0..3000u16 {
                    let [hi, lo] = i.to_be_bytes();
                    z.a("mail.a.test", IpAddr::from([198, 18, hi, lo]));
                }
            }),
        ),
    ];
    // 255-byte strings, and a record split in the middle of a term: the strings of one TXT
    // record are joined without a space (RFC 7208 §3.3), so this record allows the host.
    let mut long = b"v=spf1 ".to_vec();
    for i in 0..40 {
        long.extend_from_slice(format!("ip4:198.51.100.{i} ").as_bytes());
    }
    long.extend_from_slice(format!("ip4:{HOST_IP} -all").as_bytes());
    let chunks: Vec<Vec<u8>> = long.chunks(255).map(<[u8]>::to_vec).collect();
    assert!(chunks.len() > 2 && chunks[0].len() == 255);
    cases.push(("255-byte strings", spf_zone(chunks)));
    cases.push((
        "split in a term",
        spf_zone(vec![b"v=spf1 ip4:192.0".to_vec(), b".2.10 -all".to_vec()]),
    ));

    for (what, zone) in cases {
        dns.update(|z| *z = zone);
        let run = run_check(&env, &dns, &["--no-probe"]);
        let f = assert_report(&run, what);
        if matches!(what, "255-byte strings" | "split in a term") {
            assert_eq!(finding(&f, "spf")["level"], "ok", "{what}: {f:#?}");
        }
        if matches!(
            what,
            "spf é" | "spf invalid utf-8" | "spf1 then 0xff" | "empty strings"
        ) {
            let spf = finding(&f, "spf");
            assert!(
                spf["what"].as_str().unwrap().contains("no SPF record"),
                "{what}: {spf:#}"
            );
        }
        if what == "many SPF records" {
            assert!(
                finding(&f, "spf")["what"]
                    .as_str()
                    .unwrap()
                    .contains("51 SPF records"),
                "{f:#?}"
            );
        }
        if what == "thousands of addresses" {
            // Only the first addresses are looked up: 16 PTR findings, not 3000.
            let ptr = f.iter().filter(|x| x["check"] == "ptr").count();
            assert_eq!(ptr, 16, "{what}");
        }
        if what == "MX pointing at the domain itself" {
            assert!(
                problems(&f, "mx")
                    .iter()
                    .any(|p| p["what"] == "MX host a.test has no address record"),
                "{f:#?}"
            );
        }
    }
}

/// Random bytes, often behind a prefix that makes a parser take them seriously.
fn txt_bytes(rng: &mut StdRng) -> Vec<u8> {
    const PREFIXES: [&[u8]; 6] = [
        b"v=spf1 ",
        b"v=spf",
        b"v=DMARC1; ",
        b"v=DKIM1; p=",
        b"",
        b"v",
    ];
    let mut v = PREFIXES[rng.gen_range(0..PREFIXES.len())].to_vec();
    let tail = rng.gen_range(0..300);
    let printable = rng.gen_bool(0.5);
    // SPF-ish vocabulary, so the evaluator gets past its first term now and then.
    const VOCABULARY: &[u8] = b" :/%{}.-+~?=aimpx4601";
    for _ in 0..tail {
        v.push(if printable {
            VOCABULARY[rng.gen_range(0..VOCABULARY.len())]
        } else {
            rng.gen()
        });
    }
    v
}

fn name(rng: &mut StdRng, pool: &[String]) -> String {
    if rng.gen_bool(0.8) {
        pool[rng.gen_range(0..pool.len())].clone()
    } else {
        let len = rng.gen_range(0..70);
        (0..len)
            .map(|_| char::from(rng.gen_range(0x20u8..0x7f)))
            .collect()
    }
}

fn random_zone(rng: &mut StdRng) -> Zone {
    let host: IpAddr = HOST_IP.parse().unwrap();
    let pool: Vec<String> = [
        "a.test",
        "mail.a.test",
        "_dmarc.a.test",
        "mx.a.test",
        "other.test",
        "ferrymail._domainkey.a.test",
        &reverse_name(host),
    ]
    .map(String::from)
    .to_vec();
    let mut z = Zone::new();
    for owner in &pool {
        // Mostly a few records, sometimes hundreds.
        let n = if rng.gen_bool(0.05) {
            rng.gen_range(100..400)
        } else {
            rng.gen_range(0..6)
        };
        for _ in 0..n {
            let rd = match rng.gen_range(0..9) {
                0 => Rdata::A(if rng.gen_bool(0.3) {
                    "192.0.2.10".parse().unwrap()
                } else {
                    rng.gen::<u32>().into()
                }),
                1 => Rdata::Aaaa(rng.gen::<u128>().into()),
                2 => Rdata::Mx(rng.gen(), name(rng, &pool)),
                3 | 4 => {
                    let bytes = txt_bytes(rng);
                    let mut strings = Vec::new();
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let cut = rng.gen_range(0..=rest.len().min(255));
                        strings.push(rest[..cut].to_vec());
                        rest = &rest[cut..];
                    }
                    Rdata::TxtRaw(strings)
                }
                5 => Rdata::Ptr(name(rng, &pool)),
                6 => Rdata::Cname(name(rng, &pool)),
                7 => Rdata::Txt(format!("v=spf1 include:{} -all", name(rng, &pool))),
                _ => Rdata::Mx(0, String::new()),
            };
            z.add(owner, rd);
        }
        if rng.gen_bool(0.05) {
            z.servfail(owner);
        }
    }
    z
}

/// A seeded batch of random zones (`DOCTOR_FUZZ_SEED` repeats one, `DOCTOR_FUZZ_ZONES` sets
/// how many).
#[test]
fn random_zones_give_findings() {
    let seed: u64 = std::env::var("DOCTOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let zones: usize = std::env::var("DOCTOR_FUZZ_ZONES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("random zones: DOCTOR_FUZZ_SEED={seed} DOCTOR_FUZZ_ZONES={zones}");
    let mut rng = StdRng::seed_from_u64(seed);
    let (_d, env) = setup();
    let dns = DnsServer::start(Zone::new()).unwrap();
    let mut slowest = Duration::ZERO;
    for i in 0..zones {
        let zone = random_zone(&mut rng);
        let shown = format!("{zone:?}");
        dns.update(|z| *z = zone);
        let run = run_check(&env, &dns, &["--no-probe"]);
        slowest = slowest.max(run.elapsed);
        let what = format!(
            "zone {i} of seed {seed}: {}",
            shown.chars().take(4000).collect::<String>()
        );
        assert_report(&run, &what);
    }
    println!("slowest check: {slowest:?}");
}
