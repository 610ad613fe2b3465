//! RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: a SEARCH or SORT with `RETURN (UPDATE)` stays
//! live while its mailbox is selected, and the client is told how its result changes — an
//! `ESEARCH (TAG "t")` with REMOVEFROM and ADDTO — wherever untagged updates are sent (after
//! commands, in IDLE, on NOOP), until CANCELUPDATE.
//!
//! A live result is kept as UIDs in the requested order: mailbox order for SEARCH (positions
//! are then 0, as Dovecot sends them), the sort order for SORT (positions are where the runs
//! go). Sequence numbers in the search program are turned into UIDs when the context is made:
//! RFC 5267 §4.3 evaluates them once. Removals of expunged messages are sent before the
//! EXPUNGE, while their sequence numbers are still valid; the rest once the view has taken in
//! the changes, so new messages come after their EXISTS. Each re-evaluation runs the one
//! `matching()` of SEARCH, SORT and THREAD.

use std::collections::HashSet;

use super::dispatch::Done;
use super::esearch::exact_set;
use super::selected::Selected;
use super::{FlagSet, Output, Session, Snapshot, Storage};
use crate::response::{Code, Data, Esearch, EsearchItem, Kind, Response, Status};
use crate::sort::SortCriterion;
use crate::types::{SearchKey, SeqNum, SeqSet};

/// One searching command kept up to date.
struct Live {
    tag: String,
    uid: bool,
    key: SearchKey,
    /// None: SEARCH (mailbox order).
    sort: Option<Vec<SortCriterion>>,
    /// UIDs in the requested order.
    result: Vec<u32>,
}

/// The live contexts of the selected mailbox.
#[derive(Default)]
pub(crate) struct Contexts {
    live: Vec<Live>,
    /// (flags, \Recent) of each message when the results were last brought up to date:
    /// only messages that differ from it, or are new, are searched again (RFC 5267
    /// appendix B), so a content search is not run over the whole mailbox after every change.
    evaluated: Vec<Seen>,
}

/// A message as a search saw it: UID, flags, \Recent. Lists of them are in UID order.
type Seen = (u32, FlagSet, bool);

impl Contexts {
    fn has(&self, tag: &str) -> bool {
        self.live.iter().any(|c| c.tag == tag)
    }
}

/// (position, UIDs) pairs of ADDTO or REMOVEFROM.
type Runs = Vec<(u32, Vec<u32>)>;

/// REMOVEFROM runs taking `picked` (ascending UIDs) out of `result` (in the requested order):
/// positioned (SORT) or one run at 0 in mailbox order (SEARCH).
fn removal_runs(result: &[u32], picked: &[u32], positioned: bool) -> Runs {
    let is_picked = |u: u32| picked.binary_search(&u).is_ok();
    if positioned {
        // A removal at position p takes the run starting there (RFC 5267 §4.3.4); earlier
        // removals have already shifted it forward.
        return runs(result, is_picked, |i, removed| i as u32 - removed + 1);
    }
    one_run(result.iter().copied().filter(|&u| is_picked(u)).collect())
}

/// ADDTO runs for `picked` (ascending UIDs) as they sit in the new `result`.
fn addition_runs(result: &[u32], picked: &[u32], positioned: bool) -> Runs {
    if positioned {
        // An addition at position p puts the run's first there (§4.3.3); processed in
        // order, everything before it is in place.
        return runs(
            result,
            |u| picked.binary_search(&u).is_ok(),
            |j, _| j as u32 + 1,
        );
    }
    one_run(picked.to_vec())
}

fn one_run(uids: Vec<u32>) -> Runs {
    if uids.is_empty() {
        Vec::new()
    } else {
        vec![(0, uids)]
    }
}

/// The runs of consecutive entries of `list` that `pick` selects, each at the position
/// `at(index, entries picked before)`.
fn runs(list: &[u32], pick: impl Fn(u32) -> bool, at: impl Fn(usize, u32) -> u32) -> Runs {
    let mut runs: Runs = Vec::new();
    let mut picked = 0u32;
    let mut last: Option<usize> = None;
    for (i, &u) in list.iter().enumerate() {
        if !pick(u) {
            continue;
        }
        match runs.last_mut() {
            Some((_, run)) if last.is_some_and(|l| l + 1 == i) => run.push(u),
            _ => runs.push((at(i, picked), vec![u])),
        }
        last = Some(i);
        picked += 1;
    }
    runs
}

