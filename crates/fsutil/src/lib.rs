//! ferrymail-fsutil: the few filesystem primitives every crash-safety argument in ferrymail
//! rests on, written once: a rename that never replaces ([`rename_noreplace`],
//! [`rename_dir_noreplace`]), making a directory's entries durable ([`fsync_dir`]), and
//! replacing a small file atomically and durably ([`write_atomic`]), and clearing the way for a
//! Unix socket a previous run left behind ([`remove_stale_socket`]), and a daemon's private
//! state directory ([`private_state_dir`]), and whether a path is on a file system shared
//! between hosts ([`network_fs`]). Every flush goes through
//! here ([`sync_file`], [`sync_data`], [`fsync_dir`]) so it is counted ([`counters`]), and
//! directory flushes are shared between concurrent callers ([`fsync_dir`]).
//!
//! The spool, the Maildir store, the user-database editors and imapd's state files all use
//! these; none of them has a copy of its own.

pub mod counters;
mod dirsync;
mod rename;
mod replace;
mod shared;

pub use counters::{sync_data, sync_file};
pub use dirsync::fsync_dir;
pub use rename::{rename_dir_noreplace, rename_noreplace};
pub use replace::{create_temp, write_atomic};
pub use shared::network_fs;

use std::io;
use std::path::{Path, PathBuf};

/// `<state_dir>/<daemon>`, created (with its parents) mode 0700 as the calling user if missing:
/// where a daemon keeps its own databases, readable by no one else.
pub fn private_state_dir(state_dir: &Path, daemon: &str) -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = state_dir.join(daemon);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// Removes the socket a previous run of a daemon left at `path`, so it can bind there again;
/// anything at `path` that is not a socket is refused (`AlreadyExists`), never deleted.
pub fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
