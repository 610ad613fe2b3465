//! The resolver behind verification: mail-auth's `MessageAuthenticator` wraps a hickory
//! resolver, and this builds it with `ferrymail_net::dns`, so SPF, DKIM, DMARC and ARC lookups
//! follow the same policy (servers, timeouts, `/etc/hosts`, TTL caps) as every other lookup.

use std::net::SocketAddr;
use std::time::Duration;

use mail_auth::MessageAuthenticator;

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(#[from] pub ferrymail_net::dns::ResolveError);

/// mail-auth's authenticator over `servers` (empty = the system configuration).
pub fn authenticator(
    servers: &[SocketAddr],
    timeout: Duration,
    cache_size: u64,
) -> Result<MessageAuthenticator, ResolverError> {
    let options = ferrymail_net::dns::Options {
        timeout,
        cache_size,
    };
    Ok(MessageAuthenticator(ferrymail_net::dns::resolver(
        servers, &options,
    )?))
}
