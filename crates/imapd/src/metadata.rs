//! METADATA (RFC 5464) entries of a user's store: one file at the store root,
//! `ferrymail-metadata` (JSON: mailbox name → entry name → base64 value; the mailbox `""` is
//! the server), replaced atomically under a lock of its own, as the subscriptions are, so
//! session children of one Unix account never lose each other's changes. A mailbox's
//! entries go with it on DELETE and RENAME.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use base64::Engine;
use ferrymail_imap_proto::session::apply_metadata;

use crate::uidlist::FileLock;

const FILE: &str = "ferrymail-metadata";
const LOCK: &str = "ferrymail-metadata.lock";

type Entries = BTreeMap<String, BTreeMap<String, String>>;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn load(root: &Path) -> Entries {
    match fs::read(root.join(FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %root.join(FILE).display(), error = %e, "unreadable METADATA file; starting empty");
            Entries::new()
        }),
        Err(_) => Entries::new(),
    }
}

fn save(root: &Path, all: &Entries) -> io::Result<()> {
    let text = serde_json::to_vec(all).map_err(io::Error::other)?;
    ferrymail_fsutil::write_atomic(&root.join(FILE), &text, 0o600)
}

/// Changes the entries under the lock; `f` returns whether to save.
fn update(root: &Path, f: impl FnOnce(&mut Entries) -> bool) -> io::Result<bool> {
    let _lock = FileLock::acquire(&root.join(LOCK))?;
    let mut all = load(root);
    if !f(&mut all) {
        return Ok(false);
    }
    all.retain(|_, entries| !entries.is_empty());
    save(root, &all)?;
    Ok(true)
}

/// The entries of `mailbox`, in name order.
pub fn get(root: &Path, mailbox: &str) -> Vec<(String, Vec<u8>)> {
    load(root)
        .remove(mailbox)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| b64().decode(v).ok().map(|v| (k, v)))
        .collect()
}

/// Every mailbox's value of `entry`, by mailbox name (the server's own left out).
pub fn of_every_mailbox(root: &Path, entry: &str) -> Vec<(String, Vec<u8>)> {
    load(root)
        .into_iter()
        .filter(|(mailbox, _)| !mailbox.is_empty())
        .filter_map(|(mailbox, mut entries)| {
            let v = b64().decode(entries.remove(entry)?).ok()?;
            Some((mailbox, v))
        })
        .collect()
}

/// Sets (Some) and removes (None) entries of `mailbox` at once; false, with nothing changed,
/// if it would then hold more than `max_entries`.
pub fn set(
    root: &Path,
    mailbox: &str,
    changes: &[(String, Option<Vec<u8>>)],
    max_entries: usize,
) -> io::Result<bool> {
    let mut fits = true;
    update(root, |all| {
        let entries = all.entry(mailbox.to_owned()).or_default();
        fits = apply_metadata(entries, changes, max_entries, |v| b64().encode(v));
        fits
    })?;
    Ok(fits)
}

fn is_at_or_below(name: &str, mailbox: &str) -> bool {
    name == mailbox
        || name
            .strip_prefix(mailbox)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A deleted mailbox's entries go (not its children's: DELETE leaves them).
pub fn forget(root: &Path, mailbox: &str) -> io::Result<()> {
    update(root, |all| all.remove(mailbox).is_some()).map(|_| ())
}

/// A renamed mailbox's entries, and its children's, follow it.
pub fn rename(root: &Path, from: &str, to: &str) -> io::Result<()> {
    update(root, |all| {
        let moving: Vec<String> = all
            .keys()
            .filter(|k| is_at_or_below(k, from))
            .cloned()
            .collect();
        for old in &moving {
            if let Some(entries) = all.remove(old) {
                let new = format!("{to}{}", old.get(from.len()..).unwrap_or_default());
                all.insert(new, entries);
            }
        }
        !moving.is_empty()
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_limited_and_follow_their_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let set1 = [
            ("/private/comment".to_owned(), Some(b"mine".to_vec())),
            ("/shared/vendor/x".to_owned(), Some(vec![0, 255, 10])),
        ];
        assert!(set(root, "A", &set1, 10).unwrap());
        assert!(set(root, "A/B", &set1[..1], 10).unwrap());
        assert!(set(root, "", &set1[..1], 10).unwrap());
        assert_eq!(
            get(root, "A"),
            vec![
                ("/private/comment".to_owned(), b"mine".to_vec()),
                ("/shared/vendor/x".to_owned(), vec![0, 255, 10]),
            ]
        );
        // Over the limit: nothing changes.
        let more = [("/private/more".to_owned(), Some(b"x".to_vec()))];
        assert!(!set(root, "A", &more, 2).unwrap());
        assert_eq!(get(root, "A").len(), 2);
        // Removing.
        let gone = [("/shared/vendor/x".to_owned(), None)];
        assert!(set(root, "A", &gone, 2).unwrap());
        assert_eq!(get(root, "A").len(), 1);
        rename(root, "A", "C").unwrap();
        assert!(get(root, "A").is_empty());
        assert_eq!(get(root, "C").len(), 1);
        assert_eq!(get(root, "C/B").len(), 1);
        assert_eq!(get(root, "AB").len(), 0);
        forget(root, "C").unwrap();
        assert!(get(root, "C").is_empty());
        assert_eq!(get(root, "C/B").len(), 1);
        assert_eq!(get(root, "").len(), 1);
    }
}
