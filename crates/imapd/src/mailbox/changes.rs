//! Changes a session makes to a [`SharedMailbox`]: keyword letters, flag changes
//! (conditional ones for CONDSTORE's UNCHANGEDSINCE), expunges and appends, each recorded in
//! the UID list and the mod-sequence log under the mailbox's lock and then announced to the
//! other sessions.

use std::time::SystemTime;

use ferrymail_maildir::{DeliverOptions, Flags, PendingDelivery};

use super::sync::{persist_new, save_uidlist};
use super::*;

impl SharedMailbox {
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
            let new_name = format!("{}:{}", m.base(), new_flags.info());
            if self.is_watched() {
                self.expect(&[&m.file_name, &new_name]);
            }
            if self
                .dirs
                .rename_to_cur(&self.path, m.dir, &m.file_name, &new_name)
            {
                m.flags = new_flags;
                m.dir = Subdir::Cur;
                m.file_name = new_name.into();
                out.push((m.uid, m.flags));
                changed = true;
                continue;
            }
            // Renamed by someone else meanwhile: the Maildir follows it and applies `f` to
            // the flags it has now.
            let entry = st.maildir.entry(m.dir, &m.file_name)?;
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
}

/// How an IMAP APPEND stores a message: into `cur/` with its flags, dated as asked.
fn deliver_options(flags: Flags, mtime: Option<SystemTime>) -> DeliverOptions {
    let opts = DeliverOptions::default().with_flags(flags);
    match mtime {
        Some(t) => opts.with_mtime(t),
        None => opts,
    }
}
