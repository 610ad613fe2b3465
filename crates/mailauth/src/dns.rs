//! The resolver behind verification.
//!
//! mail-auth drives its own hickory-resolver (0.26; the workspace and `ferrymail_net::dns` use
//! 0.25), and its lookups take that version's resolver type, so a `ferrymail_net::dns::resolver`
//! cannot be handed to it. Instead this builds mail-auth's resolver from the same inputs and with
//! the same policy as `ferrymail_net::dns::resolver`: the configured servers (UDP, TCP for
//! truncated answers) or resolv.conf, a per-attempt timeout with two attempts, no /etc/hosts
//! for explicit servers, and a cache whose TTLs are capped so record changes are seen soon.

use std::net::SocketAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::MessageAuthenticator;

/// The resolver could not be set up (unreadable resolv.conf, ...).
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(pub String);

/// mail-auth's authenticator over `servers` (empty = the system configuration).
pub fn authenticator(
    servers: &[SocketAddr],
    timeout: Duration,
    cache_size: u64,
) -> Result<MessageAuthenticator, ResolverError> {
    let (config, mut opts) = if servers.is_empty() {
        read_system_conf().map_err(|e| ResolverError(e.to_string()))?
    } else {
        let group = servers
            .iter()
            .map(|s| {
                let conn = |mut c: ConnectionConfig| {
                    c.port = s.port();
                    c
                };
                NameServerConfig::new(
                    s.ip(),
                    true,
                    vec![conn(ConnectionConfig::udp()), conn(ConnectionConfig::tcp())],
                )
            })
            .collect();
        let mut opts = ResolverOpts::default();
        // Explicit servers are the whole truth (tests, split horizon).
        opts.use_hosts_file = ResolveHosts::Never;
        (ResolverConfig::from_name_servers(group), opts)
    };
    opts.timeout = timeout;
    opts.attempts = 2;
    opts.cache_size = cache_size;
    opts.positive_max_ttl = Some(Duration::from_secs(300));
    opts.negative_max_ttl = Some(Duration::from_secs(60));
    MessageAuthenticator::new(config, opts).map_err(|e| ResolverError(e.to_string()))
}
