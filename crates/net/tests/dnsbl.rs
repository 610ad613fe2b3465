//! DNS list lookups against the loopback test server: IPv4 and IPv6 query names reach the
//! zone, listings, refusal codes and unlisted addresses come back as such, in the order of the
//! zones asked, and a server that never answers costs the timeout, not more.

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_net::dns::{self, Options};
use ferrymail_net::dnsbl::{self, ZoneAnswer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn answers_per_zone_for_both_families() {
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
fn a_silent_server_costs_the_timeout() {
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
