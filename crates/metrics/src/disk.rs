//! Disk flushes: every fsync and fdatasync the process made, as `ferrymail-fsutil` counts them
//! (its `sync_file`, `sync_data` and `fsync_dir` are the only callers), and how many callers
//! each directory flush served (concurrent commits share one). Flushes per accepted message is
//! the figure that bounds throughput on a disk with a slow cache flush.
//!
//! fsutil keeps plain atomics (counting must cost nothing next to a flush, and sendmail links
//! fsutil without any of this); they are read and encoded at each scrape.

use std::sync::Once;

use ferrymail_fsutil::counters::{snapshot, BATCH_BUCKETS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

#[derive(Debug)]
struct Flushes;

impl Collector for Flushes {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = snapshot();
        let mut flushes = encoder.encode_descriptor(
            "disk_flushes",
            "fsync and fdatasync calls, by what they made durable (file contents or directory entries).",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in [("file", c.file), ("dir", c.dir)] {
            flushes
                .encode_family(&[("kind", kind)])?
                .encode_counter::<NoLabelSet, u64, f64>(&n, None)?;
        }
        let buckets: Vec<(f64, u64)> = BATCH_BUCKETS
            .iter()
            .map(|&b| b as f64)
            .chain([f64::INFINITY])
            .zip(c.batches)
            .collect();
        encoder
            .encode_descriptor(
                "disk_flush_batch_size",
                "Callers one directory flush made durable together (concurrent commits share a flush).",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(c.dir_covered as f64, c.dir, &buckets, None)
    }
}

static REGISTER: Once = Once::new();

/// Exposes the disk metrics (once per process, whoever asks first).
pub fn register() {
    REGISTER.call_once(|| crate::register_collector(Box::new(Flushes)));
}
