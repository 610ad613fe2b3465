//! The selected mailbox as this client knows it: its sequence-number view (which UID each
//! sequence number names), the flags last reported, its \Recent messages, and the updates
//! still owed to it.
//!
//! The view changes only by reporting: a message another session expunged keeps its sequence
//! number until the EXPUNGE is sent, and the EXPUNGE is not sent while a command that
//! addresses messages by sequence number (FETCH, STORE, SEARCH) is answered (RFC 3501 §7.4.1),
//! so a client's sequence numbers always name the messages it thinks they name. New messages
//! are appended to the view when EXISTS reports them; EXISTS never shrinks except by EXPUNGE.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::context::Contexts;
use super::storage::{FlagSet, Snapshot};
use crate::response::{Code, Data, FetchItem, Kind, Response, Status};
use crate::types::{Flag, SeqNum, SeqSet};

/// One message in the client's view.
#[derive(Debug, Clone, Copy)]
struct Entry {
    uid: u32,
    /// The flags as last reported.
    flags: FlagSet,
    /// Gone from the store, EXPUNGE not sent yet.
    expunged: bool,
    /// RFC 7162 MODSEQ as last seen.
    modseq: u64,
}

pub(crate) struct Selected<M> {
    /// As the client named it.
    pub name: String,
    pub mb: M,
    pub read_only: bool,
    view: Vec<Entry>,
    /// The store version the view was last compared with.
    version: u64,
    /// \Recent messages of this session: claimed by it (read-write) or seen unclaimed
    /// (read-only, which claims nothing).
    recent: HashSet<u32>,
    pub keywords: Arc<Vec<String>>,
    /// RFC 5182: the UIDs of the last `SEARCH RETURN (SAVE)`, ascending; what `$` names.
    pub saved: Vec<u32>,
    /// RFC 7162: what the client enabled (MODSEQ in FETCH responses, VANISHED).
    pub modseq_mode: super::condstore::Enabled,
    /// RFC 5267: the searches kept up to date while this mailbox is selected.
    pub contexts: Contexts,
    /// RFC 7162: the highest HIGHESTMODSEQ the client was told (see [`Self::highest_modseq`]).
    highest_modseq: u64,
    /// RFC 9051: whether the client speaks IMAP4rev2 (no \Recent).
    pub mode: super::rev2::Mode,
}

/// What the client must be told after a command.
pub(crate) struct Updates {
    pub responses: Vec<Response>,
}

impl<M> Selected<M> {
    /// The view at SELECT: everything in the snapshot; `recent` the UIDs this session owns.
    pub fn new(
        name: String,
        mb: M,
        read_only: bool,
        snap: &Snapshot,
        recent: HashSet<u32>,
    ) -> Selected<M> {
        Selected {
            name,
            mb,
            read_only,
            view: snap
                .messages
                .iter()
                .map(|m| Entry {
                    uid: m.uid,
                    flags: m.flags,
                    expunged: false,
                    modseq: m.modseq,
                })
                .collect(),
            version: snap.version,
            recent,
            keywords: snap.keywords.clone(),
            saved: Vec::new(),
            modseq_mode: Default::default(),
            contexts: Contexts::default(),
            highest_modseq: snap.highest_modseq,
            mode: Default::default(),
        }
    }

    /// The HIGHESTMODSEQ to report given the store's `now`: never below one already told,
    /// even when the store no longer knows the mailbox (deleted by another session while
    /// selected), since a client takes it as "everything up to here is known".
    pub fn highest_modseq(&mut self, now: u64) -> u64 {
        self.highest_modseq = self.highest_modseq.max(now);
        self.highest_modseq
    }

    pub fn exists(&self) -> u32 {
        self.view.len() as u32
    }

