//! DNS list lookups of one address (DNSBL and DNSWL, RFC 5782): the query names, the reading
//! of the answers and the score of `smtpd.screen.dnsbl_sites`. mta-smtpd scores its clients
//! with it; `mailctl check` looks our own addresses up with it.
//!
//! Only A answers inside 127.0.0.0/8 say anything. A few of those are not listings but the
//! list refusing to answer — Spamhaus' 127.255.255.252/254/255 (bad key, public or open
//! resolver, too many queries), DNSWL's 127.0.0.255, the 127.0.0.1 some lists use — and an
//! answer outside 127/8 is a parked or broken zone: such answers are [`ZoneAnswer::Refused`],
//! a configuration problem to report, never a score.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrymail_config::DnsblSite;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::dns::TokioResolver;

/// What one list said about the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneAnswer {
    /// NXDOMAIN or no A record.
    NotListed,
    /// The listing codes (inside 127/8, not refusal codes).
    Listed(Vec<Ipv4Addr>),
    /// Only refusal codes or addresses outside 127/8: the list is not answering us.
    Refused(Vec<Ipv4Addr>),
    /// Timeout, SERVFAIL, unreachable server.
    Failed(String),
}

/// The name to ask under `zone`: the reversed IPv4 octets or IPv6 nibbles, fully qualified.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str(zone);
            s.push('.');
            s
        }
    }
}

/// Whether an answer is a list's way of refusing the query rather than a listing.
pub fn is_refusal(a: Ipv4Addr) -> bool {
    let [first, b, c, d] = a.octets();
    first != 127 || [b, c, d] == [0, 0, 1] || [b, c, d] == [0, 0, 255] || [b, c] == [255, 255]
}

/// Sorts the A records of one answer.
pub fn classify(answers: &[Ipv4Addr]) -> ZoneAnswer {
    let (refusals, listings): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) =
        answers.iter().partition(|a| is_refusal(**a));
    match (listings.is_empty(), refusals.is_empty()) {
        (false, _) => ZoneAnswer::Listed(listings),
        (true, false) => ZoneAnswer::Refused(refusals),
        (true, true) => ZoneAnswer::NotListed,
    }
}

/// A client's combined score and the entries that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Score {
    pub total: i32,
    /// `(zone, weight)` of every entry that matched, in configured order.
    pub hits: Vec<(String, i32)>,
}

impl Score {
    /// The zone with the largest positive weight: the one a refusal names.
    pub fn worst(&self) -> Option<&str> {
        self.hits
            .iter()
            .filter(|(_, w)| *w > 0)
            .max_by_key(|(_, w)| *w)
            .map(|(z, _)| z.as_str())
    }
}

/// postscreen's scoring: each site entry adds its weight once when any listing answer of its
/// zone passes its filter.
pub fn score(sites: &[DnsblSite], answers: &[(String, ZoneAnswer)]) -> Score {
    let mut s = Score::default();
    for site in sites {
        let listed = answers.iter().any(|(zone, a)| {
            *zone == site.zone
                && matches!(a, ZoneAnswer::Listed(codes) if codes.iter().any(|c| site.matches(*c)))
        });
        if listed {
            s.total = s.total.saturating_add(site.weight);
            s.hits.push((site.zone.clone(), site.weight));
        }
    }
    s
}

/// Asks every zone about `ip` at once; a zone that has not answered within `timeout` is
/// [`ZoneAnswer::Failed`]. Answers come back in the order of `zones`.
pub async fn lookup(
    resolver: &TokioResolver,
    ip: IpAddr,
    zones: &[&str],
    timeout: Duration,
) -> Vec<(String, ZoneAnswer)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, zone) in zones.iter().enumerate() {
        let (r, name) = (resolver.clone(), query_name(ip, zone));
        tasks.spawn(async move {
            let answer = match tokio::time::timeout(timeout, r.lookup(name, RecordType::A)).await {
                Err(_) => ZoneAnswer::Failed("timed out".into()),
                Ok(Ok(l)) => {
                    let codes: Vec<Ipv4Addr> = l
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(a.0),
                            _ => None,
                        })
                        .collect();
                    classify(&codes)
                }
                Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => ZoneAnswer::NotListed,
                Ok(Err(e)) => ZoneAnswer::Failed(e.to_string()),
            };
            (i, answer)
        });
    }
    let mut out: Vec<(String, ZoneAnswer)> = zones
        .iter()
        .map(|z| {
            (
                z.to_string(),
                ZoneAnswer::Failed("lookup task failed".into()),
            )
        })
        .collect();
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, answer)) = done {
            if let Some(slot) = out.get_mut(i) {
                slot.1 = answer;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn query_names_reverse_octets_and_nibbles() {
        assert_eq!(
            query_name("192.0.2.99".parse().unwrap(), "zen.spamhaus.org"),
            "99.2.0.192.zen.spamhaus.org."
        );
        assert_eq!(
            query_name("::ffff:192.0.2.99".parse().unwrap(), "bl.example."),
            "99.2.0.192.bl.example.",
            "an IPv4-mapped client is asked about as IPv4"
        );
        assert_eq!(
            query_name("2001:db8::1".parse().unwrap(), "bl.example"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example."
        );
    }

    #[test]
    fn refusal_codes_and_foreign_answers_are_not_listings() {
        assert_eq!(classify(&[]), ZoneAnswer::NotListed);
        assert_eq!(
            classify(&[v4("127.0.0.2")]),
            ZoneAnswer::Listed(vec![v4("127.0.0.2")])
        );
        for refusal in [
            "127.255.255.254",
            "127.255.255.252",
            "127.255.255.255",
            "127.0.0.1",
            "127.0.0.255",
            "192.0.2.7",
        ] {
            assert_eq!(
                classify(&[v4(refusal)]),
                ZoneAnswer::Refused(vec![v4(refusal)]),
                "{refusal}"
            );
        }
        assert_eq!(
            classify(&[v4("127.255.255.254"), v4("127.0.0.4")]),
            ZoneAnswer::Listed(vec![v4("127.0.0.4")])
        );
    }

    #[test]
    fn scores_sum_matching_entries_once_each() {
        let sites: Vec<DnsblSite> = [
            "zen.example=127.0.0.[2..3]*3",
            "zen.example=127.0.0.[10;11]*2",
            "zen.example=127.0.0.4*5",
            "wl.example=127.0.[0..255].[1..3]*-2",
            "other.example",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let answers = vec![
            (
                "zen.example".to_string(),
                ZoneAnswer::Listed(vec![v4("127.0.0.2"), v4("127.0.0.3"), v4("127.0.0.11")]),
            ),
            (
                "wl.example".to_string(),
                ZoneAnswer::Listed(vec![v4("127.0.15.2")]),
            ),
            (
                "other.example".to_string(),
                ZoneAnswer::Refused(vec![v4("127.255.255.254")]),
            ),
        ];
        let s = score(&sites, &answers);
        assert_eq!(s.total, 3 + 2 - 2);
        assert_eq!(
            s.hits,
            [
                ("zen.example".to_string(), 3),
                ("zen.example".to_string(), 2),
                ("wl.example".to_string(), -2)
            ]
        );
        assert_eq!(s.worst(), Some("zen.example"));
        assert_eq!(score(&sites, &[]), Score::default());
    }
}
