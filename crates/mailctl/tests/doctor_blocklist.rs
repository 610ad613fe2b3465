//! `mailctl check` with `smtpd.screen.dnsbl_sites` configured: this host's address is looked
//! up on each list, and a listing, a list refusing our resolver, and a clean result are each
//! reported as such.

mod common;

use common::*;
use ferrymail_dev::dns::DnsServer;

#[test]
fn our_address_is_reported_per_list() {
    let (_d, mut env) = setup();
    env.config.smtpd.screen.dnsbl_sites = [
        "bl.test=127.0.0.[2..11]*3",
        "refusing.test*2",
        "clean.test",
        "wl.test*-2",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    env.save_config().unwrap();
    let mut zone = good_zone();
    // HOST_IP (192.0.2.10) reversed.
    zone.a("10.2.0.192.bl.test", "127.0.0.4".parse().unwrap())
        .a(
            "10.2.0.192.refusing.test",
            "127.255.255.254".parse().unwrap(),
        )
        .a("10.2.0.192.wl.test", "127.0.10.2".parse().unwrap());
    let dns = DnsServer::start(zone).unwrap();
    let (code, f) = check(&env, &dns);
    assert_eq!(code, 1, "a listing is an error: {f:#?}");
    let lists: Vec<_> = f.iter().filter(|x| x["check"] == "dnsbl").collect();
    assert_eq!(lists.len(), 4, "{f:#?}");
    let on = |zone: &str| {
        lists
            .iter()
            .find(|x| x["what"].as_str().unwrap().contains(zone))
            .unwrap_or_else(|| panic!("{zone}: {lists:#?}"))
    };
    assert_eq!(on("bl.test")["level"], "error");
    assert_eq!(
        on("bl.test")["what"],
        "192.0.2.10 is listed on bl.test (127.0.0.4)"
    );
    assert_eq!(on("refusing.test")["level"], "warning");
    assert!(on("refusing.test")["why"]
        .as_str()
        .unwrap()
        .contains("public and shared resolvers"));
    assert_eq!(on("clean.test")["level"], "ok");
    assert_eq!(
        on("clean.test")["what"],
        "192.0.2.10 is not listed on clean.test"
    );
    assert_eq!(on("wl.test")["level"], "ok");
    assert!(on("wl.test")["what"]
        .as_str()
        .unwrap()
        .contains("allowlist"));
}

#[test]
fn no_lists_no_findings() {
    let (_d, env) = setup();
    let dns = DnsServer::start(good_zone()).unwrap();
    let (code, f) = check(&env, &dns);
    assert_eq!(code, 0);
    assert!(!f.iter().any(|x| x["check"] == "dnsbl"), "{f:#?}");
}
