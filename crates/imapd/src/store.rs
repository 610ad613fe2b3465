//! The session's [`Storage`] over a user's Maildir++ store: mailboxes are opened through the
//! process-wide [`Hub`] (shared by every session on them), flags are the Maildir `:2,` letters
//! with keywords named in `dovecot-keywords`, FETCH facts come from the per-mailbox cache
//! ([`fetch`]), and every store failure is mapped to a protocol [`Failure`] in one place
//! ([`failure`]). All of it is blocking file I/O, run by the shell on the blocking pool.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ferrymail_imap_proto::response::FetchItem;
use ferrymail_imap_proto::session::{
    Failure, FlagSet, MailboxStatus, MessageState, QuotaUsage, SearchContext, Snapshot, Storage,
    StoreResult,
};
use ferrymail_imap_proto::{AppendHead, FetchAtt, Flag, SearchKey, StoreOp};
use ferrymail_maildir::{Flags, MailboxName, PendingDelivery, Store, Subdir, Usage};
use ferrymail_users::Quota;

mod append;

pub use append::{AppendSource, StreamedMessage};

use crate::fetch;
use crate::mailbox::{Hub, Meta, SharedMailbox, StoreError};
use crate::metadata;
use crate::search;
use crate::subscriptions;

/// One user's store, as one session uses it.
pub struct MaildirStorage {
    store: Store,
    hub: Arc<Hub>,
    /// The account's limits (local-delivery enforces the same on delivery).
    quota: Quota,
}

/// A mailbox a session has open.
pub struct OpenMailbox {
    pub mb: Arc<SharedMailbox>,
    /// The last snapshot handed out, reused while the mailbox's version is unchanged.
    snapshot: std::sync::Mutex<Option<Snapshot>>,
}

/// The one mapping from store errors to protocol failures (and so to response codes).
pub fn failure(e: &StoreError) -> Failure {
    use ferrymail_maildir::Error as E;
    match e {
        StoreError::Maildir(E::MailboxNotFound(_)) => Failure::Nonexistent,
        StoreError::Maildir(E::MailboxExists(_)) => Failure::AlreadyExists,
        StoreError::Maildir(E::InboxNotAllowed(_))
        | StoreError::Maildir(E::RenameIntoSelf { .. }) => Failure::Cannot(e.to_string()),
        StoreError::Maildir(E::InvalidName(n)) => Failure::InvalidName(n.to_string()),
        StoreError::Maildir(E::TooLarge { .. }) => Failure::TooBig,
        StoreError::TooManyKeywords => Failure::Limit(e.to_string()),
        StoreError::Maildir(E::Io { source, .. }) | StoreError::Io(source)
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ) =>
        {
            Failure::OverQuota
        }
        _ => {
            tracing::error!(error = %e, "mailbox operation failed");
            Failure::ServerBug
        }
    }
}

fn fail(e: StoreError) -> Failure {
    failure(&e)
}

fn name(raw: &str) -> StoreResult<MailboxName> {
    MailboxName::new(raw).map_err(|e| Failure::InvalidName(e.to_string()))
}

/// Maildir flags as the protocol's flag set (keyword letters a–z are keyword indices).
pub fn flag_set(f: Flags) -> FlagSet {
    let mut system = 0;
    for (m, s) in [
        (Flags::REPLIED, FlagSet::ANSWERED),
        (Flags::FLAGGED, FlagSet::FLAGGED),
        (Flags::TRASHED, FlagSet::DELETED),
        (Flags::SEEN, FlagSet::SEEN),
        (Flags::DRAFT, FlagSet::DRAFT),
    ] {
        if f.contains(m) {
            system |= s;
        }
    }
    let keywords = f.keywords().fold(0u32, |acc, k| acc | (1 << k));
    FlagSet { system, keywords }
}

