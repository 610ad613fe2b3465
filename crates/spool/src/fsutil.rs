//! Small filesystem primitives the crash-safety argument rests on.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::{Result, SpoolError};

/// Make a completed rename (or create/unlink) in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(SpoolError::io("open dir", dir))?;
    f.sync_all().map_err(SpoolError::io("fsync dir", dir))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Rename that fails with `AlreadyExists` instead of replacing the target, so an id clash
/// between processes can never overwrite someone else's queued message.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let (f, t) = (cstr(from)?, cstr(to)?);
        // SAFETY: both pointers are valid NUL-terminated strings that outlive the call;
        // renameat2 reads them and touches no other memory.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // Old kernel or a filesystem without RENAME_NOREPLACE: fall back to link+unlink.
            Some(libc::ENOSYS) | Some(libc::EINVAL) => {}
            _ => return Err(e),
        }
    }
    // link(2) never replaces. A crash between link and unlink leaves the source as a second
    // name of the same file, which cleanup removes from tmp/ later.
    fs::hard_link(from, to)?;
    fs::remove_file(from)
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
