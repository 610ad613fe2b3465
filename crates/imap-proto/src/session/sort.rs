//! SORT and THREAD (RFC 5256): the matching messages, their facts from the store, and the
//! ordering from [`crate::sort`]; RFC 5267's extended SORT (ESORT, PARTIAL, UPDATE) answers
//! with ESEARCH.

use super::dispatch::Done;
use super::{failed, Failure, Output, Session, Storage};
use crate::response::{Data, Response};
use crate::sort::{SortCriterion, SortInput, ThreadAlgorithm};
use crate::types::{SearchKey, SearchReturn};

impl<S: Storage> Session<S> {
    /// The messages matching `key`, with their facts; `uid` picks the number reported.
    pub(super) fn sort_inputs(
        &mut self,
        key: &SearchKey,
        uid: bool,
    ) -> Result<Vec<SortInput>, Failure> {
        let hits = self.matching(key)?;
        self.inputs_of(hits, uid)
    }

    /// The facts of these (sequence number, UID) messages; `uid` picks the number reported.
    pub(super) fn inputs_of(
        &mut self,
        hits: Vec<(u32, u32)>,
        uid: bool,
    ) -> Result<Vec<SortInput>, Failure> {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_ref()) else {
            return Ok(Vec::new());
        };
        let uids: Vec<u32> = hits.iter().map(|&(_, u)| u).collect();
        let facts = store.sort_facts(&sel.mb, &uids)?;
        Ok(hits
            .into_iter()
            .zip(facts)
            // Expunged by another session meanwhile: left out.
            .filter_map(|((seq, u), f)| {
                Some(SortInput {
                    seq,
                    id: if uid { u } else { seq },
                    facts: f?,
                })
            })
            .collect())
    }

    pub(super) fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[SortCriterion],
        key: &SearchKey,
        ret: Option<SearchReturn>,
        out: &mut Output,
    ) -> Done {
        let Some(ret) = ret else {
            return match self.sort_inputs(key, uid) {
                Ok(msgs) => {
                    let ids = crate::sort::sort(&msgs, criteria);
                    out.push(Response::Data(Data::Sort(ids)));
                    Done::reply(Response::ok(tag, "Sort completed"))
                }
                Err(e) => Done::reply(failed(tag, &e)),
            };
        };
        self.extended_search(tag, uid, key, Some(criteria), ret, out)
    }

    pub(super) fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: ThreadAlgorithm,
        key: &SearchKey,
        out: &mut Output,
    ) -> Done {
        match self.sort_inputs(key, uid) {
            Ok(msgs) => {
                let threads = crate::sort::thread(&msgs, algorithm);
                out.push(Response::Data(Data::Thread(threads)));
                Done::reply(Response::ok(tag, "Thread completed"))
            }
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }
}
