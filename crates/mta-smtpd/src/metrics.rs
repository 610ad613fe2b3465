//! mta-smtpd's own metrics: what became of each message at the end of its data, by the role of
//! the listener it came in on, and what the submission rate limits refused. Connections and failed logins are counted by the shared parts
//! (`ferrymail-net`), spool flushes by `ferrymail-fsutil`.

use std::sync::LazyLock;

use ferrymail_config::Role;
use ferrymail_metrics::{Counter, Family, Labels};

use crate::rate::{Budget, Scope};

/// The end of one message's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed to the spool and answered 250.
    Accepted,
    /// Refused at the end of the data: too large, bare line ends, DMARC `p=reject`, or a
    /// spool write that had already failed.
    Rejected,
    /// The spool commit itself failed (answered 451).
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

const ROLES: [Role; 3] = [Role::Mx, Role::Submission, Role::Submissions];
const OUTCOMES: [Outcome; 3] = [Outcome::Accepted, Outcome::Rejected, Outcome::Failed];

static MESSAGES: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(|| {
    ferrymail_metrics::counter_family(
        "smtpd_messages",
        "Messages at the end of their data, by listener role and result (accepted: queued; rejected: refused for their content or a failed spool write; failed: the spool commit failed)",
    )
});

/// Counts one message that came in on a listener of `role`.
pub fn message(role: Role, outcome: Outcome) {
    MESSAGES
        .get_or_create(&[("role", role.as_str()), ("result", outcome.as_str())])
        .inc();
}

static RATE_LIMITED: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(|| {
    ferrymail_metrics::counter_family(
        "smtpd_rate_limited",
        "Submissions refused by the hourly rate limits ([smtpd.rate]): a message at MAIL or a recipient at RCPT, by whose budget ran out (user, address) and which (messages, recipients)",
    )
});

/// Counts one MAIL or RCPT refused because `scope`'s `budget` ran out.
pub fn rate_limited(scope: Scope, budget: Budget) {
    RATE_LIMITED
        .get_or_create(&[("scope", scope.as_str()), ("budget", budget.as_str())])
        .inc();
}

/// Registers every series at zero, so rates and ratios exist before the first message.
pub fn register() {
    for role in ROLES {
        for outcome in OUTCOMES {
            MESSAGES.get_or_create_owned(&[("role", role.as_str()), ("result", outcome.as_str())]);
        }
    }
    for scope in [Scope::User, Scope::Address] {
        for budget in [Budget::Messages, Budget::Recipients] {
            RATE_LIMITED
                .get_or_create_owned(&[("scope", scope.as_str()), ("budget", budget.as_str())]);
        }
    }
}
