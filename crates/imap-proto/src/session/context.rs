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

use std::collections::{HashMap, HashSet};

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
    evaluated: HashMap<u32, (FlagSet, bool)>,
}

impl Contexts {
    fn has(&self, tag: &str) -> bool {
        self.live.iter().any(|c| c.tag == tag)
    }
}

/// (position, UIDs) runs taking `old` to `new`, both in the requested order and with the
/// kept UIDs in the same relative order: the removals, then the additions. `positioned`
/// false (SEARCH): one run each at position 0, ascending.
type Runs = Vec<(u32, Vec<u32>)>;

fn diff(old: &[u32], new: &[u32], positioned: bool) -> (Runs, Runs) {
    let old_set: HashSet<u32> = old.iter().copied().collect();
    let new_set: HashSet<u32> = new.iter().copied().collect();
    if !positioned {
        let gone: Vec<u32> = old
            .iter()
            .copied()
            .filter(|u| !new_set.contains(u))
            .collect();
        let came: Vec<u32> = new
            .iter()
            .copied()
            .filter(|u| !old_set.contains(u))
            .collect();
        let run = |v: Vec<u32>| {
            if v.is_empty() {
                Vec::new()
            } else {
                vec![(0, v)]
            }
        };
        return (run(gone), run(came));
    }
    // A removal at position p takes the run starting there (RFC 5267 §4.3.4); earlier
    // removals have already shifted it forward.
    let removals = runs(
        old,
        |u| !new_set.contains(&u),
        |i, removed| i as u32 - removed + 1,
    );
    // An addition at position p puts the run's first there (§4.3.3); processed in order,
    // everything before it is in place.
    let additions = runs(new, |u| !old_set.contains(&u), |j, _| j as u32 + 1);
    (removals, additions)
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
    let mut live = std::mem::take(&mut sel.contexts.live);
    for c in &mut live {
        let kept: Vec<u32> = c
            .result
            .iter()
            .copied()
            .filter(|&u| in_store(snap, u))
            .collect();
        if kept.len() == c.result.len() {
            continue;
        }
        let (removals, _) = diff(&c.result, &kept, c.sort.is_some());
        out.extend(notice(c, sel, removals, Vec::new()));
        c.result = kept;
    }
    sel.contexts.live = live;
}

fn in_store(snap: &Snapshot, uid: u32) -> bool {
    snap.messages.binary_search_by_key(&uid, |m| m.uid).is_ok()
}

/// What a search can see change in the view's messages (the store still has them).
fn view_state<M>(sel: &Selected<M>, snap: Option<&Snapshot>) -> HashMap<u32, (FlagSet, bool)> {
    sel.all()
        .filter(|&(_, u, _)| snap.is_none_or(|s| in_store(s, u)))
        .map(|(_, u, f)| (u, (f, sel.is_recent(u))))
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
        let changed: HashSet<u32> = state
            .iter()
            .filter(|&(u, s)| sel.contexts.evaluated.get(u) != Some(s))
            .map(|(&u, _)| u)
            .collect();
        let mut live = std::mem::take(&mut sel.contexts.live);
        let mut complete = true;
        for c in &mut live {
            let now = if changed.is_empty() {
                Ok(None)
            } else {
                self.evaluate(c, &changed, &state)
            };
            let now = match now {
                Ok(Some(now)) => now,
                Ok(None) => {
                    // Nothing to search again; only what the store lost (a message still
                    // in the view until its EXPUNGE) leaves the result.
                    c.result
                        .iter()
                        .copied()
                        .filter(|u| state.contains_key(u))
                        .collect()
                }
                Err(_) => {
                    complete = false;
                    continue;
                }
            };
            if now == c.result {
                continue;
            }
            let (removals, additions) = diff(&c.result, &now, c.sort.is_some());
            if let Some(sel) = self.selected.as_ref() {
                out.extend(notice(c, sel, removals, additions));
            }
            c.result = now;
        }
        if let Some(sel) = self.selected.as_mut() {
            sel.contexts.live = live;
            if complete {
                sel.contexts.evaluated = state;
            }
        }
    }

    /// The context's result with the `changed` messages searched again: UIDs in the
    /// requested order.
    fn evaluate(
        &mut self,
        c: &Live,
        changed: &HashSet<u32>,
        state: &HashMap<u32, (FlagSet, bool)>,
    ) -> Result<Option<Vec<u32>>, super::Failure> {
        let matched: HashSet<u32> = self
            .matching_among(&c.key, Some(changed))?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        let old: HashSet<u32> = c.result.iter().copied().collect();
        let kept = c
            .result
            .iter()
            .copied()
            .filter(|u| state.contains_key(u) && (!changed.contains(u) || matched.contains(u)));
        let mut added: Vec<u32> = matched
            .iter()
            .copied()
            .filter(|u| !old.contains(u))
            .collect();
        let Some(criteria) = &c.sort else {
            let mut now: Vec<u32> = kept.chain(added).collect();
            now.sort_unstable();
            return Ok(Some(now));
        };
        if added.is_empty() {
            return Ok(Some(kept.collect()));
        }
        // New members: the whole result sorted again (the kept ones keep their order, sort
        // keys never change), from the facts the store keeps.
        let mut all: Vec<u32> = kept.collect();
        all.append(&mut added);
        let Some(sel) = self.selected.as_ref() else {
            return Ok(None);
        };
        let mut hits: Vec<(u32, u32)> = all
            .iter()
            .filter_map(|&u| sel.seq_of(u).map(|s| (s, u)))
            .collect();
        hits.sort_unstable();
        let msgs = self.inputs_of(hits, true)?;
        Ok(Some(crate::sort::sort(&msgs, criteria)))
    }
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn search_diff_is_unpositioned_and_ascending() {
        assert_eq!(
            diff(&[1, 2, 4], &[2, 3, 4, 9], false),
            (vec![(0, vec![1])], vec![(0, vec![3, 9])])
        );
        assert_eq!(diff(&[1, 2], &[1, 2], false), (vec![], vec![]));
    }

    #[test]
    fn sort_diff_positions_follow_rfc_5267() {
        // §4.3.3: 2734:2735 becoming 2731:2735 is one run at position 1.
        assert_eq!(
            diff(&[2734, 2735], &[2731, 2732, 2733, 2734, 2735], true),
            (vec![], vec![(1, vec![2731, 2732, 2733])])
        );
        // Removals: each run at its position after the earlier runs are gone.
        assert_eq!(
            diff(&[5, 9, 7, 3, 8, 1], &[5, 3, 1], true),
            (vec![(2, vec![9, 7]), (3, vec![8])], vec![])
        );
        // Both: the kept ones stay in order, new ones go where the sort puts them.
        assert_eq!(
            diff(&[10, 20, 30], &[15, 10, 30, 40, 45], true),
            (vec![(2, vec![20])], vec![(1, vec![15]), (4, vec![40, 45])])
        );
    }
}
