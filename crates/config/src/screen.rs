//! The `[smtpd.screen]` section: the defenses of the `mx` role against clients that send spam
//! (Postfix's postscreen and a postgrey-style greylist): DNS blocklist and allowlist scoring,
//! the greeting delay that catches clients talking before their turn, and greylisting. All of
//! it is off by default; none of it applies to submission, trusted or authenticated clients.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::is_domain;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Screen {
    /// DNS lists asked about each client address, postscreen's `postscreen_dnsbl_sites` syntax:
    /// `zone[=filter][*weight]`, e.g. `zen.spamhaus.org=127.0.0.[2..11]*3` or
    /// `list.dnswl.org=127.0.[0..255].[1..3]*-2` (a negative weight is an allowlist). Empty: off.
    pub dnsbl_sites: Vec<DnsblSite>,
    /// A client whose summed weights reach this score is blocked (`dnsbl_action`).
    pub dnsbl_threshold: i32,
    /// A client whose score is at or below this (negative) value skips the greeting test and
    /// greylisting. 0 = off, as in postscreen.
    pub dnsbl_allowlist_threshold: i32,
    pub dnsbl_action: DnsblAction,
    /// Time allowed for all of a client's list lookups together; unanswered lists score 0.
    #[serde(with = "humantime_serde")]
    pub dnsbl_timeout: Duration,
    /// List answers kept in the resolver cache (each for its TTL, at most 5 minutes).
    pub dns_cache_size: u64,
    /// Greeting delay: `220-` is sent at once, the rest of the greeting after this time, and
    /// a client that sends anything before it is a pregreeter (`greet_action`). 0 = off
    /// (postscreen waits 6 s).
    #[serde(with = "humantime_serde")]
    pub greet_wait: Duration,
    pub greet_action: GreetAction,
    /// A client that waited for the whole greeting is greeted at once on its connections in
    /// the next this long (postscreen's `postscreen_greet_ttl`). 0 = test every connection.
    #[serde(with = "humantime_serde")]
    pub greet_ttl: Duration,
    /// Client addresses remembered for `greet_ttl`.
    pub greet_cache_size: usize,
    pub greylist: Greylist,
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            dnsbl_sites: Vec::new(),
            dnsbl_threshold: 1,
            dnsbl_allowlist_threshold: 0,
            dnsbl_action: DnsblAction::Reject,
            dnsbl_timeout: Duration::from_secs(10),
            dns_cache_size: 4096,
            greet_wait: Duration::ZERO,
            greet_action: GreetAction::Reject,
            greet_ttl: Duration::from_secs(24 * 3600),
            greet_cache_size: 100_000,
            greylist: Greylist::default(),
        }
    }
}

impl Screen {
    /// The sites with a positive or negative weight, each zone once, in configured order.
    pub fn dnsbl_zones(&self) -> Vec<&str> {
        let mut zones: Vec<&str> = Vec::new();
        for s in &self.dnsbl_sites {
            if !zones.contains(&s.zone.as_str()) {
                zones.push(&s.zone);
            }
        }
        zones
    }

    /// Whether any check needs the client's DNS list score.
    pub fn dnsbl_enabled(&self) -> bool {
        !self.dnsbl_sites.is_empty()
    }
}

/// What happens to a client at or above `dnsbl_threshold`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DnsblAction {
    /// Every RCPT is refused with `550 5.7.1` (postscreen's `enforce`).
    Reject,
    /// Every RCPT is refused with `450 4.7.1`: for trying a list without losing mail.
    Tempfail,
    /// Logged only.
    Ignore,
}

/// What happens to a client that talks before the greeting is complete.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GreetAction {
    /// Every RCPT is refused with `550 5.5.1` (postscreen's `enforce`).
    Reject,
    /// `521 5.5.1` and the connection is closed at once.
    Drop,
    /// Logged only.
    Ignore,
}

/// Greylisting (postgrey's model): mail from an unknown (client network, sender, recipient)
/// triplet is refused with `451 4.7.1` at RCPT until it is retried after `delay`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Greylist {
    pub enabled: bool,
    /// How long a new triplet is refused.
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// A triplet not retried within this time after its delay starts over.
    #[serde(with = "humantime_serde")]
    pub retry_window: Duration,
    /// A passed triplet (and an auto-allowlisted client) not seen for this long is forgotten.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// A client network with this many passed triplets is no longer greylisted. 0 = never.
    pub auto_allowlist_after: u32,
    /// Client networks never greylisted.
    pub allowlist_networks: Vec<IpNet>,
    /// Sender or recipient domains never greylisted (a subdomain matches too).
    pub allowlist_domains: Vec<String>,
    /// Prefix that makes a client's IPv4 network (postgrey: /24).
    pub ipv4_prefix: u8,
    /// Prefix that makes a client's IPv6 network.
    pub ipv6_prefix: u8,
    /// Most triplets and clients kept; past it the oldest are removed first.
    pub max_entries: usize,
}

