//! SORT (RFC 5256, with RFC 5957's DISPLAYFROM/DISPLAYTO) and THREAD (RFC 5256
//! ORDEREDSUBJECT and REFERENCES) as pure code over per-message facts the store provides.
//!
//! Strings are compared as Dovecot's i;unicode-casemap does in effect: case-folded to upper
//! case, so `[` and `_` sort after letters. Every ordering ends on the sequence number.

mod subject;
mod thread;

use std::cmp::Ordering;

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
}

impl SortFacts {
    /// RFC 5256 §2.2: the Date header, or INTERNALDATE when it has none.
    pub fn sent_date(&self) -> i64 {
        self.sent.unwrap_or(self.arrival)
    }
}

/// One message to sort or thread: its sequence number (the final tie-break), the number to
/// report (sequence number or UID) and its facts.
#[derive(Debug, Clone)]
pub struct SortInput {
    pub seq: u32,
    pub id: u32,
    pub facts: SortFacts,
}

/// Upper-cased for comparison.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

/// A message's precomputed keys: comparing them should not re-fold strings per comparison.
struct Keys<'a> {
    input: &'a SortInput,
    strings: Vec<String>,
}

fn compare(key: SortKey, a: &Keys<'_>, b: &Keys<'_>, i: usize) -> Ordering {
    let (fa, fb) = (&a.input.facts, &b.input.facts);
    match key {
        SortKey::Arrival => fa.arrival.cmp(&fb.arrival),
        SortKey::Date => fa.sent_date().cmp(&fb.sent_date()),
        SortKey::Size => fa.size.cmp(&fb.size),
        _ => a.strings.get(i).cmp(&b.strings.get(i)),
    }
}

fn string_key(key: SortKey, f: &SortFacts) -> String {
    match key {
        SortKey::Subject => fold(&base_subject(&f.subject).text),
        SortKey::From => fold(&f.from),
        SortKey::To => fold(&f.to),
        SortKey::Cc => fold(&f.cc),
        SortKey::DisplayFrom => fold(&f.display_from),
        SortKey::DisplayTo => fold(&f.display_to),
        SortKey::Arrival | SortKey::Date | SortKey::Size => String::new(),
    }
}

/// The ids of `msgs` in SORT order.
pub fn sort(msgs: &[SortInput], criteria: &[SortCriterion]) -> Vec<u32> {
    let mut keyed: Vec<Keys<'_>> = msgs
        .iter()
        .map(|m| Keys {
            input: m,
            strings: criteria
                .iter()
                .map(|c| string_key(c.key, &m.facts))
                .collect(),
        })
        .collect();
    keyed.sort_by(|a, b| {
        criteria
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let o = compare(c.key, a, b, i);
                if c.reverse {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.input.seq.cmp(&b.input.seq))
    });
    keyed.iter().map(|k| k.input.id).collect()
}

#[cfg(test)]
mod tests;
