//! What the session needs from a mail store, as a trait: imapd implements it over Maildir,
//! the tests and the fuzzer over memory. Calls are synchronous (the shell runs the session on
//! a thread that may block on files); errors are typed, and mapped to response codes in one
//! place ([`Failure::code`]).

use std::sync::Arc;

use crate::command::AppendHead;
use crate::response::{Code, FetchItem};
use crate::types::{FetchAtt, Flag, SearchKey, StoreOp};

/// The five system flags and up to 32 keywords (indices into the mailbox's keyword list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlagSet {
    pub system: u8,
    pub keywords: u32,
}

impl FlagSet {
    pub const ANSWERED: u8 = 1 << 0;
    pub const FLAGGED: u8 = 1 << 1;
    pub const DELETED: u8 = 1 << 2;
    pub const SEEN: u8 = 1 << 3;
    pub const DRAFT: u8 = 1 << 4;

    pub fn has(self, system: u8) -> bool {
        self.system & system != 0
    }

    /// The flags as the client sees them, keyword names from `keywords`.
    pub fn to_flags(self, keywords: &[String], recent: bool) -> Vec<Flag> {
        let mut out = Vec::new();
        for (bit, f) in [
            (Self::ANSWERED, Flag::Answered),
            (Self::FLAGGED, Flag::Flagged),
            (Self::DELETED, Flag::Deleted),
            (Self::SEEN, Flag::Seen),
            (Self::DRAFT, Flag::Draft),
        ] {
            if self.has(bit) {
                out.push(f);
            }
        }
        for (i, name) in keywords.iter().enumerate().take(32) {
            if self.keywords & (1 << i) != 0 && !name.is_empty() {
                out.push(Flag::Keyword(name.clone()));
            }
        }
        if recent {
            out.push(Flag::Recent);
        }
        out
    }
}

/// One message as the mailbox holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageState {
    pub uid: u32,
    pub flags: FlagSet,
    /// Delivered and not yet claimed as \Recent by any session (Maildir's `new/`).
    pub unclaimed: bool,
    /// RFC 7162 MODSEQ: the mod-sequence of its last change (at least 1).
    pub modseq: u64,
}

/// A mailbox's state at one instant. `version` changes whenever anything else does, so an
/// unchanged version means there is nothing to report.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// In UID order.
    pub messages: Arc<Vec<MessageState>>,
    pub keywords: Arc<Vec<String>>,
    /// RFC 7162 HIGHESTMODSEQ: at least every message's, never lower than before.
    pub highest_modseq: u64,
}

/// STATUS counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub recent: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    pub unseen: u32,
    /// Octets the mailbox's messages take (RFC 8438 STATUS=SIZE); filled in only when
    /// asked for, as it may cost a look at every message.
    pub size: u64,
    /// RFC 7162 HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// RFC 9051 STATUS DELETED: messages with \Deleted.
    pub deleted: u32,
    /// Octets the messages with \Deleted take (RFC 9208 DELETED-STORAGE); filled in with
    /// `size`.
    pub deleted_size: u64,
}

/// A user's quota (RFC 9208): each resource's (usage, limit), None where unlimited. Storage
/// is in octets here; the protocol shows units of 1024.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub storage: Option<(u64, u64)>,
    pub messages: Option<(u64, u64)>,
}

impl QuotaUsage {
    pub fn is_unlimited(&self) -> bool {
        self.storage.is_none() && self.messages.is_none()
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("Mailbox does not exist")]
    Nonexistent,
    #[error("Mailbox already exists")]
    AlreadyExists,
    #[error("Invalid mailbox name: {0}")]
    InvalidName(String),
    #[error("{0}")]
    Cannot(String),
    #[error("Message too large")]
    TooBig,
    #[error("{0}")]
    Limit(String),
    #[error("Not enough disk space")]
    OverQuota,
    /// The details went to the server log.
    #[error("Internal error, see the server log")]
    ServerBug,
    /// RFC 3516: a part's content-transfer-encoding cannot be undone.
    #[error("Unknown Content-Transfer-Encoding")]
    UnknownCte,
}

impl Failure {
    /// The one mapping of store failures to response codes.
    pub fn code(&self) -> Code {
        match self {
            Failure::Nonexistent => Code::Nonexistent,
            Failure::AlreadyExists => Code::AlreadyExists,
            Failure::InvalidName(_) | Failure::Cannot(_) => Code::Cannot,
            Failure::TooBig => Code::TooBig,
            Failure::Limit(_) => Code::Limit,
            Failure::OverQuota => Code::OverQuota,
            Failure::ServerBug => Code::ServerBug,
            Failure::UnknownCte => Code::UnknownCte,
        }
    }
}

