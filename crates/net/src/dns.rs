//! The DNS resolver every component that looks things up uses (queue-runner's MX lookups,
//! `mailctl check`, mail authentication): the system's resolv.conf, or explicit servers from the
//! config so tests and split-horizon setups can point it at their own DNS server.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

pub use hickory_resolver::ResolveError;

/// A resolver using `servers` (UDP, with TCP for truncated answers), or the system
/// configuration when `servers` is empty. `timeout` bounds each query attempt, so a dead DNS
/// server delays a caller by at most `timeout * attempts`, never forever.
pub fn resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, ResolveError> {
    let explicit = !servers.is_empty();
    let mut builder = if !explicit {
        TokioResolver::builder_tokio()?
    } else {
        let mut group = NameServerConfigGroup::new();
        for s in servers {
            group.push(NameServerConfig::new(*s, Protocol::Udp));
            group.push(NameServerConfig::new(*s, Protocol::Tcp));
        }
        TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], group),
            TokioConnectionProvider::default(),
        )
    };
    let opts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 2;
    if explicit {
        // Explicit servers are the whole truth (tests, split horizon): /etc/hosts must not
        // answer for them.
        opts.use_hosts_file = ResolveHosts::Never;
    }
    // Mail needs the authoritative view of MX/TXT changes; keep the cache short-lived.
    opts.positive_max_ttl = Some(Duration::from_secs(300));
    opts.negative_max_ttl = Some(Duration::from_secs(60));
    Ok(builder.build())
}