/// Protocol flags to Maildir flags; keywords get letters (new ones only if `create`).
fn to_maildir(mb: &SharedMailbox, flags: &[Flag], create: bool) -> Result<Flags, StoreError> {
    let mut f = Flags::empty();
    let mut names = Vec::new();
    for flag in flags {
        match flag {
            Flag::Answered => f |= Flags::REPLIED,
            Flag::Flagged => f |= Flags::FLAGGED,
            Flag::Deleted => f |= Flags::TRASHED,
            Flag::Seen => f |= Flags::SEEN,
            Flag::Draft => f |= Flags::DRAFT,
            Flag::Recent | Flag::Extension(_) => {}
            Flag::Keyword(k) => names.push(k.clone()),
        }
    }
    if !names.is_empty() {
        f |= mb.keyword_flags(&names, create)?;
    }
    Ok(f)
}

fn keyword_mask() -> Flags {
    (0u8..26)
        .filter_map(Flags::keyword)
        .fold(Flags::empty(), |a, f| a | f)
}

fn mtime(secs: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

impl OpenMailbox {
    fn meta(&self, uid: u32) -> Option<Meta> {
        let (msgs, _, _) = self.mb.snapshot();
        find(&msgs, uid).cloned()
    }

    /// Caches a message just appended, while its file is still in the page cache, so the
    /// first FETCH of headers or SEARCH of a mailbox filled by APPEND parses no file.
    fn cache_appended(&self, uid: u32) -> u32 {
        let (msgs, _, _) = self.mb.snapshot();
        if let Some(meta) = find(&msgs, uid) {
            fetch::facts(&self.mb, meta, true, false);
        }
        uid
    }
}

/// The message with this UID in a (UID-ordered) message list.
fn find(msgs: &[Meta], uid: u32) -> Option<&Meta> {
    let i = msgs.binary_search_by_key(&uid, |m| m.uid).ok()?;
    msgs.get(i)
}

impl MaildirStorage {
    pub fn new(store: Store, hub: Arc<Hub>, quota: Quota) -> MaildirStorage {
        MaildirStorage { store, hub, quota }
    }

    /// STORE, with RFC 7162's UNCHANGEDSINCE test when `since` is given: the changes, and
    /// the UIDs the test left alone.
    fn store_unchanged_since_opt(
        &mut self,
        mb: &OpenMailbox,
        uids: &[u32],
        since: Option<u64>,
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<ferrymail_imap_proto::session::ConditionalStored> {
        let f = to_maildir(&mb.mb, flags, op != StoreOp::Remove).map_err(fail)?;
        let change = move |old| match op {
            StoreOp::Add => old | f,
            StoreOp::Remove => old - f,
            // \Passed has no IMAP name; a replace must not drop it.
            StoreOp::Replace => f | (old & Flags::PASSED),
        };
        let (changed, failed) = match since {
            Some(since) => mb.mb.modify_flags_unchanged_since(uids, since, change),
            None => mb.mb.modify_flags(uids, change).map(|c| (c, Vec::new())),
        }
        .map_err(fail)?;
        let changed = changed.into_iter().map(|(u, f)| (u, flag_set(f))).collect();
        Ok((changed, failed))
    }

    /// What the store holds now, when a quota applies (a full count of the store: only
    /// accounts with limits pay it).
    fn usage_under_quota(&self) -> StoreResult<Option<Usage>> {
        if self.quota.is_unlimited() {
            return Ok(None);
        }
        self.store.usage().map(Some).map_err(|e| fail(e.into()))
    }

    /// Whether `used` plus one more message of `bytes` octets stays within the quota.
    fn fits(&self, used: &Usage, bytes: u64) -> StoreResult<()> {
        self.fits_all(used, bytes, 1)
    }

    /// Whether `used` plus `count` more messages of `bytes` octets in all stays within
    /// the quota.
    fn fits_all(&self, used: &Usage, bytes: u64, count: u64) -> StoreResult<()> {
        let over_bytes = self
            .quota
            .storage_bytes
            .is_some_and(|q| used.bytes.saturating_add(bytes) > q);
        let over_messages = self
            .quota
            .messages
            .is_some_and(|q| used.messages.saturating_add(count) > q);
        if over_bytes || over_messages {
            return Err(Failure::OverQuota);
        }
        Ok(())
    }

    /// Refuses one more message of `bytes` octets beyond the quota.
    fn check_quota(&self, bytes: u64) -> StoreResult<()> {
        match self.usage_under_quota()? {
            Some(used) => self.fits(&used, bytes),
            None => Ok(()),
        }
    }

    /// The folder a client means by `raw`: that name, or — for another client's name of a
    /// special-use folder ("Sent Messages", "Deleted Items", ...) when no folder of that very
    /// name exists — the special-use folder. DELETE and RENAME take names as they are.
    fn resolve(&self, raw: &str) -> StoreResult<MailboxName> {
        let n = name(raw)?;
        if let Some(folder) = ferrymail_imap_proto::list::special_use_folder_for(raw) {
            if !self.store.folder_exists(&n).map_err(|e| fail(e.into()))? {
                return name(folder);
            }
        }
        Ok(n)
    }

    /// Where a mailbox's METADATA is filed: its name (`""` for the server's); the mailbox
    /// must exist.
    fn metadata_key(&self, raw: &str) -> StoreResult<String> {
        if raw.is_empty() {
            return Ok(String::new());
        }
        let n = self.resolve(raw)?;
        let exists = n.is_inbox() || self.store.folder_exists(&n).map_err(|e| fail(e.into()))?;
        if !exists {
            return Err(Failure::Nonexistent);
        }
        Ok(n.as_str().to_owned())
    }

    fn open_shared(
        &self,
        n: &MailboxName,
        refresh: bool,
    ) -> Result<Arc<SharedMailbox>, StoreError> {
        self.hub.open(self.store.folder(n)?, refresh)
    }

    /// A streamed APPEND: the file it is written to before it gets a UID.
    pub fn begin_append(&self, raw: &str) -> StoreResult<(Arc<SharedMailbox>, PendingDelivery)> {
        let mb = self.open_shared(&self.resolve(raw)?, false).map_err(fail)?;
        let pending = mb.begin_append().map_err(fail)?;
        Ok((mb, pending))
    }

    fn rename_inbox(&self, to: &MailboxName) -> Result<(), StoreError> {
        // RFC 3501: renaming INBOX moves its messages into a new mailbox and leaves INBOX
        // empty.
        let dest_md = self.store.create_folder(to)?;
        let src = self.hub.open(self.store.inbox()?, true)?;
        let dest = self.hub.open(dest_md, false)?;
        let (msgs, _, _) = src.snapshot();
        let mut moved = Vec::new();
        for m in msgs.iter() {
            match src.read(m) {
                Ok((raw, t)) => {
                    dest.append(&[&raw], m.flags, Some(mtime(t)))?;
                    moved.push(m.uid);
                }
                Err(StoreError::Maildir(e)) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        src.expunge(&moved)?;
        Ok(())
    }

    /// Renames a folder and everything below it. A name that only exists as the parent of
    /// other folders (`A` of `A/B`, a `\Noselect` level in Maildir++) is renamed by renaming
    /// its children.
    fn rename_with_children(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        if self.store.folder_exists(from)? {
            return self.store.rename_folder(from, to).map_err(Into::into);
        }
        let prefix = format!("{}/", from.as_str());
        let mut renamed = false;
        // Each rename also moves that child's own descendants, so list afresh every time.
        for _ in 0..10_000 {
            let next = self
                .store
                .list_folders()?
                .into_iter()
                .find(|n| n.as_str().starts_with(&prefix));
            let Some(child) = next else { break };
            let suffix = child.as_str().get(prefix.len()..).unwrap_or_default();
            let target = MailboxName::new(&format!("{}/{suffix}", to.as_str()))
                .map_err(ferrymail_maildir::Error::from)?;
            self.store.rename_folder(&child, &target)?;
            renamed = true;
        }
        if renamed {
            Ok(())
        } else {
            Err(ferrymail_maildir::Error::MailboxNotFound(from.clone()).into())
        }
    }
}

impl Storage for MaildirStorage {
    type Mailbox = OpenMailbox;

    fn open(&mut self, raw: &str, refresh: bool) -> StoreResult<OpenMailbox> {
        let mb = self
            .open_shared(&self.resolve(raw)?, refresh)
            .map_err(fail)?;
        Ok(OpenMailbox {
            mb,
            snapshot: std::sync::Mutex::new(None),
        })
    }

    fn close(&mut self, mb: OpenMailbox) {
        drop(mb);
        self.hub.release_unused();
    }

    fn snapshot(&mut self, mb: &OpenMailbox) -> Snapshot {
        let version = self.version(mb);
        let mut cache = mb.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.as_ref().filter(|s| s.version == version) {
            return s.clone();
        }
        let (msgs, uidvalidity, uidnext) = mb.mb.snapshot();
        let recent_from = mb.mb.recent_from();
        let messages = msgs
            .iter()
            .map(|m| MessageState {
                uid: m.uid,
                flags: flag_set(m.flags),
                unclaimed: m.uid >= recent_from || m.dir == Subdir::New,
                modseq: m.modseq,
            })
            .collect();
        let snap = Snapshot {
            version,
            uidvalidity,
            uidnext,
            messages: Arc::new(messages),
            keywords: Arc::new(mb.mb.keywords()),
            highest_modseq: mb.mb.modseq_facts(None).0,
        };
        *cache = Some(snap.clone());
        snap
    }

    fn version(&mut self, mb: &OpenMailbox) -> u64 {
        // Keyword names only ever get added (and at most 26): with the list's version they
        // make one number that changes whenever anything the client sees does.
        (mb.mb.version() << 6) | (mb.mb.keyword_count() as u64 & 0x3f)
    }

    fn uidvalidity(&mut self, mb: &OpenMailbox) -> u32 {
        mb.mb.snapshot().1
    }

    fn keywords(&mut self, mb: &OpenMailbox) -> Arc<Vec<String>> {
        Arc::new(mb.mb.keywords())
    }

    fn rescan(&mut self, mb: &OpenMailbox) -> StoreResult<()> {
        mb.mb.rescan().map(|_| ()).map_err(fail)
    }

    fn claim_recent(&mut self, mb: &OpenMailbox) -> StoreResult<Vec<u32>> {
        mb.mb.claim_recent().map_err(fail)
    }

    fn mailboxes(&mut self) -> StoreResult<Vec<String>> {
        let names = self.store.list_folders().map_err(|e| fail(e.into()))?;
        Ok(names.into_iter().map(|n| n.as_str().to_owned()).collect())
    }

    fn subscriptions(&mut self) -> StoreResult<Vec<String>> {
        Ok(subscriptions::load_subscriptions(self.store.root()))
    }

    fn set_subscribed(&mut self, raw: &str, subscribed: bool) -> StoreResult<()> {
        let n = self.resolve(raw)?;
        subscriptions::update_subscriptions(self.store.root(), |subs| {
            subs.retain(|s| s != n.as_str());
            if subscribed {
                subs.push(n.as_str().to_owned());
            }
        })
        .map_err(|e| fail(e.into()))
    }

    fn create(&mut self, raw: &str) -> StoreResult<()> {
        // Another client's name of an existing special-use folder: it already exists.
        let n = self.resolve(raw)?;
        self.store
            .create_folder(&n)
            .map(|_| ())
            .map_err(|e| fail(e.into()))
    }

    fn delete(&mut self, raw: &str) -> StoreResult<()> {
        let n = name(raw)?;
        self.store.delete_folder(&n).map_err(|e| fail(e.into()))?;
        self.hub.forget_folder(&self.store, &n, false);
        metadata::forget(self.store.root(), n.as_str()).map_err(|e| fail(e.into()))
    }

    fn rename(&mut self, from: &str, to: &str) -> StoreResult<()> {
        let (from, to) = (name(from)?, name(to)?);
        if from.is_inbox() {
            return self.rename_inbox(&to).map_err(fail);
        }
        self.rename_with_children(&from, &to).map_err(fail)?;
        self.hub.forget_folder(&self.store, &from, true);
        metadata::rename(self.store.root(), from.as_str(), to.as_str()).map_err(|e| fail(e.into()))
    }

    fn status(&mut self, raw: &str, with_size: bool) -> StoreResult<MailboxStatus> {
        let n = self.resolve(raw)?;
        let (size, deleted_size) = if with_size {
            let md = self.store.folder(&n).map_err(|e| fail(e.into()))?;
            let all = md.usage().map_err(|e| fail(e.into()))?.bytes;
            let deleted = md.usage_of(|f| f.contains(Flags::TRASHED));
            (all, deleted.map_err(|e| fail(e.into()))?.bytes)
        } else {
            (0, 0)
        };
        let mb = self.open_shared(&n, true).map_err(fail)?;
        let (msgs, uidvalidity, uidnext) = mb.snapshot();
        let from = mb.recent_from_now();
        let highest_modseq = mb.modseq_facts(None).0;
        drop(mb);
        self.hub.release_unused();
        Ok(MailboxStatus {
            messages: msgs.len() as u32,
            recent: msgs
                .iter()
                .filter(|m| m.uid >= from || m.dir == Subdir::New)
                .count() as u32,
            uidnext,
            uidvalidity,
            unseen: msgs
                .iter()
                .filter(|m| !m.flags.contains(Flags::SEEN))
                .count() as u32,
            size,
            highest_modseq,
            deleted: msgs
                .iter()
                .filter(|m| m.flags.contains(Flags::TRASHED))
                .count() as u32,
            deleted_size,
        })
    }

    fn metadata(&mut self, mailbox: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let key = self.metadata_key(mailbox)?;
        Ok(metadata::get(self.store.root(), &key))
    }

    fn set_metadata(
        &mut self,
        mailbox: &str,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> StoreResult<bool> {
        let key = self.metadata_key(mailbox)?;
        metadata::set(self.store.root(), &key, changes, max_entries).map_err(|e| fail(e.into()))
    }

    fn special_uses(&mut self) -> StoreResult<Vec<(String, String)>> {
        let entry = ferrymail_imap_proto::list::SPECIAL_USE_ENTRY;
        Ok(metadata::of_every_mailbox(self.store.root(), entry)
            .into_iter()
            .map(|(name, v)| (name, String::from_utf8_lossy(&v).into_owned()))
            .collect())
    }

    fn quota(&mut self) -> StoreResult<QuotaUsage> {
        if self.quota.is_unlimited() {
            return Ok(QuotaUsage::default());
        }
        let used = self.store.usage().map_err(|e| fail(e.into()))?;
        Ok(QuotaUsage {
            storage: self.quota.storage_bytes.map(|q| (used.bytes, q)),
            messages: self.quota.messages.map(|q| (used.messages, q)),
        })
    }

    fn append(&mut self, mb: &OpenMailbox, head: &AppendHead, message: &[u8]) -> StoreResult<u32> {
        // The same rule as for a streamed literal8: re-encoded when it holds a NUL.
        let converted = (head.binary && memchr::memchr(0, message).is_some())
            .then(|| crate::binary::encode_binary_parts(message))
            .flatten();
        let message = converted.as_deref().unwrap_or(message);
        self.check_quota(message.len() as u64)?;
        let f = to_maildir(&mb.mb, &head.flags, true).map_err(fail)?;
        mb.mb
            .append(&[message], f, head.date.map(mtime))
            .map(|uid| mb.cache_appended(uid))
            .map_err(fail)
    }

    fn store(
        &mut self,
        mb: &OpenMailbox,
        uids: &[u32],
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<Vec<(u32, FlagSet)>> {
        Ok(self.store_unchanged_since_opt(mb, uids, None, op, flags)?.0)
    }

    fn store_unchanged_since(
        &mut self,
        mb: &OpenMailbox,
        uids: &[u32],
        since: u64,
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<ferrymail_imap_proto::session::ConditionalStored> {
        self.store_unchanged_since_opt(mb, uids, Some(since), op, flags)
    }

    fn copy(
        &mut self,
        from: &OpenMailbox,
        uids: &[u32],
        to: &OpenMailbox,
        then_expunge: bool,
    ) -> StoreResult<Vec<(u32, u32)>> {
        let src_keywords = from.mb.keywords();
        // A MOVE within the store adds nothing to what it holds.
        let mut used = if then_expunge {
            None
        } else {
            self.usage_under_quota()?
        };
        let mut pairs = Vec::new();
        for &uid in uids {
            let Some(m) = from.meta(uid) else { continue };
            let (raw, t) = match from.mb.read(&m) {
                Ok(v) => v,
                Err(StoreError::Maildir(e)) if e.is_not_found() => continue,
                Err(e) => return Err(fail(e)),
            };
            if let Some(used) = used.as_mut() {
                self.fits(used, raw.len() as u64)?;
                *used += Usage {
                    bytes: raw.len() as u64,
                    messages: 1,
                };
            }
            // Keyword letters are per mailbox: translate through the names.
            let names: Vec<String> = m
                .flags
                .keywords()
                .filter_map(|k| src_keywords.get(usize::from(k)).cloned())
                .filter(|n| !n.is_empty())
                .collect();
            let kw = to.mb.keyword_flags(&names, true).map_err(fail)?;
            let standard = m.flags - keyword_mask();
            let new_uid = to
                .mb
                .append(&[&raw], standard | kw, Some(mtime(t)))
                .map_err(fail)?;
            pairs.push((uid, new_uid));
        }
        if then_expunge {
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            from.mb.expunge(&moved).map_err(fail)?;
        }
        Ok(pairs)
    }

    fn expunge(&mut self, mb: &OpenMailbox, uids: &[u32]) -> StoreResult<()> {
        mb.mb.expunge(uids).map(|_| ()).map_err(fail)
    }

    fn vanished(&mut self, mb: &OpenMailbox, since: u64) -> StoreResult<Vec<u32>> {
        Ok(mb.mb.modseq_facts(Some(since)).1)
    }

    fn fetch(
        &mut self,
        mb: &OpenMailbox,
        uid: u32,
        atts: &[FetchAtt],
    ) -> StoreResult<Option<Vec<FetchItem>>> {
        // Borrowed from the snapshot: a clone would touch every message's file name.
        let (all, _, _) = mb.mb.snapshot();
        let Some(meta) = find(&all, uid) else {
            return Ok(None);
        };
        let Some(facts) = fetch::facts(
            &mb.mb,
            meta,
            fetch::needs_cache(atts),
            fetch::needs_content(atts),
        ) else {
            // Expunged by someone else meanwhile: nothing to show.
            return Ok(None);
        };
        fetch::items(facts, atts).map(Some)
    }

    fn search(
        &mut self,
        mb: &OpenMailbox,
        key: &SearchKey,
        msgs: &[SearchContext<'_>],
    ) -> StoreResult<Vec<bool>> {
        let (cache, content) = (search::needs_cache(key), search::needs_content(key));
        let (all, _, _) = mb.mb.snapshot();
        Ok(msgs
            .iter()
            .map(|ctx| {
                let Some(meta) = find(&all, ctx.uid) else {
                    return false;
                };
                let Some(facts) = fetch::facts(&mb.mb, meta, cache, content) else {
                    return false;
                };
                let cand = search::Candidate {
                    seq: ctx.seq,
                    uid: ctx.uid,
                    max_seq: ctx.max_seq,
                    max_uid: ctx.max_uid,
                    flags: meta.flags,
                    recent: ctx.recent,
                    size: facts.cached.as_ref().map_or(0, |c| c.size),
                    internal_date: facts.cached.as_ref().map_or(0, |c| c.internal_date),
                    saved: facts.saved.unwrap_or(0),
                    cached: facts.cached.as_deref(),
                    keywords: ctx.keywords,
                    modseq: ctx.modseq,
                    content: facts.content.as_deref(),
                };
                search::matches(key, &cand)
            })
            .collect())
    }

    fn sort_facts(
        &mut self,
        mb: &OpenMailbox,
        uids: &[u32],
    ) -> StoreResult<Vec<Option<Arc<ferrymail_imap_proto::sort::SortFacts>>>> {
        let cached = mb.mb.cached_many(uids);
        let (all, _, _) = mb.mb.snapshot();
        Ok(uids
            .iter()
            .zip(cached)
            .map(|(&uid, c)| {
                let c = match c {
                    Some(c) => c,
                    // Not parsed yet: read the file once (and cache what it gives).
                    None => {
                        let meta = find(&all, uid)?;
                        fetch::facts(&mb.mb, meta, true, false)?.cached?
                    }
                };
                Some(c.sort.clone())
            })
            .collect())
    }
}