pub type StoreResult<T> = Result<T, Failure>;

/// Applies SETMETADATA's changes to one mailbox's entries (`value` turns bytes into what the
/// store keeps), all or nothing: false, with `entries` unchanged, if they would then number
/// more than `max_entries`. For stores implementing [`Storage::set_metadata`].
pub fn apply_metadata<V: Clone>(
    entries: &mut std::collections::BTreeMap<String, V>,
    changes: &[(String, Option<Vec<u8>>)],
    max_entries: usize,
    value: impl Fn(&[u8]) -> V,
) -> bool {
    let mut next = entries.clone();
    for (name, v) in changes {
        match v {
            Some(v) => next.insert(name.clone(), value(v)),
            None => next.remove(name),
        };
    }
    if next.len() > max_entries {
        return false;
    }
    *entries = next;
    true
}

/// The bytes `<origin.len>` of a partial FETCH (`BODY[]<o.l>`, `BINARY[]<o.l>`) selects:
/// empty past the end, cut short at the end.
pub fn partial(bytes: &[u8], origin: u32, len: u32) -> &[u8] {
    let start = (origin as usize).min(bytes.len());
    let end = start.saturating_add(len as usize).min(bytes.len());
    bytes.get(start..end).unwrap_or_default()
}

/// What STORE (UNCHANGEDSINCE) did: (UID, new flags) of each message it changed, and the
/// UIDs it left alone because they changed after the given mod-sequence.
pub type ConditionalStored = (Vec<(u32, FlagSet)>, Vec<u32>);

/// What a SEARCH key is evaluated against besides the message itself.
#[derive(Debug, Clone, Copy)]
pub struct SearchContext<'a> {
    pub seq: u32,
    pub uid: u32,
    pub max_seq: u32,
    pub max_uid: u32,
    pub flags: FlagSet,
    pub recent: bool,
    pub keywords: &'a [String],
    /// RFC 7162 MODSEQ, for the MODSEQ key.
    pub modseq: u64,
}

/// One user's mail store, as the session sees it. Mailbox names are UTF-8 with `/` as the
/// hierarchy separator; the store validates them (a name that would leave the user's store
/// is [`Failure::InvalidName`]).
pub trait Storage: Send {
    /// An open mailbox; dropped (or passed to [`Storage::close`]) when no longer selected.
    type Mailbox: Send;

    /// Opens a mailbox. `refresh`: look for changes by others now (SELECT, STATUS); APPEND and
    /// COPY targets need not pay a directory scan.
    fn open(&mut self, name: &str, refresh: bool) -> StoreResult<Self::Mailbox>;
    fn close(&mut self, mb: Self::Mailbox);
    /// The mailbox now (as last scanned; see [`Storage::rescan`]).
    fn snapshot(&mut self, mb: &Self::Mailbox) -> Snapshot;
    /// The snapshot's version without building one: the cheap check before every reply.
    fn version(&mut self, mb: &Self::Mailbox) -> u64;
    fn uidvalidity(&mut self, mb: &Self::Mailbox) -> u32;
    /// The mailbox's keyword names (what [`FlagSet::keywords`] indexes).
    fn keywords(&mut self, mb: &Self::Mailbox) -> Arc<Vec<String>>;
    /// Looks for changes made by other processes.
    fn rescan(&mut self, mb: &Self::Mailbox) -> StoreResult<()>;
    /// Claims the unclaimed messages for the caller (they become its \Recent ones); returns
    /// their UIDs. Only one session ever gets a given message.
    fn claim_recent(&mut self, mb: &Self::Mailbox) -> StoreResult<Vec<u32>>;

