//! An in-memory [`Storage`] for the session tests and the fuzzer: one user's mailboxes shared
//! by several sessions ([`MemoryStore::session`] hands out one handle per session), with the
//! trait's promises kept — UIDVALIDITY and UIDNEXT, a version bumped on every change, at most
//! 32 keywords per mailbox, each unclaimed message claimed as \Recent by exactly one session —
//! and the hooks a test needs to act as another process: [`MemoryStore::deliver`] (as
//! local-delivery does), [`MemoryStore::set_flags`] and [`MemoryStore::expunge`].

mod content;
mod handle;

pub use handle::{MemoryMailbox, MemorySession};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::storage::{Failure, FlagSet, MessageState, Snapshot, StoreResult};
use crate::types::Flag;

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
    modseq: u64,
    internal_date: i64,
    /// RFC 8514 SAVEDATE: when it came into this mailbox (a copy has its own).
    saved: i64,
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
    metadata: BTreeMap<String, Vec<u8>>,
    highest_modseq: u64,
    /// (UID, mod-sequence of its expunge), for QRESYNC.
    expunged: Vec<(u32, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    mailboxes: BTreeMap<String, Mailbox>,
    subscriptions: BTreeSet<String>,
    server_metadata: BTreeMap<String, Vec<u8>>,
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
                metadata: BTreeMap::new(),
                highest_modseq: 1,
                expunged: Vec::new(),
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

    /// The mod-sequence of a change being made now.
    fn next_modseq(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Expunges the messages with these UIDs at one new mod-sequence; false if none was there.
    fn remove(&mut self, uids: &[u32]) -> bool {
        let gone: Vec<u32> = self
            .messages
            .iter()
            .filter(|m| uids.contains(&m.uid))
            .map(|m| m.uid)
            .collect();
        if gone.is_empty() {
            return false;
        }
        let modseq = self.next_modseq();
        self.messages.retain(|m| !gone.contains(&m.uid));
        self.expunged.extend(gone.iter().map(|&u| (u, modseq)));
        self.changed();
        true
    }

    /// Gives a message new flags at a new mod-sequence.
    fn set_message_flags(&mut self, uid: u32, flags: FlagSet) -> bool {
        let modseq = self.highest_modseq + 1;
        let Some(m) = self.messages.iter_mut().find(|m| m.uid == uid) else {
            return false;
        };
        m.flags = flags;
        m.modseq = modseq;
        self.highest_modseq = modseq;
        self.changed();
        true
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
        let modseq = self.next_modseq();
        self.messages.push(Message {
            uid,
            flags,
            unclaimed: true,
            modseq,
            internal_date,
            saved: crate::date::unix_now(),
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
                        modseq: m.modseq,
                    })
                    .collect(),
            ),
            keywords: self.keywords.clone(),
            highest_modseq: self.highest_modseq,
        }
    }
}

/// A mailbox name as stored: `/`-separated, no empty level, INBOX in capitals.
fn normalize(name: &str) -> StoreResult<String> {
    if name.is_empty()
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
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
        MemorySession::new(self.clone())
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
        mb.set_message_flags(uid, flags)
    }

    /// Another process expunges a message. False if there is no such message.
    pub fn expunge(&self, mailbox: &str, uid: u32) -> bool {
        let mut inner = self.lock();
        let Ok(mb) = inner.by_name(mailbox) else {
            return false;
        };
        mb.remove(&[uid])
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
