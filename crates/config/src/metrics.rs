//! The `[metrics]` section: limits of the small HTTP listener that serves `/metrics` in each
//! daemon whose section sets `metrics_listen`, and the checks on those addresses.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Config;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Time a scraper has to send its request; the connection is closed after that.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request head (request line and headers) read; a longer one gets 431.
    pub max_request_size: usize,
    /// Scrapes served at once; further connections are closed unanswered until one ends.
    pub max_connections: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            request_timeout: Duration::from_secs(10),
            max_request_size: 8 * 1024,
            max_connections: 8,
        }
    }
}

/// The `metrics_listen` key of every daemon section, with the addresses of its listeners.
fn daemons(c: &Config) -> [(&'static str, Option<SocketAddr>, Vec<SocketAddr>); 6] {
    let addrs = |l: &[crate::Listener]| l.iter().map(|l| l.listen).collect::<Vec<_>>();
    [
        ("smtpd", c.smtpd.metrics_listen, addrs(&c.smtpd.listeners)),
        ("queue", c.queue.metrics_listen, Vec::new()),
        ("delivery", c.delivery.metrics_listen, Vec::new()),
        ("pop3d", c.pop3d.metrics_listen, addrs(&c.pop3d.listeners)),
        ("imapd", c.imapd.metrics_listen, addrs(&c.imapd.listeners)),
        (
            "managesieve",
            c.managesieve.metrics_listen,
            addrs(&c.managesieve.listeners),
        ),
    ]
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), c: &Config) {
    let m = &c.metrics;
    if m.request_timeout.is_zero() {
        bad("metrics.request_timeout", "must be positive".into());
    }
    if m.max_request_size < 256 {
        bad(
            "metrics.max_request_size",
            "must be at least 256 (a scraper's request line and headers)".into(),
        );
    }
    if m.max_connections == 0 {
        bad("metrics.max_connections", "must be positive".into());
    }
    let all = daemons(c);
    for (i, (section, listen, _)) in all.iter().enumerate() {
        // Port 0 (any free port) can never collide.
        let Some(addr) = listen.filter(|a| a.port() != 0) else {
            continue;
        };
        let key = format!("{section}.metrics_listen");
        for (other, _, listeners) in &all {
            if listeners.contains(&addr) {
                bad(&key, format!("{addr} is also a listener of [{other}]"));
            }
        }
        for (other, other_listen, _) in &all[i + 1..] {
            if *other_listen == Some(addr) {
                bad(&key, format!("{addr} is also {other}.metrics_listen"));
            }
        }
    }
}
