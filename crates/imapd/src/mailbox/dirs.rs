//! Handles on a mailbox's `cur/` and `new/`, opened with the [`SharedMailbox`] and shared by
//! all its sessions, so reading or renaming one of its messages names the file relative to
//! its directory: a FETCH of 10,000 bodies or a STORE on 10,000 messages then costs no
//! walk of the whole path per message.
//!
//! These are only fast paths. When one fails (the file was renamed by another process, a
//! handle could not be opened) the caller falls back to [`ferrymail_maildir::Maildir`]'s
//! path-based operation, which follows a renamed message. A Maildir file name is unique to
//! one message, so a handle on a directory that was renamed since still reaches that very
//! message.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use ferrymail_maildir::Subdir;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;

pub struct Dirs {
    cur: Option<OwnedFd>,
    new: Option<OwnedFd>,
}

fn open_dir(path: &Path) -> Option<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match nix::fcntl::open(path, flags, Mode::empty()) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "no directory handle; using paths");
            None
        }
    }
}

impl Dirs {
    pub fn open(root: &Path) -> Dirs {
        Dirs {
            cur: open_dir(&root.join(Subdir::Cur.as_str())),
            new: open_dir(&root.join(Subdir::New.as_str())),
        }
    }

    fn of(&self, dir: Subdir) -> Option<BorrowedFd<'_>> {
        match dir {
            Subdir::Cur => self.cur.as_ref(),
            Subdir::New => self.new.as_ref(),
        }
        .map(AsFd::as_fd)
    }

    /// Opens a message file for reading (never through a symlink). None if it is not there
    /// under that name or there is no handle: the caller looks it up by path.
    pub fn open_message(&self, dir: Subdir, name: &str) -> Option<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(self.of(dir)?, name, flags, Mode::empty())
            .ok()
            .map(File::from)
    }

    /// Renames a message file into `cur/` as `to` (a plain rename, which may replace: a file
    /// of the same base is the same message). False if that did not happen, e.g. because
    /// another process renamed it first: the caller then chases it by path.
    pub fn rename_to_cur(&self, dir: Subdir, from: &str, to: &str) -> bool {
        let (Some(src), Some(dst)) = (self.of(dir), self.of(Subdir::Cur)) else {
            return false;
        };
        renameat(src, from, dst, to).is_ok()
    }
}

/// Reads a whole message file whose size `fstat` gave: Maildir message files never change
/// once delivered, so reading exactly that much needs no further probing for the end.
pub fn read_all(mut file: &File, len: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}
