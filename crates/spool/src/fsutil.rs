//! The spool's side of the filesystem primitives: errors typed as [`SpoolError`], exclusive
//! creation, file age and the queue lock. The no-replace rename and directory fsync themselves
//! are `ferrymail-fsutil`'s.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::{Result, SpoolError};

pub(crate) use ferrymail_fsutil::rename_noreplace;

/// Make a completed rename (or create/unlink) in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    ferrymail_fsutil::fsync_dir(dir).map_err(SpoolError::io("fsync dir", dir))
}

/// Create a new file (never opening an existing one) with the given mode.
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Age of a file by mtime; a file from the future counts as brand new.
pub(crate) fn age(meta: &fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or(Duration::ZERO)
}

/// An exclusive advisory lock serialising moves between queue/ and hold/, envelope updates,
/// removals and orphan cleanup. It is taken on the `queue/` directory itself: only the spool
/// owner can open that (mode 0700), so an unprivileged user cannot hold it to stall the queue.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let file = File::open(dir).map_err(SpoolError::io("open lock", dir))?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is passed.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(DirLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(SpoolError::Io {
                    op: "flock",
                    path: dir.to_path_buf(),
                    source: e,
                });
            }
        }
    }
}
