//! The client's name as Postfix decides it before telling milters about a connection: the
//! names its address's PTR records give, kept only when a forward lookup of the name leads
//! back to the address (forward-confirmed reverse DNS). Content filters such as rspamd score a
//! client by this name (`RDNS_NONE`, `HFILTER_HOSTNAME_UNKNOWN`, …), so a server that never
//! looks it up makes every client look nameless.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::{RData, RecordType};

use crate::dns::{ptr_names, TokioResolver};

/// PTR names tried for the forward confirmation (Postfix tries them all; a hostile zone could
/// list hundreds).
const MAX_PTR_NAMES: usize = 4;

/// What the lookups found. `unknown` stands for a missing name, as in Postfix's macros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientName {
    /// The forward-confirmed name (`{client_name}`).
    pub verified: Option<String>,
    /// The first PTR name, confirmed or not (`{client_ptr}`).
    pub ptr: Option<String>,
}

impl ClientName {
    /// `{client_name}`: the confirmed name or `unknown`.
    pub fn name(&self) -> &str {
        self.verified.as_deref().unwrap_or("unknown")
    }

    /// `{client_ptr}`: the PTR name or `unknown`.
    pub fn ptr(&self) -> &str {
        self.ptr.as_deref().unwrap_or("unknown")
    }
}

/// Looks `ip`'s name up, all of it within `timeout`; a failure or timeout leaves the name
/// unknown, never an error: the name is informative, mail does not wait for DNS to recover.
pub async fn client_name(resolver: &TokioResolver, ip: IpAddr, timeout: Duration) -> ClientName {
    tokio::time::timeout(timeout, lookup(resolver, ip))
        .await
        .unwrap_or_default()
}

async fn lookup(resolver: &TokioResolver, ip: IpAddr) -> ClientName {
    let names = match resolver.reverse_lookup(ip).await {
        Ok(l) => ptr_names(&l),
        Err(_) => return ClientName::default(),
    };
    let mut found = ClientName {
        verified: None,
        ptr: names.first().cloned(),
    };
    for name in names.into_iter().take(MAX_PTR_NAMES) {
        let rtype = match ip {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::AAAA,
        };
        let Ok(l) = resolver.lookup(format!("{name}."), rtype).await else {
            continue;
        };
        let confirmed = l.answers().iter().any(|r| match (&r.data, ip) {
            (RData::A(a), IpAddr::V4(v4)) => a.0 == v4,
            (RData::AAAA(a), IpAddr::V6(v6)) => a.0 == v6,
            _ => false,
        });
        if confirmed {
            found.verified = Some(name);
            break;
        }
    }
    found
}
