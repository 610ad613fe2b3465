//! RFC 7162 CONDSTORE and QRESYNC: what the client enabled, and the commands and modifiers
//! that use mod-sequences — ENABLE, SELECT/EXAMINE (CONDSTORE) and (QRESYNC ...), FETCH
//! (CHANGEDSINCE m [VANISHED]), STORE (UNCHANGEDSINCE m), and the MODSEQ results of SEARCH.
//!
//! CONDSTORE is enabled by ENABLE or by the first command that uses it (RFC 7162 §3.1), and
//! from then on FETCH responses about flag changes carry MODSEQ; QRESYNC (which implies
//! CONDSTORE) can only be enabled by ENABLE, and turns EXPUNGE into VANISHED
//! ([`super::selected`]). Expunged UIDs come from the store with the mod-sequence of their
//! expunge, so a client's resync costs a line per change, none per unchanged message.

use super::dispatch::Done;
use super::selected::Selected;
use super::{failed, FlagSet, Output, Session, Storage};
use crate::command::{ConditionalStore, QresyncParams, SelectParams};
use crate::response::{Code, Data, FetchItem, Kind, Response, Status};
use crate::types::{FetchAtt, SearchKey, SearchReturn, SeqSet};

/// What the client enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Enabled {
    pub condstore: bool,
    pub qresync: bool,
}

/// Whether a SEARCH key uses MODSEQ (which makes the result carry the highest one).
pub(super) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(ks) => ks.iter().any(uses_modseq),
        _ => false,
    }
}

impl<S: Storage> Session<S> {
    /// ENABLE: CONDSTORE and QRESYNC are the capabilities that need it; the others are
    /// ignored (RFC 5161 §3.1). `* ENABLED` names those this command turned on.
    pub(super) fn enable(&mut self, tag: &str, caps: &[String], out: &mut Output) -> Done {
        let mut enabled = Vec::new();
        for cap in caps {
            match cap.to_ascii_uppercase().as_str() {
                "CONDSTORE" if !self.modseq_mode.condstore => {
                    self.enable_condstore(out);
                    enabled.push("CONDSTORE".to_owned());
                }
                "QRESYNC" if !self.modseq_mode.qresync => {
                    self.enable_condstore(out);
                    self.modseq_mode.qresync = true;
                    self.selected_with_modseq_mode();
                    enabled.push("QRESYNC".to_owned());
                }
                "IMAP4REV2" if self.enable_rev2() => {
                    enabled.push(super::rev2::IMAP4REV2.to_owned());
                }
                _ => {}
            }
        }
        out.push(Response::Data(Data::Enabled(enabled)));
        Done::reply(Response::ok(tag, "Enabled"))
    }

