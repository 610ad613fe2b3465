//! Where mail for a domain goes: MX lookup (RFC 5321 §5.1) through `ferrymail_net::dns`.
//!
//! MX hosts are tried in preference order, randomised among equal preferences; a domain
//! without MX records is its own implicit MX (its A/AAAA records); a null MX (RFC 7505, a
//! single MX with exchange ".") means the domain accepts no mail, which bounces at once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrymail_net::dns::{ResolveError, TokioResolver};
use rand::seq::SliceRandom;

/// Time allowed for each DNS query attempt of a delivery.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What an MX lookup concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// Host names to try, in order.
    Hosts(Vec<String>),
    /// RFC 7505: the domain accepts no mail.
    NullMx,
    /// The domain does not exist (NXDOMAIN): permanent.
    NoSuchDomain,
    /// The lookup failed for now (timeout, SERVFAIL): try later.
    TempFail(String),
}

/// What an address lookup concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrAnswer {
    Addrs(Vec<IpAddr>),
    /// No such host, or no A/AAAA records.
    NoAddress,
    TempFail(String),
}

pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// Asks `servers` when given (tests point them at a loopback server), else the system's
    /// configuration, under the policy of `ferrymail_net::dns`.
    pub fn new(servers: &[SocketAddr]) -> Result<Resolver, ResolveError> {
        let options = ferrymail_net::dns::Options {
            timeout: QUERY_TIMEOUT,
            ..Default::default()
        };
        Ok(Resolver {
            inner: ferrymail_net::dns::resolver(servers, &options)?,
        })
    }

    /// The underlying resolver, for lookups made by shared code (the MTA-STS policy fetch).
    pub fn hickory(&self) -> &TokioResolver {
        &self.inner
    }

    /// The MX hosts of `domain`, ordered.
    pub async fn mx(&self, domain: &str) -> MxAnswer {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.inner.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => order_mx(
                ferrymail_net::dns::mx_records(&lookup),
                domain,
                &mut rand::thread_rng(),
            ),
            Err(e) if e.is_nx_domain() => MxAnswer::NoSuchDomain,
            // No MX records at all: the domain itself is the implicit MX (RFC 5321 §5.1).
            Err(e) if e.is_no_records_found() => MxAnswer::Hosts(vec![domain.to_owned()]),
            Err(e) => MxAnswer::TempFail(e.to_string()),
        }
    }

    /// The addresses of `host` (an IP literal is returned as is).
    pub async fn addrs(&self, host: &str) -> AddrAnswer {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return AddrAnswer::Addrs(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn.as_str()).await {
            Ok(l) => {
                let v: Vec<IpAddr> = l.iter().collect();
                if v.is_empty() {
                    AddrAnswer::NoAddress
                } else {
                    AddrAnswer::Addrs(v)
                }
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => AddrAnswer::NoAddress,
            Err(e) => AddrAnswer::TempFail(e.to_string()),
        }
    }

    /// The TXT records of `name`, each the concatenation of its strings (lossy UTF-8); an
    /// absent name or no TXT records is an empty list, other failures an error.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.inner.txt_lookup(fqdn.as_str()).await {
            Ok(l) => Ok(ferrymail_net::dns::txt_records(&l)
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Sorts MX records by preference, shuffling hosts of equal preference, and recognises a
/// null MX. Exchange names lose their trailing dot.
pub fn order_mx<R: rand::Rng>(
    mut records: Vec<(u16, String)>,
    domain: &str,
    rng: &mut R,
) -> MxAnswer {
    if records
        .iter()
        .any(|(_, host)| host == "." || host.is_empty())
    {
        return MxAnswer::NullMx;
    }
    if records.is_empty() {
        return MxAnswer::Hosts(vec![domain.to_owned()]);
    }
    records.shuffle(rng);
    // A stable sort keeps the shuffled order within each preference.
    records.sort_by_key(|(pref, _)| *pref);
    let mut hosts: Vec<String> = Vec::new();
    for (_, h) in records {
        let h = h.trim_end_matches('.').to_ascii_lowercase();
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    MxAnswer::Hosts(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_preference_and_shuffles_ties() {
        let recs = vec![
            (20, "b.test.".to_string()),
            (10, "a1.test.".to_string()),
            (10, "a2.test.".to_string()),
            (30, "c.test.".to_string()),
        ];
        let mut seen_first = std::collections::HashSet::new();
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let MxAnswer::Hosts(h) = order_mx(recs.clone(), "x.test", &mut rng) else {
                panic!("not hosts")
            };
            assert_eq!(h.len(), 4);
            assert!(h[0].starts_with("a") && h[1].starts_with("a"));
            assert_eq!(&h[2..], ["b.test", "c.test"]);
            seen_first.insert(h[0].clone());
        }
        // Equal preferences really are randomised (2^-199 chance of a false failure).
        assert_eq!(seen_first.len(), 2);
    }

    #[test]
    fn null_mx_and_empty() {
        let mut rng = rand::thread_rng();
        assert_eq!(
            order_mx(vec![(0, ".".into())], "x.test", &mut rng),
            MxAnswer::NullMx
        );
        assert_eq!(
            order_mx(Vec::new(), "x.test", &mut rng),
            MxAnswer::Hosts(vec!["x.test".into()])
        );
    }
}
