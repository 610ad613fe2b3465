//! Renames that fail with `AlreadyExists` instead of replacing the target, so that two writers
//! racing for one name (a queue id, a Maildir file name, a folder) can never destroy each
//! other's data.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Renames the file `from` to `to`, failing with `AlreadyExists` if `to` exists.
///
/// renameat2(RENAME_NOREPLACE) where the kernel and filesystem support it; otherwise
/// link+unlink, which refuses an existing target just the same. If the unlink of `from` fails
/// after the link, the move has still happened (`to` is in place) and `Ok` is returned: the
/// leftover second name lives in the caller's temporary directory, which its cleanup sweeps.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    if renameat2_noreplace(from, to)? {
        return Ok(());
    }
    link_then_unlink(from, to)
}

/// Like [`rename_noreplace`] for directories. Without renameat2 support there is no atomic
/// way, so it checks first and relies on rename(2) refusing to replace a non-empty directory
/// (every Maildir folder has `cur/`, `new/` and `tmp/`).
pub fn rename_dir_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    if renameat2_noreplace(from, to)? {
        return Ok(());
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

/// `Ok(true)`: renamed. `Ok(false)`: this kernel or filesystem has no RENAME_NOREPLACE, so
/// the caller falls back: old kernels, and the shared stores a mail cluster runs on — the
/// Linux NFS and CephFS clients refuse any rename flag with EINVAL, and a GlusterFS FUSE
/// mount answers EINVAL too (measured on GlusterFS 10; the kernel itself still answers
/// EEXIST when it already knows the target).
fn renameat2_noreplace(from: &Path, to: &Path) -> io::Result<bool> {
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
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => Ok(false),
            _ => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Ok(false)
    }
}

#[cfg(target_os = "linux")]
fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// The portable no-replace move: link(2) never replaces an existing name.
fn link_then_unlink(from: &Path, to: &Path) -> io::Result<()> {
    if let Err(e) = fs::hard_link(from, to) {
        // Over NFS a LINK whose reply was lost is sent again and answered EEXIST, although
        // the first one made the link: then both names are one file, and the move is done.
        if e.kind() != io::ErrorKind::AlreadyExists || !same_file(from, to) {
            return Err(e);
        }
    }
    // The file is in place under its new name; a failed unlink only leaves a second name.
    let _ = fs::remove_file(from);
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::symlink_metadata(a), fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "A").unwrap();
        fs::write(&b, "B").unwrap();
        (dir, a, b)
    }

    /// A no-replace move refuses an existing target, leaving both files, and moves to a
    /// free name.
    fn refuses_existing_target(mv: fn(&Path, &Path) -> io::Result<()>) {
        let (dir, a, b) = two_files();
        let err = mv(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&a).unwrap(), b"A");
        assert_eq!(fs::read(&b).unwrap(), b"B");
        let c = dir.path().join("c");
        mv(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"A");
    }

    #[test]
    fn noreplace_refuses_existing_target() {
        refuses_existing_target(rename_noreplace);
    }

    #[test]
    fn link_fallback_refuses_existing_target() {
        refuses_existing_target(link_then_unlink);
    }

    #[test]
    fn link_fallback_completes_a_move_whose_link_was_already_made() {
        // What a retransmitted NFS LINK looks like: the target is already `from` itself.
        let (dir, a, _) = two_files();
        let c = dir.path().join("c");
        fs::hard_link(&a, &c).unwrap();
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
