//! The `[smtpd.rate]` section: how much mail an authenticated user, and the client address it
//! comes from, may submit per hour, so a stolen password cannot turn the server into a spam
//! cannon. Enforced by mta-smtpd on every authenticated session; `0` means no limit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Messages one login may have accepted in any sliding hour.
    pub user_messages_per_hour: u32,
    /// Recipients (counted once per message) one login may have accepted per hour.
    pub user_recipients_per_hour: u32,
    /// Messages per hour from one client address (an IPv6 client by its /64), whichever users
    /// log in from it. Clients exempt by `smtpd.limits.exempt_trusted` have no address limit.
    pub address_messages_per_hour: u32,
    /// Recipients per hour from one client address.
    pub address_recipients_per_hour: u32,
    /// Logins and addresses tracked at most (each of the two); when full, keys idle for an
    /// hour are dropped, then the least recently active one.
    pub max_tracked_keys: usize,
    /// Per-login limits replacing the user ones (login, case-insensitive -> limits).
    pub user_overrides: BTreeMap<String, UserRate>,
}

/// One login's own limits; a missing field keeps the general user limit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserRate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_hour: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients_per_hour: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            user_messages_per_hour: 1000,
            user_recipients_per_hour: 3000,
            address_messages_per_hour: 2000,
            address_recipients_per_hour: 6000,
            max_tracked_keys: 20_000,
            user_overrides: BTreeMap::new(),
        }
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), r: &RateLimits) {
    if r.max_tracked_keys == 0 {
        bad("smtpd.rate.max_tracked_keys", "must be positive".into());
    }
    for login in r.user_overrides.keys() {
        if login.trim().is_empty() || login.contains(char::is_whitespace) {
            bad(
                "smtpd.rate.user_overrides",
                format!("`{login}` is not a login"),
            );
        }
    }
}
