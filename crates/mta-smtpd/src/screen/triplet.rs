//! Greylisting decisions (postgrey's model) as pure functions over stored records and the
//! time, so every rule is tested without a database or a clock: which triplet a delivery
//! attempt is, whether it passes, what is stored afterwards, and when a record is stale.

use std::net::IpAddr;

use ferrymail_config::Greylist;
use ipnet::IpNet;

/// What is kept per (client network, sender, recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripletRecord {
    /// When the current greylisting of the triplet started (Unix seconds).
    pub first_seen: u64,
    pub last_seen: u64,
    /// A retry came after the delay: mail for the triplet is accepted from now on.
    pub passed: bool,
}

/// What is kept per client network: the triplets it has passed (auto-allowlist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRecord {
    pub passed: u32,
    pub last_seen: u64,
}

/// The verdict on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refuse with 451; retrying is useful after this many seconds.
    Greylisted { retry_in: u64 },
    /// Accept. `newly`: this attempt is the retry that passed the triplet.
    Pass { newly: bool },
}

/// The client network of `ip` (postgrey's /24 for IPv4; /64 for IPv6 by default).
pub fn client_network(ip: IpAddr, cfg: &Greylist) -> IpNet {
    let ip = ip.to_canonical();
    let prefix = match ip {
        IpAddr::V4(_) => cfg.ipv4_prefix.min(32),
        IpAddr::V6(_) => cfg.ipv6_prefix.min(128),
    };
    IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ip))
}

/// The database key of a triplet: addresses compared case-insensitively, `<>` as empty.
pub fn triplet_key(net: &IpNet, sender: Option<&str>, recipient: &str) -> Vec<u8> {
    format!(
        "t\0{net}\0{}\0{}",
        sender.unwrap_or_default().to_ascii_lowercase(),
        recipient.to_ascii_lowercase()
    )
    .into_bytes()
}

pub fn client_key(net: &IpNet) -> Vec<u8> {
    format!("c\0{net}").into_bytes()
}

/// Whether the configuration exempts this attempt (allowlisted network, or a sender or
/// recipient domain, or a subdomain of one, on the allowlist).
pub fn exempt(cfg: &Greylist, ip: IpAddr, sender: Option<&str>, recipient: &str) -> bool {
    let ip = ip.to_canonical();
    if cfg.allowlist_networks.iter().any(|n| n.contains(&ip)) {
        return true;
    }
    let domain_of = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    [sender.and_then(domain_of), domain_of(recipient)]
        .into_iter()
        .flatten()
        .any(|d| {
            cfg.allowlist_domains
                .iter()
                .any(|a| d == *a || d.strip_suffix(a.as_str()).is_some_and(|p| p.ends_with('.')))
        })
}

/// Whether a client network has passed enough triplets recently to skip greylisting.
pub fn auto_allowlisted(cfg: &Greylist, client: Option<ClientRecord>, now: u64) -> bool {
    cfg.auto_allowlist_after > 0
        && client.is_some_and(|c| {
            c.passed >= cfg.auto_allowlist_after
                && now.saturating_sub(c.last_seen) <= cfg.max_age.as_secs()
        })
}

/// Decides an attempt and gives the record to store for the triplet.
pub fn decide(
    cfg: &Greylist,
    record: Option<TripletRecord>,
    now: u64,
) -> (Decision, TripletRecord) {
    let delay = cfg.delay.as_secs();
    let fresh = TripletRecord {
        first_seen: now,
        last_seen: now,
        passed: false,
    };
    let Some(r) = record.filter(|r| !stale(cfg, r, now)) else {
        return (Decision::Greylisted { retry_in: delay }, fresh);
    };
    let age = now.saturating_sub(r.first_seen);
    let seen = TripletRecord {
        last_seen: now,
        ..r
    };
    if r.passed {
        (Decision::Pass { newly: false }, seen)
    } else if age < delay {
        (
            Decision::Greylisted {
                retry_in: delay - age,
            },
            seen,
        )
    } else {
        (
            Decision::Pass { newly: true },
            TripletRecord {
                passed: true,
                ..seen
            },
        )
    }
}

/// A record that no longer counts: a greylisted triplet not retried within the retry window,
/// or a passed one unused for `max_age`.
pub fn stale(cfg: &Greylist, r: &TripletRecord, now: u64) -> bool {
    if r.passed {
        now.saturating_sub(r.last_seen) > cfg.max_age.as_secs()
    } else {
        now.saturating_sub(r.first_seen) > cfg.retry_window.as_secs()
    }
}

/// The client record after one of its triplets passed (or it was seen allowlisted).
pub fn client_after(client: Option<ClientRecord>, newly_passed: bool, now: u64) -> ClientRecord {
    let passed = client.map_or(0, |c| c.passed);
    ClientRecord {
        passed: passed.saturating_add(u32::from(newly_passed)),
        last_seen: now,
    }
}

const FORMAT: u8 = 1;

