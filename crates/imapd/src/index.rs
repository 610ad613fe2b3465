//! imapd's sled database (`<paths.state_dir>/imapd/index`, opened by imapd alone): a
//! persistent cache of what FETCH needs besides flags — size, INTERNALDATE, ENVELOPE,
//! BODY, BODYSTRUCTURE — and the header facts SEARCH, SORT and THREAD use, so a restarted
//! server does not re-parse every message a client asks headers of.
//!
//! It is only a cache. UIDs and UIDVALIDITY live in each mailbox's `ferrymail-uidlist`
//! ([`crate::uidlist`]), so deleting this database loses no state. Entries are keyed by
//! (mailbox path, UIDVALIDITY, UID): a Maildir message file's content never changes and a
//! UID is never reused within one UIDVALIDITY (and a mailbox created again at a path gets a
//! UIDVALIDITY above its predecessor's, [`crate::uidlist::next_uidvalidity`]), so an entry
//! can never go stale; expunged messages' entries, and a deleted or renamed mailbox's, are
//! removed best-effort.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::mailbox::Cached;

/// Bumped whenever the rendering of cached items changes, so old entries are ignored.
const FORMAT: u8 = 4;
/// sled's page cache; the in-memory per-mailbox cache sits in front of it.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Record {
    size: u64,
    internal_date: i64,
    envelope: Vec<u8>,
    body: Vec<u8>,
    bodystructure: Vec<u8>,
    search_headers: [String; 5],
    sent_day: Option<i64>,
    sent: Option<i64>,
    /// Subject, from, to, cc, display from, display to, Message-ID, In-Reply-To, References.
    sort: [String; 9],
}

#[derive(Debug, thiserror::Error)]
#[error("opening the index database {path}: {source}")]
pub struct IndexError {
    path: String,
    #[source]
    source: sled::Error,
}

pub struct Index {
    db: sled::Db,
}

/// Every key of one mailbox starts with this.
fn mailbox_prefix(mailbox: &Path) -> Vec<u8> {
    let p = mailbox.as_os_str().as_encoded_bytes();
    let mut k = Vec::with_capacity(p.len() + 9);
    k.extend_from_slice(p);
    k.push(0);
    k
}

fn key(mailbox: &Path, uidvalidity: u32, uid: u32) -> Vec<u8> {
    let mut k = mailbox_prefix(mailbox);
    k.extend_from_slice(&uidvalidity.to_be_bytes());
    k.extend_from_slice(&uid.to_be_bytes());
    k
}

