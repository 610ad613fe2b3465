//! Open mailboxes shared by every session of the process.
//!
//! One [`SharedMailbox`] exists per maildir that some session uses; all sessions on that
//! mailbox hold the same one (through [`Hub`]), so a flag change, expunge or append by one
//! session is seen by the others at once: every change bumps a version on a watch channel,
//! and each session diffs its own snapshot against the current one to produce
//! EXISTS/EXPUNGE/FETCH. Changes by other processes (local-delivery, pop3d, mutt) are found
//! by the rescans done on SELECT, NOOP, CHECK and at the start of IDLE, and while any session
//! of this process is in IDLE on a mailbox, through inotify (one watcher for the whole
//! process, [`Hub::idle_watch`]) and a periodic rescan for what inotify cannot see, other
//! hosts' changes on a shared store ([`Hub::poll_idle_every`]). Watching only during IDLE, as Dovecot does, matters for
//! speed: a watched directory turns every one of our own renames (a STORE on 10,000
//! messages) and file opens (FETCH) into an event and a thread wake-up.
//! Everything here is blocking file I/O: callers run it on the blocking pool.
//!
//! The message list is an `Arc<Vec<Meta>>` replaced copy-on-write, so the snapshots of
//! sessions that are up to date are one shared allocation, not one copy per connection.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrymail_maildir::{Flags, Maildir, MessageEntry, Subdir};
use tokio::sync::watch;

mod changes;
mod dirs;
mod hub;
mod idle_poll;
mod recent;
mod scanstamp;
mod sync;

pub use hub::{Hub, IdleWatch};

use crate::index::Index;
use crate::modseq::ModseqLog;
use crate::uidlist::{store_root, FileStamp, UidList, UidLock};

/// Dovecot's keyword-name file: index → name for the maildir letters a–z.
const KEYWORDS_FILE: &str = "dovecot-keywords";

/// A conditional flag change's outcome: (UID, new flags) of the messages that still exist
/// and were changed or left as they were, and the UIDs the test left alone.
pub type FlagsChanged = (Vec<(u32, Flags)>, Vec<u32>);

/// One message as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub flags: Flags,
    pub dir: Subdir,
    /// Shared so the copy-on-write message list clones cheaply.
    pub file_name: Arc<str>,
    /// CONDSTORE mod-sequence ([`crate::modseq`]); 0 until the rescan that found it ends.
    pub modseq: u64,
    /// RFC 8514 SAVEDATE, Unix seconds, as the UID list records it; 0 if unknown.
    pub saved: i64,
}

impl Meta {
    pub fn base(&self) -> &str {
        self.file_name.split(':').next().unwrap_or(&self.file_name)
    }
}

/// What FETCH needs about a message besides flags, computed once per message.
#[derive(Debug, Clone)]
pub struct Cached {
    pub size: u64,
    pub internal_date: i64,
    pub envelope: Box<[u8]>,
    pub body: Box<[u8]>,
    pub bodystructure: Box<[u8]>,
    /// Lower-cased, RFC 2047-decoded From, To, Cc, Bcc and Subject (several occurrences
    /// joined by LF), so SEARCH on them needs no file read.
    pub search_headers: [Box<str>; 5],
    /// The day (since the epoch, in the sender's zone) of the Date header.
    pub sent_day: Option<i64>,
    /// What SORT and THREAD compare, shared with the SORTs that use it (which fold its
    /// keys once, here).
    pub sort: Arc<ferrymail_imap_proto::sort::SortFacts>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Maildir(#[from] ferrymail_maildir::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("too many keywords in this mailbox")]
    TooManyKeywords,
}

pub struct State {
    pub maildir: Maildir,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub msgs: Arc<Vec<Meta>>,
    pub keywords: Vec<String>,
    /// The first UID no session has claimed as \Recent ([`recent`]).
    recent_from: u32,
    /// The UID list file as it was when `msgs` last covered everything in it.
    synced: Option<FileStamp>,
    /// The keyword file as it was when `keywords` was last read or written.
    keywords_stamp: Option<FileStamp>,
    /// The mailbox's files as they were before the last full scan.
    scanned: Option<scanstamp::ScanStamp>,
    /// The mod-sequence log as last read or written.
    pub modseq: ModseqLog,
}

pub struct SharedMailbox {
    pub path: PathBuf,
    state: Mutex<State>,
    /// `cur/` and `new/`, for reads and renames without a path walk.
    dirs: dirs::Dirs,
    version: watch::Sender<u64>,
    cache: Mutex<HashMap<u32, Arc<Cached>>>,
    index: Option<Arc<Index>>,
    dirty: std::sync::atomic::AtomicBool,
    /// File names our own renames and unlinks are about to produce inotify events for:
    /// those events are dropped instead of costing a rescan each (a STORE on 10,000
    /// messages is 20,000 events).
    expected: Mutex<HashSet<Box<str>>>,
    /// Sessions in IDLE on this mailbox; its directories are watched while this is not 0.
    idlers: std::sync::atomic::AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
        .max(1)
}

fn load_keywords(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Ok(text) = fs::read_to_string(dir.join(KEYWORDS_FILE)) {
        for line in text.lines() {
            if let Some((i, name)) = line.split_once(' ') {
                if let Ok(i) = i.parse::<usize>() {
                    if i < 26 && !name.is_empty() {
                        if out.len() <= i {
                            out.resize(i + 1, String::new());
                        }
                        if let Some(slot) = out.get_mut(i) {
                            *slot = name.to_owned();
                        }
                    }
                }
            }
        }
    }
    out
}

fn save_keywords(dir: &Path, kws: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for (i, k) in kws.iter().enumerate() {
        if !k.is_empty() {
            text.push_str(&format!("{i} {k}\n"));
        }
    }
    ferrymail_fsutil::write_atomic(&dir.join(KEYWORDS_FILE), text.as_bytes(), 0o600)
}

impl SharedMailbox {
    fn open(maildir: Maildir, index: Option<Arc<Index>>) -> Result<SharedMailbox, StoreError> {
        let path = maildir.path().to_owned();
        let modseq = ModseqLog::load(&path)?;
        let keywords_stamp = FileStamp::of_file(&path.join(KEYWORDS_FILE));
        let keywords = load_keywords(&path);
        let (version, _) = watch::channel(0);
        let mb = SharedMailbox {
            dirs: dirs::Dirs::default(),
            path,
            state: Mutex::new(State {
                maildir,
                uidvalidity: 0,
                uidnext: 1,
                msgs: Arc::new(Vec::new()),
                keywords,
                recent_from: 1,
                synced: None,
                scanned: None,
                keywords_stamp,
                modseq,
            }),
            version,
            cache: Mutex::new(HashMap::new()),
            index,
            dirty: std::sync::atomic::AtomicBool::new(false),
            expected: Mutex::new(HashSet::new()),
            idlers: std::sync::atomic::AtomicUsize::new(0),
        };
        mb.rescan()?;
        mb.load_recent()?;
        Ok(mb)
    }

