//! ferrymail-fsutil: the few filesystem primitives every crash-safety argument in ferrymail
//! rests on, written once: a rename that never replaces ([`rename_noreplace`],
//! [`rename_dir_noreplace`]), making a directory's entries durable ([`fsync_dir`]), and
//! replacing a small file atomically and durably ([`write_atomic`]).
//!
//! The spool, the Maildir store, the user-database editors and imapd's state files all use
//! these; none of them has a copy of its own.

mod rename;
mod replace;

pub use rename::{rename_dir_noreplace, rename_noreplace};
pub use replace::write_atomic;

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes a directory's entries (a create, rename or unlink inside it) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