impl Default for Greylist {
    fn default() -> Self {
        Greylist {
            enabled: false,
            delay: Duration::from_secs(300),
            retry_window: Duration::from_secs(2 * 24 * 3600),
            max_age: Duration::from_secs(35 * 24 * 3600),
            auto_allowlist_after: 5,
            allowlist_networks: Vec::new(),
            allowlist_domains: Vec::new(),
            ipv4_prefix: 24,
            ipv6_prefix: 64,
            max_entries: 500_000,
        }
    }
}

/// One `postscreen_dnsbl_sites` entry: a DNS list zone, which answers count, and their weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsblSite {
    /// Lower case, without the final dot.
    pub zone: String,
    /// Per octet of the answer, the ranges it may be in; `None`: any listing answer counts.
    pub filter: Option<[Vec<(u8, u8)>; 4]>,
    pub weight: i32,
}

impl DnsblSite {
    /// Whether the answer address `a` counts for this entry.
    pub fn matches(&self, a: Ipv4Addr) -> bool {
        match &self.filter {
            None => true,
            Some(octets) => octets
                .iter()
                .zip(a.octets())
                .all(|(ranges, o)| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&o))),
        }
    }
}

impl FromStr for DnsblSite {
    type Err = String;

    fn from_str(s: &str) -> Result<DnsblSite, String> {
        let (rest, weight) = match s.rsplit_once('*') {
            Some((r, w)) => (
                r,
                w.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("`{s}`: weight `{w}` is not an integer"))?,
            ),
            None => (s, 1),
        };
        let (zone, filter) = match rest.split_once('=') {
            Some((z, f)) => (
                z,
                Some(parse_filter(f.trim()).map_err(|e| format!("`{s}`: {e}"))?),
            ),
            None => (rest, None),
        };
        let zone = zone.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_domain(&zone) {
            return Err(format!("`{s}`: `{zone}` is not a DNS zone"));
        }
        Ok(DnsblSite {
            zone,
            filter,
            weight,
        })
    }
}

/// `d.e.f.g`, each octet a number or a bracketed list of numbers and `lo..hi` ranges
/// separated by `;` (postscreen's syntax).
fn parse_filter(f: &str) -> Result<[Vec<(u8, u8)>; 4], String> {
    // Dots inside brackets belong to `lo..hi` ranges, not between octets.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, ch) in f.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                parts.push(f.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(f.get(start..).unwrap_or_default());
    let [a, b, c, d] = parts.as_slice() else {
        return Err(format!("filter `{f}` must have four octets"));
    };
    Ok([octet(a)?, octet(b)?, octet(c)?, octet(d)?])
}

fn octet(p: &str) -> Result<Vec<(u8, u8)>, String> {
    let num = |n: &str| {
        n.trim()
            .parse::<u8>()
            .map_err(|_| format!("`{n}` is not an octet (0..255)"))
    };
    let Some(inner) = p.strip_prefix('[').and_then(|p| p.strip_suffix(']')) else {
        let n = num(p)?;
        return Ok(vec![(n, n)]);
    };
    inner
        .split(';')
        .map(|item| match item.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(format!("range `{item}` is empty"));
                }
                Ok((lo, hi))
            }
            None => num(item).map(|n| (n, n)),
        })
        .collect()
}

impl TryFrom<String> for DnsblSite {
    type Error = String;

    fn try_from(s: String) -> Result<DnsblSite, String> {
        s.parse()
    }
}

impl From<DnsblSite> for String {
    fn from(s: DnsblSite) -> String {
        s.to_string()
    }
}

