//! Recognising a file system shared between hosts, for the few behaviours that differ there
//! (docs/architecture.md, "Shared storage"): inotify sees no other host's changes, and flock
//! and fcntl locks on one file conflict.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `statfs` type numbers (linux/magic.h; CephFS's from its kernel client).
const NFS: i64 = 0x6969;
const FUSE: i64 = 0x6573_5546;
const CEPH: i64 = 0x00c3_6400;
const SMB2: i64 = 0xfe53_4d42;
const CIFS: i64 = 0xff53_4d42;

/// The kind of network file system `path` is on ("NFS", "FUSE" — GlusterFS among others —,
/// "CephFS", "SMB"), or None for a local one. FUSE is counted as shared: its local uses
/// (sshfs, an overlay) share the same limits.
pub fn network_fs(path: &Path) -> io::Result<Option<&'static str>> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `st` is plain old data that statfs fills; `c` is a valid NUL-terminated path
    // that outlives the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    Ok(match st.f_type as i64 {
        NFS => Some("NFS"),
        FUSE => Some("FUSE"),
        CEPH => Some("CephFS"),
        SMB2 | CIFS => Some("SMB"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_not_shared_and_a_missing_path_is_an_error() {
        assert_eq!(network_fs(Path::new("/proc")).unwrap(), None);
        assert!(network_fs(Path::new("/proc/no/such/path")).is_err());
    }

    #[test]
    fn a_fuse_mount_is_recognised() {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
            eprintln!("SKIP: no /proc/self/mounts");
            return;
        };
        let Some(fuse) = mounts
            .lines()
            .filter_map(|l| {
                l.split(' ')
                    .collect::<Vec<_>>()
                    .get(1..3)
                    .map(<[&str]>::to_vec)
            })
            .find(|f| f[1].starts_with("fuse."))
        else {
            eprintln!("SKIP: no FUSE file system mounted here");
            return;
        };
        match network_fs(Path::new(fuse[0])) {
            Ok(kind) => assert_eq!(kind, Some("FUSE"), "{}", fuse[0]),
            // A mount the test may not look into (another user's sshfs) proves nothing.
            Err(e) => eprintln!("SKIP: statfs {}: {e}", fuse[0]),
        }
    }
}
