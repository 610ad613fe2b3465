//! proxyd's own metrics, besides the connection counts every daemon has
//! (`ferrymail_metrics::conn`): sessions relayed per protocol and backend, logins by result,
//! and backend failures (connections or cluster logins that failed, and health changes to
//! down). Backend labels are the configured backend names, interned once: a fixed set.

use std::sync::{LazyLock, Mutex};

use ferrymail_metrics::conn::Protocol;
use ferrymail_metrics::{Counter, Family, Labels};

struct Metrics {
    proxied: Family<Labels<2>, Counter>,
    logins: Family<Labels<2>, Counter>,
    failures: Family<Labels<1>, Counter>,
    down: Family<Labels<1>, Counter>,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    proxied: ferrymail_metrics::counter_family(
        "proxy_sessions",
        "Sessions relayed to a backend, by protocol and backend",
    ),
    logins: ferrymail_metrics::counter_family(
        "proxy_logins",
        "Logins checked by the front end, by protocol and result",
    ),
    failures: ferrymail_metrics::counter_family(
        "proxy_backend_failures",
        "Connections or cluster logins to a backend that failed",
    ),
    down: ferrymail_metrics::counter_family(
        "proxy_backend_down",
        "Times a backend was taken out of the routing",
    ),
});

/// The configured backend names as `'static` labels.
static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn label(name: &str) -> &'static str {
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    // Only configured names reach here (the router never invents one): bounded.
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Every series at zero before the first scrape.
pub fn register<'a>(backends: impl IntoIterator<Item = &'a str>) {
    for p in [
        Protocol::Imap,
        Protocol::Pop3,
        Protocol::ManageSieve,
        Protocol::Lmtp,
    ] {
        ferrymail_metrics::conn::register(p);
        for result in ["ok", "failed"] {
            M.logins
                .get_or_create_owned(&[("protocol", p.as_str()), ("result", result)]);
        }
    }
    for b in backends {
        let b = label(b);
        M.failures.get_or_create_owned(&[("backend", b)]);
        M.down.get_or_create_owned(&[("backend", b)]);
        for p in [
            Protocol::Imap,
            Protocol::Pop3,
            Protocol::ManageSieve,
            Protocol::Lmtp,
        ] {
            M.proxied
                .get_or_create_owned(&[("protocol", p.as_str()), ("backend", b)]);
        }
    }
}

pub fn proxied(protocol: Protocol, backend: &str) {
    M.proxied
        .get_or_create(&[("protocol", protocol.as_str()), ("backend", label(backend))])
        .inc();
}

pub fn login(protocol: Protocol, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    M.logins
        .get_or_create(&[("protocol", protocol.as_str()), ("result", result)])
        .inc();
    if !ok {
        ferrymail_metrics::conn::auth_failed(protocol);
    }
}

pub fn backend_failed(backend: &str) {
    M.failures
        .get_or_create(&[("backend", label(backend))])
        .inc();
}

pub fn backend_down(backend: &str) {
    M.down.get_or_create(&[("backend", label(backend))]).inc();
}
