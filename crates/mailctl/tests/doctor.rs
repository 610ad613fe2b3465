//! `mailctl check` against a loopback DNS server serving a good zone and broken variants of it:
//! each problem is reported precisely, with the record that fixes it.

mod common;

use std::process::Command;

use common::*;
use ferrymail_dev::dns::DnsServer;
use ferrymail_dev::DevEnv;

#[test]
fn good_zone_has_no_problems() {
    let (_d, env) = setup();
    let dns = DnsServer::start(good_zone()).unwrap();
    let (code, findings) = check(&env, &dns);
    // Notices (MTA-STS, DANE, TLS-RPT not set up in this zone) are advice, not problems.
    let bad: Vec<_> = findings
        .iter()
        .filter(|f| f["level"] == "warning" || f["level"] == "error")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(code, 0);
    for c in ["mx", "a", "ptr", "spf", "dmarc", "tls"] {
        assert!(findings.iter().any(|f| f["check"] == c), "no {c} finding");
    }
}

#[test]
fn broken_zones_are_reported_with_fixes() {
    let (_d, env) = setup();
    let dns = DnsServer::start(good_zone()).unwrap();

    // Missing MX (the domain still has TXT records, so it exists).
    dns.update(|z| {
        *z = good_zone();
        z.remove("a.test").txt("a.test", "v=spf1 mx -all");
    });
    let (code, f) = check(&env, &dns);
    assert_eq!(code, 1);
    let mx = problems(&f, "mx");
    assert_eq!(mx.len(), 1, "{f:#?}");
    assert!(mx[0]["what"].as_str().unwrap().contains("no MX record"));
    assert_eq!(mx[0]["fix"], "a.test. 3600 IN MX 10 mail.a.test.");

    // SPF that does not include this host.
    dns.update(|z| {
        *z = good_zone();
        z.remove("a.test")
            .mx("a.test", 10, "mail.a.test")
            .txt("a.test", "v=spf1 ip4:198.51.100.0/24 -all");
    });
    let (_, f) = check(&env, &dns);
    let spf = problems(&f, "spf");
    assert_eq!(spf.len(), 1, "{f:#?}");
    assert!(spf[0]["what"]
        .as_str()
        .unwrap()
        .contains("does not allow this host (192.0.2.10)"));
    assert_eq!(
        spf[0]["fix"],
        "a.test. 3600 IN TXT \"v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.10 -all\""
    );
    assert!(problems(&f, "mx").is_empty());

    // Two SPF records.
    dns.update(|z| {
        z.txt("a.test", "v=spf1 -all");
    });
    let (_, f) = check(&env, &dns);
    assert!(problems(&f, "spf")[0]["what"]
        .as_str()
        .unwrap()
        .contains("2 SPF records"));

    // Invalid DMARC.
    dns.update(|z| {
        *z = good_zone();
        z.remove("_dmarc.a.test")
            .txt("_dmarc.a.test", "v=DMARC1; p=sometimes");
    });
    let (_, f) = check(&env, &dns);
    let dmarc = problems(&f, "dmarc");
    assert_eq!(dmarc.len(), 1, "{f:#?}");
    assert!(dmarc[0]["what"].as_str().unwrap().contains("p=sometimes"));
    assert!(dmarc[0]["fix"]
        .as_str()
        .unwrap()
        .starts_with("_dmarc.a.test. 3600 IN TXT \"v=DMARC1; p="));

    // Missing DMARC is a warning, not an error.
    dns.update(|z| {
        z.remove("_dmarc.a.test");
    });
    let (code, f) = check(&env, &dns);
    assert_eq!(problems(&f, "dmarc")[0]["level"], "warning");
    assert_eq!(code, 0, "{f:#?}");

    // PTR that names another host.
    dns.update(|z| {
        *z = good_zone();
        z.remove(&ferrymail_dev::dns::reverse_name(HOST_IP.parse().unwrap()))
            .ptr(HOST_IP.parse().unwrap(), "host-192-0-2-10.isp.test");
    });
    let (code, f) = check(&env, &dns);
    assert_eq!(code, 1);
    let ptr = problems(&f, "ptr");
    assert_eq!(ptr.len(), 1, "{f:#?}");
    assert!(ptr[0]["what"]
        .as_str()
        .unwrap()
        .contains("reverses to host-192-0-2-10.isp.test, not mail.a.test"));
    assert!(ptr[0]["fix"]
        .as_str()
        .unwrap()
        .contains("PTR to mail.a.test"));

    // Null MX.
    dns.update(|z| {
        *z = good_zone();
        z.remove("a.test")
            .add("a.test", ferrymail_dev::dns::Rdata::Mx(0, String::new()));
    });
    let (_, f) = check(&env, &dns);
    assert!(problems(&f, "mx")[0]["what"]
        .as_str()
        .unwrap()
        .contains("null MX"));
}

