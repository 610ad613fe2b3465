//! queue-runner's metrics: each recipient's delivery attempt by transport and result, the time
//! from a message's arrival to its final result, and the queue's size and oldest message
//! (read from the scheduling database and `hold/` when scraped, not kept up to date).

use std::sync::{Arc, LazyLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrymail_metrics::{Counter, Family, Gauge, HistogramFamily, Labels, LATENCY_SECONDS};
use ferrymail_spool::{QueueDir, QueueId};

use crate::outcome::Verdict;
use crate::runner::Runner;

/// How a recipient was delivered: `local` over LMTP to local-delivery, `remote` over SMTP.
fn transport(relay: &str) -> &'static str {
    // Every outcome of the LMTP path names the relay `local` (see `Runner::deliver_local`).
    if relay == "local" {
        "local"
    } else {
        "remote"
    }
}

fn result(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Deferred => "deferred",
        Verdict::Bounced => "bounced",
    }
}

struct QueueMetrics {
    recipients: Family<Labels<2>, Counter>,
    delay: HistogramFamily<2>,
    messages: Family<Labels<1>, Gauge>,
    oldest: Gauge,
}

static METRICS: LazyLock<QueueMetrics> = LazyLock::new(|| {
    QueueMetrics {
    recipients: ferrymail_metrics::counter_family(
        "queue_recipients",
        "Delivery attempts per recipient, by transport (local: LMTP, remote: SMTP) and result (delivered, deferred, bounced)",
    ),
    delay: ferrymail_metrics::histogram_family(
        "queue_delivery_delay_seconds",
        "Time from a message's arrival to a recipient's final result (delivered or bounced), by transport",
        LATENCY_SECONDS,
    ),
    messages: ferrymail_metrics::gauge_family(
        "queue_messages",
        "Messages in the queue: active (scheduled for delivery) and hold (set aside by the admin)",
    ),
    oldest: ferrymail_metrics::gauge(
        "queue_oldest_message_age_seconds",
        "Age of the oldest message in the active queue (0 when it is empty)",
    ),
}
});

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// When the message arrived, in seconds: the envelope's arrival time, to the microsecond when
/// its queue id (made as the message came in) names the same second.
fn arrival_secs(arrival: u64, id: &QueueId) -> f64 {
    let from_id = id.timestamp_micros() as f64 / 1e6;
    if from_id.floor() as u64 == arrival {
        from_id
    } else {
        arrival as f64
    }
}

/// Counts one recipient's attempt; a final one (delivered, bounced) also records its delay.
pub fn recipient(relay: &str, verdict: Verdict, arrival: u64, id: &QueueId) {
    let transport = transport(relay);
    METRICS
        .recipients
        .get_or_create(&[("transport", transport), ("result", result(verdict))])
        .inc();
    if verdict != Verdict::Deferred {
        let delay = (now_secs() - arrival_secs(arrival, id)).max(0.0);
        METRICS
            .delay
            .get_or_create(&[("transport", transport), ("result", result(verdict))])
            .observe(delay);
    }
}

fn refresh(runner: &Runner) {
    let m = &*METRICS;
    m.messages
        .get_or_create(&[("queue", "active")])
        .set(runner.index.len() as i64);
    match runner.spool.list(QueueDir::Hold) {
        Ok(held) => {
            m.messages
                .get_or_create(&[("queue", "hold")])
                .set(held.len() as i64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot list the held messages"),
    }
    let age = runner
        .index
        .oldest()
        .map(|id| (now_secs() - id.timestamp_micros() as f64 / 1e6).max(0.0))
        .unwrap_or(0.0);
    m.oldest.set(age as i64);
}

/// Registers every series at zero.
pub fn register() {
    crate::dane::register();
    let m = &*METRICS;
    for transport in ["local", "remote"] {
        for verdict in [Verdict::Delivered, Verdict::Deferred, Verdict::Bounced] {
            let labels = [("transport", transport), ("result", result(verdict))];
            m.recipients.get_or_create_owned(&labels);
            if verdict != Verdict::Deferred {
                m.delay.get_or_create_owned(&labels);
            }
        }
    }
}

/// Reads the queue gauges from `runner` at each scrape, for as long as it exists.
pub fn watch_queue(runner: &Arc<Runner>) {
    let weak: Weak<Runner> = Arc::downgrade(runner);
    ferrymail_metrics::on_scrape(move || {
        if let Some(r) = weak.upgrade() {
            refresh(&r);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_is_refined_by_the_queue_id_only_within_its_second() {
        let id = QueueId::generate();
        let exact = id.timestamp_micros() as f64 / 1e6;
        assert_eq!(arrival_secs(exact.floor() as u64, &id), exact);
        assert_eq!(
            arrival_secs(exact.floor() as u64 - 5, &id),
            exact.floor() - 5.0
        );
    }

    #[test]
    fn the_lmtp_relay_is_the_local_transport() {
        assert_eq!(transport("local"), "local");
        assert_eq!(transport("mx.far.test[192.0.2.1]:25"), "remote");
        assert_eq!(transport("none"), "remote");
    }
}
