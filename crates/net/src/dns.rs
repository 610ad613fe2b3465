//! The one DNS resolver policy. Every component that looks names up builds its resolver here:
//! queue-runner (MX and address lookups for outbound SMTP), mail authentication (SPF, DKIM,
//! DMARC and ARC records, in mta-smtpd) and `mailctl check`. Only the per-query timeout and the
//! cache size are the caller's choice ([`Options`]); the rest is decided once, below.
//!
//! - **Servers.** `queue.dns_servers` when the config names any (each over UDP, with TCP for
//!   truncated answers), else the system's `/etc/resolv.conf` (its nameservers, `search` and
//!   `ndots`; its `timeout` and `attempts` are replaced by ours).
//! - **No usable system configuration** (no `/etc/resolv.conf`, no `nameserver` line in it, or
//!   a file that cannot be read or parsed): the resolver asks `127.0.0.1:53`, as glibc does
//!   when resolv.conf names no server, and logs a warning that says why. Starting without DNS
//!   is not an error: lookups fail, and mail waits in the queue until DNS works.
//! - **`/etc/hosts`** answers address lookups before DNS with the system configuration (it is
//!   part of the system's view of names, as nsswitch's `files dns` makes it), never with
//!   explicit servers: they are the whole truth (tests, split horizon).
//! - **Time.** Each query attempt is bounded by [`Options::timeout`], with [`ATTEMPTS`]
//!   attempts, so a dead server delays a caller by a bounded time, never forever.
//! - **Cache.** Answers are kept at most [`MAX_POSITIVE_TTL`] (negative ones
//!   [`MAX_NEGATIVE_TTL`]), whatever TTL the zone gives, so MX and TXT changes are seen soon.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::TrustAnchors;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::system_conf::parse_resolv_conf;

pub use hickory_resolver::lookup::Lookup;
pub use hickory_resolver::net::NetError as ResolveError;
pub use hickory_resolver::TokioResolver;

/// The system resolver configuration read when the config names no servers.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Where queries go when [`RESOLV_CONF`] names no usable server.
pub const FALLBACK_SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 53);
/// Attempts per query (per server).
pub const ATTEMPTS: usize = 2;
/// Longest time a positive answer is cached.
pub const MAX_POSITIVE_TTL: Duration = Duration::from_secs(300);
/// Longest time a negative answer (NXDOMAIN, no records) is cached.
pub const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// What a component chooses about its resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Time allowed for each query attempt.
    pub timeout: Duration,
    /// Answers kept in the cache.
    pub cache_size: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(5),
            cache_size: 4096,
        }
    }
}

/// A resolver asking `servers`, or the system's configuration when `servers` is empty,
/// under this module's policy.
pub fn resolver(servers: &[SocketAddr], options: &Options) -> Result<TokioResolver, ResolveError> {
    build(servers, options, None)
}

pub(crate) fn build(
    servers: &[SocketAddr],
    options: &Options,
    anchors: Option<Arc<TrustAnchors>>,
) -> Result<TokioResolver, ResolveError> {
    let system = if servers.is_empty() {
        Some(std::fs::read(RESOLV_CONF))
    } else {
        None
    };
    let plan = plan(servers, system, options);
    if let Some(why) = &plan.fallback {
        tracing::warn!(
            "{RESOLV_CONF}: {why}; asking the DNS server at {FALLBACK_SERVER} (mail to other \
             domains waits until it answers)"
        );
    }
    let mut builder =
        TokioResolver::builder_with_config(plan.config, TokioRuntimeProvider::default());
    *builder.options_mut() = plan.opts;
    if let Some(anchors) = anchors {
        builder = builder.with_trust_anchor(anchors);
    }
    builder.build()
}

/// The configuration [`resolver`] builds from, kept apart from the I/O so the policy can be
/// tested: `system` is the content of [`RESOLV_CONF`] (`None` when `servers` are explicit).
struct Plan {
    config: ResolverConfig,
    opts: ResolverOpts,
    /// Why the system configuration was not usable, when [`FALLBACK_SERVER`] is used.
    fallback: Option<String>,
}

fn plan(servers: &[SocketAddr], system: Option<io::Result<Vec<u8>>>, options: &Options) -> Plan {
    let (config, mut opts, fallback) = match system {
        None => (explicit(servers), ResolverOpts::default(), None),
        Some(text) => {
            let parsed = text
                .map_err(|e| e.to_string())
                .and_then(|t| parse_resolv_conf(t).map_err(|e| e.to_string()));
            match parsed {
                Ok((config, opts)) => (config, opts, None),
                Err(why) => (
                    explicit(&[FALLBACK_SERVER]),
                    ResolverOpts::default(),
                    Some(why),
                ),
            }
        }
    };
    opts.use_hosts_file = if servers.is_empty() {
        ResolveHosts::Always
    } else {
        ResolveHosts::Never
    };
    opts.timeout = options.timeout;
    opts.attempts = ATTEMPTS;
    opts.cache_size = options.cache_size;
    opts.positive_max_ttl = Some(MAX_POSITIVE_TTL);
    opts.negative_max_ttl = Some(MAX_NEGATIVE_TTL);
    Plan {
        config,
        opts,
        fallback,
    }
}

