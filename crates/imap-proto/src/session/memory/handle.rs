//! A session's handle on the shared store: the [`Storage`] implementation.

use std::sync::Arc;

use super::{
    content, normalize, Mailbox, MemoryStore, Message, DEFAULT_INTERNAL_DATE, MAX_MESSAGE,
};
use crate::command::AppendHead;
use crate::response::FetchItem;
use crate::session::storage::{
    apply_metadata, Failure, FlagSet, MailboxStatus, QuotaUsage, SearchContext, Snapshot, Storage,
    StoreResult,
};
use crate::types::{FetchAtt, Flag, SearchKey, StoreOp};

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
    pub(super) fn new(store: MemoryStore) -> MemorySession {
        MemorySession { store }
    }

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
            highest_modseq: 0,
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

    fn status(&mut self, name: &str, _with_size: bool) -> StoreResult<MailboxStatus> {
        let mut inner = self.store.lock();
        let m = inner.by_name(name)?;
        let count =
            |f: &dyn Fn(&Message) -> bool| m.messages.iter().filter(|x| f(x)).count() as u32;
        Ok(MailboxStatus {
            messages: m.messages.len() as u32,
            recent: count(&|x| x.unclaimed),
            uidnext: m.uidnext,
            uidvalidity: m.uidvalidity,
            unseen: count(&|x| !x.flags.has(FlagSet::SEEN)),
            size: m.messages.iter().map(|x| x.data.len() as u64).sum(),
            highest_modseq: m.highest_modseq,
            deleted: count(&|x| x.flags.has(FlagSet::DELETED)),
            deleted_size: m
                .messages
                .iter()
                .filter(|x| x.flags.has(FlagSet::DELETED))
                .map(|x| x.data.len() as u64)
                .sum(),
        })
    }

    fn metadata(&mut self, mailbox: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let mut inner = self.store.lock();
        let map = if mailbox.is_empty() {
            &inner.server_metadata
        } else {
            &inner.by_name(mailbox)?.metadata
        };
        Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn set_metadata(
        &mut self,
        mailbox: &str,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> StoreResult<bool> {
        let mut inner = self.store.lock();
        let map = if mailbox.is_empty() {
            &mut inner.server_metadata
        } else {
            &mut inner.by_name(mailbox)?.metadata
        };
        Ok(apply_metadata(map, changes, max_entries, <[u8]>::to_vec))
    }

    fn quota(&mut self) -> StoreResult<QuotaUsage> {
        // The memory store has no limits.
        Ok(QuotaUsage::default())
    }

    fn append(
        &mut self,
        mb: &MemoryMailbox,
        head: &AppendHead,
        message: &[u8],
    ) -> StoreResult<u32> {
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
        self.with(mb, Err(Failure::Nonexistent), |m| m.store(uids, op, flags))
    }

    fn store_unchanged_since(
        &mut self,
        mb: &MemoryMailbox,
        uids: &[u32],
        since: u64,
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<crate::session::storage::ConditionalStored> {
        // Tested and changed under the one store lock `with` holds.
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let (pass, failed): (Vec<u32>, Vec<u32>) = uids
                .iter()
                .filter(|&&u| m.find(u).is_some())
                .partition(|&&u| m.find(u).is_some_and(|x| x.modseq <= since));
            Ok((m.store(&pass, op, flags)?, failed))
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
            let msgs: Vec<Message> = sorted
                .iter()
                .filter_map(|&u| src.find(u).cloned())
                .collect();
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
            pairs.push((
                msg.uid,
                dest.add(flags, msg.internal_date, msg.data.clone()),
            ));
        }
        if then_expunge && !pairs.is_empty() {
            let src = inner.by_id(from.id).ok_or(Failure::Nonexistent)?;
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            src.remove(&moved);
        }
        Ok(pairs)
    }

    fn expunge(&mut self, mb: &MemoryMailbox, uids: &[u32]) -> StoreResult<()> {
        self.with(mb, Err(Failure::Nonexistent), |m| {
            m.remove(uids);
            Ok(())
        })
    }

    fn vanished(&mut self, mb: &MemoryMailbox, since: u64) -> StoreResult<Vec<u32>> {
        self.with(mb, Err(Failure::Nonexistent), |m| {
            let mut uids: Vec<u32> = m
                .expunged
                .iter()
                .filter(|e| e.1 > since)
                .map(|e| e.0)
                .collect();
            uids.sort_unstable();
            Ok(uids)
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
                .filter_map(|a| content::fetch_item(&msg.data, msg.internal_date, msg.saved, a))
                .collect()
        }))
    }

    fn search(
        &mut self,
        mb: &MemoryMailbox,
        key: &SearchKey,
        msgs: &[SearchContext<'_>],
    ) -> StoreResult<Vec<bool>> {
        Ok(msgs
            .iter()
            .map(|ctx| {
                let msg = self.with(mb, None, |m| m.find(ctx.uid).cloned());
                msg.is_some_and(|msg| {
                    content::matches(key, ctx, &msg.data, msg.internal_date, msg.saved)
                })
            })
            .collect())
    }

    fn sort_facts(
        &mut self,
        mb: &MemoryMailbox,
        uids: &[u32],
    ) -> StoreResult<Vec<Option<std::sync::Arc<crate::sort::SortFacts>>>> {
        Ok(uids
            .iter()
            .map(|&uid| {
                let msg = self.with(mb, None, |m| m.find(uid).cloned())?;
                Some(std::sync::Arc::new(content::sort_facts(
                    &msg.data,
                    msg.internal_date,
                )))
            })
            .collect())
    }
}

impl Mailbox {
    /// STORE's change to the messages with these UIDs; the new flags of those it changed.
    fn store(
        &mut self,
        uids: &[u32],
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<Vec<(u32, FlagSet)>> {
        let m = self;
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
                changed.push((msg.uid, new));
            }
        }
        if !changed.is_empty() {
            // One mod-sequence for the whole command, as a store writing one record.
            let modseq = m.next_modseq();
            let new: std::collections::HashMap<u32, FlagSet> = changed.iter().copied().collect();
            for msg in m.messages.iter_mut() {
                if let Some(&f) = new.get(&msg.uid) {
                    msg.flags = f;
                    msg.modseq = modseq;
                }
            }
            m.changed();
        }
        Ok(changed)
    }
}
