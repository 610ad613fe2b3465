//! The few filesystem primitives the crash-safety argument rests on: fsync of files and
//! directories, and renames that never replace an existing name.

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
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Makes a directory's entries (a rename or unlink inside it) durable.
pub(crate) fn fsync_dir(path: &Path) -> Result<()> {
    count_fsync();
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", path, e))
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing `to`.
///
/// renameat2(RENAME_NOREPLACE) where the kernel and filesystem support it; otherwise
/// link+unlink, which also refuses an existing target (only for files, not directories).
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            // Filesystems without the flag (some network and FUSE ones) say so this way.
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    link_then_unlink(from, to)
}

/// The portable no-replace move: link(2) refuses an existing target.
fn link_then_unlink(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    if let Err(e) = fs::remove_file(from) {
        // The message is safely in place; the stray link in tmp/ is swept by clean_tmp.
        tracing::warn!(path = %from.display(), error = %e, "could not unlink after link");
    }
    Ok(())
}

/// Like [`rename_noreplace`] for directories. Without renameat2 support there is no atomic
/// way, so it checks first and relies on rename(2) refusing to replace a non-empty
/// directory (every maildir folder has `cur/`, `new/` and `tmp/`).
pub(crate) fn rename_dir_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

/// Creates a directory with mode 0700, treating "already there" as success when `exist_ok`.
pub(crate) fn mkdir_0700(path: &Path, exist_ok: bool) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if exist_ok && e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noreplace_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "A").unwrap();
        fs::write(&b, "B").unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&a).unwrap(), b"A");
        assert_eq!(fs::read(&b).unwrap(), b"B");
        let c = dir.path().join("c");
        rename_noreplace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"A");
    }

    #[test]
    fn link_fallback_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "A").unwrap();
        fs::write(&b, "B").unwrap();
        let err = link_then_unlink(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"B");
        let c = dir.path().join("c");
        link_then_unlink(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"A");
    }

    #[test]
    fn dir_noreplace_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let err = rename_dir_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        rename_dir_noreplace(&a, &dir.path().join("c")).unwrap();
        assert!(dir.path().join("c").is_dir());
        assert!(!a.exists());
    }
}
