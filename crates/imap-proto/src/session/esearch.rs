//! Extended SEARCH: RFC 4731's ESEARCH results (MIN, MAX, ALL, COUNT), RFC 5267's PARTIAL
//! (with RFC 9394's ranges from the end) and UPDATE (kept live by [`super::context`]), and
//! RFC 5182's saved result `$` (SAVE stores it, later commands name it).

use super::dispatch::Done;
use super::{failed, Output, Session, Storage};
use crate::command::Command;
use crate::response::{Data, Esearch, EsearchItem, Response};
use crate::sort::SortCriterion;
use crate::types::{SearchKey, SearchReturn, SeqNum, SeqSet};

/// Consecutive numbers as ranges: the smallest set naming exactly `nums` (ascending).
pub(super) fn exact_set(nums: &[u32]) -> SeqSet {
    let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
    for &n in nums {
        match ranges.last_mut() {
            Some((_, SeqNum::Value(end))) if end.checked_add(1) == Some(n) => *end = n,
            _ => ranges.push((SeqNum::Value(n), SeqNum::Value(n))),
        }
    }
    SeqSet(ranges)
}

/// `$` inside a SEARCH key, as the saved UIDs.
fn key_with_saved(key: SearchKey, saved: &SeqSet) -> SearchKey {
    use SearchKey as K;
    match key {
        K::SeqSet(s) | K::Uid(s) if s.is_saved() => K::Uid(saved.clone()),
        K::Not(k) => K::Not(Box::new(key_with_saved(*k, saved))),
        K::Or(a, b) => K::Or(
            Box::new(key_with_saved(*a, saved)),
            Box::new(key_with_saved(*b, saved)),
        ),
        K::And(ks) => K::And(ks.into_iter().map(|k| key_with_saved(k, saved)).collect()),
        other => other,
    }
}

/// The ESEARCH items asked for, from the hits in the requested order (ascending for SEARCH,
/// the sort order for SORT: RFC 5267 §3.1's MIN and MAX are the first and the last).
fn items(ret: &SearchReturn, hits: &[u32]) -> Vec<EsearchItem> {
    let mut items = Vec::new();
    if ret.min {
        items.extend(hits.first().copied().map(EsearchItem::Min));
    }
    if ret.max {
        items.extend(hits.last().copied().map(EsearchItem::Max));
    }
    if ret.all && !hits.is_empty() {
        items.push(EsearchItem::All(hits.to_vec()));
    }
    if ret.count {
        items.push(EsearchItem::Count(hits.len() as u32));
    }
    if let Some(range) = ret.partial {
        items.push(EsearchItem::Partial {
            range,
            hits: range.slice(hits).to_vec(),
        });
    }
    items
}

/// What SAVE keeps (RFC 5182 §2.1): MIN and/or MAX alone when only they are asked for
/// besides SAVE, otherwise the whole result; ascending.
fn to_save(ret: &SearchReturn, uids: &[u32]) -> Vec<u32> {
    if (ret.min || ret.max) && !ret.all && !ret.count && ret.partial.is_none() {
        let mut kept = Vec::new();
        if ret.min {
            kept.extend(uids.first());
        }
        if ret.max {
            kept.extend(uids.last());
        }
        kept.sort_unstable();
        kept.dedup();
        kept
    } else {
        let mut all = uids.to_vec();
        all.sort_unstable();
        all
    }
}

/// Nothing but SAVE asked for: no ESEARCH response (RFC 5182 §2.1).
fn only_save(ret: &SearchReturn) -> bool {
    ret.save && !(ret.min || ret.max || ret.all || ret.count || ret.update || ret.partial.is_some())
}

