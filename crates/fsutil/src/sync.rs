//! The only calls to `fsync`/`fdatasync` in ferrymail: each one is counted
//! (`ferrymail_disk_flushes_total`), so flushes per message can be watched and every new
//! durability point shows up in that figure.

use std::fs::File;
use std::io;
use std::path::Path;

use ferrymail_metrics::disk::{flushed, FlushKind};

/// Records that one flush made this many messages durable together (a group commit calls it
/// once per batch), for the `ferrymail_disk_flush_batch_size` histogram.
pub use ferrymail_metrics::disk::flush_batch;

/// Makes a file's contents and metadata durable (fsync).
pub fn sync_file(file: &File) -> io::Result<()> {
    flushed(FlushKind::File);
    file.sync_all()
}

/// Makes a file's contents durable, and of its metadata only what reading them back needs
/// (fdatasync: the size, not the times).
pub fn sync_data(file: &File) -> io::Result<()> {
    flushed(FlushKind::File);
    file.sync_data()
}

/// Makes a directory's entries (a create, rename or unlink inside it) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = File::open(dir)?;
    flushed(FlushKind::Dir);
    d.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_metrics::disk::flushes;

    #[test]
    fn every_kind_of_flush_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("f")).unwrap();
        let (files, dirs) = (flushes(FlushKind::File), flushes(FlushKind::Dir));
        sync_file(&f).unwrap();
        sync_data(&f).unwrap();
        fsync_dir(dir.path()).unwrap();
        // Other tests in this binary flush too, concurrently: at least ours are there.
        assert!(flushes(FlushKind::File) >= files + 2);
        assert!(flushes(FlushKind::Dir) > dirs);
    }
}
