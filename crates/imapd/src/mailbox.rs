//! Open mailboxes shared by every session of the process.
//!
//! One [`SharedMailbox`] exists per maildir that some session uses; all sessions on that
//! mailbox hold the same one (through [`Hub`]), so a flag change, expunge or append by one
//! session is seen by the others at once: every change bumps a version on a watch channel,
//! and each session diffs its own snapshot against the current one to produce
//! EXISTS/EXPUNGE/FETCH. Changes by other processes (local-delivery, pop3d, mutt) are found
//! by the rescans done on SELECT, NOOP, CHECK and at the start of IDLE, and while any session
//! of this process is in IDLE on a mailbox, through inotify (one watcher for the whole
//! process, [`Hub::idle_watch`]). Watching only during IDLE, as Dovecot does, matters for
//! speed: a watched directory turns every one of our own renames (a STORE on 10,000
//! messages) and file opens (FETCH) into an event and a thread wake-up.
//! Everything here is blocking file I/O: callers run it on the blocking pool.
//!
//! The message list is an `Arc<Vec<Meta>>` replaced copy-on-write, so the snapshots of
//! sessions that are up to date are one shared allocation, not one copy per connection.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrymail_maildir::{DeliverOptions, Flags, Maildir, MessageEntry, PendingDelivery, Subdir};
use tokio::sync::watch;

