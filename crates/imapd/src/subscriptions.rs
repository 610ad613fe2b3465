//! The subscriptions file of a user's store: one UTF-8 mailbox name a line, changed under a
//! cross-process lock (two session children of one Unix user may SUBSCRIBE at once).

use std::fs;
use std::io;
use std::path::Path;

use crate::uidlist::FileLock;

/// Subscriptions, one UTF-8 mailbox name a line, in the store root.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// Serialises changes to the subscriptions across processes (two session children of one
/// Unix user may SUBSCRIBE at once).
pub const SUBSCRIPTIONS_LOCK: &str = "ferrymail-subscriptions.lock";

pub fn load_subscriptions(root: &Path) -> Vec<String> {
    fs::read_to_string(root.join(SUBSCRIPTIONS_FILE))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Held across a read-modify-write of the subscriptions.
pub fn lock_subscriptions(root: &Path) -> io::Result<FileLock> {
    FileLock::acquire(&root.join(SUBSCRIPTIONS_LOCK))
}

/// Changes the subscriptions under [`lock_subscriptions`], so concurrent changes by other
/// processes are neither lost nor overwritten.
pub fn update_subscriptions(root: &Path, f: impl FnOnce(&mut Vec<String>)) -> io::Result<()> {
    let _lock = lock_subscriptions(root)?;
    let mut subs = load_subscriptions(root);
    f(&mut subs);
    save_subscriptions(root, &subs)
}

/// Writes the subscriptions; callers hold [`lock_subscriptions`].
pub fn save_subscriptions(root: &Path, subs: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for s in subs {
        text.push_str(s);
        text.push('\n');
    }
    ferrymail_fsutil::write_atomic(&root.join(SUBSCRIPTIONS_FILE), text.as_bytes(), 0o600)
}
