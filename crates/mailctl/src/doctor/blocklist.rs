//! Our own addresses on the DNS lists `smtpd.screen.dnsbl_sites` names: a listing on a
//! blocklist means receivers that use it refuse our mail, and a list that refuses our
//! queries (a public or shared resolver) means mta-smtpd's own screening sees nothing.

use std::net::IpAddr;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_net::dns::TokioResolver;
use ferrymail_net::dnsbl::{self, ZoneAnswer};

use super::{ok, problem, Finding, Level};

pub(super) async fn check_blocklists(
    config: &Config,
    resolver: &TokioResolver,
    ips: &[IpAddr],
    timeout: Duration,
) -> Vec<Finding> {
    let screen = &config.smtpd.screen;
    let zones = screen.dnsbl_zones();
    let mut out = Vec::new();
    for ip in ips {
        let answers = dnsbl::lookup(resolver, *ip, &zones, timeout).await;
        for (zone, answer) in &answers {
            let blocklist = screen
                .dnsbl_sites
                .iter()
                .any(|s| s.zone == *zone && s.weight > 0);
            out.push(finding(*ip, zone, blocklist, answer));
        }
    }
    out
}

fn finding(ip: IpAddr, zone: &str, blocklist: bool, answer: &ZoneAnswer) -> Finding {
    let codes = |c: &[std::net::Ipv4Addr]| {
        c.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match answer {
        ZoneAnswer::NotListed if blocklist => ok("dnsbl", format!("{ip} is not listed on {zone}")),
        ZoneAnswer::NotListed => ok("dnsbl", format!("{ip} is not on the allowlist {zone}")),
        ZoneAnswer::Listed(c) if blocklist => problem(
            Level::Error,
            "dnsbl",
            format!("{ip} is listed on {zone} ({})", codes(c)),
            "receivers that use this list refuse or file as spam mail from this address",
            format!(
                "look {ip} up on the list's web site for the reason (compromised account, open \
                 relay, dynamic address range), remove the cause, then request delisting"
            ),
        ),
        ZoneAnswer::Listed(c) => ok(
            "dnsbl",
            format!("{ip} is on the allowlist {zone} ({})", codes(c)),
        ),
        ZoneAnswer::Refused(c) => problem(
            Level::Warning,
            "dnsbl",
            format!("{zone} refused to answer about {ip} ({})", codes(c)),
            "lists refuse queries from public and shared resolvers; mta-smtpd ignores such \
             answers, so this list protects nothing",
            "ask the lists through a resolver of your own (a local unbound or bind, in \
             /etc/resolv.conf or queue.dns_servers), or use the list's key-based service",
        ),
        ZoneAnswer::Failed(e) => problem(
            Level::Warning,
            "dnsbl",
            format!("looking {ip} up on {zone} failed: {e}"),
            "mta-smtpd scores clients 0 on a list that does not answer",
            format!("check that {zone} is a DNS list and that your resolver reaches it"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_refusals_and_allowlists_read_differently() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let listed = ZoneAnswer::Listed(vec!["127.0.0.2".parse().unwrap()]);
        let f = finding(ip, "bl.test", true, &listed);
        assert_eq!(f.level, Level::Error);
        assert_eq!(f.what, "192.0.2.10 is listed on bl.test (127.0.0.2)");
        assert_eq!(finding(ip, "wl.test", false, &listed).level, Level::Ok);
        let refused = ZoneAnswer::Refused(vec!["127.255.255.254".parse().unwrap()]);
        let f = finding(ip, "bl.test", true, &refused);
        assert_eq!(f.level, Level::Warning);
        assert!(f.what.contains("refused") && f.what.contains("127.255.255.254"));
        assert_eq!(
            finding(ip, "bl.test", true, &ZoneAnswer::NotListed).level,
            Level::Ok
        );
    }
}