impl<S: Storage> Session<S> {
    /// An extended SEARCH, or with `sort` an extended SORT (RFC 5267 §3): the ESEARCH items
    /// over the result in the requested order, SAVE, and UPDATE's live context.
    pub(super) fn extended_search(
        &mut self,
        tag: &str,
        uid: bool,
        key: &SearchKey,
        sort: Option<&[SortCriterion]>,
        ret: SearchReturn,
        out: &mut Output,
    ) -> Done {
        if ret.update {
            if let Some(refused) = self.update_tag_in_use(tag) {
                return refused;
            }
        }
        if super::condstore::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let found: Result<Vec<u32>, _> = match sort {
            None => self
                .matching(key)
                .map(|hits| hits.into_iter().map(|(_, u)| u).collect()),
            Some(criteria) => self
                .sort_inputs(key, true)
                .map(|msgs| crate::sort::sort(&msgs, criteria)),
        };
        let modseq = found.as_ref().ok().and_then(|uids| {
            let sel = self.selected.as_ref()?;
            let hits: Vec<(u32, u32)> = uids
                .iter()
                .filter_map(|&u| sel.seq_of(u).map(|s| (s, u)))
                .collect();
            self.esearch_modseq(key, &ret, &hits)
        });
        let Some(sel) = self.selected.as_mut() else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        let uids: Vec<u32> = match found {
            Ok(uids) => uids,
            Err(e) => {
                // A failed SEARCH ... SAVE leaves `$` empty (RFC 5182 §2.1).
                if ret.save {
                    sel.saved.clear();
                }
                return Done::reply(failed(tag, &e));
            }
        };
        if ret.save {
            sel.saved = to_save(&ret, &uids);
        }
        if !only_save(&ret) {
            let nums: Vec<u32> = if uid {
                uids.clone()
            } else {
                uids.iter().filter_map(|&u| sel.seq_of(u)).collect()
            };
            out.push(Response::Data(Data::Esearch(Esearch {
                tag: Some(tag.to_owned()),
                uid,
                items: items(&ret, &nums)
                    .into_iter()
                    .chain(modseq.map(EsearchItem::ModSeq))
                    .collect(),
            })));
        }
        if ret.update {
            self.keep_context(tag, uid, key, sort, uids, out);
        }
        Done::reply(Response::ok(
            tag,
            if sort.is_some() {
                "Sort completed"
            } else {
                "Search completed"
            },
        ))
    }

    /// The command with `$` replaced by the saved result: UIDs in UID commands and in SEARCH
    /// keys, the client's sequence numbers of those messages otherwise. Messages expunged
    /// since are no longer named.
    pub(super) fn with_saved_result(&self, cmd: Command) -> Command {
        let Some(sel) = self.selected.as_ref() else {
            return cmd;
        };
        let uids: Vec<u32> = sel
            .saved
            .iter()
            .copied()
            .filter(|&u| sel.seq_of(u).is_some())
            .collect();
        let by_uid = || exact_set(&uids);
        let by_seq = || {
            let seqs: Vec<u32> = uids.iter().filter_map(|&u| sel.seq_of(u)).collect();
            exact_set(&seqs)
        };
        let set = |set: SeqSet, uid: bool| match (set.is_saved(), uid) {
            (false, _) => set,
            (true, true) => by_uid(),
            (true, false) => by_seq(),
        };
        use Command as C;
        let mut cmd = cmd;
        if let C::Search { key, .. } | C::Sort { key, .. } | C::Thread { key, .. } = &mut cmd {
            let named = std::mem::replace(key, SearchKey::All);
            *key = key_with_saved(named, &by_uid());
            return cmd;
        }
        match cmd {
            C::Fetch { uid, set: s, atts } => C::Fetch {
                uid,
                set: set(s, uid),
                atts,
            },
            C::Store {
                uid,
                set: s,
                op,
                silent,
                flags,
            } => C::Store {
                uid,
                set: set(s, uid),
                op,
                silent,
                flags,
            },
            C::Copy {
                uid,
                set: s,
                mailbox,
            } => C::Copy {
                uid,
                set: set(s, uid),
                mailbox,
            },
            C::Move {
                uid,
                set: s,
                mailbox,
            } => C::Move {
                uid,
                set: set(s, uid),
                mailbox,
            },
            C::UidExpunge(s) => C::UidExpunge(set(s, true)),
            other => other,
        }
    }
}
