//! An in-memory [`Storage`] for the session tests and the fuzzer: one user's mailboxes shared
//! by several sessions ([`MemoryStore::session`] hands out one handle per session), with the
//! trait's promises kept — UIDVALIDITY and UIDNEXT, a version bumped on every change, at most
//! 32 keywords per mailbox, each unclaimed message claimed as \Recent by exactly one session —
//! and the hooks a test needs to act as another process: [`MemoryStore::deliver`] (as
//! local-delivery does), [`MemoryStore::set_flags`] and [`MemoryStore::expunge`].

mod content;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::storage::{
    Failure, FlagSet, MailboxStatus, MessageState, SearchContext, Snapshot, Storage, StoreResult,
};
use crate::command::AppendHead;
use crate::response::FetchItem;
use crate::types::{FetchAtt, Flag, SearchKey, StoreOp};

/// The INTERNALDATE of messages stored without one (fixed, so tests are reproducible).
const DEFAULT_INTERNAL_DATE: i64 = 1_700_000_000;
/// The largest message accepted.
const MAX_MESSAGE: usize = 1 << 20;
/// Keywords a mailbox can hold ([`FlagSet::keywords`] is 32 bits).
const MAX_KEYWORDS: usize = 32;

#[derive(Debug, Clone)]
struct Message {
    uid: u32,
    flags: FlagSet,
    unclaimed: bool,
    internal_date: i64,
    data: Arc<Vec<u8>>,
}

#[derive(Debug)]
struct Mailbox {
    /// Survives RENAME, so a selected mailbox's handle follows it.
    id: u64,
    uidvalidity: u32,
    uidnext: u32,
    version: u64,
    messages: Vec<Message>,
    keywords: Arc<Vec<String>>,
}

#[derive(Debug, Default)]
struct Inner {
    mailboxes: BTreeMap<String, Mailbox>,
    subscriptions: BTreeSet<String>,
    next_id: u64,
}

impl Inner {
    fn add_mailbox(&mut self, name: String) {
        self.next_id += 1;
        let id = self.next_id;
        self.mailboxes.insert(
            name,
            Mailbox {
                id,
                // Distinct per mailbox ever created, as a recreated name must not reuse UIDs.
                uidvalidity: 1000 + id as u32,
                uidnext: 1,
                version: 1,
                messages: Vec::new(),
                keywords: Arc::new(Vec::new()),
            },
        );
    }

    fn by_id(&mut self, id: u64) -> Option<&mut Mailbox> {
        self.mailboxes.values_mut().find(|m| m.id == id)
    }

    fn by_name(&mut self, name: &str) -> StoreResult<&mut Mailbox> {
        self.mailboxes
            .get_mut(&normalize(name)?)
            .ok_or(Failure::Nonexistent)
    }
}

impl Mailbox {
    fn changed(&mut self) {
        self.version += 1;
    }

    /// The keyword bit of `name`, added to the list if new.
    fn keyword_bit(&mut self, name: &str) -> StoreResult<u32> {
        if let Some(i) = self.keywords.iter().position(|k| k == name) {
            return Ok(1 << i);
        }
        if self.keywords.len() >= MAX_KEYWORDS {
            return Err(Failure::Limit("Too many keywords".into()));
        }
        let mut kw = (*self.keywords).clone();
        kw.push(name.to_owned());
        self.keywords = Arc::new(kw);
        Ok(1 << (self.keywords.len() - 1))
    }

    fn flag_set(&mut self, flags: &[Flag]) -> StoreResult<FlagSet> {
        let mut set = FlagSet::default();
        for f in flags {
            match f {
                Flag::Answered => set.system |= FlagSet::ANSWERED,
                Flag::Flagged => set.system |= FlagSet::FLAGGED,
                Flag::Deleted => set.system |= FlagSet::DELETED,
                Flag::Seen => set.system |= FlagSet::SEEN,
                Flag::Draft => set.system |= FlagSet::DRAFT,
                // \Recent is not the client's to set; unknown system flags are not kept.
                Flag::Recent | Flag::Extension(_) => {}
                Flag::Keyword(k) => set.keywords |= self.keyword_bit(k)?,
            }
        }
        Ok(set)
    }

