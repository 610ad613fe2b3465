//! The `[queue.tls_rpt]` section: SMTP TLS Reporting (RFC 8460). When enabled, queue-runner
//! records the outcome of every TLS session towards other domains (MTA-STS policy, DANE or
//! no policy) and once a day sends each domain that publishes a `_smtp._tls` TXT record an
//! aggregate report of the previous UTC day. Off by default: reports are mail sent on the
//! operator's behalf to third parties, from an address that must exist and be signed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsRpt {
    /// Record TLS results and send the daily reports.
    pub enabled: bool,
    /// `organization-name` of the reports. Empty: the host name.
    pub organization: String,
    /// `contact-info` of the reports. Empty: `postmaster@<hostname>`.
    pub contact: String,
    /// Envelope and header sender of the reports. Empty: `noreply-tlsrpt@<hostname>`.
    pub sender: String,
    /// Reports leave after UTC midnight plus a random delay up to this (RFC 8460 §4.1 asks
    /// senders to spread them).
    #[serde(with = "humantime_serde")]
    pub send_delay_max: Duration,
    /// Results kept in detail per UTC day; past this only the counts grow.
    pub max_results_per_day: usize,
    /// Days of results kept when they could not be reported (no record, DNS failure).
    pub keep_days: u32,
}

impl Default for TlsRpt {
    fn default() -> Self {
        TlsRpt {
            enabled: false,
            organization: String::new(),
            contact: String::new(),
            sender: String::new(),
            send_delay_max: Duration::from_secs(3600),
            max_results_per_day: 100_000,
            keep_days: 3,
        }
    }
}

impl TlsRpt {
    pub fn organization(&self, hostname: &str) -> String {
        or_default(&self.organization, || hostname.to_owned())
    }

    pub fn contact(&self, hostname: &str) -> String {
        or_default(&self.contact, || format!("postmaster@{hostname}"))
    }

    pub fn sender(&self, hostname: &str) -> String {
        or_default(&self.sender, || format!("noreply-tlsrpt@{hostname}"))
    }
}

fn or_default(v: &str, default: impl FnOnce() -> String) -> String {
    if v.is_empty() {
        default()
    } else {
        v.to_owned()
    }
}
