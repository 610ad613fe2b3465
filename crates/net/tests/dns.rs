//! The resolver of `ferrymail_net::dns` against the loopback test server: records decoded the
//! way callers rely on, and explicit servers never answered from `/etc/hosts`; and DNS list
//! lookups (`ferrymail_net::dnsbl`): both address families reach the zone, listings, refusal
//! codes and unlisted addresses come back as such in the order of the zones asked, and a
//! server that never answers costs the timeout, not more; and a client's forward-confirmed name
//! (`ferrymail_net::rdns`).

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_net::dns::{self, Options};
use ferrymail_net::dnsbl::{self, ZoneAnswer};
use ferrymail_net::rdns;

fn options() -> Options {
    Options {
        timeout: Duration::from_millis(500),
        ..Options::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn mx_txt_and_ptr_records_are_decoded() {
    let long_spf = format!("v=spf1 {} -all", "ip4:192.0.2.1 ".repeat(30));
    assert!(long_spf.len() > 255, "must span several character-strings");
    let ip: IpAddr = "192.0.2.25".parse().unwrap();
    let mut zone = Zone::new();
    zone.mx("a.test", 20, "MX2.A.test")
        .mx("a.test", 10, "mx1.a.test")
        .mx("null.test", 0, ".")
        .txt("a.test", &long_spf)
        .txt("a.test", "other")
        .ptr(ip, "Host.A.test");
    let server = DnsServer::start(zone).unwrap();
    let r = dns::resolver(&[server.addr], &options()).unwrap();
    runtime().block_on(async {
        let mut mx = dns::mx_records(&r.mx_lookup("a.test.").await.unwrap());
        mx.sort();
        assert_eq!(
            mx,
            [
                (10, "mx1.a.test".to_string()),
                (20, "mx2.a.test".to_string())
            ]
        );
        let null = dns::mx_records(&r.mx_lookup("null.test.").await.unwrap());
        assert_eq!(null, [(0, String::new())]);

        let mut txt = dns::txt_records(&r.txt_lookup("a.test.").await.unwrap());
        txt.sort();
        assert_eq!(txt, [b"other".to_vec(), long_spf.into_bytes()]);

        let ptr = dns::ptr_names(&r.reverse_lookup(ip).await.unwrap());
        assert_eq!(ptr, ["host.a.test"]);

        let e = r.mx_lookup("missing.test.").await.unwrap_err();
        assert!(e.is_nx_domain(), "{e}");
    });
}

/// A name `/etc/hosts` gives an address to (other than localhost, which the resolver answers
/// itself).
fn name_in_etc_hosts() -> Option<String> {
    let text = std::fs::read_to_string("/etc/hosts").ok()?;
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            f.next()?.parse::<IpAddr>().ok()?;
            Some(f.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .find(|n| {
            !n.starts_with("localhost") && !n.starts_with("ip6-") && n.contains(char::is_alphabetic)
        })
}

#[test]
fn explicit_servers_do_not_read_etc_hosts() {
    let Some(name) = name_in_etc_hosts() else {
        println!("SKIP: /etc/hosts names no host other than localhost");
        return;
    };
    let server = DnsServer::start(Zone::new()).unwrap();
    let r = dns::resolver(&[server.addr], &options()).unwrap();
    runtime().block_on(async {
        let answer = r.lookup_ip(format!("{name}.")).await;
        match answer {
            Ok(ips) => panic!(
                "{name} answered from /etc/hosts: {:?}",
                ips.iter().collect::<Vec<_>>()
            ),
            Err(e) => assert!(e.is_nx_domain(), "{name}: {e}"),
        }
    });
}

#[test]
fn dnsbl_answers_per_zone_for_both_families() {
    let v4: IpAddr = "192.0.2.99".parse().unwrap();
    let v6: IpAddr = "2001:db8::99".parse().unwrap();
    let mut zone = Zone::new();
    zone.a(
        &dnsbl::query_name(v4, "bl.test"),
        "127.0.0.2".parse().unwrap(),
    )
    .a(
        &dnsbl::query_name(v4, "bl.test"),
        "127.0.0.10".parse().unwrap(),
    )
    .a(
        &dnsbl::query_name(v4, "refusing.test"),
        "127.255.255.254".parse().unwrap(),
    )
    .a(
        &dnsbl::query_name(v6, "bl.test"),
        "127.0.0.3".parse().unwrap(),
    );
    let server = DnsServer::start(zone).unwrap();
    let options = Options {
        timeout: Duration::from_millis(500),
        ..Options::default()
    };
    let r = dns::resolver(&[server.addr], &options).unwrap();
    let zones = ["bl.test", "refusing.test", "clean.test"];
    runtime().block_on(async {
        let got = dnsbl::lookup(&r, v4, &zones, Duration::from_secs(2)).await;
        let mut listed = match &got[0] {
            (z, ZoneAnswer::Listed(codes)) if z == "bl.test" => codes.clone(),
            other => panic!("{other:?}"),
        };
        listed.sort();
        assert_eq!(
            listed,
            [
                "127.0.0.2".parse::<std::net::Ipv4Addr>().unwrap(),
                "127.0.0.10".parse().unwrap()
            ]
        );
        assert_eq!(
            got[1],
            (
                "refusing.test".to_string(),
                ZoneAnswer::Refused(vec!["127.255.255.254".parse().unwrap()])
            )
        );
        assert_eq!(got[2], ("clean.test".to_string(), ZoneAnswer::NotListed));

        let got = dnsbl::lookup(&r, v6, &zones[..1], Duration::from_secs(2)).await;
        assert_eq!(
            got,
            [(
                "bl.test".to_string(),
                ZoneAnswer::Listed(vec!["127.0.0.3".parse().unwrap()])
            )]
        );
    });
}

#[test]
fn a_silent_dnsbl_server_costs_the_timeout() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = dns::resolver(&[silent.local_addr().unwrap()], &Options::default()).unwrap();
    let ip: IpAddr = "192.0.2.99".parse().unwrap();
    runtime().block_on(async {
        let start = Instant::now();
        let got = dnsbl::lookup(&r, ip, &["a.test", "b.test"], Duration::from_millis(300)).await;
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        for (_, a) in got {
            assert!(matches!(a, ZoneAnswer::Failed(_)), "{a:?}");
        }
    });
}

#[test]
fn a_client_name_counts_only_when_its_forward_lookup_leads_back() {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let mut zone = Zone::new();
    zone.ptr(ip("192.0.2.25"), "Mail.A.test")
        .a("mail.a.test", ip("192.0.2.25"))
        .ptr(ip("192.0.2.26"), "claims.b.test")
        .a("claims.b.test", ip("198.51.100.1"))
        .ptr(ip("2001:db8::25"), "six.a.test")
        .a("six.a.test", ip("2001:db8::25"));
    let server = DnsServer::start(zone).unwrap();
    let r = dns::resolver(&[server.addr], &options()).unwrap();
    let t = Duration::from_secs(5);
    runtime().block_on(async {
        let n = rdns::client_name(&r, ip("192.0.2.25"), t).await;
        assert_eq!((n.name(), n.ptr()), ("mail.a.test", "mail.a.test"));
        let n = rdns::client_name(&r, ip("2001:db8::25"), t).await;
        assert_eq!(n.name(), "six.a.test");
        // A PTR name whose address is another: the name is not the client's.
        let n = rdns::client_name(&r, ip("192.0.2.26"), t).await;
        assert_eq!((n.name(), n.ptr()), ("unknown", "claims.b.test"));
        let n = rdns::client_name(&r, ip("192.0.2.27"), t).await;
        assert_eq!((n.name(), n.ptr()), ("unknown", "unknown"));
    });
}