    /// Every mailbox name, INBOX included.
    fn mailboxes(&mut self) -> StoreResult<Vec<String>>;
    fn subscriptions(&mut self) -> StoreResult<Vec<String>>;
    fn set_subscribed(&mut self, name: &str, subscribed: bool) -> StoreResult<()>;
    fn create(&mut self, name: &str) -> StoreResult<()>;
    fn delete(&mut self, name: &str) -> StoreResult<()>;
    /// Renames a mailbox with everything below it (RFC 3501 §6.3.5; renaming INBOX moves its
    /// messages to the new mailbox).
    fn rename(&mut self, from: &str, to: &str) -> StoreResult<()>;
    /// STATUS counts; `size` and `deleted_size` only when `with_size` (otherwise 0).
    fn status(&mut self, name: &str, with_size: bool) -> StoreResult<MailboxStatus>;
    /// The METADATA entries of a mailbox (`""`: the server's), names in lower case, in name
    /// order. [`Failure::Nonexistent`] for a mailbox that does not exist.
    fn metadata(&mut self, mailbox: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Sets (Some) or removes (None) entries, all at once; `Ok(false)`, with nothing
    /// changed, if the mailbox would then hold more than `max_entries`. A mailbox's entries
    /// go with it when it is deleted or renamed.
    fn set_metadata(
        &mut self,
        mailbox: &str,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> StoreResult<bool>;
    /// The user's quota: one root covering every mailbox. APPEND and COPY beyond it fail
    /// with [`Failure::OverQuota`].
    fn quota(&mut self) -> StoreResult<QuotaUsage>;
    /// Every mailbox's special use as set by CREATE-SPECIAL-USE or METADATA (its
    /// `/private/specialuse` value), by name. A store that keeps METADATA in one place
    /// answers this with one read.
    fn special_uses(&mut self) -> StoreResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for name in self.mailboxes()? {
            // Deleted meanwhile: it has no use to show.
            let Ok(entries) = self.metadata(&name) else {
                continue;
            };
            if let Some((_, v)) = entries
                .into_iter()
                .find(|(k, _)| k == crate::list::SPECIAL_USE_ENTRY)
            {
                out.push((name, String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(out)
    }

    /// Stores a message with flags and an optional INTERNALDATE; returns its UID.
    fn append(&mut self, mb: &Self::Mailbox, head: &AppendHead, message: &[u8])
        -> StoreResult<u32>;
    /// Changes flags; returns the new flags of each message that changed.
    fn store(
        &mut self,
        mb: &Self::Mailbox,
        uids: &[u32],
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<Vec<(u32, FlagSet)>>;
    /// RFC 7162 STORE (UNCHANGEDSINCE `since`): as [`Storage::store`], but a message whose
    /// mod-sequence is above `since` is left alone. The test is made under the lock the
    /// change is made under, so another session's or process's change just before is never
    /// overwritten. Returns the changes and the UIDs left alone.
    fn store_unchanged_since(
        &mut self,
        mb: &Self::Mailbox,
        uids: &[u32],
        since: u64,
        op: StoreOp,
        flags: &[Flag],
    ) -> StoreResult<ConditionalStored>;
    /// Copies messages (keeping flags and INTERNALDATE); returns (source, new) UID pairs of
    /// those that still existed. `then_expunge`: MOVE.
    fn copy(
        &mut self,
        from: &Self::Mailbox,
        uids: &[u32],
        to: &Self::Mailbox,
        then_expunge: bool,
    ) -> StoreResult<Vec<(u32, u32)>>;
    fn expunge(&mut self, mb: &Self::Mailbox, uids: &[u32]) -> StoreResult<()>;
    /// RFC 7162 QRESYNC: the UIDs expunged at a mod-sequence above `since`, ascending. A store
    /// may merge old expunges, so this may name more (never fewer) UIDs than were expunged
    /// since, and UIDs that never existed.
    fn vanished(&mut self, mb: &Self::Mailbox, since: u64) -> StoreResult<Vec<u32>>;

    /// The FETCH items of one message that come from its content or cached facts (all but
    /// UID and FLAGS, which the session adds), in the order asked. None: expunged meanwhile.
    fn fetch(
        &mut self,
        mb: &Self::Mailbox,
        uid: u32,
        atts: &[FetchAtt],
    ) -> StoreResult<Option<Vec<FetchItem>>>;
    /// Whether each of `msgs` matches a SEARCH key, in the order given; a message expunged
    /// meanwhile does not match.
    fn search(
        &mut self,
        mb: &Self::Mailbox,
        key: &SearchKey,
        msgs: &[SearchContext<'_>],
    ) -> StoreResult<Vec<bool>>;
    /// What SORT and THREAD need of each of `uids`, in the order given; None for a message
    /// expunged meanwhile. Shared, so a store that caches the facts hands out its cached
    /// copy (and the keys folded on it stay for the next SORT).
    fn sort_facts(
        &mut self,
        mb: &Self::Mailbox,
        uids: &[u32],
    ) -> StoreResult<Vec<Option<std::sync::Arc<crate::sort::SortFacts>>>>;
}