mod hub;
mod recent;
mod scanstamp;

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

    /// Reconciles the index with the directory: new files get UIDs (in delivery order),
    /// vanished ones are expunged, renamed ones get their new flags. Returns true if
    /// anything changed (and then notifies the other sessions).
    pub fn rescan(&self) -> Result<bool, StoreError> {
        let mut st = lock(&self.state);
        if st
            .scanned
            .as_ref()
            .is_some_and(|s| s.still_current(&self.path))
        {
            return Ok(false);
        }
        let flock = UidLock::acquire(&self.path)?;
        let (mut changed, gone) = self.sync_locked(&mut st)?;
        changed |= self.reload_keywords(&mut st);
        drop(flock);
        drop(st);
        self.after_change(changed, &gone);
        Ok(changed)
    }

    /// Adopts keyword names another process (a session child of the same user) added since
    /// we last read the file; returns true if the names changed. The file's letters are
    /// what every process must agree on, so where it names a letter it wins; names only we
    /// know (the file was lost) are kept. Called with the [`UidLock`] held.
    fn reload_keywords(&self, st: &mut State) -> bool {
        let stamp = FileStamp::of_file(&self.path.join(KEYWORDS_FILE));
        if stamp == st.keywords_stamp {
            return false;
        }
        st.keywords_stamp = stamp;
        let mut merged = load_keywords(&self.path);
        for (i, name) in st.keywords.iter().enumerate() {
            let taken = merged.iter().any(|k| k.eq_ignore_ascii_case(name));
            if name.is_empty() || taken || merged.get(i).is_some_and(|k| !k.is_empty()) {
                continue;
            }
            if merged.len() <= i {
                merged.resize(i + 1, String::new());
            }
            if let Some(slot) = merged.get_mut(i) {
                slot.clone_from(name);
            }
        }
        let changed = merged != st.keywords;
        st.keywords = merged;
        changed
    }

    fn after_change(&self, changed: bool, gone: &[u32]) {
        if !gone.is_empty() {
            self.forget(gone);
        }
        if changed {
            self.bump();
        }
    }

    /// Brings the UID facts up to date with another process's writes to the UID list:
    /// records for messages we do not know yet are adopted with their UIDs, and UIDNEXT
    /// never stays below the file's. Called with the [`UidLock`] held, before any UID is
    /// assigned. Returns true if the message list changed.
    fn merge_uidlist(&self, st: &mut State, listing: &[MessageEntry]) -> Result<bool, StoreError> {
        let Some(list) = UidList::load(&self.path)? else {
            return Ok(false);
        };
        let by_base: HashMap<&str, &MessageEntry> = listing.iter().map(|e| (e.base(), e)).collect();
        let to_meta = |uid: u32, saved: i64, base: &str| {
            by_base.get(base).map(|e| Meta {
                uid,
                flags: e.flags(),
                dir: e.dir(),
                file_name: e.file_name().into(),
                modseq: 0,
                saved,
            })
        };
        if list.uidvalidity != st.uidvalidity {
            // Someone rebuilt the list: its numbering is the one every process must share.
            tracing::warn!(path = %self.path.display(), "UID list rebuilt by another process; adopting its UIDVALIDITY");
            // Cached facts are per UID, and the UIDs now name other messages.
            lock(&self.cache).clear();
            st.uidvalidity = list.uidvalidity;
            st.uidnext = list.uidnext;
            st.msgs = Arc::new(
                list.entries
                    .iter()
                    .filter_map(|(uid, saved, base)| to_meta(*uid, *saved, base))
                    .collect(),
            );
            return Ok(true);
        }
        st.uidnext = st.uidnext.max(list.uidnext);
        let known_uids: HashSet<u32> = st.msgs.iter().map(|m| m.uid).collect();
        let known_bases: HashSet<&str> = st.msgs.iter().map(|m| m.base()).collect();
        let adopted: Vec<Meta> = list
            .entries
            .iter()
            .filter(|(uid, _, base)| {
                !known_uids.contains(uid) && !known_bases.contains(base.as_str())
            })
            .filter_map(|(uid, saved, base)| to_meta(*uid, *saved, base))
            .collect();
        if adopted.is_empty() {
            return Ok(false);
        }
        let msgs = Arc::make_mut(&mut st.msgs);
        msgs.extend(adopted);
        msgs.sort_by_key(|m| m.uid);
        Ok(true)
    }

    /// The rescan proper, with the state and the [`UidLock`] held. Returns whether the
    /// message list changed and the UIDs that disappeared.
    fn sync_locked(&self, st: &mut State) -> Result<(bool, Vec<u32>), StoreError> {
        let stamp = scanstamp::ScanStamp::take(&self.path);
        let listing = list_unsorted(&st.maildir)?;
        let mut first_load = false;
        // Messages found in a maildir that had no UID list were not saved now: their save
        // date is left unknown. Later ones are new arrivals, saved when first seen.
        let mut saved_now = i64::from(now_secs());
        let mut changed = false;
        let old_msgs = st.msgs.clone();
        if st.uidvalidity == 0 {
            first_load = true;
            match UidList::load(&self.path)? {
                Some(list) => {
                    st.uidvalidity = list.uidvalidity;
                    st.uidnext = list.uidnext;
                    let by_base: HashMap<&str, &MessageEntry> =
                        listing.iter().map(|e| (e.base(), e)).collect();
                    let msgs: Vec<Meta> = list
                        .entries
                        .iter()
                        .filter_map(|(uid, saved, base)| {
                            by_base.get(base.as_str()).map(|e| Meta {
                                uid: *uid,
                                flags: e.flags(),
                                dir: e.dir(),
                                file_name: e.file_name().into(),
                                modseq: 0,
                                saved: *saved,
                            })
                        })
                        .collect();
                    st.msgs = Arc::new(msgs);
                }
                None => {
                    st.uidvalidity =
                        crate::uidlist::next_uidvalidity(store_root(&self.path), now_secs())?;
                    st.uidnext = 1;
                    saved_now = 0;
                }
            }
        } else if FileStamp::of(&self.path) != st.synced {
            changed |= self.merge_uidlist(st, &listing)?;
        }
        let known: HashMap<&str, &MessageEntry> = listing.iter().map(|e| (e.base(), e)).collect();
        let mut next: Vec<Meta> = Vec::with_capacity(listing.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(st.msgs.len());
        for m in st.msgs.iter() {
            let base = m.base();
            match known.get(base) {
                Some(e) => {
                    seen.insert(e.base());
                    if e.file_name() != &*m.file_name {
                        changed = true;
                        next.push(Meta {
                            uid: m.uid,
                            flags: e.flags(),
                            dir: e.dir(),
                            file_name: e.file_name().into(),
                            modseq: 0,
                            saved: m.saved,
                        });
                    } else {
                        next.push(m.clone());
                    }
                }
                None => changed = true,
            }
        }
        let first_new = next.len();
        let mut fresh: Vec<&MessageEntry> = listing
            .iter()
            .filter(|e| !seen.contains(e.base()))
            .collect();
        // New messages get UIDs in delivery order.
        fresh.sort_by_cached_key(|e| {
            let (secs, usec, base) = ferrymail_maildir::delivery_order_key(e.base());
            (secs, usec, base.to_owned())
        });
        for e in fresh {
            next.push(Meta {
                uid: st.uidnext,
                flags: e.flags(),
                dir: e.dir(),
                file_name: e.file_name().into(),
                modseq: 0,
                saved: saved_now,
            });
            st.uidnext = st.uidnext.saturating_add(1);
            changed = true;
        }
        // Messages read from the lists at the first load have no mod-sequence yet either.
        let highest_before = st.modseq.highest;
        st.modseq.catch_up(&self.path)?;
        for m in next.iter_mut().filter(|m| st.modseq.is_expunged(m.uid)) {
            m.modseq = 0;
        }
        let unassigned = next.iter().any(|m| m.modseq == 0);
        changed |= self.assign_modseqs(st, &mut next, &old_msgs, first_load)?;
        // Another process's HIGHESTMODSEQ (an `H` record) is news too: the sessions' snapshots
        // must not keep showing a lower one.
        changed |= st.modseq.highest != highest_before;
        let missing = || !self.path.join(crate::uidlist::FILE_NAME).exists();
        if first_load && (changed || missing()) {
            save_uidlist(st, &next, &self.path)?;
        } else if let Some(new) = next.get(first_new..).filter(|n| !n.is_empty()) {
            // UIDs must be durable before any client sees them.
            let records: Vec<(u32, i64, String)> = new
                .iter()
                .map(|m| (m.uid, m.saved, m.base().to_owned()))
                .collect();
            persist_new(st, &next, &self.path, &records)?;
        }
        st.synced = FileStamp::of(&self.path);
        let mut gone = Vec::new();
        if changed || unassigned {
            let keep: HashSet<u32> = next.iter().map(|m| m.uid).collect();
            gone = old_msgs
                .iter()
                .map(|m| m.uid)
                .filter(|u| !keep.contains(u))
                .collect();
            st.msgs = Arc::new(next);
        }
        st.scanned = Some(stamp);
        Ok((changed, gone))
    }

    /// Gives every message of `next` without one (new, renamed by another program, or all
    /// of them at the first load) its mod-sequence: the log's, if it recorded these very
    /// flags, else a new one; UIDs gone since `old` (or, at the first load, recorded but
    /// absent) without an expunge record get one. Returns true if it recorded anything.
    /// Called with the [`UidLock`] held, the log caught up.
    fn assign_modseqs(
        &self,
        st: &mut State,
        next: &mut [Meta],
        old: &[Meta],
        first_load: bool,
    ) -> Result<bool, StoreError> {
        st.modseq.settle(&self.path)?;
        let live: HashSet<u32> = next.iter().map(|m| m.uid).collect();
        let mut gone: Vec<u32> = old.iter().map(|m| m.uid).collect();
        if first_load {
            gone.extend(st.modseq.recorded());
        }
        gone.retain(|u| !live.contains(u) && !st.modseq.is_expunged(*u));
        gone.sort_unstable();
        gone.dedup();
        let mut need = Vec::new();
        for m in next.iter_mut().filter(|m| m.modseq == 0) {
            let info = m.flags.info();
            match st.modseq.current(m.uid, &info) {
                Some(x) => m.modseq = x,
                None => need.push((m.uid, info)),
            }
        }
        if need.is_empty() && gone.is_empty() {
            return Ok(false);
        }
        let modseq = st.modseq.record(&self.path, st.uidnext, &need, &gone)?;
        for m in next.iter_mut().filter(|m| m.modseq == 0) {
            m.modseq = modseq;
        }
        Ok(true)
    }

    /// The highest mod-sequence and the UIDs expunged after `since` (QRESYNC).
    pub fn modseq_facts(&self, since: Option<u64>) -> (u64, Vec<u32>) {
        let st = lock(&self.state);
        let vanished = since
            .map(|s| st.modseq.expunged_since(s))
            .unwrap_or_default();
        (st.modseq.highest, vanished)
    }

    /// Maildir letters for IMAP keyword names, adding names not seen before.
    pub fn keyword_flags(&self, names: &[String], create: bool) -> Result<Flags, StoreError> {
        let mut st = lock(&self.state);
        let known = |kws: &[String], name: &str| kws.iter().any(|k| k.eq_ignore_ascii_case(name));
        // A new name is given a letter under the mailbox's lock, after reading the names
        // other processes gave letters meanwhile, so no letter ever means two names.
        let _flock = if create && names.iter().any(|n| !known(&st.keywords, n)) {
            let flock = UidLock::acquire(&self.path)?;
            if self.reload_keywords(&mut st) {
                // Sessions must hear of the names another process added.
                self.bump();
            }
            Some(flock)
        } else {
            None
        };
        let mut flags = Flags::empty();
        let mut added = false;
        for name in names {
            let idx = match st
                .keywords
                .iter()
                .position(|k| k.eq_ignore_ascii_case(name))
            {
                Some(i) => i,
                None if create => {
                    let i = match st.keywords.iter().position(String::is_empty) {
                        Some(i) => i,
                        None if st.keywords.len() < 26 => {
                            st.keywords.push(String::new());
                            st.keywords.len() - 1
                        }
                        None => return Err(StoreError::TooManyKeywords),
                    };
                    if let Some(slot) = st.keywords.get_mut(i) {
                        *slot = name.clone();
                    }
                    added = true;
                    i
                }
                None => continue,
            };
            if let Some(f) = u8::try_from(idx).ok().and_then(Flags::keyword) {
                flags |= f;
            }
        }
        if added {
            save_keywords(&self.path, &st.keywords)?;
            st.keywords_stamp = FileStamp::of_file(&self.path.join(KEYWORDS_FILE));
        }
        Ok(flags)
    }

    /// Changes flags of the messages with these UIDs; returns (uid, new flags) for each
    /// message that still exists.
    pub fn modify_flags(
        &self,
        uids: &[u32],
        f: impl Fn(Flags) -> Flags,
    ) -> Result<Vec<(u32, Flags)>, StoreError> {
        Ok(self.modify_flags_if(uids, None, f)?.0)
    }

    /// RFC 7162 STORE (UNCHANGEDSINCE `since`): as [`Self::modify_flags`], but messages whose
    /// mod-sequence is above `since` are left alone and returned second. The mailbox is
    /// rescanned and the test made under the [`UidLock`] that the change is made under, so
    /// a change by another process (or program) just before is never overwritten.
    pub fn modify_flags_unchanged_since(
        &self,
        uids: &[u32],
        since: u64,
        f: impl Fn(Flags) -> Flags,
    ) -> Result<FlagsChanged, StoreError> {
        self.modify_flags_if(uids, Some(since), f)
    }

    fn modify_flags_if(
        &self,
        uids: &[u32],
        unchanged_since: Option<u64>,
        f: impl Fn(Flags) -> Flags,
    ) -> Result<FlagsChanged, StoreError> {
        let mut st = lock(&self.state);
        let mut want: HashSet<u32> = uids.iter().copied().collect();
        let mut failed = Vec::new();
        let (mut rescanned, mut gone, mut early_lock) = (false, Vec::new(), None);
        if let Some(since) = unchanged_since {
            early_lock = Some(UidLock::acquire(&self.path)?);
            (rescanned, gone) = self.sync_locked(&mut st)?;
            failed = st
                .msgs
                .iter()
                .filter(|m| want.contains(&m.uid) && m.modseq > since)
                .map(|m| m.uid)
                .collect();
            for u in &failed {
                want.remove(u);
            }
        }
        let mut msgs: Vec<Meta> = (*st.msgs).clone();
        let mut out = Vec::new();
        let mut changed = false;
        // The new mod-sequence is recorded before any rename, so a crash in between can only
        // make a message look changed when it is not (see [`crate::modseq`]).
        let flips: Vec<(u32, String)> = msgs
            .iter()
            .filter(|m| want.contains(&m.uid) && f(m.flags) != m.flags)
            .map(|m| (m.uid, f(m.flags).info()))
            .collect();
        let flock = match early_lock {
            Some(l) => Some(l),
            None if flips.is_empty() => None,
            None => Some(UidLock::acquire(&self.path)?),
        };
        let modseq = if flips.is_empty() {
            0
        } else {
            st.modseq.catch_up(&self.path)?;
            let uidnext = st.uidnext;
            st.modseq.record(&self.path, uidnext, &flips, &[])?
        };
        for m in msgs.iter_mut().filter(|m| want.contains(&m.uid)) {
            let new_flags = f(m.flags);
            if new_flags == m.flags && m.dir == Subdir::Cur {
                out.push((m.uid, m.flags));
                continue;
            }
            if new_flags != m.flags {
                m.modseq = modseq;
            }
            let entry = st.maildir.entry(m.dir, &m.file_name)?;
            if self.is_watched() {
                self.expect(&[&m.file_name, &format!("{}:{}", m.base(), new_flags.info())]);
            }
            match st.maildir.modify_flags(&entry, &f) {
                Ok(e) => {
                    m.flags = e.flags();
                    m.dir = e.dir();
                    m.file_name = e.file_name().into();
                    out.push((m.uid, m.flags));
                    changed = true;
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if changed {
            st.msgs = Arc::new(msgs);
        }
        drop(flock);
        drop(st);
        self.after_change(changed || rescanned, &gone);
        Ok((out, failed))
    }

    /// Deletes the messages with these UIDs; returns the UIDs removed.
    pub fn expunge(&self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        let mut st = lock(&self.state);
        let flock = UidLock::acquire(&self.path)?;
        // The list is rewritten below: it must first hold what other processes added.
        let (mut changed, mut gone) = if FileStamp::of(&self.path) != st.synced {
            self.sync_locked(&mut st)?
        } else {
            (false, Vec::new())
        };
        let want: HashSet<u32> = uids.iter().copied().collect();
        let doomed: Vec<u32> = st
            .msgs
            .iter()
            .filter(|m| want.contains(&m.uid))
            .map(|m| m.uid)
            .collect();
        if !doomed.is_empty() {
            // Recorded before the unlinks: a crash between shows an expunge that did not
            // happen yet, which the next load undoes with a newer mod-sequence.
            st.modseq.catch_up(&self.path)?;
            let uidnext = st.uidnext;
            st.modseq.record(&self.path, uidnext, &[], &doomed)?;
        }
        let mut removed = Vec::new();
        for m in st.msgs.iter().filter(|m| want.contains(&m.uid)) {
            let entry = st.maildir.entry(m.dir, &m.file_name)?;
            if self.is_watched() {
                self.expect(&[&m.file_name]);
            }
            match st.maildir.delete(&entry) {
                Ok(()) => removed.push(m.uid),
                Err(e) if e.is_not_found() => removed.push(m.uid),
                Err(e) => return Err(e.into()),
            }
        }
        if !removed.is_empty() {
            let dead: HashSet<u32> = removed.iter().copied().collect();
            let next: Vec<Meta> = st
                .msgs
                .iter()
                .filter(|m| !dead.contains(&m.uid))
                .cloned()
                .collect();
            save_uidlist(&st, &next, &self.path)?;
            st.synced = FileStamp::of(&self.path);
            st.msgs = Arc::new(next);
            gone.extend_from_slice(&removed);
            changed = true;
        }
        drop(flock);
        drop(st);
        self.after_change(changed, &gone);
        Ok(removed)
    }

    /// Stores a new message and gives it the next UID.
    pub fn append(
        &self,
        parts: &[&[u8]],
        flags: Flags,
        mtime: Option<SystemTime>,
    ) -> Result<u32, StoreError> {
        let opts = deliver_options(flags, mtime);
        self.append_with(|md| md.deliver(parts, opts))
    }

    /// Commits a message already written into this mailbox's `tmp/` (a streamed APPEND)
    /// and gives it the next UID. Writing took no lock; only the commit does.
    pub fn append_pending(
        &self,
        pending: PendingDelivery,
        flags: Flags,
        mtime: Option<SystemTime>,
    ) -> Result<u32, StoreError> {
        let opts = deliver_options(flags, mtime);
        self.append_with(|_| pending.commit(&opts))
    }

    /// A new message in this mailbox's `tmp/`, for streaming (see [`Self::append_pending`]).
    pub fn begin_append(&self) -> Result<PendingDelivery, StoreError> {
        Ok(self.maildir().begin_delivery()?)
    }

    fn append_with(
        &self,
        deliver: impl FnOnce(&Maildir) -> ferrymail_maildir::Result<MessageEntry>,
    ) -> Result<u32, StoreError> {
        let mut st = lock(&self.state);
        // Held from before the file appears until its UID is recorded, so another process's
        // rescan cannot give the new file a UID of its own.
        let flock = UidLock::acquire(&self.path)?;
        let (_, gone) = if FileStamp::of(&self.path) != st.synced {
            self.sync_locked(&mut st)?
        } else {
            (false, Vec::new())
        };
        let entry = deliver(&st.maildir)?;
        let uid = st.uidnext;
        st.uidnext = st.uidnext.saturating_add(1);
        st.modseq.catch_up(&self.path)?;
        let uidnext = st.uidnext;
        let modseq = st
            .modseq
            .record(&self.path, uidnext, &[(uid, entry.flags().info())], &[])?;
        let meta = Meta {
            uid,
            flags: entry.flags(),
            dir: entry.dir(),
            file_name: entry.file_name().into(),
            modseq,
            saved: i64::from(now_secs()),
        };
        let record = [(uid, meta.saved, meta.base().to_owned())];
        Arc::make_mut(&mut st.msgs).push(meta);
        persist_new(&st, &st.msgs, &self.path, &record)?;
        st.synced = FileStamp::of(&self.path);
        drop(flock);
        drop(st);
        self.after_change(true, &gone);
        Ok(uid)
    }

    /// Reads a message (following renames by other processes).
    pub fn read(&self, meta: &Meta) -> Result<(Vec<u8>, i64), StoreError> {
        let maildir = self.maildir();
        let entry = maildir.entry(meta.dir, &meta.file_name)?;
        let (mut file, _) = maildir.open_message(&entry)?;
        let mtime = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok((buf, mtime))
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

/// How an IMAP APPEND stores a message: into `cur/` with its flags, dated as asked.
fn deliver_options(flags: Flags, mtime: Option<SystemTime>) -> DeliverOptions {
    let opts = DeliverOptions::default().with_flags(flags);
    match mtime {
        Some(t) => opts.with_mtime(t),
        None => opts,
    }
}

/// The messages in `new/` and `cur/`, in directory order. (`Maildir::list` sorts by
/// delivery order, which a rescan of a large mailbox only needs for its new messages.)
fn list_unsorted(md: &Maildir) -> Result<Vec<MessageEntry>, StoreError> {
    let mut out = Vec::new();
    for dir in [Subdir::New, Subdir::Cur] {
        let path = md.path().join(dir.as_str());
        let rd = match fs::read_dir(&path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ferrymail_maildir::Error::NotAMaildir(md.path().to_owned()).into())
            }
            Err(e) => return Err(e.into()),
        };
        for item in rd {
            let item = item?;
            if !item.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let Ok(name) = item.file_name().into_string() else {
                continue;
            };
            // Rejects hidden files and anything that is not a message name.
            if let Ok(e) = md.entry(dir, &name) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Appends UID records; if the list file vanished, writes it whole from `all`.
fn persist_new(
    st: &State,
    all: &[Meta],
    dir: &Path,
    records: &[(u32, i64, String)],
) -> Result<(), StoreError> {
    let refs: Vec<(u32, i64, &str)> = records
        .iter()
        .map(|(u, s, b)| (*u, *s, b.as_str()))
        .collect();
    match UidList::append(dir, &refs) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => save_uidlist(st, all, dir),
        Err(e) => Err(e.into()),
    }
}

fn save_uidlist(st: &State, msgs: &[Meta], dir: &Path) -> Result<(), StoreError> {
    let list = UidList {
        uidvalidity: st.uidvalidity,
        uidnext: st.uidnext,
        entries: msgs
            .iter()
            .map(|m| (m.uid, m.saved, m.base().to_owned()))
            .collect(),
    };
    list.save(dir)?;
    Ok(())
}
