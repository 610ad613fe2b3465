//! The `[queue.mta_sts]` section: whether queue-runner honours receiving domains' MTA-STS
//! policies (RFC 8461) and the limits on fetching them. Policy hosts' and MX hosts'
//! certificates are checked against the system roots plus `queue.tls_trust_anchors`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MtaSts {
    /// Look up, cache and apply MTA-STS policies of the domains mail is sent to.
    pub enabled: bool,
    /// Time allowed for fetching one policy over HTTPS (connection, TLS and whole response).
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// After a failed fetch, how long deliveries to that domain use what the cache holds
    /// (or no policy) before fetching again, so a dead policy host does not cost every
    /// delivery attempt a `fetch_timeout`.
    #[serde(with = "humantime_serde")]
    pub fetch_retry: Duration,
    /// Largest policy body accepted, in bytes (RFC 8461 §3.3 suggests 64 KiB; the policy
    /// parser refuses anything larger whatever is set here).
    pub max_policy_size: usize,
    /// HTTPS port of the policy host (443; tests point it elsewhere).
    pub https_port: u16,
    /// Domains whose policies are not applied: mail goes to them as without MTA-STS (the
    /// way out while a domain publishes a policy its own MX hosts do not meet).
    pub ignore_domains: Vec<String>,
}

impl Default for MtaSts {
    fn default() -> Self {
        MtaSts {
            enabled: true,
            fetch_timeout: Duration::from_secs(30),
            fetch_retry: Duration::from_secs(300),
            max_policy_size: 64 * 1024,
            https_port: 443,
            ignore_domains: Vec::new(),
        }
    }
}
