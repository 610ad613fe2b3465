//! `[managesieve]`: the ManageSieve server (RFC 5804, port 4190), through which mail clients
//! (Thunderbird's Sieve add-on, Roundcube's managesieve plugin, sieve-connect) edit the users'
//! Sieve scripts, and the per-user limits on those scripts.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConnLimits, Listener, Role};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Managesieve {
    /// Writes into the users' Sieve homes, so the owner of the virtual mailboxes.
    pub user: String,
    pub listeners: Vec<Listener>,
    /// A session waiting this long for the client's next command is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A client that has not logged in this long after connecting is disconnected.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Longest command line, literals not counted.
    pub max_line: usize,
    /// Scripts a user may store (0 = no limit).
    pub max_scripts: usize,
    /// Largest script in octets; also the largest literal a client may send.
    pub max_script_size: u64,
    /// All of a user's scripts together, in octets (0 = no limit).
    pub max_total_size: u64,
    /// Longest script name, in characters.
    pub max_name_length: usize,
    pub limits: ConnLimits,
    /// Where this daemon serves `/metrics`, as [`crate::Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Managesieve {
    fn default() -> Self {
        Managesieve {
            user: "vmail".into(),
            listeners: vec![Listener::new(Role::Managesieve, "[::]:4190")],
            idle_timeout: Duration::from_secs(30 * 60),
            login_timeout: Duration::from_secs(3 * 60),
            max_line: 8192,
            max_scripts: 20,
            max_script_size: 1024 * 1024,
            max_total_size: 10 * 1024 * 1024,
            max_name_length: 128,
            limits: ConnLimits::default(),
            metrics_listen: None,
        }
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), m: &Managesieve) {
    crate::check_listeners(bad, "managesieve", &m.listeners, &[Role::Managesieve]);
    crate::check_limits(bad, "managesieve.limits", &m.limits);
    if m.max_line < 1024 {
        bad("managesieve.max_line", "must be at least 1024".into());
    }
    if m.max_script_size == 0 {
        bad("managesieve.max_script_size", "must be positive".into());
    }
    if m.max_name_length == 0 {
        bad("managesieve.max_name_length", "must be positive".into());
    }
    for (key, t) in [
        ("managesieve.idle_timeout", m.idle_timeout),
        ("managesieve.login_timeout", m.login_timeout),
    ] {
        if t.is_zero() {
            bad(key, "must be positive".into());
        }
    }
}
