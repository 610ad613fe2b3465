//! `[proxy]`: the front end of a multi-host installation (proxyd). It authenticates users
//! itself, picks each user's mailbox backend (rendezvous hashing over the healthy ones, an
//! administrator's override, or the backend the user's open sessions already use), logs in
//! there as the cluster login on the user's behalf and relays the session; LMTP from the MX
//! hosts is routed per recipient the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConnLimits, Listener, Role};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Proxy {
    /// Reads the user database and the cluster secret; owns no mail.
    pub user: String,
    /// Roles imap, imaps, pop3, pop3s, managesieve and lmtp.
    pub listeners: Vec<Listener>,
    /// The mailbox backends users are spread over.
    pub backends: Vec<Backend>,
    /// The administrator's overrides, one `user backend-name` per line (written by
    /// `mailctl proxy move`), re-read when it changes.
    pub routes_file: PathBuf,
    /// How often each backend's IMAP port is checked (connect and greeting).
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// Failed checks in a row after which a backend is taken out of the routing.
    pub health_failures: u32,
    /// The control socket of `mailctl proxy` (relative paths are under `paths.run_dir`).
    pub control_socket: PathBuf,
    /// A relayed session in which neither side sent anything this long is closed; longer
    /// than the 29 minutes after which IMAP clients renew IDLE.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A client that has not logged in this long after connecting is disconnected.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    pub limits: ConnLimits,
    /// Where this daemon serves `/metrics`, as [`crate::Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

/// One mailbox backend and its ports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// The name routes and `mailctl proxy` use; also the hashing key, so renaming a backend
    /// moves its users.
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// The name its certificate is checked for (against `cluster.trust_anchors`).
    pub tls_name: String,
    #[serde(default = "port::imap")]
    pub imap: u16,
    #[serde(default = "port::pop3")]
    pub pop3: u16,
    #[serde(default = "port::managesieve")]
    pub managesieve: u16,
    #[serde(default = "port::lmtp")]
    pub lmtp: u16,
}

mod port {
    pub fn imap() -> u16 {
        143
    }
    pub fn pop3() -> u16 {
        110
    }
    pub fn managesieve() -> u16 {
        4190
    }
    pub fn lmtp() -> u16 {
        24
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            user: "ferrymail".into(),
            listeners: vec![
                Listener::new(Role::Imap, "[::]:143"),
                Listener::new(Role::Imaps, "[::]:993"),
                Listener::new(Role::Pop3, "[::]:110"),
                Listener::new(Role::Pop3s, "[::]:995"),
                Listener::new(Role::Managesieve, "[::]:4190"),
                Listener::new(Role::Lmtp, "[::]:24"),
            ],
            backends: Vec::new(),
            routes_file: "/etc/ferrymail/proxy-routes".into(),
            health_interval: Duration::from_secs(5),
            health_failures: 2,
            control_socket: "proxy-control.sock".into(),
            idle_timeout: Duration::from_secs(35 * 60),
            login_timeout: Duration::from_secs(3 * 60),
            limits: ConnLimits::default(),
            metrics_listen: None,
        }
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), p: &Proxy) {
    crate::check_listeners(
        bad,
        "proxy",
        &p.listeners,
        &[
            Role::Imap,
            Role::Imaps,
            Role::Pop3,
            Role::Pop3s,
            Role::Managesieve,
            Role::Lmtp,
        ],
    );
    crate::check_limits(bad, "proxy.limits", &p.limits);
    if p.user.is_empty() || p.user.contains([':', '/', ' ']) {
        bad(
            "proxy.user",
            format!("`{}` is not a valid user name", p.user),
        );
    }
    for (i, b) in p.backends.iter().enumerate() {
        if b.name.is_empty() || b.name.contains(char::is_whitespace) {
            bad(
                &format!("proxy.backends[{i}].name"),
                "must be one word".into(),
            );
        }
        if p.backends[..i].iter().any(|o| o.name == b.name) {
            bad(
                &format!("proxy.backends[{i}].name"),
                format!("`{}` is named twice", b.name),
            );
        }
        if b.address.is_empty() || b.tls_name.is_empty() {
            bad(
                &format!("proxy.backends[{i}]"),
                "address and tls_name must be set".into(),
            );
        }
    }
    if p.health_failures == 0 {
        bad("proxy.health_failures", "must be at least 1".into());
    }
    for (key, t) in [
        ("proxy.health_interval", p.health_interval),
        ("proxy.idle_timeout", p.idle_timeout),
        ("proxy.login_timeout", p.login_timeout),
    ] {
        if t.is_zero() {
            bad(key, "must be positive".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn backend_ports_default_and_bad_backends_are_named() {
        let text = "[proxy]\nbackends = [{ name = \"b1\", address = \"10.77.0.21\", \
                    tls_name = \"b1.cluster.test\", imap = 1143 }, \
                    { name = \"b1\", address = \"\", tls_name = \"x\" }]\n";
        let err = crate::Config::parse(text, Path::new("t.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("proxy.backends[1].name"), "{msg}");
        assert!(msg.contains("proxy.backends[1]`"), "{msg}");
        let ok = "[proxy]\nbackends = [{ name = \"b1\", address = \"10.77.0.21\", \
                  tls_name = \"b1.cluster.test\", imap = 1143 }]\n";
        let c = crate::Config::parse(ok, Path::new("t.toml")).unwrap();
        let b = &c.proxy.backends[0];
        assert_eq!(
            (b.imap, b.pop3, b.managesieve, b.lmtp),
            (1143, 110, 4190, 24)
        );
        assert_eq!(c.proxy.listeners.len(), 6);
    }
}
