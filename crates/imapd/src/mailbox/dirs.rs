//! Handles on a mailbox's `cur/` and `new/`, kept with the [`super::SharedMailbox`] and
//! shared by all its sessions, so reading or renaming one of its messages names the file
//! relative to its directory: a FETCH of 10,000 bodies or a STORE on 10,000 messages then
//! costs no walk of the whole path per message.
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
use std::sync::OnceLock;

use ferrymail_maildir::Subdir;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;

/// Opened on first use, so a session that only waits in IDLE costs no descriptors.
#[derive(Default)]
pub struct Dirs {
    handles: OnceLock<Handles>,
}

struct Handles {
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
    fn of(&self, root: &Path, dir: Subdir) -> Option<BorrowedFd<'_>> {
        let h = self.handles.get_or_init(|| Handles {
            cur: open_dir(&root.join(Subdir::Cur.as_str())),
            new: open_dir(&root.join(Subdir::New.as_str())),
        });
        match dir {
            Subdir::Cur => h.cur.as_ref(),
            Subdir::New => h.new.as_ref(),
        }
        .map(AsFd::as_fd)
    }

    /// Opens a message file for reading (never through a symlink). None if it is not there
    /// under that name or there is no handle: the caller looks it up by path.
    pub fn open_message(&self, root: &Path, dir: Subdir, name: &str) -> Option<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(self.of(root, dir)?, name, flags, Mode::empty())
            .ok()
            .map(File::from)
    }

    /// Renames a message file into `cur/` as `to` (a plain rename, which may replace: a file
    /// of the same base is the same message). False if that did not happen, e.g. because
    /// another process renamed it first: the caller then chases it by path.
    pub fn rename_to_cur(&self, root: &Path, dir: Subdir, from: &str, to: &str) -> bool {
        let (Some(src), Some(dst)) = (self.of(root, dir), self.of(root, Subdir::Cur)) else {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ferrymail_maildir::{Flags, Maildir};

    use super::super::Hub;

    const MESSAGE: &[u8] = b"Subject: x\r\n\r\nbody\r\n";

    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn reads_and_flag_changes_follow_a_file_another_program_renamed() {
        let tmp = tempfile::tempdir().unwrap();
        let hub = Hub::new(None, 0);
        let mb = hub
            .open(Maildir::create(tmp.path().join("m")).unwrap(), true)
            .unwrap();
        let uid = mb.append(&[MESSAGE], Flags::empty(), None).unwrap();
        let (msgs, _, _) = mb.snapshot();
        let stale = msgs[0].clone();
        assert_eq!(mb.read(&stale).unwrap().0, MESSAGE);

        // Another program marks it seen; our view still has the old name.
        let cur = tmp.path().join("m/cur");
        std::fs::rename(
            cur.join(&*stale.file_name),
            cur.join(format!("{}:2,S", stale.base())),
        )
        .unwrap();
        assert_eq!(
            mb.read(&stale).unwrap().0,
            MESSAGE,
            "the renamed file is found"
        );
        let changed = mb.modify_flags(&[uid], |f| f | Flags::FLAGGED).unwrap();
        assert_eq!(changed, vec![(uid, Flags::SEEN | Flags::FLAGGED)]);
        assert_eq!(names(&cur), vec![format!("{}:2,FS", stale.base())]);

        // Our own change goes through the handle and is what the next read finds.
        mb.modify_flags(&[uid], |f| f - Flags::SEEN).unwrap();
        assert_eq!(names(&cur), vec![format!("{}:2,F", stale.base())]);
        let (msgs, _, _) = mb.snapshot();
        assert_eq!(msgs[0].flags, Flags::FLAGGED);
        assert_eq!(mb.read(&msgs[0]).unwrap().0, MESSAGE);
    }

    #[test]
    fn read_all_stops_at_the_end_of_a_shorter_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(super::read_all(&file, 3).unwrap(), b"abc");
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(super::read_all(&file, 10).unwrap(), b"abc");
    }
}
