//! The doctor's DNS questions, kept apart from the checks so those are pure functions over
//! answers. Every answer comes from servers we do not control: TXT data stays bytes (it need
//! not be UTF-8), names are whatever the resolver decoded, and nothing here indexes into them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrymail_net::dns::{ResolveError, TokioResolver};
use ferrymail_net::dnssec::RecordType;
use ferrymail_net::tlsa::Tlsa;

/// Outcome of one DNS question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Records(Vec<T>),
    /// NXDOMAIN or no records of this type.
    None,
    /// SERVFAIL, timeout, unreachable server.
    Failed(String),
}

/// The DNS facts the checks need.
pub struct Dns {
    r: TokioResolver,
}

impl Dns {
    /// Asks `servers` (empty = the system's resolvers), `timeout` per attempt.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, String> {
        let options = ferrymail_net::dns::Options {
            timeout,
            ..Default::default()
        };
        let r = ferrymail_net::dns::resolver(servers, &options)
            .map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(Dns { r })
    }

    /// The resolver itself, for questions asked elsewhere (DNS lists).
    pub fn resolver(&self) -> &TokioResolver {
        &self.r
    }

    /// (preference, exchange) pairs; the exchange is lowercase without the final dot, so the
    /// root (a null MX) is the empty string.
    pub async fn mx(&self, name: &str) -> Answer<(u16, String)> {
        match self.r.mx_lookup(fqdn(name)).await {
            Ok(l) => Answer::Records(ferrymail_net::dns::mx_records(&l)),
            Err(e) => classify(e),
        }
    }

    pub async fn ips(&self, name: &str) -> Answer<IpAddr> {
        match self.r.lookup_ip(fqdn(name)).await {
            Ok(l) => Answer::Records(l.iter().collect()),
            Err(e) => classify(e),
        }
    }

    /// Each TXT record's character-strings joined, as bytes.
    pub async fn txt(&self, name: &str) -> Answer<Vec<u8>> {
        match self.r.txt_lookup(fqdn(name)).await {
            Ok(l) => Answer::Records(ferrymail_net::dns::txt_records(&l)),
            Err(e) => classify(e),
        }
    }

    /// At most `max` TLSA records (RFC 6698), e.g. of `_25._tcp.<mx>`, unvalidated.
    pub async fn tlsa(&self, name: &str, max: usize) -> Answer<Tlsa> {
        match self.r.lookup(fqdn(name), RecordType::TLSA).await {
            Ok(l) => Answer::Records(ferrymail_net::dnssec::tlsa_records(&l, max)),
            Err(e) => classify(e),
        }
    }

    /// The TXT records of `name` as text (lossy UTF-8), for records with a textual grammar;
    /// no such name or no TXT records is an empty list, a failed lookup its error.
    pub async fn txt_text(&self, name: &str) -> Result<Vec<String>, String> {
        match self.txt(name).await {
            Answer::Records(v) => Ok(v
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect()),
            Answer::None => Ok(Vec::new()),
            Answer::Failed(e) => Err(e),
        }
    }

    pub async fn ptr(&self, ip: IpAddr) -> Answer<String> {
        match self.r.reverse_lookup(ip).await {
            Ok(l) => Answer::Records(ferrymail_net::dns::ptr_names(&l)),
            Err(e) => classify(e),
        }
    }
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// A host name as the checks compare it: lowercase, without the final dot.
pub fn trim_dot(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

fn classify<T>(e: ResolveError) -> Answer<T> {
    if e.is_no_records_found() || e.is_nx_domain() {
        Answer::None
    } else {
        Answer::Failed(e.to_string())
    }
}
