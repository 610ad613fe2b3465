//! SORT (RFC 5256, with RFC 5957's DISPLAYFROM/DISPLAYTO) and THREAD (RFC 5256
//! ORDEREDSUBJECT and REFERENCES, and Dovecot's REFS) as pure code over per-message facts the store provides.
//!
//! Strings are compared as Dovecot's i;unicode-casemap does in effect: case-folded to upper
//! case, so `[` and `_` sort after letters. Every ordering ends on the sequence number.

mod subject;
mod thread;

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

pub use subject::{base_subject, BaseSubject};
pub use thread::{message_ids, thread, ThreadNode};

/// One SORT key (RFC 5256 §3, RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// A SORT key, possibly preceded by REVERSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// THREAD algorithms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
    /// Dovecot's REFS: REFERENCES without subject gathering, threads by newest message.
    Refs,
}

/// What SORT and THREAD need of one message. Addresses are of the first address of the
/// field (a group's name when the field opens with a group), empty when there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFacts {
    /// INTERNALDATE, seconds since the epoch.
    pub arrival: i64,
    /// The Date header in UTC seconds; None if missing or unparsable.
    pub sent: Option<i64>,
    pub size: u64,
    /// The Subject, RFC 2047-decoded.
    pub subject: String,
    /// The local part (addr-mailbox) of the first From, To and Cc address.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// RFC 5957: the display name of the first From/To address, else its addr-spec.
    pub display_from: String,
    pub display_to: String,
    /// The raw Message-ID, In-Reply-To and References header values (empty if absent).
    pub message_id: String,
    pub in_reply_to: String,
    pub references: String,
    /// The compared forms of the string keys, computed at first use and kept with the facts
    /// (a store that caches facts caches these too): a mailbox sorted again costs no
    /// base-subject extraction or case folding.
    pub keys: FoldedKeys,
}

/// The folded string keys of one message, each computed once ([`SortFacts::keys`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedKeys([OnceLock<Box<str>>; 6]);

impl SortFacts {
    /// RFC 5256 §2.2: the Date header, or INTERNALDATE when it has none.
    pub fn sent_date(&self) -> i64 {
        self.sent.unwrap_or(self.arrival)
    }

    /// The compared form of a string key: upper-cased, the subject reduced to its base.
    fn folded(&self, key: SortKey) -> &str {
        let (slot, raw) = match key {
            SortKey::Subject => (0, self.subject.as_str()),
            SortKey::From => (1, self.from.as_str()),
            SortKey::To => (2, self.to.as_str()),
            SortKey::Cc => (3, self.cc.as_str()),
            SortKey::DisplayFrom => (4, self.display_from.as_str()),
            SortKey::DisplayTo => (5, self.display_to.as_str()),
            SortKey::Arrival | SortKey::Date | SortKey::Size => return "",
        };
        let Some(cell) = self.keys.0.get(slot) else {
            return "";
        };
        cell.get_or_init(|| {
            if slot == 0 {
                fold(&base_subject(raw).text).into()
            } else {
                fold(raw).into()
            }
        })
    }

    /// RFC 5256's base subject, upper-cased: what SORT SUBJECT and THREAD compare.
    pub fn subject_key(&self) -> &str {
        self.folded(SortKey::Subject)
    }
}

/// One message to sort or thread: its sequence number (the final tie-break), the number to
/// report (sequence number or UID) and its facts.
#[derive(Debug, Clone)]
pub struct SortInput {
    pub seq: u32,
    pub id: u32,
    pub facts: Arc<SortFacts>,
}

/// Upper-cased for comparison.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

fn compare(key: SortKey, a: &SortFacts, b: &SortFacts) -> Ordering {
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Date => a.sent_date().cmp(&b.sent_date()),
        SortKey::Size => a.size.cmp(&b.size),
        _ => a.folded(key).cmp(b.folded(key)),
    }
}

/// One criterion (what clients send nearly always): each message's key is looked up once
/// and the sort compares plain values, not facts.
fn sort_by_one(msgs: &[SortInput], c: SortCriterion) -> Vec<u32> {
    fn finish<K: Ord>(mut keyed: Vec<(K, u32, u32)>, reverse: bool) -> Vec<u32> {
        keyed.sort_unstable_by(|a, b| {
            let o = a.0.cmp(&b.0);
            if reverse { o.reverse() } else { o }.then(a.1.cmp(&b.1))
        });
        keyed.into_iter().map(|(_, _, id)| id).collect()
    }
    let numbers = |value: fn(&SortFacts) -> i64| {
        let keyed = msgs
            .iter()
            .map(|m| (value(&m.facts), m.seq, m.id))
            .collect();
        finish(keyed, c.reverse)
    };
    match c.key {
        SortKey::Arrival => numbers(|f| f.arrival),
        SortKey::Date => numbers(SortFacts::sent_date),
        SortKey::Size => numbers(|f| i64::try_from(f.size).unwrap_or(i64::MAX)),
        _ => {
            let keyed = msgs
                .iter()
                .map(|m| (m.facts.folded(c.key), m.seq, m.id))
                .collect();
            finish(keyed, c.reverse)
        }
    }
}

/// The ids of `msgs` in SORT order.
pub fn sort(msgs: &[SortInput], criteria: &[SortCriterion]) -> Vec<u32> {
    if let [one] = criteria {
        return sort_by_one(msgs, *one);
    }
    let mut order: Vec<&SortInput> = msgs.iter().collect();
    order.sort_by(|a, b| {
        criteria
            .iter()
            .map(|c| {
                let o = compare(c.key, &a.facts, &b.facts);
                if c.reverse {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.seq.cmp(&b.seq))
    });
    order.iter().map(|m| m.id).collect()
}

#[cfg(test)]
mod tests;