    pub fn recent_count(&self) -> u32 {
        self.recent.len() as u32
    }

    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.contains(&uid)
    }

    /// Whether FETCH FLAGS shows \Recent for this message.
    pub fn recent_flag(&self, uid: u32) -> bool {
        self.mode.shows_recent() && self.is_recent(uid)
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Messages gone from the store whose EXPUNGE is still owed.
    pub fn expunges_pending(&self) -> bool {
        self.view.iter().any(|e| e.expunged)
    }

    /// Sequence number of the first message without \Seen.
    pub fn first_unseen(&self) -> Option<u32> {
        self.view
            .iter()
            .position(|e| !e.flags.has(FlagSet::SEEN))
            .map(|i| i as u32 + 1)
    }

    fn max_uid(&self) -> u32 {
        self.view.last().map_or(0, |e| e.uid)
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.view
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// (sequence number, UID, flags) of the view's messages a set names. Sequence numbers
    /// beyond the view are an error; UIDs that do not exist are simply not there. Messages
    /// expunged by others but not yet reported are included: the store no longer has them,
    /// and whoever reads them finds that out.
    pub fn resolve(&self, set: &SeqSet, uid: bool) -> Result<Vec<(u32, u32, FlagSet)>, String> {
        let mut idx = BTreeSet::new();
        if uid {
            let max = self.max_uid();
            for &(a, b) in &set.0 {
                let (a, b) = (a.resolve(max), b.resolve(max));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let start = self.view.partition_point(|e| e.uid < lo);
                let end = self.view.partition_point(|e| e.uid <= hi);
                idx.extend(start..end);
            }
        } else {
            let max = self.exists();
            for &(a, b) in &set.0 {
                for n in [a, b] {
                    if matches!(n, SeqNum::Value(v) if v > max || v == 0)
                        || (n == SeqNum::Star && max == 0)
                    {
                        return Err("Invalid message sequence number".to_owned());
                    }
                }
                let (a, b) = (a.resolve(max), b.resolve(max));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                idx.extend((lo as usize).saturating_sub(1)..(hi as usize));
            }
        }
        Ok(idx
            .into_iter()
            .filter_map(|i| self.view.get(i).map(|e| (i as u32 + 1, e.uid, e.flags)))
            .collect())
    }

    /// Every message of the view: (sequence number, UID, flags).
    pub fn all(&self) -> impl Iterator<Item = (u32, u32, FlagSet)> + '_ {
        self.view
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u32 + 1, e.uid, e.flags))
    }

    /// Records flags the client has just been told about (STORE, FETCH after setting \Seen),
    /// so the next update does not repeat them.
    pub fn reported_flags(&mut self, uid: u32, flags: FlagSet) {
        if let Ok(i) = self.view.binary_search_by_key(&uid, |e| e.uid) {
            if let Some(e) = self.view.get_mut(i) {
                e.flags = flags;
            }
        }
    }

    /// The MODSEQ of a message of the view as last seen (0: not in the view).
    pub fn modseq_of(&self, uid: u32) -> u64 {
        self.view
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .and_then(|i| self.view.get(i))
            .map_or(0, |e| e.modseq)
    }

    /// Records a message's MODSEQ after this session's own change.
    pub fn set_modseq(&mut self, uid: u32, modseq: u64) {
        if let Ok(i) = self.view.binary_search_by_key(&uid, |e| e.uid) {
            if let Some(e) = self.view.get_mut(i) {
                e.modseq = modseq;
            }
        }
    }

    /// `* n FETCH (FLAGS (...))` for a message of the view; with UID when asked or once
    /// QRESYNC is on, with MODSEQ once CONDSTORE is (RFC 7162).
    pub fn flags_response(&self, seq: u32, uid: u32, flags: FlagSet, with_uid: bool) -> Response {
        let mut items = Vec::new();
        if with_uid || self.modseq_mode.qresync {
            items.push(FetchItem::Uid(uid));
        }
        items.push(FetchItem::Flags(
            flags.to_flags(&self.keywords, self.recent_flag(uid)),
        ));
        if self.modseq_mode.condstore {
            items.push(FetchItem::ModSeq(self.modseq_of(uid)));
        }
        Response::Data(Data::Fetch { seq, items })
    }

    /// FLAGS and PERMANENTFLAGS for the mailbox's keywords.
    pub fn flag_responses(&self, out: &mut Vec<Response>) {
        let mut flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(
            self.keywords
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| Flag::Keyword(k.clone())),
        );
        out.push(Response::Data(Data::Flags(flags.clone())));
        let (code, text) = if self.read_only {
            (Code::PermanentFlags(Vec::new()), "Read-only mailbox")
        } else {
            flags.push(Flag::Extension("*".into()));
            (Code::PermanentFlags(flags), "Flags permitted")
        };
        out.push(Response::Status(Status::untagged(
            Kind::Ok,
            Some(code),
            text,
        )));
    }

    /// Compares the view with the store's snapshot and returns what to tell the client:
    /// FLAGS when keywords appeared, EXPUNGE (only if `allow_expunge`), EXISTS and RECENT
    /// for new messages, FETCH FLAGS for flags changed by others. `claimed` are the UIDs
    /// this session has just claimed as \Recent (read-write) — or, read-only, the unclaimed
    /// ones it may show as such. `silent`: UIDs whose flags this command already reported.
    pub fn update(
        &mut self,
        snap: &Snapshot,
        claimed: &[u32],
        allow_expunge: bool,
        silent: &HashSet<u32>,
    ) -> Updates {
        let mut responses = Vec::new();
        if !Arc::ptr_eq(&snap.keywords, &self.keywords) && *snap.keywords != *self.keywords {
            self.keywords = snap.keywords.clone();
            self.flag_responses(&mut responses);
        }
        let cur = &snap.messages;
        // Merge walk over two UID-ordered lists: flags changed, messages gone.
        let mut changed = Vec::new();
        let mut j = 0;
        for e in self.view.iter_mut() {
            while cur.get(j).is_some_and(|c| c.uid < e.uid) {
                j += 1;
            }
            match cur.get(j) {
                Some(c) if c.uid == e.uid => {
                    e.modseq = c.modseq;
                    if c.flags != e.flags {
                        e.flags = c.flags;
                        if !silent.contains(&e.uid) {
                            changed.push(e.uid);
                        }
                    }
                    j += 1;
                }
                _ => e.expunged = true,
            }
        }
        if allow_expunge {
            let mut seq = 1u32;
            let recent = &mut self.recent;
            let mut vanished = Vec::new();
            let qresync = self.modseq_mode.qresync;
            self.view.retain(|e| {
                if e.expunged {
                    if qresync {
                        vanished.push(e.uid);
                    } else {
                        responses.push(Response::Data(Data::Expunge(seq)));
                    }
                    recent.remove(&e.uid);
                    false
                } else {
                    seq += 1;
                    true
                }
            });
            if !vanished.is_empty() {
                // RFC 7162 §3.2.10: once QRESYNC is on, VANISHED replaces EXPUNGE.
                responses.push(Response::Data(Data::Vanished {
                    earlier: false,
                    uids: vanished,
                }));
            }
        }
        let old_len = self.view.len();
        let old_recent = self.recent.len();
        let max = self.max_uid();
        for c in cur.iter().filter(|c| c.uid > max) {
            self.view.push(Entry {
                uid: c.uid,
                flags: c.flags,
                expunged: false,
                modseq: c.modseq,
            });
        }
        for &uid in claimed {
            if uid > 0 && self.view.binary_search_by_key(&uid, |e| e.uid).is_ok() {
                self.recent.insert(uid);
            }
        }
        let recent_changed = self.recent.len() != old_recent && self.mode.shows_recent();
        if self.view.len() != old_len || recent_changed {
            responses.push(Response::Data(Data::Exists(self.exists())));
            if self.mode.shows_recent() {
                responses.push(Response::Data(Data::Recent(self.recent_count())));
            }
        }
        for uid in changed {
            if let Some(seq) = self.seq_of(uid) {
                if let Some(e) = self.view.get(seq as usize - 1) {
                    if !e.expunged {
                        responses.push(self.flags_response(seq, uid, e.flags, false));
                    }
                }
            }
        }
        self.version = snap.version;
        Updates { responses }
    }
}
