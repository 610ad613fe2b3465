//! The maildrop of one POP3 session: the user's Maildir INBOX as it was at login, locked
//! against a second POP3 session, with the CRLF sizes and UIDLs the protocol reports — or,
//! for a Unix account with `userdb.unix_mailbox = "mbox"`, its mbox file ([`crate::mboxdrop`]).
//!
//! Everything here is blocking file-system work; the connection code runs it on tokio's
//! blocking pool.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferrymail_config::Config;
use ferrymail_maildir::{Flags, Maildir, MessageEntry};
use ferrymail_users::{Account, MailboxLocation};
use nix::fcntl::{Flock, FlockArg};

use crate::mboxdrop::{self, MboxDrop};
use crate::session::{uidl_for_base, MessageInfo};
use crate::transfer::CrlfSize;

/// The lock file inside the Maildir: a second pop3d process (a restart overlapping the old
/// one, a second instance) sees the flock even though it cannot see our in-process table.
pub const LOCK_FILE: &str = "ferrymail-pop3d.lock";

/// How much of a message is read per blocking call: most mail fits in one.
pub const CHUNK: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MaildropError {
    #[error("maildrop is in use by another POP3 session")]
    InUse,
    #[error(transparent)]
    Mbox(#[from] ferrymail_maildir::mbox::MboxError),
    #[error(transparent)]
    Maildir(#[from] ferrymail_maildir::Error),
    #[error("lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Maildrops locked by this process. The flock alone would already conflict between two
/// sessions of this process; the table makes the refusal independent of flock semantics on
/// odd file systems (NFS) and cheap.
#[derive(Clone, Default)]
pub struct LockTable {
    held: Arc<Mutex<HashSet<PathBuf>>>,
}

impl LockTable {
    pub fn new() -> LockTable {
        LockTable::default()
    }

    pub fn is_locked(&self, path: &Path) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path)
    }

    /// This process's claim on the maildrop at `path`, released on drop.
    pub(crate) fn claim(&self, path: &Path) -> Result<TableEntry, MaildropError> {
        let key = path.to_path_buf();
        if !self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone())
        {
            return Err(MaildropError::InUse);
        }
        Ok(TableEntry {
            table: self.clone(),
            key,
        })
    }

    /// Takes the maildrop lock for `maildir`: the table entry, then the flock.
    pub fn lock(&self, maildir: &Path) -> Result<MaildropLock, MaildropError> {
        // From here on, dropping `guard` releases the table entry on every error path.
        let guard = self.claim(maildir)?;
        let path = maildir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| MaildropError::LockFile {
                path: path.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => Ok(MaildropLock {
                _flock: flock,
                _entry: guard,
            }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(MaildropError::InUse),
            Err((_, e)) => Err(MaildropError::LockFile {
                path,
                source: io::Error::from(e),
            }),
        }
    }
}

pub(crate) struct TableEntry {
    table: LockTable,
    key: PathBuf,
}

impl Drop for TableEntry {
    fn drop(&mut self) {
        self.table
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Held for the whole session; dropping it (any way the session ends) frees the maildrop.
pub struct MaildropLock {
    // Field order matters: unlock the file before another session of this process may
    // take the table entry and try the flock.
    _flock: Flock<File>,
    _entry: TableEntry,
}

/// A locked maildrop of either kind.
pub enum Maildrop {
    Maildir(MaildirDrop),
    Mbox(MboxDrop),
}

impl Maildrop {
    /// The Maildir or mbox file, for logs.
    pub fn path(&self) -> &Path {
        match self {
            Maildrop::Maildir(m) => m.maildir.path(),
            Maildrop::Mbox(m) => m.path(),
        }
    }

    /// UPDATE state: removes messages `indexes` (0-based). Returns (removed, failed).
    pub fn update(&self, indexes: &[usize]) -> (usize, usize) {
        match self {
            Maildrop::Maildir(m) => delete(m, indexes),
            Maildrop::Mbox(m) => m.delete(indexes),
        }
    }
}

/// A locked Maildir maildrop.
pub struct MaildirDrop {
    pub maildir: Maildir,
    /// Index-aligned with the session's message list; updated as RETR renames files.
    pub entries: Vec<MessageEntry>,
    _lock: MaildropLock,
}

/// CRLF sizes of messages whose names lack `W=`, remembered across sessions. A Maildir
/// message file never changes once delivered (flags live in its name), so a base name's
/// size stays right for as long as the message exists; without this, every login would read
/// every such message (files other tools wrote, Dovecot `S=`-only names).
#[derive(Clone)]
pub struct SizeCache {
    inner: Arc<Mutex<SizeCacheInner>>,
    max_entries: usize,
}

#[derive(Default)]
struct SizeCacheInner {
    by_maildir: std::collections::HashMap<PathBuf, std::collections::HashMap<String, u64>>,
    entries: usize,
}

impl SizeCache {
    /// `max_entries` bounds memory (about 100 bytes per message); past it the cache starts
    /// over, which only costs the next logins a read of their messages.
    pub fn new(max_entries: usize) -> SizeCache {
        SizeCache {
            inner: Arc::new(Mutex::new(SizeCacheInner::default())),
            max_entries,
        }
    }

    fn known(&self, maildir: &Path) -> std::collections::HashMap<String, u64> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_maildir
            .get(maildir)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces what is known about `maildir` with the sizes of its current messages, so
    /// expunged messages do not linger.
    fn store(&self, maildir: &Path, sizes: std::collections::HashMap<String, u64>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let old = inner
            .by_maildir
            .remove(maildir)
            .map(|m| m.len())
            .unwrap_or(0);
        inner.entries = inner.entries.saturating_sub(old);
        if inner.entries + sizes.len() > self.max_entries {
            inner.by_maildir.clear();
            inner.entries = 0;
        }
        if sizes.is_empty() || sizes.len() > self.max_entries {
            return;
        }
        inner.entries += sizes.len();
        inner.by_maildir.insert(maildir.to_path_buf(), sizes);
    }
}

impl Default for SizeCache {
    fn default() -> Self {
        SizeCache::new(2_000_000)
    }
}

/// Locks and lists the maildrop of an account (`config` says where its mail is).
pub fn open_account(
    locks: &LockTable,
    cache: &SizeCache,
    config: &Config,
    account: &Account,
) -> Result<(Maildrop, Vec<MessageInfo>), MaildropError> {
    open_location(locks, cache, &account.mailbox(config))
}

/// Locks and lists a Maildir or an mbox maildrop.
pub fn open_location(
    locks: &LockTable,
    cache: &SizeCache,
    location: &MailboxLocation,
) -> Result<(Maildrop, Vec<MessageInfo>), MaildropError> {
    match location {
        MailboxLocation::Maildir(p) => {
            open(locks, cache, p).map(|(m, i)| (Maildrop::Maildir(m), i))
        }
        MailboxLocation::Mbox(p) => mboxdrop::open(locks, p).map(|(m, i)| (Maildrop::Mbox(m), i)),
    }
}

/// Locks and lists the Maildir at `path` (created empty if the user never got mail).
pub fn open(
    locks: &LockTable,
    cache: &SizeCache,
    path: &Path,
) -> Result<(MaildirDrop, Vec<MessageInfo>), MaildropError> {
    let maildir = match Maildir::open(path) {
        Ok(m) => m,
        Err(ferrymail_maildir::Error::NotAMaildir(_)) => Maildir::create(path)?,
        Err(e) => return Err(e.into()),
    };
    let lock = locks.lock(maildir.path())?;
    let mut entries = maildir.list()?;
    let mut infos = Vec::with_capacity(entries.len());
    let known = cache.known(maildir.path());
    let mut computed = std::collections::HashMap::new();
    // A message that vanishes between listing and sizing (expunged by IMAP meanwhile) is
    // simply not part of this maildrop.
    entries.retain(|e| match crlf_size(&maildir, e, &known) {
        Ok(size) => {
            if e.vsize().is_none() {
                computed.insert(e.base().to_owned(), size);
            }
            infos.push(MessageInfo {
                uidl: uidl_for_base(e.base()),
                size,
            });
            true
        }
        Err(err) => {
            tracing::debug!(message = e.base(), error = %err, "message vanished while listing");
            false
        }
    });
    cache.store(maildir.path(), computed);
    Ok((
        MaildirDrop {
            maildir,
            entries,
            _lock: lock,
        },
        infos,
    ))
}

/// The CRLF size: the `W=` field when the name has one, else counted from the contents.
fn crlf_size(
    maildir: &Maildir,
    e: &MessageEntry,
    known: &std::collections::HashMap<String, u64>,
) -> Result<u64, MaildropError> {
    if let Some(w) = e.vsize().or_else(|| known.get(e.base()).copied()) {
        return Ok(w);
    }
    let (mut file, opened) = maildir.open_message(e)?;
    let mut counter = CrlfSize::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|source| MaildropError::Read {
            path: opened.path(),
            source,
        })?;
        if n == 0 {
            break;
        }
        counter.update(buf.get(..n).unwrap_or_default());
    }
    Ok(counter.size())
}

/// A message opened for sending, with its first chunk already read.
pub struct OpenedMessage {
    pub file: File,
    pub entry: MessageEntry,
    pub first: Vec<u8>,
    pub eof: bool,
}

/// Opens the message and reads its first chunk; with `mark_seen`, also sets `S` (moving it
/// to `cur/`), as IMAP clients expect after a POP3 RETR.
pub fn open_for_send(
    maildir: &Maildir,
    entry: &MessageEntry,
    mark_seen: bool,
) -> Result<OpenedMessage, MaildropError> {
    let (mut file, mut opened) = maildir.open_message(entry)?;
    let (first, eof) = read_chunk(&mut file, &opened.path())?;
    if mark_seen
        && !(opened.flags().contains(Flags::SEEN) && opened.dir() == ferrymail_maildir::Subdir::Cur)
    {
        match maildir.modify_flags(&opened, |f| f | Flags::SEEN) {
            Ok(e) => opened = e,
            // The message is open; failing to flag it must not fail the RETR.
            Err(e) => tracing::warn!(message = opened.base(), error = %e, "could not mark seen"),
        }
    }
    Ok(OpenedMessage {
        file,
        entry: opened,
        first,
        eof,
    })
}

/// Reads up to [`CHUNK`] bytes; `true` when the file ended.
pub fn read_chunk(file: &mut File, path: &Path) -> Result<(Vec<u8>, bool), MaildropError> {
    let mut buf = Vec::with_capacity(CHUNK.min(64 * 1024));
    let n = file
        .by_ref()
        .take(CHUNK as u64)
        .read_to_end(&mut buf)
        .map_err(|source| MaildropError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok((buf, n < CHUNK))
}

/// UPDATE state: removes the messages. A message someone else already removed counts as
/// removed. Returns (removed, failed).
pub fn delete(maildrop: &MaildirDrop, indexes: &[usize]) -> (usize, usize) {
    let mut removed = 0;
    let mut failed = 0;
    for &i in indexes {
        let Some(entry) = maildrop.entries.get(i) else {
            failed += 1;
            continue;
        };
        match maildrop.maildir.delete(entry) {
            Ok(()) => removed += 1,
            Err(e) if e.is_not_found() => removed += 1,
            Err(e) => {
                tracing::warn!(message = entry.base(), error = %e, "could not delete");
                failed += 1;
            }
        }
    }
    (removed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_maildir::DeliverOptions;

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path().join("Maildir")).unwrap();
        let locks = LockTable::new();
        let first = locks.lock(md.path()).unwrap();
        assert!(matches!(locks.lock(md.path()), Err(MaildropError::InUse)));
        // A second process has its own table: only the flock stops it.
        let other = LockTable::new();
        assert!(matches!(other.lock(md.path()), Err(MaildropError::InUse)));
        drop(first);
        assert!(!locks.is_locked(md.path()));
        let _again = other.lock(md.path()).unwrap();
    }

    #[test]
    fn listing_reports_crlf_sizes_and_base_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Maildir");
        let md = Maildir::create(&path).unwrap();
        let a = md
            .deliver(&[b"Subject: a\n\nbody\n"], DeliverOptions::default())
            .unwrap();
        // A file written by another tool, without S=/W=.
        std::fs::write(path.join("new/123.foreign"), b"X: y\r\n\r\nz\n").unwrap();
        let locks = LockTable::new();
        let (drop_, infos) = open(&locks, &SizeCache::default(), &path).unwrap();
        assert_eq!(drop_.entries.len(), 2);
        assert_eq!(infos[0].uidl, "123.foreign");
        assert_eq!(infos[0].size, 11);
        assert_eq!(infos[1].uidl, a.base());
        assert_eq!(infos[1].size, 20);
    }

    #[test]
    fn missing_maildir_is_created_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u/Maildir");
        let (m, infos) = open(&LockTable::new(), &SizeCache::default(), &path).unwrap();
        assert!(infos.is_empty());
        assert!(m.maildir.path().join("cur").is_dir());
    }

    #[test]
    fn size_cache_is_used_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Maildir");
        Maildir::create(&path).unwrap();
        std::fs::write(path.join("cur/1.a:2,S"), b"a\nb\n").unwrap();
        std::fs::write(path.join("cur/2.b:2,"), b"c\n").unwrap();
        let locks = LockTable::new();
        let cache = SizeCache::new(10);
        let (m, infos) = open(&locks, &cache, &path).unwrap();
        drop(m);
        assert_eq!((infos[0].size, infos[1].size), (6, 3));
        assert_eq!(cache.known(&path).len(), 2);
        // Sizes now come from the cache: rewriting a file (which never happens to real
        // Maildir messages) is not noticed, which proves no read took place.
        std::fs::write(path.join("cur/1.a:2,S"), b"changed\n").unwrap();
        std::fs::remove_file(path.join("cur/2.b:2,")).unwrap();
        let (_m, infos) = open(&locks, &cache, &path).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].size, 6);
        assert_eq!(cache.known(&path).len(), 1, "expunged message pruned");
    }
}
