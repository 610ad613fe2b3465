//! Counters of the `mx` role's defenses: what each check decided, so an admin sees how much
//! the DNS lists, the greeting test and greylisting catch before making them stricter.

use std::sync::LazyLock;

use ferrymail_metrics::{Counter, Family, Labels};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Dnsbl,
    Pregreet,
    Greylist,
}

impl Check {
    fn as_str(self) -> &'static str {
        match self {
            Check::Dnsbl => "dnsbl",
            Check::Pregreet => "pregreet",
            Check::Greylist => "greylist",
        }
    }
}

static SCREEN: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(|| {
    ferrymail_metrics::counter_family(
        "smtpd_screen",
        "Decisions of the mx role's defenses, by check and result (dnsbl: recipients of clients at or above the DNS list threshold, by action; pregreet: connections that talked before the greeting, by action; greylist: recipients greylisted, passed, or skipped by allowlist, auto_allowlist or a DNS allowlist score)",
    )
});

const SERIES: [(Check, &str); 11] = [
    (Check::Dnsbl, "reject"),
    (Check::Dnsbl, "tempfail"),
    (Check::Dnsbl, "ignore"),
    (Check::Pregreet, "reject"),
    (Check::Pregreet, "drop"),
    (Check::Pregreet, "ignore"),
    (Check::Greylist, "greylisted"),
    (Check::Greylist, "pass"),
    (Check::Greylist, "allowlist"),
    (Check::Greylist, "auto_allowlist"),
    (Check::Greylist, "dnswl"),
];

pub fn count(check: Check, result: &'static str) {
    SCREEN
        .get_or_create(&[("check", check.as_str()), ("result", result)])
        .inc();
}

/// Registers every series at zero.
pub fn register() {
    for (check, result) in SERIES {
        SCREEN.get_or_create_owned(&[("check", check.as_str()), ("result", result)]);
    }
}