impl fmt::Display for DnsblSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.zone)?;
        if let Some(octets) = &self.filter {
            let shown: Vec<String> = octets
                .iter()
                .map(|ranges| match ranges.as_slice() {
                    [(lo, hi)] if lo == hi => lo.to_string(),
                    _ => {
                        let items: Vec<String> = ranges
                            .iter()
                            .map(|(lo, hi)| match lo == hi {
                                true => lo.to_string(),
                                false => format!("{lo}..{hi}"),
                            })
                            .collect();
                        format!("[{}]", items.join(";"))
                    }
                })
                .collect();
            write!(f, "={}", shown.join("."))?;
        }
        if self.weight != 1 {
            write!(f, "*{}", self.weight)?;
        }
        Ok(())
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), s: &Screen) {
    if s.dnsbl_timeout.is_zero() {
        bad("smtpd.screen.dnsbl_timeout", "must be positive".into());
    }
    if s.dnsbl_threshold <= 0 {
        bad(
            "smtpd.screen.dnsbl_threshold",
            "must be positive (an allowlisted client would be blocked)".into(),
        );
    }
    if s.dnsbl_allowlist_threshold > 0 {
        bad(
            "smtpd.screen.dnsbl_allowlist_threshold",
            "must be 0 (off) or negative".into(),
        );
    }
    if s.greet_wait > Duration::from_secs(60) {
        bad(
            "smtpd.screen.greet_wait",
            "must be at most 60s (senders give up on a silent server)".into(),
        );
    }
    let g = &s.greylist;
    if g.delay.is_zero() {
        bad("smtpd.screen.greylist.delay", "must be positive".into());
    }
    if g.retry_window <= g.delay {
        bad(
            "smtpd.screen.greylist.retry_window",
            "must be longer than the delay".into(),
        );
    }
    if g.max_age < g.retry_window {
        bad(
            "smtpd.screen.greylist.max_age",
            "must be at least the retry window".into(),
        );
    }
    if g.ipv4_prefix > 32 {
        bad("smtpd.screen.greylist.ipv4_prefix", "must be 0..32".into());
    }
    if g.ipv6_prefix > 128 {
        bad("smtpd.screen.greylist.ipv6_prefix", "must be 0..128".into());
    }
    if g.max_entries == 0 {
        bad(
            "smtpd.screen.greylist.max_entries",
            "must be positive".into(),
        );
    }
    for (i, d) in g.allowlist_domains.iter().enumerate() {
        if !is_domain(d) {
            bad(
                &format!("smtpd.screen.greylist.allowlist_domains[{i}]"),
                format!("`{d}` is not a domain"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postscreen_site_syntax_parses_and_prints_back() {
        let s: DnsblSite = "zen.spamhaus.org=127.0.0.[2..11]*3".parse().unwrap();
        assert_eq!(s.zone, "zen.spamhaus.org");
        assert_eq!(s.weight, 3);
        assert!(s.matches(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(s.matches(Ipv4Addr::new(127, 0, 0, 11)));
        assert!(!s.matches(Ipv4Addr::new(127, 0, 0, 12)));
        assert!(!s.matches(Ipv4Addr::new(127, 0, 1, 2)));
        assert_eq!(s.to_string(), "zen.spamhaus.org=127.0.0.[2..11]*3");

        let w: DnsblSite = "List.DNSWL.org.=127.0.[0..255].[1;3]*-2".parse().unwrap();
        assert_eq!(w.zone, "list.dnswl.org");
        assert_eq!(w.weight, -2);
        assert!(w.matches(Ipv4Addr::new(127, 0, 9, 3)));
        assert!(!w.matches(Ipv4Addr::new(127, 0, 9, 2)));
        assert_eq!(w.to_string(), "list.dnswl.org=127.0.[0..255].[1;3]*-2");

        let plain: DnsblSite = "bl.example".parse().unwrap();
        assert_eq!((plain.weight, plain.filter.is_none()), (1, true));
        assert!(plain.matches(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(plain.to_string(), "bl.example");
    }

    #[test]
    fn bad_sites_are_refused_with_the_reason() {
        for (text, why) in [
            ("bl.example*x", "weight"),
            ("bl.example=127.0.0", "four octets"),
            ("bl.example=127.0.0.[9..2]", "empty"),
            ("bl.example=127.0.0.300", "octet"),
            ("not a zone", "not a DNS zone"),
        ] {
            let e = text.parse::<DnsblSite>().unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn nonsense_values_are_reported_by_key() {
        let mut c = crate::Config::default();
        let s = &mut c.smtpd.screen;
        s.dnsbl_threshold = 0;
        s.dnsbl_allowlist_threshold = 2;
        s.greet_wait = Duration::from_secs(120);
        s.greylist.retry_window = s.greylist.delay;
        s.greylist.allowlist_domains = vec!["not a domain".into()];
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "smtpd.screen.dnsbl_threshold",
                "smtpd.screen.dnsbl_allowlist_threshold",
                "smtpd.screen.greet_wait",
                "smtpd.screen.greylist.retry_window",
                "smtpd.screen.greylist.allowlist_domains[0]",
            ]
        );
        assert!(crate::Config::default().validate().is_empty());
    }

    #[test]
    fn zones_are_listed_once() {
        let s = Screen {
            dnsbl_sites: vec![
                "a.example=127.0.0.2*3".parse().unwrap(),
                "b.example*-1".parse().unwrap(),
                "a.example=127.0.0.4".parse().unwrap(),
            ],
            ..Screen::default()
        };
        assert_eq!(s.dnsbl_zones(), ["a.example", "b.example"]);
    }
}
