//! Commands on the selected mailbox's messages: FETCH, STORE, SEARCH, COPY/MOVE, EXPUNGE
//! (and UID EXPUNGE), CLOSE/UNSELECT.

use std::collections::HashSet;

use super::dispatch::Done;
use super::mailboxes::append_refused;
use super::selected::Selected;
use super::{failed, Failure, FlagSet, Output, SearchContext, Session, Storage};
use crate::response::{Code, Data, FetchItem, Kind, Response, Status};
use crate::types::{FetchAtt, Flag, SearchKey, SeqSet, StoreOp};

/// Does FETCH set \Seen (a non-PEEK body item)?
fn sets_seen(atts: &[FetchAtt]) -> bool {
    atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Rfc822
                | FetchAtt::Rfc822Text
                | FetchAtt::BodySection { peek: false, .. }
                | FetchAtt::Binary { peek: false, .. }
        )
    })
}

fn read_only(tag: &str) -> Done {
    Done::reply(Response::no(
        tag,
        Some(Code::ReadOnly),
        "Mailbox is read-only",
    ))
}

impl<S: Storage> Session<S> {
    pub(super) fn close(&mut self, tag: &str, expunge: bool) -> Done {
        let mut code = None;
        if let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) {
            if expunge && !sel.read_only {
                let snap = store.snapshot(&sel.mb);
                let gone: Vec<u32> = snap
                    .messages
                    .iter()
                    .filter(|m| m.flags.has(FlagSet::DELETED))
                    .map(|m| m.uid)
                    .collect();
                // CLOSE never reports a failure to expunge (RFC 3501 §6.4.2): the mailbox is
                // closed either way, and the messages stay marked.
                let _ = store.expunge(&sel.mb, &gone);
                // RFC 7162: the HIGHESTMODSEQ the silent expunges reached.
                if sel.modseq_mode.condstore {
                    let now = store.snapshot(&sel.mb).highest_modseq;
                    code = Some(Code::HighestModSeq(sel.highest_modseq(now)));
                }
            }
        }
        self.close_selected();
        Done::reply(Response::Status(Status::tagged(
            tag,
            Kind::Ok,
            code,
            "Close completed",
        )))
    }

    pub(super) fn expunge(&mut self, tag: &str, set: Option<SeqSet>) -> Done {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        if sel.read_only {
            return read_only(tag);
        }
        let snap = store.snapshot(&sel.mb);
        let max_uid = snap.messages.last().map_or(0, |m| m.uid);
        // Only messages this client knows of may go: one it has not been told about is not
        // its to expunge in this command.
        let gone: Vec<u32> = snap
            .messages
            .iter()
            .filter(|m| m.flags.has(FlagSet::DELETED) && sel.seq_of(m.uid).is_some())
            .filter(|m| set.as_ref().is_none_or(|s| s.contains(m.uid, max_uid)))
            .map(|m| m.uid)
            .collect();
        match store.expunge(&sel.mb, &gone) {
            Ok(()) => Done::reply(expunged_ok(store, sel, tag, "Expunge completed")),
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }

    pub(super) fn search(
        &mut self,
        tag: &str,
        uid: bool,
        key: &SearchKey,
        out: &mut Output,
    ) -> Done {
        if super::condstore::uses_modseq(key) {
            self.enable_condstore(out);
        }
        match self.matching(key) {
            Ok(hits) => {
                let highest = self.highest_of(key, &hits);
                let hits = hits.iter().map(|&(s, u)| if uid { u } else { s }).collect();
                out.push(Response::Data(match highest {
                    Some(modseq) => Data::SearchModSeq { hits, modseq },
                    None => Data::Search(hits),
                }));
                Done::reply(Response::ok(tag, "Search completed"))
            }
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }

    /// The (sequence number, UID) of the selected mailbox's messages that match `key`.
    pub(super) fn matching(&mut self, key: &SearchKey) -> Result<Vec<(u32, u32)>, Failure> {
        self.matching_among(key, None)
    }

    /// As [`Self::matching`], looking only at the messages `among` names (UIDs), when given.
    pub(super) fn matching_among(
        &mut self,
        key: &SearchKey,
        among: Option<&HashSet<u32>>,
    ) -> Result<Vec<(u32, u32)>, Failure> {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_ref()) else {
            return Ok(Vec::new());
        };
        let max_seq = sel.exists();
        let max_uid = sel.all().last().map_or(0, |(_, u, _)| u);
        let msgs: Vec<SearchContext<'_>> = sel
            .all()
            .filter(|&(_, u, _)| among.is_none_or(|a| a.contains(&u)))
            .map(|(seq, u, flags)| SearchContext {
                seq,
                uid: u,
                max_seq,
                max_uid,
                flags,
                recent: sel.is_recent(u),
                keywords: &sel.keywords,
                modseq: sel.modseq_of(u),
            })
            .collect();
        let matched = store.search(&sel.mb, key, &msgs)?;
        Ok(msgs
            .iter()
            .zip(matched)
            .filter(|(_, hit)| *hit)
            .map(|(c, _)| (c.seq, c.uid))
            .collect())
    }

    pub(super) fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        atts: Vec<FetchAtt>,
        out: &mut Output,
    ) -> Done {
        let Some(sel) = self.selected.as_ref() else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Done::reply(Response::bad(tag, e)),
        };
        if atts.contains(&FetchAtt::ModSeq) {
            self.enable_condstore(out);
        }
        self.fetch_resolved(tag, uid, msgs, atts, out)
    }

    /// FETCH of messages already resolved to (sequence number, UID, flags).
    pub(super) fn fetch_resolved(
        &mut self,
        tag: &str,
        uid: bool,
        msgs: Vec<(u32, u32, FlagSet)>,
        mut atts: Vec<FetchAtt>,
        out: &mut Output,
    ) -> Done {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        let mut silent = HashSet::new();
        let mut seen = std::collections::HashMap::new();
        if sets_seen(&atts) && !sel.read_only {
            let unseen: Vec<u32> = msgs
                .iter()
                .filter(|(_, _, f)| !f.has(FlagSet::SEEN))
                .map(|&(_, u, _)| u)
                .collect();
            if !unseen.is_empty() {
                // A failure leaves the messages unseen; the content is still served.
                if let Ok(changed) = store.store(&sel.mb, &unseen, StoreOp::Add, &[Flag::Seen]) {
                    seen.extend(changed);
                }
                if !atts.contains(&FetchAtt::Flags) {
                    // The client learns of the new \Seen in this FETCH (RFC 3501 §6.4.5).
                    atts.push(FetchAtt::Flags);
                }
            }
        }
        let content: Vec<FetchAtt> = atts
            .iter()
            .filter(|a| !matches!(a, FetchAtt::Uid | FetchAtt::Flags | FetchAtt::ModSeq))
            .cloned()
            .collect();
        if !seen.is_empty() {
            sel.keywords = store.keywords(&sel.mb);
            if sel.modseq_mode.condstore {
                // Setting \Seen gave new mod-sequences: show those, not the old ones.
                let snap = store.snapshot(&sel.mb);
                for m in snap.messages.iter().filter(|m| seen.contains_key(&m.uid)) {
                    sel.set_modseq(m.uid, m.modseq);
                }
            }
        }
        for (seq, u, flags) in msgs {
            if out.is_closed() {
                break;
            }
            let mut from_store = if content.is_empty() {
                Vec::new().into_iter()
            } else {
                match store.fetch(&sel.mb, u, &content) {
                    Ok(Some(items)) => items.into_iter(),
                    // Expunged by another session: nothing left to show.
                    Ok(None) => continue,
                    Err(e) => return Done::reply(failed(tag, &e)),
                }
            };
            let flags = match seen.get(&u) {
                Some(&f) => {
                    sel.reported_flags(u, f);
                    silent.insert(u);
                    f
                }
                None => flags,
            };
            let mut items = Vec::with_capacity(atts.len() + 1);
            if uid && !atts.contains(&FetchAtt::Uid) {
                items.push(FetchItem::Uid(u));
            }
            for a in &atts {
                match a {
                    FetchAtt::Uid => items.push(FetchItem::Uid(u)),
                    FetchAtt::Flags => items.push(FetchItem::Flags(
                        flags.to_flags(&sel.keywords, sel.recent_flag(u)),
                    )),
                    FetchAtt::ModSeq => items.push(FetchItem::ModSeq(sel.modseq_of(u))),
                    _ => items.extend(from_store.next()),
                }
            }
            out.push(Response::Data(Data::Fetch { seq, items }));
        }
        let mut done = Done::reply(Response::ok(tag, "Fetch completed"));
        done.silent = silent;
        done
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_flags(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        op: StoreOp,
        quiet: bool,
        flags: &[Flag],
        out: &mut Output,
    ) -> Done {
        let Some(sel) = self.selected.as_ref() else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        if sel.read_only {
            return read_only(tag);
        }
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Done::reply(Response::bad(tag, e)),
        };
        let uids: Vec<u32> = msgs.iter().map(|&(_, u, _)| u).collect();
        self.store_resolved(tag, uid, &uids, op, quiet, flags, None, out)
            .0
    }

    /// STORE on messages already resolved to UIDs; with `unchanged_since` (RFC 7162), the
    /// store leaves messages changed after it alone, and they are returned.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_resolved(
        &mut self,
        tag: &str,
        uid: bool,
        uids: &[u32],
        op: StoreOp,
        quiet: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
        out: &mut Output,
    ) -> (Done, Vec<u32>) {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) else {
            return (
                Done::reply(Response::bad(tag, "No mailbox selected")),
                Vec::new(),
            );
        };
        let r = match unchanged_since {
            Some(since) => store.store_unchanged_since(&sel.mb, uids, since, op, flags),
            None => store
                .store(&sel.mb, uids, op, flags)
                .map(|c| (c, Vec::new())),
        };
        let (changed, not_stored) = match r {
            Ok(c) => c,
            Err(e) => return (Done::reply(failed(tag, &e)), Vec::new()),
        };
        // New keywords change the FLAGS list: announce it before the FETCHes.
        let keywords = store.keywords(&sel.mb);
        if *keywords != *sel.keywords {
            sel.keywords = keywords;
            let mut rs = Vec::new();
            sel.flag_responses(&mut rs);
            out.extend(rs);
        }
        if sel.modseq_mode.condstore && !changed.is_empty() {
            let snap = store.snapshot(&sel.mb);
            let uids: HashSet<u32> = changed.iter().map(|c| c.0).collect();
            for m in snap.messages.iter().filter(|m| uids.contains(&m.uid)) {
                sel.set_modseq(m.uid, m.modseq);
            }
        }
        let mut silent = HashSet::new();
        for (u, f) in changed {
            sel.reported_flags(u, f);
            silent.insert(u);
            if quiet {
                let seq = sel.seq_of(u);
                out.extend(
                    seq.and_then(|s| super::condstore::silent_store_response(sel, s, u, uid)),
                );
                continue;
            }
            if let Some(seq) = sel.seq_of(u) {
                out.push(sel.flags_response(seq, u, f, uid));
            }
        }
        let mut done = Done::reply(Response::ok(tag, "Store completed"));
        done.silent = silent;
        (done, not_stored)
    }

    pub(super) fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        dest: &str,
        is_move: bool,
        out: &mut Output,
    ) -> Done {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        if is_move && sel.read_only {
            return read_only(tag);
        }
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Done::reply(Response::bad(tag, e)),
        };
        let to = match store.open(dest, false) {
            Ok(mb) => mb,
            Err(e) => return Done::reply(append_refused(tag, &e)),
        };
        let uids: Vec<u32> = msgs.iter().map(|&(_, u, _)| u).collect();
        let r = store
            .copy(&sel.mb, &uids, &to, is_move)
            .map(|pairs| (store.uidvalidity(&to), pairs));
        store.close(to);
        let (uidvalidity, pairs) = match r {
            Ok(v) => v,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let code = (!pairs.is_empty()).then(|| Code::CopyUid {
            uidvalidity,
            source: pairs.iter().map(|p| p.0).collect(),
            dest: pairs.iter().map(|p| p.1).collect(),
        });
        if is_move {
            // RFC 6851: COPYUID comes untagged, before the EXPUNGEs.
            if let Some(code) = code {
                out.push(Response::Status(Status::untagged(
                    Kind::Ok,
                    Some(code),
                    "Moved",
                )));
            }
            // RFC 6851 §4.4: MOVE expunges too.
            Done::reply(expunged_ok(store, sel, tag, "Move completed"))
        } else {
            Done::reply(Response::Status(Status::tagged(
                tag,
                Kind::Ok,
                code,
                "Copy completed",
            )))
        }
    }
}

/// The tagged OK of a command that expunged (EXPUNGE, MOVE): with CONDSTORE on (RFC 7162;
/// Dovecot does it without QRESYNC too), the HIGHESTMODSEQ the expunges reached.
fn expunged_ok<S: Storage>(
    store: &mut S,
    sel: &mut Selected<S::Mailbox>,
    tag: &str,
    text: &str,
) -> Response {
    let code = sel.modseq_mode.condstore.then(|| {
        let now = store.snapshot(&sel.mb).highest_modseq;
        Code::HighestModSeq(sel.highest_modseq(now))
    });
    Response::Status(Status::tagged(tag, Kind::Ok, code, text))
}
