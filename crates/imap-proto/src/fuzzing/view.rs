//! What one fuzzed client has been told about its selected mailbox, and the invariants every
//! untagged response must keep against it: sequence numbers within the EXISTS count, a
//! sequence number's UID never changing, UIDs ascending, VANISHED and live search updates
//! naming only messages the client knows, MODSEQ and HIGHESTMODSEQ never going down, and no
//! EXPUNGE once QRESYNC is enabled (RFC 7162 §3.2.10).

use std::collections::{HashMap, HashSet};

use crate::response::{Code, Data, EsearchItem, FetchItem, Response, Status};

/// The selected mailbox as the client knows it.
#[derive(Default, Clone, Debug)]
pub(super) struct View {
    /// One entry per message announced by EXISTS: its UID once a FETCH told it.
    uids: Vec<Option<u32>>,
    /// UIDs reported gone (EXPUNGE after a FETCH told the UID, or VANISHED).
    gone: HashSet<u32>,
    /// The highest MODSEQ told per UID.
    modseq: HashMap<u32, u64>,
    highest_modseq: Option<u64>,
}

impl View {
    pub(super) fn exists(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }

    /// Whether `seq` names a message the client was told of.
    fn known(&self, seq: u32) -> bool {
        seq >= 1 && seq <= self.exists()
    }

    /// The known UIDs of the messages around position `at`, for an ascending-UID check.
    fn neighbours(&self, at: usize) -> (Option<u32>, Option<u32>) {
        let below = self.uids.get(..at).unwrap_or_default();
        let above = self.uids.get(at + 1..).unwrap_or_default();
        (
            below.iter().rev().find_map(|u| *u),
            above.iter().find_map(|u| *u),
        )
    }

    fn exists_now(&mut self, n: u32) {
        let old = self.exists();
        assert!(n >= old, "EXISTS shrank from {old} to {n} without EXPUNGE");
        self.uids.resize(n as usize, None);
    }

    fn expunge(&mut self, n: u32) {
        let told = self.exists();
        assert!(self.known(n), "EXPUNGE {n} with EXISTS {told}");
        if let Some(Some(uid)) = self.uids.get(n as usize - 1) {
            self.gone.insert(*uid);
        }
        self.uids.remove(n as usize - 1);
    }

    fn vanished(&mut self, uids: &[u32]) {
        let told = self.exists();
        let count = u32::try_from(uids.len()).unwrap_or(u32::MAX);
        assert!(count <= told, "VANISHED {count} UIDs with EXISTS {told}");
        let mut unknown = 0;
        for uid in uids {
            assert!(
                self.gone.insert(*uid),
                "VANISHED {uid} twice in one session"
            );
            if let Some(at) = self.uids.iter().position(|u| *u == Some(*uid)) {
                self.uids.remove(at);
                continue;
            }
            // A message whose UID was never fetched: it must fit between the known UIDs
            // around some message whose UID is unknown.
            let fits = (0..self.uids.len()).any(|at| {
                let (below, above) = self.neighbours(at);
                self.uids.get(at) == Some(&None)
                    && below.is_none_or(|b| b < *uid)
                    && above.is_none_or(|a| a > *uid)
            });
            assert!(fits, "VANISHED {uid}, a UID the client cannot know");
            unknown += 1;
        }
        if unknown > 0 {
            // Which unknown-UID message went is not said: forget the positions, keep the count.
            let left = self.uids.len().saturating_sub(unknown);
            self.uids = vec![None; left];
        }
    }

    fn fetch(&mut self, seq: u32, items: &[FetchItem]) {
        let told = self.exists();
        assert!(self.known(seq), "FETCH {seq} with EXISTS {told}");
        let at = seq as usize - 1;
        let uid = items.iter().find_map(|i| match i {
            FetchItem::Uid(u) => Some(*u),
            _ => None,
        });
        if let Some(uid) = uid {
            let before = self.uids.get(at).copied().flatten();
            assert!(
                before.is_none_or(|b| b == uid),
                "FETCH {seq} says UID {uid}, earlier {before:?}"
            );
            assert!(
                !self.gone.contains(&uid),
                "FETCH of UID {uid}, already gone"
            );
            let (below, above) = self.neighbours(at);
            assert!(
                below.is_none_or(|b| b < uid) && above.is_none_or(|a| a > uid),
                "FETCH {seq} UID {uid} out of order ({below:?}, {above:?})"
            );
            if let Some(slot) = self.uids.get_mut(at) {
                *slot = Some(uid);
            }
        }
        let modseq = items.iter().find_map(|i| match i {
            FetchItem::ModSeq(m) => Some(*m),
            _ => None,
        });
        if let (Some(m), Some(uid)) = (modseq, self.uids.get(at).copied().flatten()) {
            let old = self.modseq.insert(uid, m).unwrap_or(0);
            assert!(m >= old, "MODSEQ of UID {uid} went from {old} to {m}");
        }
    }

    fn highest(&mut self, m: u64) {
        let old = self.highest_modseq.unwrap_or(0);
        assert!(m >= old, "HIGHESTMODSEQ went from {old} to {m}");
        self.highest_modseq = Some(m);
    }
}

/// One client's knowledge across the session: the view of its selected mailbox (None
/// outside the selected state) and what it enabled.
#[derive(Default, Clone, Debug)]
pub(super) struct Knowledge {
    pub(super) view: Option<View>,
    qresync: bool,
}

impl Knowledge {
    /// Applies untagged data to the tracked view, asserting the invariants.
    pub(super) fn observe(&mut self, responses: &[Response]) {
        for r in responses {
            let d = match r {
                Response::Data(d) => d,
                Response::Status(Status {
                    tag: None,
                    code: Some(Code::HighestModSeq(m)),
                    ..
                }) => {
                    if let Some(v) = self.view.as_mut() {
                        v.highest(*m);
                    }
                    continue;
                }
                _ => continue,
            };
            let v = self.view.get_or_insert_with(View::default);
            match d {
                Data::Enabled(caps) => {
                    self.qresync |= caps.iter().any(|c| c.eq_ignore_ascii_case("QRESYNC"));
                }
                Data::Exists(n) => v.exists_now(*n),
                Data::Expunge(n) => {
                    assert!(!self.qresync, "EXPUNGE {n} after ENABLE QRESYNC");
                    v.expunge(*n);
                }
                // VANISHED (EARLIER) is about messages the client never had in this session.
                Data::Vanished {
                    earlier: false,
                    uids,
                } => v.vanished(uids),
                Data::Fetch { seq, items } => v.fetch(*seq, items),
                // Live search updates in sequence numbers name messages the client knows of.
                Data::Esearch(e) if !e.uid => {
                    for item in &e.items {
                        let (EsearchItem::AddTo(runs) | EsearchItem::RemoveFrom(runs)) = item
                        else {
                            continue;
                        };
                        for n in runs.iter().flat_map(|(_, nums)| nums) {
                            assert!(v.known(*n), "{item:?} with EXISTS {}", v.exists());
                        }
                    }
                }
                // A UID update never adds a message the client was told is gone.
                Data::Esearch(e) => {
                    for item in &e.items {
                        let EsearchItem::AddTo(runs) = item else {
                            continue;
                        };
                        for uid in runs.iter().flat_map(|(_, nums)| nums) {
                            assert!(!v.gone.contains(uid), "{item:?}: UID {uid} is gone");
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
