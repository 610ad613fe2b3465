//! Disk flushes: every fsync and fdatasync the process makes, counted by `ferrymail-fsutil`'s
//! wrappers (the only callers of `sync_all`/`sync_data`), and how many messages one flush
//! made durable. Flushes per accepted message is the figure that bounds throughput on a disk
//! with a slow cache flush.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::Buckets;

/// What a flush made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushKind {
    /// A file's contents (fsync or fdatasync on the file).
    File,
    /// A directory's entries: a create, rename or unlink inside it.
    Dir,
}

impl FlushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlushKind::File => "file",
            FlushKind::Dir => "dir",
        }
    }
}

/// Messages per flush: powers of two up to far beyond any useful batch.
const BATCH_SIZES: Buckets = Buckets(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0]);

struct Disk {
    file: Counter,
    dir: Counter,
    batch: Histogram,
}

static DISK: LazyLock<Disk> = LazyLock::new(|| {
    let flushes = crate::counter_family::<1>(
        "disk_flushes",
        "fsync and fdatasync calls, by what they made durable (file contents or directory entries)",
    );
    Disk {
        file: flushes.get_or_create_owned(&[("kind", FlushKind::File.as_str())]),
        dir: flushes.get_or_create_owned(&[("kind", FlushKind::Dir.as_str())]),
        batch: crate::histogram(
            "disk_flush_batch_size",
            "Messages made durable by one flush of a batch",
            BATCH_SIZES,
        ),
    }
});

/// Counts one flush of `kind`.
pub fn flushed(kind: FlushKind) {
    match kind {
        FlushKind::File => DISK.file.inc(),
        FlushKind::Dir => DISK.dir.inc(),
    };
}

/// Records that one flush made `messages` messages durable together.
pub fn flush_batch(messages: usize) {
    DISK.batch.observe(messages as f64);
}

/// Flushes of `kind` so far in this process.
pub fn flushes(kind: FlushKind) -> u64 {
    match kind {
        FlushKind::File => DISK.file.get(),
        FlushKind::Dir => DISK.dir.get(),
    }
}

/// Registers the disk metrics now, so they are exposed at zero before the first flush.
pub fn register() {
    LazyLock::force(&DISK);
}
