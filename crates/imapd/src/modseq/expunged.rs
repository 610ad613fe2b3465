//! The expunged UIDs a mod-sequence log remembers, as runs of consecutive UIDs each with
//! the mod-sequence of its expunge: memory grows with the number of runs, not of messages
//! ever expunged (a mailbox emptied every day is one run per day at most).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub(super) struct Expunged {
    /// First UID of a run → (last UID, mod-sequence). Runs never overlap.
    runs: BTreeMap<u32, (u32, u64)>,
}

impl Expunged {
    pub fn contains(&self, uid: u32) -> bool {
        self.runs
            .range(..=uid)
            .next_back()
            .is_some_and(|(_, (hi, _))| *hi >= uid)
    }

    /// Takes `lo..=hi` out of every run (a UID recorded again, or expunged again).
    pub fn remove(&mut self, lo: u32, hi: u32) {
        let overlapping: Vec<(u32, (u32, u64))> = self
            .runs
            .range(..=hi)
            .rev()
            .take_while(|(_, (end, _))| *end >= lo)
            .map(|(start, run)| (*start, *run))
            .collect();
        for (start, (end, m)) in overlapping {
            self.runs.remove(&start);
            if start < lo {
                self.runs.insert(start, (lo - 1, m));
            }
            if end > hi {
                self.runs.insert(hi + 1, (end, m));
            }
        }
    }

    /// `lo..=hi` expunged at `m`, joined to a neighbouring run of the same mod-sequence.
    pub fn insert(&mut self, lo: u32, hi: u32, m: u64) {
        self.remove(lo, hi);
        let (mut lo, mut hi) = (lo, hi);
        if let Some((&start, &(end, prev))) = self.runs.range(..lo).next_back() {
            if end.checked_add(1) == Some(lo) && prev == m {
                self.runs.remove(&start);
                lo = start;
            }
        }
        if let Some(next) = hi.checked_add(1) {
            if let Some(&(end, _)) = self.runs.get(&next).filter(|r| r.1 == m) {
                self.runs.remove(&next);
                hi = end;
            }
        }
        self.runs.insert(lo, (hi, m));
    }

    /// UIDs expunged after `since`, ascending.
    pub fn since(&self, since: u64) -> Vec<u32> {
        self.runs
            .iter()
            .filter(|(_, (_, m))| *m > since)
            .flat_map(|(lo, (hi, _))| *lo..=*hi)
            .collect()
    }

    /// Runs of consecutive UIDs, touching runs merged at the newest of their mod-sequences
    /// (what compaction writes: an expunge may then look newer than it is, never older).
    pub fn merged(&self) -> Vec<(u32, u32, u64)> {
        let mut out: Vec<(u32, u32, u64)> = Vec::new();
        for (&lo, &(hi, m)) in &self.runs {
            match out.last_mut() {
                Some((_, end, newest)) if end.checked_add(1) == Some(lo) => {
                    *end = hi;
                    *newest = (*newest).max(m);
                }
                _ => out.push((lo, hi, m)),
            }
        }
        out
    }
}