    fn add(&mut self, flags: FlagSet, internal_date: i64, data: Arc<Vec<u8>>) -> u32 {
        let uid = self.uidnext;
        self.uidnext += 1;
        self.messages.push(Message {
            uid,
            flags,
            unclaimed: true,
            internal_date,
            data,
        });
        self.changed();
        uid
    }

    fn find(&self, uid: u32) -> Option<&Message> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .and_then(|i| self.messages.get(i))
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            messages: Arc::new(
                self.messages
                    .iter()
                    .map(|m| MessageState {
                        uid: m.uid,
                        flags: m.flags,
                        unclaimed: m.unclaimed,
                    })
                    .collect(),
            ),
            keywords: self.keywords.clone(),
        }
    }
}

/// A mailbox name as stored: `/`-separated, no empty level, INBOX in capitals.
fn normalize(name: &str) -> StoreResult<String> {
    if name.is_empty() || name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(Failure::InvalidName(name.to_owned()));
    }
    Ok(match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_owned(),
        _ => name.to_owned(),
    })
}

/// One user's mail, shared by every session (and "other process") that clones it.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// A store with an empty INBOX.
    pub fn new() -> MemoryStore {
        let mut inner = Inner::default();
        inner.add_mailbox("INBOX".into());
        MemoryStore {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread leaves consistent data behind: every change is one step.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handle one session works through.
    pub fn session(&self) -> MemorySession {
        MemorySession {
            store: self.clone(),
        }
    }

    /// A message arriving from outside (local-delivery): unclaimed, no flags. Its UID.
    pub fn deliver(&self, mailbox: &str, message: &[u8]) -> StoreResult<u32> {
        let mut inner = self.lock();
        let mb = inner.by_name(mailbox)?;
        Ok(mb.add(
            FlagSet::default(),
            DEFAULT_INTERNAL_DATE,
            Arc::new(message.to_vec()),
        ))
    }

    /// Another process replaces a message's flags. False if there is no such message.
    pub fn set_flags(&self, mailbox: &str, uid: u32, flags: FlagSet) -> bool {
        let mut inner = self.lock();
        let Ok(mb) = inner.by_name(mailbox) else {
            return false;
        };
        let Ok(i) = mb.messages.binary_search_by_key(&uid, |m| m.uid) else {
            return false;
        };
        if let Some(m) = mb.messages.get_mut(i) {
            m.flags = flags;
        }
        mb.changed();
        true
    }

    /// Another process expunges a message. False if there is no such message.
    pub fn expunge(&self, mailbox: &str, uid: u32) -> bool {
        let mut inner = self.lock();
        let Ok(mb) = inner.by_name(mailbox) else {
            return false;
        };
        let before = mb.messages.len();
        mb.messages.retain(|m| m.uid != uid);
        if mb.messages.len() == before {
            return false;
        }
        mb.changed();
        true
    }

    /// The mailbox's messages now: (UID, flags, unclaimed).
    pub fn messages(&self, mailbox: &str) -> Vec<(u32, FlagSet, bool)> {
        let mut inner = self.lock();
        inner.by_name(mailbox).map_or_else(
            |_| Vec::new(),
            |mb| {
                mb.messages
                    .iter()
                    .map(|m| (m.uid, m.flags, m.unclaimed))
                    .collect()
            },
        )
    }
}

/// A session's handle on a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemorySession {
    store: MemoryStore,
}

/// An open mailbox: found again by id, so RENAME does not lose it.
#[derive(Debug)]
pub struct MemoryMailbox {
    id: u64,
}

impl MemorySession {
    /// Runs `f` on the open mailbox; a deleted one looks empty and never changes again.
    fn with<T>(&self, mb: &MemoryMailbox, gone: T, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        match self.store.lock().by_id(mb.id) {
            Some(m) => f(m),
            None => gone,
        }
    }

    fn gone_snapshot() -> Snapshot {
        Snapshot {
            version: u64::MAX,
            uidvalidity: 0,
            uidnext: 1,
            messages: Arc::new(Vec::new()),
            keywords: Arc::new(Vec::new()),
        }
    }
}

impl Storage for MemorySession {
    type Mailbox = MemoryMailbox;

    fn open(&mut self, name: &str, _refresh: bool) -> StoreResult<MemoryMailbox> {
        let id = self.store.lock().by_name(name)?.id;
        Ok(MemoryMailbox { id })
    }

    fn close(&mut self, _mb: MemoryMailbox) {}

