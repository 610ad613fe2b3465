//! `[cluster]`: what the hosts of a multi-host installation share so they can trust each
//! other without trusting the network: one secret, the login that proves it, and the CA the
//! hosts' certificates are checked against. The front end (proxyd) logs in to the mailbox
//! backends as `login` on behalf of a user it has already authenticated, and every MX host's
//! queue-runner does the same towards the front end's LMTP; both over TLS, verified against
//! `trust_anchors`. A host without `secret_file` is not in a cluster and trusts no such login.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// The file holding the shared secret (one line, at least 32 characters, readable by the
    /// daemons' users only). Absent: not in a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// The SASL authentication identity that comes with the secret and may act as any user
    /// (Dovecot's "master user"). Never a login of the user database.
    pub login: String,
    /// PEM files of the CA certificates that sign the cluster hosts' certificates. The
    /// cluster's TLS clients trust only these (not the system roots): a backend is reached by
    /// an address the public PKI knows nothing about.
    pub trust_anchors: Vec<PathBuf>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            secret_file: None,
            login: "ferrymail-cluster".into(),
            trust_anchors: Vec::new(),
        }
    }
}

/// Another host of the cluster this one connects to: where, and the name its certificate
/// must carry (checked against `cluster.trust_anchors`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterPeer {
    pub address: SocketAddr,
    pub tls_name: String,
}

/// The keys that connect hosts by the cluster's trust need `[cluster]`.
pub(crate) fn check_users(bad: &mut impl FnMut(&str, String), c: &crate::Config) {
    let in_cluster = c.cluster.secret_file.is_some();
    let mut need = |key: &str, used: bool| {
        if used && !in_cluster {
            bad(key, "needs [cluster] (cluster.secret_file)".into());
        }
    };
    need("delivery.lmtp_listen", !c.delivery.lmtp_listen.is_empty());
    need("queue.lmtp_server", c.queue.lmtp_server.is_some());
    need("queue.handoff_relay", c.queue.handoff_relay.is_some());
    for (key, peer) in [
        ("queue.lmtp_server.tls_name", &c.queue.lmtp_server),
        ("queue.handoff_relay.tls_name", &c.queue.handoff_relay),
    ] {
        if peer.as_ref().is_some_and(|p| p.tls_name.is_empty()) {
            bad(key, "must name the host's certificate".into());
        }
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), c: &Cluster) {
    if c.login.is_empty() || c.login.contains(['@', ' ', '\0']) || c.login.len() > 64 {
        bad(
            "cluster.login",
            "must be 1 to 64 characters without `@`, spaces or NUL".into(),
        );
    }
    if c.secret_file.is_some() && c.trust_anchors.is_empty() {
        bad(
            "cluster.trust_anchors",
            "a cluster needs the CA that signs its hosts' certificates".into(),
        );
    }
}
