//! Two paths to one directory of a shared file system, for tests of what one host sees of
//! another's changes: `FERRYMAIL_SHARED_MOUNTS="<mount a> <mount b>"` names two mounts of one
//! GlusterFS, NFS or CephFS volume (writable by the test), each standing for one host's view.

use std::path::PathBuf;

/// The variable naming the two mounts.
pub const VAR: &str = "FERRYMAIL_SHARED_MOUNTS";

/// A fresh directory for `test` on the shared volume, as seen through the first mount and
/// through the second; None when the variable is not set (the caller skips or falls back to
/// one local directory). Panics if the directory cannot be made: the variable promised it.
pub fn shared_mounts(test: &str) -> Option<(PathBuf, PathBuf)> {
    let v = std::env::var(VAR).ok()?;
    let mut it = v.split_whitespace();
    let (a, b) = (PathBuf::from(it.next()?), PathBuf::from(it.next()?));
    let dir = format!("ferrymail-test-{test}-{}", std::process::id());
    std::fs::create_dir_all(a.join(&dir))
        .unwrap_or_else(|e| panic!("{VAR}: making {dir} in {}: {e}", a.display()));
    Some((a.join(&dir), b.join(&dir)))
}
