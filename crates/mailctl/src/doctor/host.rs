//! The host's own records: the domain's MX, this host's address records, and their PTRs
//! (forward-confirmed reverse DNS, which receivers check before anything else).

use std::net::IpAddr;

use super::lookup::Answer;
use super::{ok, problem, Finding, Level};

pub(super) fn check_mx(domain: &str, host: &str, mx: &Answer<(u16, String)>) -> Vec<Finding> {
    let fix = format!("{domain}. 3600 IN MX 10 {host}.");
    match mx {
        Answer::Failed(e) => vec![problem(
            Level::Error,
            "mx",
            format!("MX lookup for {domain} failed: {e}"),
            "senders that cannot look up your MX records will queue and eventually bounce mail",
            "check that the domain's name servers answer",
        )],
        Answer::None => vec![problem(
            Level::Error,
            "mx",
            format!("{domain} has no MX record"),
            "without MX, senders fall back to the domain's A record, which is usually not the mail server",
            fix,
        )],
        Answer::Records(list) if list.iter().any(|(_, e)| e.is_empty()) => vec![problem(
            Level::Error,
            "mx",
            format!("{domain} publishes a null MX (RFC 7505): it declares that it accepts no mail"),
            "every sender will bounce mail to this domain at once",
            format!("replace the `MX 0 .` record with: {fix}"),
        )],
        Answer::Records(list) => {
            let names: Vec<String> = list.iter().map(|(p, e)| format!("{p} {e}")).collect();
            if list.iter().any(|(_, e)| e == host) {
                vec![ok("mx", format!("{domain} MX: {}", names.join(", ")))]
            } else {
                vec![problem(
                    Level::Warning,
                    "mx",
                    format!(
                        "{domain} MX points at {} but this host is {host}",
                        names.join(", ")
                    ),
                    "mail for the domain goes to those hosts, not to this server",
                    fix,
                )]
            }
        }
    }
}

pub(super) fn check_host_address(host: &str, ips: &Answer<IpAddr>) -> Vec<Finding> {
    match ips {
        Answer::Records(v) if !v.is_empty() => vec![ok(
            "a",
            format!(
                "{host} has address(es) {}",
                v.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )],
        Answer::Failed(e) => vec![problem(
            Level::Error,
            "a",
            format!("looking up {host} failed: {e}"),
            "other servers must resolve this host's name to connect to it",
            "check that the domain's name servers answer",
        )],
        _ => vec![problem(
            Level::Error,
            "a",
            format!("{host} (general.hostname) has no A/AAAA record"),
            "other servers must resolve this host's name to connect to it and to check its PTR",
            format!("{host}. 3600 IN A <this server's public IPv4 address>"),
        )],
    }
}

pub(super) fn check_ptr(host: &str, ip: IpAddr, ptr: &Answer<String>) -> Finding {
    let fix =
        format!("ask whoever controls {ip} (your hosting provider) to set its PTR to {host}.");
    match ptr {
        Answer::Records(names) if names.iter().any(|n| n == host) => {
            ok("ptr", format!("{ip} reverses to {host}"))
        }
        Answer::Records(names) => problem(
            Level::Error,
            "ptr",
            format!("{ip} reverses to {}, not {host}", names.join(", ")),
            "receivers check forward-confirmed reverse DNS and often reject or junk mail from mismatched hosts",
            fix,
        ),
        Answer::None => problem(
            Level::Error,
            "ptr",
            format!("{ip} has no PTR record"),
            "many receivers reject mail from addresses without reverse DNS",
            fix,
        ),
        Answer::Failed(e) => problem(
            Level::Warning,
            "ptr",
            format!("reverse lookup of {ip} failed: {e}"),
            "receivers that cannot check reverse DNS may defer or reject mail",
            fix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_findings() {
        let none = check_mx("a.test", "mail.a.test", &Answer::None);
        assert_eq!(none[0].level, Level::Error);
        assert_eq!(none[0].fix, "a.test. 3600 IN MX 10 mail.a.test.");
        let other = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(10, "mx.other.test".into())]),
        );
        assert_eq!(other[0].level, Level::Warning);
        let null = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(0, String::new())]),
        );
        assert!(null[0].what.contains("null MX"));
        let good = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(10, "mail.a.test".into())]),
        );
        assert_eq!(good[0].level, Level::Ok);
    }
}