    /// Changes with every change to the message list (the watch channel's value).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// The current message list and UID facts.
    pub fn snapshot(&self) -> (Arc<Vec<Meta>>, u32, u32) {
        let st = lock(&self.state);
        (st.msgs.clone(), st.uidvalidity, st.uidnext)
    }

    /// How many keyword names the mailbox has (they are only ever added).
    pub fn keyword_count(&self) -> usize {
        lock(&self.state).keywords.len()
    }

    pub fn keywords(&self) -> Vec<String> {
        lock(&self.state).keywords.clone()
    }

    pub fn maildir(&self) -> Maildir {
        lock(&self.state).maildir.clone()
    }

    /// Reads a message (following renames by other processes) and its file time.
    pub fn read(&self, meta: &Meta) -> Result<(Vec<u8>, i64), StoreError> {
        let file = match self
            .dirs
            .open_message(&self.path, meta.dir, &meta.file_name)
        {
            Some(f) => f,
            None => {
                let maildir = self.maildir();
                let entry = maildir.entry(meta.dir, &meta.file_name)?;
                maildir.open_message(&entry)?.0
            }
        };
        let stat = file.metadata()?;
        let mtime = stat
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        Ok((dirs::read_all(&file, stat.len())?, mtime))
    }

    fn uidvalidity(&self) -> u32 {
        lock(&self.state).uidvalidity
    }

    /// The cached FETCH facts of a message: from memory, else from the index database.
    pub fn cached(&self, uid: u32) -> Option<Arc<Cached>> {
        if let Some(c) = lock(&self.cache).get(&uid).cloned() {
            return Some(c);
        }
        let index = self.index.as_ref()?;
        let c = Arc::new(index.get(&self.path, self.uidvalidity(), uid)?);
        lock(&self.cache).insert(uid, c.clone());
        Some(c)
    }

    /// [`Self::cached`] for many UIDs under one lock: what is not in memory comes from the
    /// index, or is None (the caller parses those messages).
    pub fn cached_many(&self, uids: &[u32]) -> Vec<Option<Arc<Cached>>> {
        let mut out: Vec<Option<Arc<Cached>>> = {
            let cache = lock(&self.cache);
            uids.iter().map(|u| cache.get(u).cloned()).collect()
        };
        for (slot, &uid) in out.iter_mut().zip(uids) {
            if slot.is_none() {
                *slot = self.cached(uid);
            }
        }
        out
    }

    pub fn put_cached(&self, uid: u32, c: Arc<Cached>) {
        if let Some(index) = &self.index {
            index.put(&self.path, self.uidvalidity(), uid, &c);
        }
        lock(&self.cache).insert(uid, c);
    }

    fn forget(&self, uids: &[u32]) {
        let mut c = lock(&self.cache);
        for u in uids {
            c.remove(u);
        }
        drop(c);
        if let Some(index) = &self.index {
            let v = self.uidvalidity();
            for &u in uids {
                index.remove(&self.path, v, u);
            }
        }
    }

    /// Whether inotify watches this mailbox (a session idles on it). Only then do our own
    /// changes need [`expect`](Self::expect): unwatched, no event will come. A watch that
    /// starts meanwhile at worst sees our change as foreign and rescans once.
    fn is_watched(&self) -> bool {
        self.idlers.load(std::sync::atomic::Ordering::Acquire) > 0
    }

    fn expect(&self, names: &[&str]) {
        let mut e = lock(&self.expected);
        if e.len() > 100_000 {
            // Events that never came (a failed rename): forget them rather than grow.
            e.clear();
        }
        for n in names {
            e.insert((*n).into());
        }
    }

    /// True (and forgotten) if an event for `name` was caused by our own change.
    fn was_expected(&self, name: &str) -> bool {
        lock(&self.expected).remove(name)
    }

    /// Marks the mailbox for a rescan by the watcher thread.
    fn mark_dirty(&self) -> bool {
        !self.dirty.swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}