/// The ESEARCH line for a context's changes, numbers as the client asked for them; None
/// when nothing changed.
fn notice<M>(c: &Live, sel: &Selected<M>, removals: Runs, additions: Runs) -> Option<Response> {
    let numbers = |runs: Runs| -> Runs {
        runs.into_iter()
            .map(|(pos, uids)| {
                let nums = if c.uid {
                    uids
                } else {
                    uids.iter().filter_map(|&u| sel.seq_of(u)).collect()
                };
                (pos, nums)
            })
            .filter(|(_, nums)| !nums.is_empty())
            .collect()
    };
    let mut items = Vec::new();
    let removals = numbers(removals);
    if !removals.is_empty() {
        items.push(EsearchItem::RemoveFrom(removals));
    }
    let additions = numbers(additions);
    if !additions.is_empty() {
        items.push(EsearchItem::AddTo(additions));
    }
    (!items.is_empty()).then(|| {
        Response::Data(Data::Esearch(Esearch {
            tag: Some(c.tag.clone()),
            uid: c.uid,
            items,
        }))
    })
}

/// The search program with its sequence numbers as the UIDs they name now.
fn key_by_uid<M>(key: &SearchKey, sel: &Selected<M>) -> SearchKey {
    use SearchKey as K;
    match key {
        K::SeqSet(s) => {
            // As SEARCH reads a set: numbers beyond the last message name nothing.
            let exists = sel.exists();
            let uids: Vec<u32> = sel
                .all()
                .filter(|&(seq, _, _)| s.contains(seq, exists))
                .map(|(_, u, _)| u)
                .collect();
            K::Uid(if uids.is_empty() {
                // No message: a UID that is never given out.
                SeqSet(vec![(SeqNum::Value(0), SeqNum::Value(0))])
            } else {
                exact_set(&uids)
            })
        }
        K::Not(k) => K::Not(Box::new(key_by_uid(k, sel))),
        K::Or(a, b) => K::Or(Box::new(key_by_uid(a, sel)), Box::new(key_by_uid(b, sel))),
        K::And(ks) => K::And(ks.iter().map(|k| key_by_uid(k, sel)).collect()),
        other => other.clone(),
    }
}

/// Before the view takes in a snapshot: REMOVEFROM for the results the store no longer has,
/// numbered as the client still numbers them (the EXPUNGE comes after).
pub(crate) fn drop_expunged<M>(sel: &mut Selected<M>, snap: &Snapshot, out: &mut Output) {
    if sel.contexts.live.is_empty() {
        return;
    }
    // Both lists are in UID order: one walk finds what the store lost.
    let mut gone = Vec::new();
    let mut store = snap.messages.iter().map(|m| m.uid).peekable();
    for (_, u, _) in sel.all() {
        while store.next_if(|&s| s < u).is_some() {}
        if store.next_if_eq(&u).is_none() {
            gone.push(u);
        }
    }
    if gone.is_empty() {
        return;
    }
    let mut live = std::mem::take(&mut sel.contexts.live);
    for c in &mut live {
        let removals = removal_runs(&c.result, &gone, c.sort.is_some());
        if removals.is_empty() {
            continue;
        }
        out.extend(notice(c, sel, removals, Vec::new()));
        c.result.retain(|u| gone.binary_search(u).is_err());
    }
    sel.contexts.live = live;
}

/// The view's messages as a search sees them, those the store no longer has left out.
fn view_state<M>(sel: &Selected<M>, snap: Option<&Snapshot>) -> Vec<Seen> {
    let mut store = snap.map(|s| s.messages.iter().map(|m| m.uid).peekable());
    sel.all()
        .filter(|&(_, u, _)| {
            store.as_mut().is_none_or(|st| {
                while st.next_if(|&s| s < u).is_some() {}
                st.next_if_eq(&u).is_some()
            })
        })
        .map(|(_, u, f)| (u, f, sel.is_recent(u)))
        .collect()
}

