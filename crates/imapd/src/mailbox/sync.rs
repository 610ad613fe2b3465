//! Bringing a [`SharedMailbox`] up to date with its directory and UID list: the rescan
//! (skipped when [`scanstamp`](super::scanstamp) proves nothing changed), UIDs for new
//! files, adopting another process's UID list and keyword names, and mod-sequences for
//! whatever changed meanwhile.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use ferrymail_maildir::{Maildir, MessageEntry, Subdir};

use super::*;

impl SharedMailbox {
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
    pub(super) fn reload_keywords(&self, st: &mut State) -> bool {
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

    pub(super) fn after_change(&self, changed: bool, gone: &[u32]) {
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
    pub(super) fn sync_locked(&self, st: &mut State) -> Result<(bool, Vec<u32>), StoreError> {
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
        // Each file by its base name, and whether a known message is that file (then it is
        // not new).
        let mut known: HashMap<&str, (&MessageEntry, bool)> =
            listing.iter().map(|e| (e.base(), (e, false))).collect();
        let mut next: Vec<Meta> = Vec::with_capacity(listing.len());
        for m in st.msgs.iter() {
            let base = m.base();
            match known.get_mut(base) {
                Some((e, seen)) => {
                    *seen = true;
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
            .filter(|e| !known.get(e.base()).is_some_and(|(_, seen)| *seen))
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
pub(super) fn persist_new(
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

pub(super) fn save_uidlist(st: &State, msgs: &[Meta], dir: &Path) -> Result<(), StoreError> {
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
