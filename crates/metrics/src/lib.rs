//! ferrymail-metrics: one Prometheus registry per process, the metrics every daemon shares, and
//! their encoding in the Prometheus text exposition format (0.0.4).
//!
//! Every metric is named `ferrymail_<name>`; counters get `_total` when encoded. A daemon
//! registers its own metrics through [`counter_family`], [`gauge_family`], [`histogram`] and
//! [`histogram_family`], normally from a `LazyLock` it forces at start so that every series
//! exists (at zero) before the first event. [`disk`] exposes the fsync calls that
//! `ferrymail-fsutil`, the one place that makes files durable, counts, and [`conn`] counts
//! connections and failed logins. [`encode`] runs the hooks registered with [`on_scrape`] (gauges that are
//! cheaper to read on demand than to keep current) and renders everything; the HTTP listener
//! that serves it is `ferrymail-net`'s.

pub mod conn;
pub mod disk;

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::registry::{Metric, Registry};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// The metric types, so a daemon needs no direct dependency on the client library.
pub use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};

/// Every metric name starts with this (and an underscore).
pub const PREFIX: &str = "ferrymail";

/// Label values are static strings chosen by the code (never a user, an address or a host),
/// which keeps every family's cardinality fixed.
pub type Labels<const N: usize> = [(&'static str, &'static str); N];

/// A histogram family whose members share the bucket bounds it was registered with.
pub type HistogramFamily<const N: usize> = Family<Labels<N>, Histogram, Buckets>;

type Hook = Arc<dyn Fn() + Send + Sync>;

static REGISTRY: LazyLock<Mutex<Registry>> =
    LazyLock::new(|| Mutex::new(Registry::with_prefix(PREFIX)));

/// Apart from the registry: a hook may touch a metric whose `LazyLock` registers it only then.
static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Neither lock guards an invariant that a panicking holder could leave half-made.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn register<M: Metric + Clone>(name: &str, help: &str, metric: M) -> M {
    locked(&REGISTRY).register(name, help, metric.clone());
    metric
}

fn register_collector(collector: Box<dyn prometheus_client::collector::Collector>) {
    locked(&REGISTRY).register_collector(collector);
}

/// Bucket upper bounds for a histogram family (`+Inf` is added by the encoder).
#[derive(Debug, Clone, Copy)]
pub struct Buckets(pub &'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// Latency buckets from 1 ms to 1 h: a local write takes milliseconds, a message waiting for
/// a slow remote host can take hours (longer ones land in `+Inf`).
pub const LATENCY_SECONDS: Buckets = Buckets(&[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
]);

/// Registers a counter family `ferrymail_<name>_total` (`name` without `_total`).
pub fn counter_family<const N: usize>(name: &str, help: &str) -> Family<Labels<N>, Counter> {
    register(name, help, Family::default())
}

/// Registers a gauge family `ferrymail_<name>`.
pub fn gauge_family<const N: usize>(name: &str, help: &str) -> Family<Labels<N>, Gauge> {
    register(name, help, Family::default())
}

/// Registers a gauge `ferrymail_<name>` without labels.
pub fn gauge(name: &str, help: &str) -> Gauge {
    register(name, help, Gauge::default())
}

/// Registers a histogram `ferrymail_<name>` without labels.
pub fn histogram(name: &str, help: &str, buckets: Buckets) -> Histogram {
    register(name, help, buckets.new_metric())
}

/// Registers a histogram family `ferrymail_<name>`.
pub fn histogram_family<const N: usize>(
    name: &str,
    help: &str,
    buckets: Buckets,
) -> HistogramFamily<N>
where
    Labels<N>: EncodeLabelSet,
{
    register(name, help, Family::new_with_constructor(buckets))
}

/// Runs `hook` before every [`encode`]: for gauges read from elsewhere (a directory, a
/// database) only when someone asks.
pub fn on_scrape(hook: impl Fn() + Send + Sync + 'static) {
    locked(&HOOKS).push(Arc::new(hook));
}

/// Every registered metric in the Prometheus text format, after running the scrape hooks.
/// The hooks may block (they read directories): call this off an async worker thread.
pub fn encode() -> String {
    let hooks = locked(&HOOKS).clone();
    for hook in &hooks {
        hook();
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &locked(&REGISTRY));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_families_with_prefix_and_hooks() {
        let c = counter_family::<1>("test_events", "Events seen by the test");
        c.get_or_create(&[("result", "ok")]).inc_by(3);
        let g = gauge("test_hooked", "Set by a scrape hook");
        let hooked = g.clone();
        on_scrape(move || {
            hooked.set(7);
        });
        let h = histogram_family::<1>("test_seconds", "Test latency", LATENCY_SECONDS);
        h.get_or_create(&[("kind", "a")]).observe(0.003);
        let text = encode();
        assert!(
            text.contains("# TYPE ferrymail_test_events_total counter"),
            "{text}"
        );
        assert!(
            text.contains("ferrymail_test_events_total{result=\"ok\"} 3"),
            "{text}"
        );
        assert!(text.contains("ferrymail_test_hooked 7"), "{text}");
        assert!(
            text.contains("ferrymail_test_seconds_bucket{kind=\"a\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "0.0.4 has no EOF marker: {text}");
    }

    #[test]
    fn disk_flushes_are_fsutils_counts() {
        disk::register();
        disk::register();
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        ferrymail_fsutil::sync_file(&f).unwrap();
        ferrymail_fsutil::fsync_dir(dir.path()).unwrap();
        // The only test here that flushes: the counts cannot move under it.
        let c = ferrymail_fsutil::counters::snapshot();
        let text = encode();
        for line in [
            format!("ferrymail_disk_flushes_total{{kind=\"file\"}} {}\n", c.file),
            format!("ferrymail_disk_flushes_total{{kind=\"dir\"}} {}\n", c.dir),
            format!(
                "ferrymail_disk_flush_batch_size_bucket{{le=\"+Inf\"}} {}\n",
                c.dir
            ),
            format!("ferrymail_disk_flush_batch_size_count {}\n", c.dir),
        ] {
            assert!(text.contains(&line), "{line}in\n{text}");
        }
        assert_eq!(
            text.matches("# TYPE ferrymail_disk_flushes_total counter")
                .count(),
            1
        );
        assert!(
            text.contains("ferrymail_disk_flush_batch_size_bucket{le=\"1\"} "),
            "{text}"
        );
    }
}