/// The UIDs whose state differs from (or is missing in) what was evaluated; both in UID
/// order.
fn changed_since(state: &[Seen], evaluated: &[Seen]) -> Vec<u32> {
    let mut before = evaluated.iter().peekable();
    state
        .iter()
        .filter(|now| {
            while before.next_if(|b| b.0 < now.0).is_some() {}
            before.next_if(|b| b.0 == now.0).is_none_or(|b| b != *now)
        })
        .map(|s| s.0)
        .collect()
}

impl<S: Storage> Session<S> {
    /// BAD for a second UPDATE under a tag already live (RFC 5267 §4.3).
    pub(super) fn update_tag_in_use(&self, tag: &str) -> Option<Done> {
        let sel = self.selected.as_ref()?;
        sel.contexts
            .has(tag)
            .then(|| Done::reply(Response::bad(tag, "Tag reuse: updates already requested")))
    }

    /// Keeps the searching command `tag` live with its result (UIDs in the requested order),
    /// or refuses with `NO [NOUPDATE]` beyond the session's limit (its other results stand).
    pub(super) fn keep_context(
        &mut self,
        tag: &str,
        uid: bool,
        key: &SearchKey,
        sort: Option<&[SortCriterion]>,
        result: Vec<u32>,
        out: &mut Output,
    ) {
        let limit = self.policy.max_search_updates;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        if sel.contexts.live.len() >= limit {
            out.push(Response::Status(Status::untagged(
                Kind::No,
                Some(Code::NoUpdate(tag.to_owned())),
                "Too many updating searches; CANCELUPDATE one first",
            )));
            return;
        }
        let key = key_by_uid(key, sel);
        if sel.contexts.live.is_empty() {
            // Live results are always up to date with the view at the end of a command.
            sel.contexts.evaluated = view_state(sel, None);
        }
        sel.contexts.live.push(Live {
            tag: tag.to_owned(),
            uid,
            key,
            sort: sort.map(<[SortCriterion]>::to_vec),
            result,
        });
    }

    pub(super) fn cancel_update(&mut self, tag: &str, tags: &[String]) -> Done {
        let Some(sel) = self.selected.as_mut() else {
            return Done::reply(Response::bad(tag, "No mailbox selected"));
        };
        if let Some(unknown) = tags.iter().find(|t| !sel.contexts.has(t)) {
            return Done::reply(Response::no(
                tag,
                None,
                format!("No updates requested under tag {unknown}"),
            ));
        }
        sel.contexts.live.retain(|c| !tags.contains(&c.tag));
        Done::reply(Response::ok(tag, "Updates cancelled"))
    }

