//! The scheduling index: which message is due when.
//!
//! A sled database under `<state_dir>/queue-runner/`, owned by this daemon alone. It is only a
//! cache of the `next_attempt` fields in the spool's envelopes (the source of truth): it is
//! reconciled with a full spool scan at every start and periodically, and if it is missing,
//! unreadable or of another format version it is thrown away and rebuilt from the spool.
//!
//! Trees: `due` maps `next_attempt (u64 BE) ‖ qid` to nothing, so a range scan yields the due
//! messages in time order; `msgs` maps `qid` to a versioned [`MsgRecord`] so a reschedule can
//! find and delete the old `due` key. Both trees change in one sled transaction, which sled
//! recovers atomically: a kill between two separate writes could once leave a `msgs` record
//! without its `due` key, and such a message was never tried again, since the scan trusted
//! `msgs`. [`Index::scheduled_at`] therefore reports a time only when both trees agree, and the
//! periodic reconcile re-schedules anything for which they do not (databases written before the
//! transaction, or damaged otherwise).

use std::path::{Path, PathBuf};

use ferrymail_spool::QueueId;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

/// Format of everything stored here; bump it and old databases are rebuilt from the spool.
const FORMAT_VERSION: u16 = 1;
const VERSION_KEY: &[u8] = b"format_version";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("scheduling database {path}: {source}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("scheduling database: {0}")]
    Op(#[from] sled::Error),
    #[error("{0} is locked: another queue-runner is running")]
    Locked(PathBuf),
    #[error("scheduling database {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `msgs` remembers about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct MsgRecord {
    due: u64,
}

fn encode_record(r: &MsgRecord) -> Vec<u8> {
    let mut v = FORMAT_VERSION.to_be_bytes().to_vec();
    // Encoding a plain struct of integers cannot fail; an empty payload would just be
    // treated as unreadable and rebuilt.
    let payload = bincode::serde::encode_to_vec(r, bincode::config::standard()).unwrap_or_default();
    v.extend_from_slice(&payload);
    v
}

fn decode_record(bytes: &[u8]) -> Option<MsgRecord> {
    let (version, payload) = bytes.split_at_checked(2)?;
    if version != FORMAT_VERSION.to_be_bytes() {
        return None;
    }
    bincode::serde::decode_from_slice(payload, bincode::config::standard())
        .ok()
        .map(|(r, _)| r)
}

/// Takes the one-queue-runner-per-spool lock at `path` (created if missing, mode 0644, so it
/// can be taken before and after dropping privileges). Hold the file for the process's life.
pub fn lock_instance(path: &Path) -> Result<std::fs::File, IndexError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let io = |source| IndexError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o644)
                .open(path)
                .map_err(io)?;
            std::fs::File::open(path).map_err(io)?
        }
        Err(e) => return Err(io(e)),
    };
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(IndexError::Locked(path.to_owned()));
        }
        return Err(io(e));
    }
    Ok(f)
}

fn due_key(due: u64, id: &QueueId) -> Vec<u8> {
    let mut k = due.to_be_bytes().to_vec();
    k.extend_from_slice(id.as_str().as_bytes());
    k
}

fn split_due_key(key: &[u8]) -> Option<(u64, QueueId)> {
    let (t, id) = key.split_at_checked(8)?;
    let t = u64::from_be_bytes(t.try_into().ok()?);
    let id = QueueId::parse(std::str::from_utf8(id).ok()?).ok()?;
    Some((t, id))
}

pub struct Index {
    /// Held for the life of the process: one queue-runner per spool.
    _lock: std::fs::File,
    db: sled::Db,
    due: sled::Tree,
    msgs: sled::Tree,
    /// Messages whose sender already got a delay warning.
    warned: sled::Tree,
    /// Whether the database was (re)created empty, so the caller knows it is rebuilding.
    pub fresh: bool,
}

