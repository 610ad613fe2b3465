//! Client connections and failed logins per protocol, for every daemon that serves clients:
//! the shared accept loops count connections, the login paths count failures.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::Labels;

/// The protocol a connection speaks (the label value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Imap,
    Pop3,
    Lmtp,
    ManageSieve,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Lmtp => "lmtp",
            Protocol::ManageSieve => "managesieve",
        }
    }

    fn labels(self) -> Labels<1> {
        [("protocol", self.as_str())]
    }
}

struct Conns {
    opened: Family<Labels<1>, Counter>,
    refused: Family<Labels<1>, Counter>,
    active: Family<Labels<1>, Gauge>,
    auth_failures: Family<Labels<1>, Counter>,
}

static CONNS: LazyLock<Conns> = LazyLock::new(|| Conns {
    opened: crate::counter_family("connections", "Client connections accepted"),
    refused: crate::counter_family(
        "connections_refused",
        "Client connections turned away by the connection limits",
    ),
    active: crate::gauge_family("connections_active", "Client connections open now"),
    auth_failures: crate::counter_family(
        "auth_failures",
        "Failed logins (wrong password, unknown user, refused mechanism)",
    ),
});

/// Held while a connection is being served: counted open on creation, closed on drop.
#[derive(Debug)]
pub struct OpenConnection {
    active: Gauge,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.active.dec();
    }
}

/// Counts a connection accepted for `protocol`; keep the result for as long as it is served.
pub fn opened(protocol: Protocol) -> OpenConnection {
    let labels = protocol.labels();
    CONNS.opened.get_or_create(&labels).inc();
    let active = CONNS.active.get_or_create_owned(&labels);
    active.inc();
    OpenConnection { active }
}

/// Counts a connection the limits turned away.
pub fn refused(protocol: Protocol) {
    CONNS.refused.get_or_create(&protocol.labels()).inc();
}

/// Counts one failed login.
pub fn auth_failed(protocol: Protocol) {
    CONNS.auth_failures.get_or_create(&protocol.labels()).inc();
}

/// Registers the families with a zero series for `protocol`, so rates exist from the start.
pub fn register(protocol: Protocol) {
    let labels = protocol.labels();
    CONNS.opened.get_or_create_owned(&labels);
    CONNS.refused.get_or_create_owned(&labels);
    CONNS.active.get_or_create_owned(&labels);
    CONNS.auth_failures.get_or_create_owned(&labels);
}