    /// After the view has taken in `snap`: each live result brought up to date over the
    /// messages that changed or are new, and what changed reported. When an evaluation
    /// fails, those messages are looked at again the next time.
    pub(super) fn context_updates(&mut self, snap: &Snapshot, out: &mut Output) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        if sel.contexts.live.is_empty() {
            return;
        }
        let state = view_state(sel, Some(snap));
        let changed = changed_since(&state, &sel.contexts.evaluated);
        if changed.is_empty() {
            sel.contexts.evaluated = state;
            return;
        }
        let among: HashSet<u32> = changed.iter().copied().collect();
        let mut live = std::mem::take(&mut sel.contexts.live);
        let mut complete = true;
        for c in &mut live {
            match self.evaluate(c, &changed, &among) {
                Ok(Some((removals, additions))) => {
                    if let Some(sel) = self.selected.as_ref() {
                        out.extend(notice(c, sel, removals, additions));
                    }
                }
                Ok(None) => {}
                Err(_) => complete = false,
            }
        }
        if let Some(sel) = self.selected.as_mut() {
            sel.contexts.live = live;
            if complete {
                sel.contexts.evaluated = state;
            }
        }
    }

    /// Searches the `changed` messages (ascending UIDs; `among` the same as a set) again
    /// for the context, updates its result and returns the REMOVEFROM and ADDTO runs;
    /// None when the result stays as it was.
    fn evaluate(
        &mut self,
        c: &mut Live,
        changed: &[u32],
        among: &HashSet<u32>,
    ) -> Result<Option<(Runs, Runs)>, super::Failure> {
        // Ascending, as the view is.
        let matched: Vec<u32> = self
            .matching_among(&c.key, Some(among))?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        let members = match &c.sort {
            None => std::borrow::Cow::Borrowed(&c.result),
            Some(_) => {
                let mut m = c.result.clone();
                m.sort_unstable();
                std::borrow::Cow::Owned(m)
            }
        };
        let is_member = |u: &u32| members.binary_search(u).is_ok();
        let removed: Vec<u32> = changed
            .iter()
            .copied()
            .filter(|u| is_member(u) && matched.binary_search(u).is_err())
            .collect();
        let added: Vec<u32> = matched.iter().copied().filter(|u| !is_member(u)).collect();
        if removed.is_empty() && added.is_empty() {
            return Ok(None);
        }
        let positioned = c.sort.is_some();
        let removals = removal_runs(&c.result, &removed, positioned);
        let mut now: Vec<u32> = c
            .result
            .iter()
            .copied()
            .filter(|u| removed.binary_search(u).is_err())
            .collect();
        if !added.is_empty() {
            now.extend_from_slice(&added);
            match &c.sort {
                None => now.sort_unstable(),
                Some(criteria) => {
                    // The whole result sorted again (the kept ones keep their order: sort
                    // keys never change), from the facts the store keeps.
                    let Some(sel) = self.selected.as_ref() else {
                        return Ok(None);
                    };
                    let mut hits: Vec<(u32, u32)> = now
                        .iter()
                        .filter_map(|&u| sel.seq_of(u).map(|s| (s, u)))
                        .collect();
                    hits.sort_unstable();
                    let msgs = self.inputs_of(hits, true)?;
                    now = crate::sort::sort(&msgs, criteria);
                }
            }
        }
        let additions = addition_runs(&now, &added, positioned);
        c.result = now;
        Ok(Some((removals, additions)))
    }
}

#[cfg(test)]
mod tests {
    use super::{addition_runs, changed_since, removal_runs, FlagSet};

    #[test]
    fn search_runs_are_unpositioned_and_ascending() {
        assert_eq!(
            removal_runs(&[1, 2, 4, 7], &[2, 3, 7], false),
            [(0, vec![2, 7])]
        );
        assert_eq!(addition_runs(&[1, 3, 9], &[3, 9], false), [(0, vec![3, 9])]);
        assert_eq!(removal_runs(&[1, 2], &[5], false), []);
    }

    #[test]
    fn sort_runs_follow_rfc_5267() {
        // §4.3.3: 2734:2735 becoming 2731:2735 is one run at position 1.
        assert_eq!(
            addition_runs(&[2731, 2732, 2733, 2734, 2735], &[2731, 2732, 2733], true),
            [(1, vec![2731, 2732, 2733])]
        );
        // Removals: each run at its position once the earlier runs are gone.
        assert_eq!(
            removal_runs(&[5, 9, 7, 3, 8, 1], &[7, 8, 9], true),
            [(2, vec![9, 7]), (3, vec![8])]
        );
        // Additions where the sort put them, runs kept in sort order.
        assert_eq!(
            addition_runs(&[15, 10, 30, 45, 40], &[15, 40, 45], true),
            [(1, vec![15]), (4, vec![45, 40])]
        );
    }

    #[test]
    fn changed_messages_are_found_by_one_walk() {
        let f = |system| FlagSet {
            system,
            keywords: 0,
        };
        let before = [(1, f(0), true), (2, f(1), false), (4, f(0), false)];
        let now = [
            (1, f(0), false),
            (2, f(1), false),
            (3, f(0), false),
            (4, f(0), false),
            (6, f(2), true),
        ];
        assert_eq!(changed_since(&now, &before), [1, 3, 6]);
        assert_eq!(changed_since(&now, &now), Vec::<u32>::new());
    }
}