impl Index {
    /// Opens the database in `dir`, discarding it when it cannot be opened or has another
    /// format version (it is rebuilt from the spool by the caller's reconcile).
    ///
    /// `lock` comes from [`lock_instance`]: sled's own lock error looks like any other I/O
    /// error, and a second instance must fail rather than "rebuild" (delete) the database the
    /// first one is using.
    pub fn open(dir: &Path, lock: std::fs::File) -> Result<Index, IndexError> {
        match Index::try_open(dir, &lock) {
            Ok(Some(index)) => return Ok(index),
            Ok(None) => {
                tracing::warn!(dir = %dir.display(), "scheduling database has another format version; rebuilding from the spool")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "scheduling database unusable; rebuilding from the spool")
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|source| IndexError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut index = Index::try_open(dir, &lock)?.ok_or_else(|| IndexError::Io {
            path: dir.to_owned(),
            source: std::io::Error::other("fresh database reports a foreign version"),
        })?;
        index.fresh = true;
        Ok(index)
    }

    fn try_open(dir: &Path, lock: &std::fs::File) -> Result<Option<Index>, IndexError> {
        let lock = lock.try_clone().map_err(|source| IndexError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let existed = dir.join("conf").exists();
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|source| IndexError::Sled {
                path: dir.to_owned(),
                source,
            })?;
        match db.get(VERSION_KEY)? {
            Some(v) if v.as_ref() == FORMAT_VERSION.to_be_bytes() => {}
            Some(_) => return Ok(None),
            None => {
                db.insert(VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
            }
        }
        let due = db.open_tree("due")?;
        let msgs = db.open_tree("msgs")?;
        let warned = db.open_tree("warned")?;
        Ok(Some(Index {
            _lock: lock,
            db,
            due,
            msgs,
            warned,
            fresh: !existed,
        }))
    }

    /// Sets (or moves) the time `id` is due: its `msgs` record and its `due` key change
    /// together or not at all.
    pub fn schedule(&self, id: &QueueId, due: u64) -> Result<(), IndexError> {
        self.transact(|msgs, due_tree| {
            let old = msgs.insert(id.as_str().as_bytes(), encode_record(&MsgRecord { due }))?;
            if let Some(old) = old.as_deref().and_then(decode_record) {
                if old.due != due {
                    due_tree.remove(due_key(old.due, id))?;
                }
            }
            due_tree.insert(due_key(due, id), &[])?;
            Ok(())
        })
    }

    /// Runs `f` over the `msgs` and `due` trees as one atomic sled transaction.
    fn transact(
        &self,
        f: impl Fn(
            &TransactionalTree,
            &TransactionalTree,
        ) -> Result<(), ConflictableTransactionError<()>>,
    ) -> Result<(), IndexError> {
        (&self.msgs, &self.due)
            .transaction(|(msgs, due)| f(msgs, due))
            .map_err(|e| match e {
                TransactionError::Storage(e) => IndexError::Op(e),
                // `f` never aborts: every error it returns is a storage error or a conflict,
                // and conflicts are retried inside sled.
                TransactionError::Abort(()) => {
                    IndexError::Op(sled::Error::Unsupported("transaction aborted".into()))
                }
            })
    }

    /// Whether a delay warning went out for `id`. Lost with the database, so a rebuilt index
    /// may send a second warning (harmless; losing a bounce would not be).
    pub fn warned(&self, id: &QueueId) -> bool {
        self.warned
            .contains_key(id.as_str().as_bytes())
            .unwrap_or(false)
    }

    pub fn set_warned(&self, id: &QueueId) -> Result<(), IndexError> {
        self.warned.insert(id.as_str().as_bytes(), &[])?;
        Ok(())
    }

    /// Drops `id` (delivered, deleted, held or quarantined).
    pub fn forget(&self, id: &QueueId) -> Result<(), IndexError> {
        self.warned.remove(id.as_str().as_bytes())?;
        self.transact(|msgs, due_tree| {
            if let Some(old) = msgs.remove(id.as_str().as_bytes())? {
                if let Some(r) = decode_record(&old) {
                    due_tree.remove(due_key(r.due, id))?;
                }
            }
            Ok(())
        })
    }

    /// When `id` is due, if indexed.
    pub fn due_time(&self, id: &QueueId) -> Option<u64> {
        self.msgs
            .get(id.as_str().as_bytes())
            .ok()
            .flatten()
            .and_then(|v| decode_record(&v))
            .map(|r| r.due)
    }

    /// When `id` is due, only if the `msgs` record and the `due` key agree: a message the
    /// dispatcher can actually find. `None` means "not (properly) scheduled".
    pub fn scheduled_at(&self, id: &QueueId) -> Option<u64> {
        let t = self.due_time(id)?;
        self.due
            .contains_key(due_key(t, id))
            .ok()
            .and_then(|present| present.then_some(t))
    }

    /// Up to `limit` messages due at or before `now`, oldest due first, skipping `skip`.
    /// Stale keys (left by a crash mid-reschedule) are removed on the way.
    pub fn due(&self, now: u64, limit: usize, skip: impl Fn(&QueueId) -> bool) -> Vec<QueueId> {
        let mut out = Vec::new();
        let end = now.saturating_add(1).to_be_bytes();
        for item in self.due.range(..end.as_slice()) {
            if out.len() >= limit {
                break;
            }
            let Ok((key, _)) = item else { break };
            let Some((t, id)) = split_due_key(&key) else {
                let _ = self.due.remove(key);
                continue;
            };
            if self.due_time(&id) != Some(t) {
                let _ = self.due.remove(key);
                continue;
            }
            if !skip(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The earliest due time, if anything is indexed.
    pub fn next_due(&self) -> Option<u64> {
        self.due
            .iter()
            .filter_map(|i| i.ok())
            .find_map(|(k, _)| split_due_key(&k).map(|(t, _)| t))
    }

    /// Every indexed id.
    pub fn ids(&self) -> Vec<QueueId> {
        self.msgs
            .iter()
            .keys()
            .filter_map(|k| k.ok())
            .filter_map(|k| {
                std::str::from_utf8(&k)
                    .ok()
                    .and_then(|s| QueueId::parse(s).ok())
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// The oldest indexed message: ids sort by the time they were made.
    pub fn oldest(&self) -> Option<QueueId> {
        let (k, _) = self.msgs.first().ok()??;
        QueueId::parse(std::str::from_utf8(&k).ok()?).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Makes every indexed message due at `now` (flush).
    pub fn all_due_now(&self, now: u64) -> Result<usize, IndexError> {
        let ids = self.ids();
        for id in &ids {
            self.schedule(id, now)?;
        }
        Ok(ids.len())
    }

    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "scheduling database flush failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_in(path: &Path) -> Result<Index, IndexError> {
        let lock = lock_instance(&path.with_extension("lock"))?;
        Index::open(path, lock)
    }

    /// Reopens after the previous handle was dropped in this same process: sled's background
    /// flusher lets go of the database a moment later (a real restart is a new process).
    fn reopen(path: &Path) -> Index {
        let mut r = open_in(path);
        for _ in 0..100 {
            if r.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            r = open_in(path);
        }
        r.unwrap()
    }

    #[test]
    fn schedules_in_time_order_and_moves_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = open_in(&dir.path().join("db")).unwrap();
        assert!(index.fresh);
        let a = QueueId::generate();
        let b = QueueId::generate();
        index.schedule(&a, 200).unwrap();
        index.schedule(&b, 100).unwrap();
        assert_eq!(index.due(150, 10, |_| false), vec![b]);
        assert_eq!(index.due(300, 10, |_| false), vec![b, a]);
        assert_eq!(index.due(300, 10, |id| *id == b), vec![a]);
        index.schedule(&b, 400).unwrap();
        assert_eq!(index.due(300, 10, |_| false), vec![a]);
        assert_eq!(index.next_due(), Some(200));
        index.forget(&a).unwrap();
        assert_eq!(index.next_due(), Some(400));
        assert_eq!(index.len(), 1);
        index.all_due_now(5).unwrap();
        assert_eq!(index.due(5, 10, |_| false), vec![b]);
    }

    #[test]
    fn reopen_keeps_entries_and_foreign_version_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let a = QueueId::generate();
        {
            let index = open_in(&path).unwrap();
            index.schedule(&a, 7).unwrap();
            index.flush();
        }
        {
            let index = reopen(&path);
            assert!(!index.fresh);
            assert_eq!(index.due_time(&a), Some(7));
            index.db.insert(VERSION_KEY, &99u16.to_be_bytes()).unwrap();
            index.flush();
        }
        let index = reopen(&path);
        assert!(index.fresh);
        assert!(index.is_empty());
    }

    #[test]
    fn a_second_instance_is_refused_without_touching_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let first = open_in(&path).unwrap();
        let a = QueueId::generate();
        first.schedule(&a, 9).unwrap();
        assert!(matches!(open_in(&path), Err(IndexError::Locked(_))));
        assert_eq!(first.due_time(&a), Some(9));
        drop(first);
        assert!(!reopen(&path).fresh);
    }

    #[test]
    fn a_record_without_its_due_key_is_not_scheduled_until_rescheduled() {
        let dir = tempfile::tempdir().unwrap();
        let index = open_in(&dir.path().join("db")).unwrap();
        let a = QueueId::generate();
        // What a kill between two separate tree writes could leave behind.
        index
            .msgs
            .insert(a.as_str().as_bytes(), encode_record(&MsgRecord { due: 3 }))
            .unwrap();
        assert_eq!(index.due_time(&a), Some(3));
        assert_eq!(index.scheduled_at(&a), None);
        assert!(index.due(10, 10, |_| false).is_empty());
        index.schedule(&a, 3).unwrap();
        assert_eq!(index.scheduled_at(&a), Some(3));
        assert_eq!(index.due(10, 10, |_| false), vec![a]);
        index.forget(&a).unwrap();
        assert_eq!(index.due_time(&a), None);
        assert!(
            index.due.is_empty(),
            "forget removes the due key with the record"
        );
    }

    #[test]
    fn garbage_records_are_ignored() {
        assert_eq!(decode_record(b""), None);
        assert_eq!(
            decode_record(b"\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            None
        );
        let r = MsgRecord { due: 42 };
        assert_eq!(decode_record(&encode_record(&r)), Some(r));
        assert_eq!(split_due_key(b"short"), None);
    }
}
