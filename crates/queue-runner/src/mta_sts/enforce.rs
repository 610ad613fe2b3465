//! Applying a policy to one delivery (RFC 8461 §4, §5): which MX hosts may be tried, and the
//! record of each policy failure — a log line and the `queue_mta_sts_failures` counter, by
//! mode and kind, the figures a TLS-RPT report (RFC 8460) would be built from.

use std::sync::LazyLock;

use ferrymail_metrics::{Counter, Family, Labels};

use super::cache::Cached;
use super::policy::Mode;

/// Why a connection did not meet a policy (named as RFC 8460's result types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The MX host is not listed in the policy.
    MxMismatch,
    /// The host offered no STARTTLS, its handshake failed or its certificate is not valid
    /// for its name.
    Tls,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::MxMismatch => "validation-failure",
            FailureKind::Tls => "certificate-or-starttls",
        }
    }
}

static FAILURES: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(|| {
    ferrymail_metrics::counter_family(
        "queue_mta_sts_failures",
        "Connections that failed a receiving domain's MTA-STS policy, by mode (enforce: not delivered there; testing: delivered anyway) and kind",
    )
});

/// Registers the series at zero.
pub fn register() {
    for mode in [Mode::Enforce, Mode::Testing] {
        for kind in [FailureKind::MxMismatch, FailureKind::Tls] {
            FAILURES.get_or_create_owned(&[("mode", mode.as_str()), ("kind", kind.as_str())]);
        }
    }
}

/// Records a failure of `domain`'s policy at `mx`.
pub fn report(domain: &str, policy: &Cached, mx: &str, kind: FailureKind, detail: &str) {
    let mode = policy.policy.mode.as_str();
    tracing::warn!(%domain, policy_id = %policy.id, %mode, %mx, kind = kind.as_str(), %detail, "MTA-STS policy failure");
    FAILURES
        .get_or_create_owned(&[("mode", mode), ("kind", kind.as_str())])
        .inc();
}

/// The MX hosts that may be tried under `policy`: in `enforce` mode only those it lists
/// (an empty result means the delivery must wait), otherwise all of them. Each unlisted
/// host is reported, and passed to `unlisted`.
pub fn screen_hosts(
    domain: &str,
    policy: &Cached,
    hosts: Vec<String>,
    mut unlisted: impl FnMut(&str),
) -> Vec<String> {
    let enforce = policy.policy.mode == Mode::Enforce;
    hosts
        .into_iter()
        .filter(|h| {
            let ok = policy.policy.allows_mx(h);
            if !ok {
                report(
                    domain,
                    policy,
                    h,
                    FailureKind::MxMismatch,
                    "MX host not listed in the policy",
                );
                unlisted(h);
            }
            ok || !enforce
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(mode: Mode) -> Cached {
        Cached::for_test(mode, "*.a.test")
    }

    fn count(mode: Mode) -> u64 {
        FAILURES
            .get_or_create_owned(&[
                ("mode", mode.as_str()),
                ("kind", FailureKind::MxMismatch.as_str()),
            ])
            .get()
    }

    #[test]
    fn enforce_drops_unlisted_hosts_testing_only_reports() {
        let hosts = || {
            vec![
                "mx1.a.test".to_string(),
                "evil.test".into(),
                "mx2.a.test".into(),
            ]
        };
        let before = count(Mode::Enforce);
        let mut unlisted = Vec::new();
        assert_eq!(
            screen_hosts("a.test", &cached(Mode::Enforce), hosts(), |h| {
                unlisted.push(h.to_owned())
            }),
            ["mx1.a.test", "mx2.a.test"]
        );
        assert_eq!(unlisted, ["evil.test"]);
        assert_eq!(count(Mode::Enforce), before + 1);
        let before = count(Mode::Testing);
        assert_eq!(
            screen_hosts("a.test", &cached(Mode::Testing), hosts(), |_| {}),
            hosts()
        );
        assert_eq!(count(Mode::Testing), before + 1);
    }
}