/// `servers`, each over UDP and over TCP (for truncated answers), with no search domains.
fn explicit(servers: &[SocketAddr]) -> ResolverConfig {
    let name_servers = servers
        .iter()
        .map(|s| {
            let on_port = |mut c: ConnectionConfig| {
                c.port = s.port();
                c
            };
            NameServerConfig::new(
                s.ip(),
                true,
                vec![
                    on_port(ConnectionConfig::udp()),
                    on_port(ConnectionConfig::tcp()),
                ],
            )
        })
        .collect();
    ResolverConfig::from_name_servers(name_servers)
}

/// The MX records of a lookup: preference and exchange (lower case, without the root's dot;
/// `""` for a null MX's ".").
pub fn mx_records(lookup: &Lookup) -> Vec<(u16, String)> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((
                mx.preference,
                mx.exchange
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
            )),
            _ => None,
        })
        .collect()
}

/// The TXT records of a lookup, each with its character-strings joined (RFC 7208 §3.3).
pub fn txt_records(lookup: &Lookup) -> Vec<Vec<u8>> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.concat()),
            _ => None,
        })
        .collect()
}

/// The names of a PTR lookup (lower case, without the root's dot).
pub fn ptr_names(lookup: &Lookup) -> Vec<String> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers_of(plan: &Plan) -> Vec<(std::net::IpAddr, Vec<u16>)> {
        plan.config
            .name_servers()
            .iter()
            .map(|ns| (ns.ip, ns.connections.iter().map(|c| c.port).collect()))
            .collect()
    }

    fn assert_policy(plan: &Plan, options: &Options) {
        assert_eq!(plan.opts.timeout, options.timeout);
        assert_eq!(plan.opts.attempts, ATTEMPTS);
        assert_eq!(plan.opts.cache_size, options.cache_size);
        assert_eq!(plan.opts.positive_max_ttl, Some(MAX_POSITIVE_TTL));
        assert_eq!(plan.opts.negative_max_ttl, Some(MAX_NEGATIVE_TTL));
    }

    const OPTS: Options = Options {
        timeout: Duration::from_millis(1500),
        cache_size: 17,
    };

    #[test]
    fn explicit_servers_are_the_whole_truth() {
        let servers: [SocketAddr; 2] = [
            "127.0.0.1:5353".parse().unwrap(),
            "[::1]:53".parse().unwrap(),
        ];
        let plan = plan(&servers, None, &OPTS);
        assert_eq!(
            servers_of(&plan),
            [
                (servers[0].ip(), vec![5353, 5353]),
                (servers[1].ip(), vec![53, 53]),
            ]
        );
        assert_eq!(plan.opts.use_hosts_file, ResolveHosts::Never);
        assert!(plan.config.search().is_empty());
        assert!(plan.fallback.is_none());
        assert_policy(&plan, &OPTS);
    }

    #[test]
    fn resolv_conf_gives_servers_and_search_but_not_timing() {
        let text = b"search example.test\nnameserver 192.0.2.53\noptions timeout:30 attempts:5\n";
        let plan = plan(&[], Some(Ok(text.to_vec())), &OPTS);
        assert_eq!(
            servers_of(&plan),
            [("192.0.2.53".parse().unwrap(), vec![53, 53])]
        );
        assert_eq!(plan.config.search().len(), 1);
        assert_eq!(plan.opts.use_hosts_file, ResolveHosts::Always);
        assert!(plan.fallback.is_none());
        assert_policy(&plan, &OPTS);
    }

    #[test]
    fn no_usable_resolv_conf_means_the_local_server() {
        for system in [
            Ok(b"search example.test\n# nameserver 192.0.2.1\n".to_vec()),
            Ok(Vec::new()),
            Err(io::Error::from(io::ErrorKind::NotFound)),
            Err(io::Error::from(io::ErrorKind::PermissionDenied)),
        ] {
            let plan = plan(&[], Some(system), &OPTS);
            assert_eq!(servers_of(&plan), [(FALLBACK_SERVER.ip(), vec![53, 53])]);
            assert!(plan.fallback.is_some());
            assert_eq!(plan.opts.use_hosts_file, ResolveHosts::Always);
            assert_policy(&plan, &OPTS);
        }
    }
}