    fn snapshot(&mut self, mb: &MemoryMailbox) -> Snapshot {
        self.with(mb, Self::gone_snapshot(), |m| m.snapshot())
    }

    fn version(&mut self, mb: &MemoryMailbox) -> u64 {
        self.with(mb, u64::MAX, |m| m.version)
    }

    fn uidvalidity(&mut self, mb: &MemoryMailbox) -> u32 {
        self.with(mb, 0, |m| m.uidvalidity)
    }

    fn keywords(&mut self, mb: &MemoryMailbox) -> Arc<Vec<String>> {
        self.with(mb, Arc::new(Vec::new()), |m| m.keywords.clone())
    }

    fn rescan(&mut self, _mb: &MemoryMailbox) -> StoreResult<()> {
        // Every change is visible at once: there is nothing to look for.
        Ok(())
    }

    fn claim_recent(&mut self, mb: &MemoryMailbox) -> StoreResult<Vec<u32>> {
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let mut claimed = Vec::new();
            for msg in m.messages.iter_mut().filter(|msg| msg.unclaimed) {
                msg.unclaimed = false;
                claimed.push(msg.uid);
            }
            if !claimed.is_empty() {
                m.changed();
            }
            Ok(claimed)
        })
    }

    fn mailboxes(&mut self) -> StoreResult<Vec<String>> {
        Ok(self.store.lock().mailboxes.keys().cloned().collect())
    }

    fn subscriptions(&mut self) -> StoreResult<Vec<String>> {
        Ok(self.store.lock().subscriptions.iter().cloned().collect())
    }

    fn set_subscribed(&mut self, name: &str, subscribed: bool) -> StoreResult<()> {
        let name = normalize(name)?;
        let mut inner = self.store.lock();
        if subscribed {
            inner.subscriptions.insert(name);
        } else {
            inner.subscriptions.remove(&name);
        }
        Ok(())
    }

    fn create(&mut self, name: &str) -> StoreResult<()> {
        let name = normalize(name)?;
        let mut inner = self.store.lock();
        if inner.mailboxes.contains_key(&name) {
            return Err(Failure::AlreadyExists);
        }
        inner.add_mailbox(name);
        Ok(())
    }

    fn delete(&mut self, name: &str) -> StoreResult<()> {
        let name = normalize(name)?;
        let mut inner = self.store.lock();
        inner
            .mailboxes
            .remove(&name)
            .map(|_| ())
            .ok_or(Failure::Nonexistent)
    }

    fn rename(&mut self, from: &str, to: &str) -> StoreResult<()> {
        let (from, to) = (normalize(from)?, normalize(to)?);
        let mut inner = self.store.lock();
        if !inner.mailboxes.contains_key(&from) {
            return Err(Failure::Nonexistent);
        }
        if inner.mailboxes.contains_key(&to) {
            return Err(Failure::AlreadyExists);
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(Failure::Cannot("Cannot move a mailbox below itself".into()));
        }
        if from == "INBOX" {
            // RFC 3501 §6.3.5: INBOX's messages move, INBOX stays (empty).
            inner.add_mailbox(to.clone());
            let moved = inner
                .mailboxes
                .get_mut("INBOX")
                .map(|m| {
                    m.changed();
                    (std::mem::take(&mut m.messages), m.keywords.clone())
                })
                .unwrap_or_default();
            if let Some(dest) = inner.mailboxes.get_mut(&to) {
                dest.uidnext = moved.0.last().map_or(1, |m| m.uid + 1);
                dest.messages = moved.0;
                dest.keywords = moved.1;
            }
            return Ok(());
        }
        let prefix = format!("{from}/");
        let names: Vec<String> = inner
            .mailboxes
            .keys()
            .filter(|n| **n == from || n.starts_with(&prefix))
            .cloned()
            .collect();
        for old in names {
            let new = format!("{to}{}", old.get(from.len()..).unwrap_or_default());
            if let Some(m) = inner.mailboxes.remove(&old) {
                inner.mailboxes.insert(new, m);
            }
        }
        Ok(())
    }

    fn status(&mut self, name: &str) -> StoreResult<MailboxStatus> {
        let mut inner = self.store.lock();
        let m = inner.by_name(name)?;
        let count = |f: &dyn Fn(&Message) -> bool| m.messages.iter().filter(|x| f(x)).count() as u32;
        Ok(MailboxStatus {
            messages: m.messages.len() as u32,
            recent: count(&|x| x.unclaimed),
            uidnext: m.uidnext,
            uidvalidity: m.uidvalidity,
            unseen: count(&|x| !x.flags.has(FlagSet::SEEN)),
        })
    }

    fn append(&mut self, mb: &MemoryMailbox, head: &AppendHead, message: &[u8]) -> StoreResult<u32> {
        if message.len() > MAX_MESSAGE {
            return Err(Failure::TooBig);
        }
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let flags = m.flag_set(&head.flags)?;
            let date = head.date.unwrap_or(DEFAULT_INTERNAL_DATE);
            Ok(m.add(flags, date, Arc::new(message.to_vec())))
        })
    }

    fn store(
        &mut self,
        mb: &MemoryMailbox,
        uids: &[u32],
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<Vec<(u32, FlagSet)>> {
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let set = m.flag_set(flags)?;
            let mut changed = Vec::new();
            for msg in m.messages.iter_mut().filter(|x| uids.contains(&x.uid)) {
                let new = match op {
                    StoreOp::Replace => set,
                    StoreOp::Add => FlagSet {
                        system: msg.flags.system | set.system,
                        keywords: msg.flags.keywords | set.keywords,
                    },
                    StoreOp::Remove => FlagSet {
                        system: msg.flags.system & !set.system,
                        keywords: msg.flags.keywords & !set.keywords,
                    },
                };
                if new != msg.flags {
                    msg.flags = new;
                    changed.push((msg.uid, new));
                }
            }
            if !changed.is_empty() {
                m.changed();
            }
            Ok(changed)
        })
    }

    fn copy(
        &mut self,
        from: &MemoryMailbox,
        uids: &[u32],
        to: &MemoryMailbox,
        then_expunge: bool,
    ) -> StoreResult<Vec<(u32, u32)>> {
        let mut inner = self.store.lock();
        let (msgs, src_keywords) = {
            let src = inner.by_id(from.id).ok_or(Failure::Nonexistent)?;
            let mut sorted = uids.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let msgs: Vec<Message> = sorted.iter().filter_map(|&u| src.find(u).cloned()).collect();
            (msgs, src.keywords.clone())
        };
        let dest = inner.by_id(to.id).ok_or(Failure::Nonexistent)?;
        let mut pairs = Vec::new();
        for msg in &msgs {
            // Keywords are indices into each mailbox's own list: map them by name.
            let names: Vec<Flag> = msg
                .flags
                .to_flags(&src_keywords, false)
                .into_iter()
                .filter(|f| matches!(f, Flag::Keyword(_)))
                .collect();
            let kw = dest.flag_set(&names)?.keywords;
            let flags = FlagSet {
                system: msg.flags.system,
                keywords: kw,
            };
            pairs.push((msg.uid, dest.add(flags, msg.internal_date, msg.data.clone())));
        }
        if then_expunge && !pairs.is_empty() {
            let src = inner.by_id(from.id).ok_or(Failure::Nonexistent)?;
            src.messages.retain(|m| !pairs.iter().any(|p| p.0 == m.uid));
            src.changed();
        }
        Ok(pairs)
    }

    fn expunge(&mut self, mb: &MemoryMailbox, uids: &[u32]) -> StoreResult<()> {
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let before = m.messages.len();
            m.messages.retain(|x| !uids.contains(&x.uid));
            if m.messages.len() != before {
                m.changed();
            }
            Ok(())
        })
    }

    fn fetch(
        &mut self,
        mb: &MemoryMailbox,
        uid: u32,
        atts: &[FetchAtt],
    ) -> StoreResult<Option<Vec<FetchItem>>> {
        let msg = self.with(mb, None, |m| m.find(uid).cloned());
        Ok(msg.map(|msg| {
            atts.iter()
                .filter_map(|a| content::fetch_item(&msg.data, msg.internal_date, a))
                .collect()
        }))
    }

    fn search(
        &mut self,
        mb: &MemoryMailbox,
        key: &SearchKey,
        ctx: &SearchContext<'_>,
    ) -> StoreResult<Option<bool>> {
        let msg = self.with(mb, None, |m| m.find(ctx.uid).cloned());
        Ok(msg.map(|msg| content::matches(key, ctx, &msg.data, msg.internal_date)))
    }
}
