//! Counting the disk flushes a process makes. A flush (fsync, fdatasync) is the scarce resource
//! on most disks, so every one in ferrymail goes through [`sync_file`], [`sync_data`] or
//! [`crate::fsync_dir`], which count it here; the daemons' metrics read [`snapshot`].
//!
//! Plain atomics: counting must cost nothing next to the flush itself.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// What was flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushKind {
    /// A file's contents (fsync or fdatasync).
    File,
    /// A directory's entries.
    Dir,
}

/// Upper bounds of the batch-size buckets of shared directory flushes (callers covered by one
/// flush); the last bucket is everything above.
pub const BATCH_BUCKETS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

static FILE_FLUSHES: AtomicU64 = AtomicU64::new(0);
static DIR_FLUSHES: AtomicU64 = AtomicU64::new(0);
static DIR_COVERED: AtomicU64 = AtomicU64::new(0);
static BATCHES: [AtomicU64; BATCH_BUCKETS.len() + 1] = [const { AtomicU64::new(0) }; 8];

/// The counts so far, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushCounts {
    /// File flushes.
    pub file: u64,
    /// Directory flushes.
    pub dir: u64,
    /// Callers the directory flushes covered (≥ `dir`; the difference is flushes saved).
    pub dir_covered: u64,
    /// Directory flushes by how many callers each covered, per [`BATCH_BUCKETS`] (not
    /// cumulative; the last entry counts batches above the last bound).
    pub batches: [u64; BATCH_BUCKETS.len() + 1],
}

/// Records one flush; `covered` is how many callers it served (1 for a file flush).
pub(crate) fn flushed(kind: FlushKind, covered: usize) {
    match kind {
        FlushKind::File => {
            FILE_FLUSHES.fetch_add(1, Ordering::Relaxed);
        }
        FlushKind::Dir => {
            DIR_FLUSHES.fetch_add(1, Ordering::Relaxed);
            DIR_COVERED.fetch_add(covered as u64, Ordering::Relaxed);
            let i = BATCH_BUCKETS
                .iter()
                .position(|&b| covered as u64 <= b)
                .unwrap_or(BATCH_BUCKETS.len());
            if let Some(c) = BATCHES.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The process's flush counts so far.
pub fn snapshot() -> FlushCounts {
    FlushCounts {
        file: FILE_FLUSHES.load(Ordering::Relaxed),
        dir: DIR_FLUSHES.load(Ordering::Relaxed),
        dir_covered: DIR_COVERED.load(Ordering::Relaxed),
        batches: std::array::from_fn(|i| BATCHES[i].load(Ordering::Relaxed)),
    }
}

/// `fsync`: the file's data and all of its metadata (use when times or mode matter).
pub fn sync_file(f: &File) -> io::Result<()> {
    let r = f.sync_all();
    flushed(FlushKind::File, 1);
    r
}

/// `fdatasync`: the file's data and what is needed to read it back (size, allocation) — all a
/// newly written message file needs.
pub fn sync_data(f: &File) -> io::Result<()> {
    let r = f.sync_data();
    flushed(FlushKind::File, 1);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flushes_are_counted_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let before = snapshot();
        let mut f = File::create(dir.path().join("m")).unwrap();
        f.write_all(b"x").unwrap();
        sync_data(&f).unwrap();
        sync_file(&f).unwrap();
        crate::fsync_dir(dir.path()).unwrap();
        let after = snapshot();
        // Other tests run in parallel in this process: at least ours were counted.
        assert!(after.file >= before.file + 2);
        assert!(after.dir > before.dir);
        assert!(after.dir_covered > before.dir_covered);
        assert!(after.batches.iter().sum::<u64>() > before.batches.iter().sum::<u64>());
    }
}
