//! The store's side of the filesystem primitives: errors typed as [`Error`], fsyncs counted
//! for the tests that prove delivery syncs, and 0700 directories. The no-replace renames and
//! the directory fsync themselves are `ferrymail-fsutil`'s.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

#[cfg(test)]
thread_local! {
    /// fsyncs issued by this thread, so tests can see that delivery really syncs.
    pub(crate) static FSYNCS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn count_fsync() {
    #[cfg(test)]
    FSYNCS.with(|c| c.set(c.get() + 1));
}

pub(crate) fn fsync_file(file: &File, path: &Path) -> Result<()> {
    count_fsync();
    ferrymail_fsutil::sync_file(file).map_err(|e| Error::io("fsync", path, e))
}

/// Makes a directory's entries (a rename or unlink inside it) durable.
pub(crate) fn fsync_dir(path: &Path) -> Result<()> {
    count_fsync();
    ferrymail_fsutil::fsync_dir(path).map_err(|e| Error::io("fsync directory", path, e))
}

pub(crate) use ferrymail_fsutil::{rename_dir_noreplace, rename_noreplace};

/// Creates a directory with mode 0700, treating "already there" as success when `exist_ok`.
pub(crate) fn mkdir_0700(path: &Path, exist_ok: bool) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if exist_ok && e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}
