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
    /// Time allowed for POSTing a report to an `https:` address.
    #[serde(with = "humantime_serde")]
    pub post_timeout: Duration,
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
            post_timeout: Duration::from_secs(30),
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

impl TlsRpt {
    /// What is wrong with the values, as (key under `queue.tls_rpt`, reason).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let s = &self.sender;
        let ok = s.is_empty()
            || s.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && super::is_domain(domain)
                    && !local.contains(|c: char| c.is_whitespace() || "<>\"".contains(c))
            });
        if ok {
            Vec::new()
        } else {
            vec![("sender", format!("`{s}` is not a mail address"))]
        }
    }
}

fn or_default(v: &str, default: impl FnOnce() -> String) -> String {
    if v.is_empty() {
        default()
    } else {
        v.to_owned()
    }
}