impl Index {
    /// The daemon's cache in `<state_dir>/imapd` (created 0700, as the user imapd runs as),
    /// or none, with a warning: without it imapd still works, only slower after a restart.
    pub fn open_in_state_dir(state_dir: &Path) -> Option<Arc<Index>> {
        let opened = ferrymail_fsutil::private_state_dir(state_dir, "imapd")
            .map_err(|e| e.to_string())
            .and_then(|dir| Index::open(&dir).map_err(|e| e.to_string()));
        match opened {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!(error = %e, "running without the index database");
                None
            }
        }
    }

    /// Opens (creating) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Arc<Index>, IndexError> {
        let path = dir.join("index");
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| IndexError {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Arc::new(Index { db }))
    }

    pub fn get(&self, mailbox: &Path, uidvalidity: u32, uid: u32) -> Option<Cached> {
        let v = self.db.get(key(mailbox, uidvalidity, uid)).ok()??;
        let (format, payload) = v.split_first()?;
        if *format != FORMAT {
            return None;
        }
        let (r, _): (Record, usize) =
            bincode::serde::decode_from_slice(payload, bincode::config::standard()).ok()?;
        let [subject, from, to, cc, display_from, display_to, message_id, in_reply_to, references] =
            r.sort;
        Some(Cached {
            sort: std::sync::Arc::new(ferrymail_imap_proto::sort::SortFacts {
                arrival: r.internal_date,
                sent: r.sent,
                size: r.size,
                subject,
                from,
                to,
                cc,
                display_from,
                display_to,
                message_id,
                in_reply_to,
                references,
                keys: Default::default(),
            }),
            size: r.size,
            internal_date: r.internal_date,
            envelope: r.envelope.into(),
            body: r.body.into(),
            bodystructure: r.bodystructure.into(),
            search_headers: r.search_headers.map(String::into_boxed_str),
            sent_day: r.sent_day,
        })
    }

    pub fn put(&self, mailbox: &Path, uidvalidity: u32, uid: u32, c: &Cached) {
        let r = Record {
            size: c.size,
            internal_date: c.internal_date,
            envelope: c.envelope.to_vec(),
            body: c.body.to_vec(),
            bodystructure: c.bodystructure.to_vec(),
            search_headers: c.search_headers.clone().map(String::from),
            sent_day: c.sent_day,
            sent: c.sort.sent,
            sort: [
                c.sort.subject.clone(),
                c.sort.from.clone(),
                c.sort.to.clone(),
                c.sort.cc.clone(),
                c.sort.display_from.clone(),
                c.sort.display_to.clone(),
                c.sort.message_id.clone(),
                c.sort.in_reply_to.clone(),
                c.sort.references.clone(),
            ],
        };
        let Ok(payload) = bincode::serde::encode_to_vec(&r, bincode::config::standard()) else {
            return;
        };
        let mut v = Vec::with_capacity(payload.len() + 1);
        v.push(FORMAT);
        v.extend_from_slice(&payload);
        if let Err(e) = self.db.insert(key(mailbox, uidvalidity, uid), v) {
            tracing::debug!(error = %e, "index insert failed");
        }
    }

    pub fn remove(&self, mailbox: &Path, uidvalidity: u32, uid: u32) {
        let _ = self.db.remove(key(mailbox, uidvalidity, uid));
    }

    /// Drops every entry of the mailbox at `mailbox`, whatever its UIDVALIDITY.
    pub fn remove_mailbox(&self, mailbox: &Path) {
        self.remove_prefix(&mailbox_prefix(mailbox));
    }

    /// Drops every entry whose key starts with `prefix` (a mailbox path's first bytes: the
    /// mailboxes below a Maildir++ folder `.A` are `.A.B`, ...).
    pub fn remove_prefix(&self, prefix: &[u8]) {
        let keys: Vec<sled::IVec> = self
            .db
            .scan_prefix(prefix)
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in keys {
            if let Err(e) = self.db.remove(k) {
                tracing::debug!(error = %e, "index remove failed");
            }
        }
    }

    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "index flush failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_keys_are_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::open(dir.path()).unwrap();
        let c = Cached {
            size: 42,
            internal_date: 1_700_000_000,
            envelope: b"(NIL)".to_vec().into(),
            body: b"(b)".to_vec().into(),
            bodystructure: b"(bs)".to_vec().into(),
            search_headers: Default::default(),
            sent_day: Some(3),
            sort: std::sync::Arc::new(ferrymail_imap_proto::sort::SortFacts {
                arrival: 1_700_000_000,
                size: 42,
                subject: "s".into(),
                references: "<r@x>".into(),
                ..Default::default()
            }),
        };
        let mb = Path::new("/m/a");
        idx.put(mb, 7, 1, &c);
        let got = idx.get(mb, 7, 1).unwrap();
        assert_eq!(
            (got.size, &*got.bodystructure, got.sent_day),
            (42, &b"(bs)"[..], Some(3))
        );
        assert_eq!(got.sort, c.sort);
        assert!(
            idx.get(mb, 8, 1).is_none(),
            "another UIDVALIDITY is another message"
        );
        assert!(idx.get(Path::new("/m/a2"), 7, 1).is_none());
        idx.remove(mb, 7, 1);
        assert!(idx.get(mb, 7, 1).is_none());

        for (path, v) in [("/m/a", 7), ("/m/a", 8), ("/m/a2", 7), ("/m/a.b", 7)] {
            idx.put(Path::new(path), v, 1, &c);
        }
        idx.remove_mailbox(mb);
        assert!(idx.get(mb, 7, 1).is_none() && idx.get(mb, 8, 1).is_none());
        assert!(idx.get(Path::new("/m/a2"), 7, 1).is_some());
        assert!(idx.get(Path::new("/m/a.b"), 7, 1).is_some());
        idx.remove_prefix(b"/m/a.");
        assert!(idx.get(Path::new("/m/a.b"), 7, 1).is_none());
        assert!(idx.get(Path::new("/m/a2"), 7, 1).is_some());
    }
}