fn mailctl(env: &DevEnv, args: &[&str]) -> String {
    let out = Command::new(MAILCTL)
        .arg("-c")
        .arg(&env.config_path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mailctl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The TXT value of a zone-file line: its quoted strings joined.
fn txt_value(zone_line: &str) -> String {
    zone_line.split('"').skip(1).step_by(2).collect()
}

#[test]
fn dkim_record_must_match_the_signing_key() {
    let (dir, mut env) = setup();
    env.config.dkim.enabled = true;
    env.config.dkim.keys_dir = dir.path().join("dkim");
    env.save_config().unwrap();
    let printed = mailctl(
        &env,
        &["dkim", "keygen", "a.test", "--algorithm", "ed25519"],
    );
    let line = mailctl(&env, &["dkim", "record", "a.test"]);
    let line = line.trim();
    assert!(printed.contains(line), "{printed}");
    assert!(line.starts_with("ferrymail._domainkey.a.test. 3600 IN TXT \"v=DKIM1; k=ed25519; p="));
    assert!(dir.path().join("dkim/a.test.ferrymail.key").exists());

    // Not published: an error whose fix is the exact record.
    let dns = DnsServer::start(good_zone()).unwrap();
    let (code, f) = check(&env, &dns);
    let p = problems(&f, "dkim");
    assert_eq!(p.len(), 1, "{f:#?}");
    assert_eq!(p[0]["level"], "error");
    assert_eq!(p[0]["fix"], line);
    assert_ne!(code, 0);

    // Published: fine.
    dns.update(|z| {
        z.txt("ferrymail._domainkey.a.test", &txt_value(line));
    });
    let (_, f) = check(&env, &dns);
    assert!(problems(&f, "dkim").is_empty(), "{f:#?}");
    assert!(f.iter().any(|x| x["check"] == "dkim" && x["level"] == "ok"));

    // A new key makes the published record stale.
    mailctl(&env, &["dkim", "keygen", "a.test", "--force"]);
    let (_, f) = check(&env, &dns);
    let p = problems(&f, "dkim");
    assert_eq!(p.len(), 1, "{f:#?}");
    assert!(
        p[0]["what"].as_str().unwrap().contains("does not match"),
        "{f:#?}"
    );
}

/// The SPF verdict is mail-auth's `check_host()`: CIDR lengths on `a:`, macros in `exists:`
/// and a record that includes itself need a real evaluator to come out right.
#[test]
fn spf_verdict_comes_from_check_host() {
    let (_d, env) = setup();
    let dns = DnsServer::start(good_zone()).unwrap();
    let spf = |record: &str, extra: &[(&str, &str)]| -> serde_json::Value {
        dns.update(|z| {
            *z = good_zone();
            z.remove("a.test")
                .mx("a.test", 10, "mail.a.test")
                .txt("a.test", record);
            for (name, ip) in extra {
                z.a(name, ip.parse().unwrap());
            }
        });
        let (_, f) = check(&env, &dns);
        finding(&f, "spf").clone()
    };
    let web = [("web.a.test", "192.0.2.99")];

    let f = spf("v=spf1 a:web.a.test/24 -all", &web);
    assert_eq!(f["level"], "ok", "{f:#}");
    let f = spf("v=spf1 a:web.a.test -all", &web);
    assert_eq!(f["level"], "error", "{f:#}");
    assert!(
        f["what"].as_str().unwrap().contains("192.0.2.10 gets fail"),
        "{f:#}"
    );
    assert_eq!(
        f["fix"],
        "a.test. 3600 IN TXT \"v=spf1 a:web.a.test ip4:192.0.2.10 -all\""
    );

    let allow = [("192.0.2.10.allow.a.test", "127.0.0.2")];
    let f = spf("v=spf1 exists:%{i}.allow.a.test -all", &allow);
    assert_eq!(f["level"], "ok", "{f:#}");
    let f = spf("v=spf1 exists:%{i}.allow.a.test -all", &[]);
    assert_eq!(f["level"], "error", "{f:#}");

    let f = spf("v=spf1 ?all", &[]);
    assert!(
        f["what"].as_str().unwrap().contains("gets neutral"),
        "{f:#}"
    );
    // Including itself runs into RFC 7208's limit of 10 DNS-querying terms.
    let f = spf("v=spf1 include:a.test -all", &[]);
    assert_eq!(f["level"], "error", "{f:#}");
    assert!(f["what"].as_str().unwrap().contains("permerror"), "{f:#}");
}
