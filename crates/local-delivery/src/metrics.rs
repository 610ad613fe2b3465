//! local-delivery's metrics: each write into a mailbox (or hand-off) by kind and result, and
//! the time one recipient's delivery takes. LMTP connections are counted where they are
//! accepted ([`crate::server`]); flushes by `ferrymail-fsutil` in this process, which does not
//! see those of the helper processes that write Unix accounts' mailboxes as their owners.

use std::sync::LazyLock;
use std::time::Duration;

use ferrymail_metrics::{Counter, Family, HistogramFamily, Labels, LATENCY_SECONDS};
use ferrymail_smtp::Reply;

use crate::deliver::Target;
use crate::helper::JobError;

/// Where a copy went: a mailbox format, an alias's file or command, or back to the queue.
fn kind(target: Option<&Target>) -> &'static str {
    match target {
        Some(Target::Maildir(_)) => "maildir",
        Some(Target::Mbox(_)) => "mbox",
        Some(Target::File(_)) => "file",
        Some(Target::Pipe(_)) => "pipe",
        None => "forward",
    }
}

/// delivered (2xx), deferred (4xx, to be retried) or bounced (5xx).
fn result(reply: &Reply) -> &'static str {
    if reply.is_positive() {
        "delivered"
    } else if reply.is_transient() {
        "deferred"
    } else {
        "bounced"
    }
}

const KINDS: [&str; 5] = ["maildir", "mbox", "file", "pipe", "forward"];
const RESULTS: [&str; 3] = ["delivered", "deferred", "bounced"];

struct DeliveryMetrics {
    writes: Family<Labels<2>, Counter>,
    duration: HistogramFamily<1>,
}

static METRICS: LazyLock<DeliveryMetrics> = LazyLock::new(|| {
    DeliveryMetrics {
    writes: ferrymail_metrics::counter_family(
        "local_delivery_copies",
        "Copies of a message made for a recipient, by where they went (maildir, mbox, file, pipe, forward: back to the queue) and result",
    ),
    duration: ferrymail_metrics::histogram_family(
        "local_delivery_duration_seconds",
        "Time to deliver a message to one recipient (aliases, Sieve, every copy durable), by the recipient's result",
        LATENCY_SECONDS,
    ),
}
});

/// Counts one copy: `target` None for remote targets handed back to the queue.
pub fn copy<T>(target: Option<&Target>, outcome: &Result<T, JobError>) {
    let result = match outcome {
        Ok(_) => "delivered",
        Err(e) => result(&e.reply()),
    };
    METRICS
        .writes
        .get_or_create(&[("mailbox", kind(target)), ("result", result)])
        .inc();
}

/// Records one recipient's delivery and how it was answered.
pub fn recipient(reply: &Reply, took: Duration) {
    METRICS
        .duration
        .get_or_create(&[("result", result(reply))])
        .observe(took.as_secs_f64());
}

/// Registers every series at zero.
pub fn register() {
    for kind in KINDS {
        for result in RESULTS {
            METRICS
                .writes
                .get_or_create_owned(&[("mailbox", kind), ("result", result)]);
        }
    }
    for result in RESULTS {
        METRICS.duration.get_or_create_owned(&[("result", result)]);
    }
}