impl TripletRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![FORMAT, u8::from(self.passed)];
        v.extend_from_slice(&self.first_seen.to_be_bytes());
        v.extend_from_slice(&self.last_seen.to_be_bytes());
        v
    }

    /// `None` for anything not written by [`encode`](Self::encode) (it is then treated as new).
    pub fn decode(b: &[u8]) -> Option<TripletRecord> {
        let [FORMAT, passed, rest @ ..] = b else {
            return None;
        };
        let (first, last) = rest.split_first_chunk::<8>()?;
        let last: [u8; 8] = last.try_into().ok()?;
        Some(TripletRecord {
            first_seen: u64::from_be_bytes(*first),
            last_seen: u64::from_be_bytes(last),
            passed: *passed == 1,
        })
    }
}

impl ClientRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![FORMAT];
        v.extend_from_slice(&self.passed.to_be_bytes());
        v.extend_from_slice(&self.last_seen.to_be_bytes());
        v
    }

    pub fn decode(b: &[u8]) -> Option<ClientRecord> {
        let [FORMAT, rest @ ..] = b else {
            return None;
        };
        let (passed, last) = rest.split_first_chunk::<4>()?;
        let last: [u8; 8] = last.try_into().ok()?;
        Some(ClientRecord {
            passed: u32::from_be_bytes(*passed),
            last_seen: u64::from_be_bytes(last),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Greylist {
        Greylist {
            enabled: true,
            ..Greylist::default()
        }
    }

    #[test]
    fn first_attempt_and_early_retry_are_refused_and_a_retry_after_the_delay_passes() {
        let c = cfg();
        let (d, r) = decide(&c, None, 1000);
        assert_eq!(d, Decision::Greylisted { retry_in: 300 });
        let (d, r) = decide(&c, Some(r), 1100);
        assert_eq!(d, Decision::Greylisted { retry_in: 200 });
        assert_eq!(
            r.first_seen, 1000,
            "an early retry does not restart the delay"
        );
        let (d, r) = decide(&c, Some(r), 1300);
        assert_eq!(d, Decision::Pass { newly: true });
        assert!(r.passed);
        let (d, _) = decide(&c, Some(r), 5000);
        assert_eq!(d, Decision::Pass { newly: false });
    }

    #[test]
    fn retries_outside_the_window_and_unused_passes_start_over() {
        let c = cfg();
        let (_, r) = decide(&c, None, 0);
        let late = c.retry_window.as_secs() + 1;
        assert_eq!(
            decide(&c, Some(r), late).0,
            Decision::Greylisted { retry_in: 300 }
        );
        let passed = TripletRecord {
            first_seen: 0,
            last_seen: 400,
            passed: true,
        };
        assert!(!stale(&c, &passed, 400 + c.max_age.as_secs()));
        assert!(stale(&c, &passed, 401 + c.max_age.as_secs()));
        assert_eq!(
            decide(&c, Some(passed), 401 + c.max_age.as_secs()).0,
            Decision::Greylisted { retry_in: 300 }
        );
    }

    #[test]
    fn clients_are_grouped_by_network_and_addresses_by_case() {
        let c = cfg();
        let a = client_network("192.0.2.7".parse().unwrap(), &c);
        let b = client_network("::ffff:192.0.2.200".parse().unwrap(), &c);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "192.0.2.0/24");
        let v6 = client_network("2001:db8:1:2:3::9".parse().unwrap(), &c);
        assert_eq!(v6.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            triplet_key(&a, Some("A@X.test"), "U@Example.TEST"),
            triplet_key(&b, Some("a@x.test"), "u@example.test")
        );
        assert_ne!(
            triplet_key(&a, None, "u@example.test"),
            triplet_key(&a, Some("a@x.test"), "u@example.test")
        );
    }

    #[test]
    fn allowlists_and_auto_allowlist() {
        let mut c = cfg();
        c.allowlist_networks = vec!["198.51.100.0/24".parse().unwrap()];
        c.allowlist_domains = vec!["partner.test".into()];
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(exempt(
            &c,
            "198.51.100.9".parse().unwrap(),
            None,
            "u@x.test"
        ));
        assert!(exempt(&c, ip, Some("a@mail.partner.test"), "u@x.test"));
        assert!(exempt(&c, ip, None, "u@partner.test"));
        assert!(!exempt(&c, ip, Some("a@notpartner.test"), "u@x.test"));

        let mut client = None;
        for i in 0..4 {
            client = Some(client_after(client, true, 100 + i));
            assert!(!auto_allowlisted(&c, client, 200));
        }
        client = Some(client_after(client, true, 200));
        assert!(auto_allowlisted(&c, client, 200));
        assert!(!auto_allowlisted(&c, client, 201 + c.max_age.as_secs()));
        c.auto_allowlist_after = 0;
        assert!(!auto_allowlisted(&c, client, 200));
    }

    #[test]
    fn records_round_trip_and_garbage_reads_as_nothing() {
        let t = TripletRecord {
            first_seen: 7,
            last_seen: u64::MAX,
            passed: true,
        };
        assert_eq!(TripletRecord::decode(&t.encode()), Some(t));
        let c = ClientRecord {
            passed: 9,
            last_seen: 3,
        };
        assert_eq!(ClientRecord::decode(&c.encode()), Some(c));
        assert_eq!(TripletRecord::decode(b""), None);
        assert_eq!(TripletRecord::decode(&[FORMAT, 1, 2]), None);
        assert_eq!(ClientRecord::decode(&[9, 0, 0, 0, 0]), None);
    }
}