    /// Turns CONDSTORE on; the first time, with a mailbox selected, the client learns its
    /// HIGHESTMODSEQ (RFC 7162 §3.1).
    pub(super) fn enable_condstore(&mut self, out: &mut Output) {
        if self.modseq_mode.condstore {
            return;
        }
        self.modseq_mode.condstore = true;
        self.selected_with_modseq_mode();
        if let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) {
            let now = store.snapshot(&sel.mb).highest_modseq;
            let highest = sel.highest_modseq(now);
            out.push(Response::Status(Status::untagged(
                Kind::Ok,
                Some(Code::HighestModSeq(highest)),
                "Highest",
            )));
        }
    }

    /// The selected mailbox's view follows what is enabled.
    pub(super) fn selected_with_modseq_mode(&mut self) {
        if let Some(sel) = self.selected.as_mut() {
            sel.modseq_mode = self.modseq_mode;
        }
    }

    /// With QRESYNC on, a SELECT that replaces a selected mailbox first says it closed
    /// (RFC 7162 §3.2.11), so the client can tell the old mailbox's updates from the new.
    pub(super) fn announce_closed(&mut self, out: &mut Output) {
        if (self.modseq_mode.qresync || self.mode.announces_closed()) && self.selected.is_some() {
            out.push(Response::Status(Status::untagged(
                Kind::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            )));
        }
    }

    /// SELECT/EXAMINE with (CONDSTORE) and/or (QRESYNC (...)).
    pub(super) fn select_with(
        &mut self,
        tag: &str,
        mailbox: &str,
        read_only: bool,
        params: &SelectParams,
        out: &mut Output,
    ) -> Done {
        if params.qresync.is_some() && !self.modseq_mode.qresync {
            return Done::reply(Response::bad(tag, "QRESYNC is not enabled"));
        }
        if params.condstore {
            // SELECT itself reports HIGHESTMODSEQ.
            self.modseq_mode.condstore = true;
        }
        let done = self.select(tag, mailbox, read_only, out);
        if let Some(q) = &params.qresync {
            self.qresync_report(q, out);
        }
        done
    }

    /// What a reconnecting client missed (RFC 7162 §3.2.5): VANISHED (EARLIER) for UIDs
    /// expunged after its mod-sequence, then a FETCH for every message changed after it.
    /// Nothing if its UIDVALIDITY is not the mailbox's: it must resync fully anyway.
    fn qresync_report(&mut self, q: &QresyncParams, out: &mut Output) {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_ref()) else {
            return;
        };
        if store.uidvalidity(&sel.mb) != q.uidvalidity {
            return;
        }
        let max_uid = store.snapshot(&sel.mb).uidnext.saturating_sub(1);
        let known = |u: u32| q.known_uids.as_ref().is_none_or(|s| s.contains(u, max_uid));
        // Every expunge is remembered, so seq-match data (for servers that forget) is not
        // needed to narrow the answer.
        let vanished: Vec<u32> = store
            .vanished(&sel.mb, q.modseq)
            .unwrap_or_default()
            .into_iter()
            .filter(|&u| known(u))
            .collect();
        if !vanished.is_empty() {
            out.push(Response::Data(Data::Vanished {
                earlier: true,
                uids: vanished,
            }));
        }
        let changed: Vec<(u32, u32, FlagSet)> = sel
            .all()
            .filter(|&(_, u, _)| sel.modseq_of(u) > q.modseq && known(u))
            .collect();
        for (seq, u, flags) in changed {
            out.push(sel.flags_response(seq, u, flags, true));
        }
    }

    /// FETCH ... (CHANGEDSINCE m [VANISHED]): only messages changed after `m`, with MODSEQ;
    /// VANISHED (UID FETCH, QRESYNC on) first reports the set's UIDs expunged after `m`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fetch_changed_since(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        mut atts: Vec<FetchAtt>,
        since: u64,
        vanished: bool,
        out: &mut Output,
    ) -> Done {
        if vanished && !(uid && self.modseq_mode.qresync) {
            return Done::reply(Response::bad(
                tag,
                "VANISHED needs UID FETCH and QRESYNC enabled",
            ));
        }
        self.enable_condstore(out);
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_ref()) else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Done::reply(Response::bad(tag, e)),
        };
        if vanished {
            let max_uid = store.snapshot(&sel.mb).uidnext.saturating_sub(1);
            let gone: Vec<u32> = match store.vanished(&sel.mb, since) {
                Ok(v) => v
                    .into_iter()
                    .filter(|&u| set.contains(u, max_uid))
                    .collect(),
                Err(e) => return Done::reply(failed(tag, &e)),
            };
            if !gone.is_empty() {
                out.push(Response::Data(Data::Vanished {
                    earlier: true,
                    uids: gone,
                }));
            }
        }
        let msgs = msgs
            .into_iter()
            .filter(|&(_, u, _)| sel.modseq_of(u) > since)
            .collect();
        if !atts.contains(&FetchAtt::ModSeq) {
            atts.push(FetchAtt::ModSeq);
        }
        self.fetch_resolved(tag, uid, msgs, atts, out)
    }

    /// STORE (UNCHANGEDSINCE m): messages changed after `m` are left alone and named in
    /// `[MODIFIED ...]` (UIDs for UID STORE); the others are stored as usual.
    pub(super) fn store_unchanged_since(
        &mut self,
        tag: &str,
        a: ConditionalStore,
        out: &mut Output,
    ) -> Done {
        self.enable_condstore(out);
        let Some(sel) = self.selected.as_ref() else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        if sel.read_only {
            return Done::reply(Response::no(
                tag,
                Some(Code::ReadOnly),
                "Mailbox is read-only",
            ));
        }
        let msgs = match sel.resolve(&a.set, a.uid) {
            Ok(m) => m,
            Err(e) => return Done::reply(Response::bad(tag, e)),
        };
        // The store makes the test under the lock it changes flags under: a change another
        // session or process made since this client last heard (even one just now) fails.
        let uids: Vec<u32> = msgs.iter().map(|&(_, u, _)| u).collect();
        let (mut done, not_stored) = self.store_resolved(
            tag,
            a.uid,
            &uids,
            a.op,
            a.silent,
            &a.flags,
            Some(a.unchanged_since),
            out,
        );
        let not_stored: std::collections::HashSet<u32> = not_stored.into_iter().collect();
        let mut modified: Vec<u32> = msgs
            .iter()
            .filter(|(_, u, _)| not_stored.contains(u))
            .map(|&(seq, u, _)| if a.uid { u } else { seq })
            .collect();
        if !modified.is_empty() {
            if let Some(Response::Status(st)) = done.reply.as_mut() {
                if st.kind == Kind::Ok {
                    modified.sort_unstable();
                    st.code = Some(Code::Modified(modified));
                    st.text = "Conditional STORE failed".to_owned();
                }
            }
        }
        done
    }

    /// The highest MODSEQ among SEARCH hits, when the key used MODSEQ and there are hits.
    pub(super) fn highest_of(&self, key: &SearchKey, hits: &[(u32, u32)]) -> Option<u64> {
        let sel = self.selected.as_ref()?;
        if !uses_modseq(key) {
            return None;
        }
        hits.iter().map(|&(_, u)| sel.modseq_of(u)).max()
    }

    /// ESEARCH's MODSEQ (RFC 7162): the highest among the messages reported — only
    /// MIN's and MAX's when those alone are asked for, else all hits'.
    pub(super) fn esearch_modseq(
        &self,
        key: &SearchKey,
        ret: &SearchReturn,
        hits: &[(u32, u32)],
    ) -> Option<u64> {
        if (ret.min || ret.max) && !ret.all && !ret.count && ret.partial.is_none() {
            let mut reported = Vec::new();
            if ret.min {
                reported.extend(hits.first().copied());
            }
            if ret.max {
                reported.extend(hits.last().copied());
            }
            return self.highest_of(key, &reported);
        }
        self.highest_of(key, hits)
    }
}

/// `* n FETCH (UID u MODSEQ (m))`: what a .SILENT STORE still reports once CONDSTORE is on
/// (RFC 7162 §3.1.3, example 3).
pub(super) fn silent_store_response<M>(
    sel: &Selected<M>,
    seq: u32,
    uid: u32,
    with_uid: bool,
) -> Option<Response> {
    if !sel.modseq_mode.condstore {
        return None;
    }
    let mut items = Vec::new();
    if with_uid || sel.modseq_mode.qresync {
        items.push(FetchItem::Uid(uid));
    }
    items.push(FetchItem::ModSeq(sel.modseq_of(uid)));
    Some(Response::Data(Data::Fetch { seq, items }))
}
