//! Queue ids: the names of files in `data/`, `queue/`, `hold/` and `maildrop/`.
//!
//! An id is 16 characters of Crockford base32: 11 characters of microseconds since the Unix
//! epoch (so ids sort by arrival time, good for 1100 years) followed by 5 characters (25 bits) of
//! a per-process random value XORed with a per-process counter. Within one process the time part
//! is made strictly increasing (a second id in the same microsecond takes the next one), so a
//! process's ids are unique and sort in the order they were made; the random part makes a clash
//! between processes improbable, and the spool's no-replace renames turn the remaining chance
//! into a retry rather than an overwrite.
//!
//! Parsing is strict (exact length, upper-case id alphabet only) because ids arrive over sockets
//! and from directory listings and are then joined onto spool paths: nothing that parses can be
//! `..`, contain `/`, or name a `.tmp-` file.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Crockford's base32 alphabet: no I, L, O or U, so ids survive being read aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS: usize = 11;
const RAND_CHARS: usize = 5;
/// Length of every queue id in characters (and bytes: the alphabet is ASCII).
pub const QUEUE_ID_LEN: usize = TIME_CHARS + RAND_CHARS;
const RAND_MASK: u32 = (1 << (5 * RAND_CHARS)) - 1;

/// A validated queue id. Holding one proves the string is safe to use as a file name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueId([u8; QUEUE_ID_LEN]);

/// Why a string is not a queue id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueIdError {
    /// Not exactly [`QUEUE_ID_LEN`] bytes.
    #[error("queue id must be {QUEUE_ID_LEN} characters, got {0}")]
    Length(usize),
    /// A byte outside the upper-case Crockford base32 alphabet.
    #[error("queue id contains invalid character at position {0}")]
    Character(usize),
}

/// Per-process state: a random base, re-drawn after `fork` so a parent and child that both
/// generated ids before and after forking do not walk the same sequence.
struct Generator {
    pid: u32,
    base: u32,
}

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);
static COUNTER: AtomicU32 = AtomicU32::new(0);
/// The time part of the last id this process made.
static LAST_MICROS: AtomicU64 = AtomicU64::new(0);

/// `max(now, last + 1)`, so ids never repeat or go backwards in time even if the clock does.
fn next_micros(now: u64) -> u64 {
    let mut last = LAST_MICROS.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST_MICROS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn process_base() -> u32 {
    let pid = std::process::id();
    // A poisoned lock only means another thread panicked while holding it; the state inside
    // is two plain integers and always valid.
    let mut guard = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    match &*guard {
        Some(g) if g.pid == pid => g.base,
        _ => {
            let base = rand::random::<u32>();
            *guard = Some(Generator { pid, base });
            base
        }
    }
}

impl QueueId {
    /// A fresh id for the current time.
    pub fn generate() -> QueueId {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let micros = next_micros(u64::try_from(micros).unwrap_or(u64::MAX));
        let suffix = (process_base() ^ COUNTER.fetch_add(1, Ordering::Relaxed)) & RAND_MASK;
        Self::from_parts(micros, suffix)
    }

    fn from_parts(micros: u64, suffix: u32) -> QueueId {
        let mut out = [b'0'; QUEUE_ID_LEN];
        // 11 base32 digits hold 55 bits; clamp rather than wrap so the order never inverts.
        let mut t = micros.min((1u64 << (5 * TIME_CHARS)) - 1);
        for slot in out[..TIME_CHARS].iter_mut().rev() {
            *slot = ALPHABET[(t & 31) as usize];
            t >>= 5;
        }
        let mut r = suffix & RAND_MASK;
        for slot in out[TIME_CHARS..].iter_mut().rev() {
            *slot = ALPHABET[(r & 31) as usize];
            r >>= 5;
        }
        QueueId(out)
    }

    /// Strictly parse an id: exactly 16 characters of the upper-case id alphabet.
    pub fn parse(s: &str) -> Result<QueueId, QueueIdError> {
        let bytes = s.as_bytes();
        if bytes.len() != QUEUE_ID_LEN {
            return Err(QueueIdError::Length(bytes.len()));
        }
        let mut out = [0u8; QUEUE_ID_LEN];
        for (i, (&b, slot)) in bytes.iter().zip(out.iter_mut()).enumerate() {
            if !ALPHABET.contains(&b) {
                return Err(QueueIdError::Character(i));
            }
            *slot = b;
        }
        Ok(QueueId(out))
    }

    /// The id as a string slice (always ASCII).
    pub fn as_str(&self) -> &str {
        // Only ever built from ALPHABET bytes, which are ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Microseconds since the Unix epoch at which the id was generated.
    pub fn timestamp_micros(&self) -> u64 {
        self.0[..TIME_CHARS].iter().fold(0u64, |acc, &b| {
            let digit = ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u64;
            (acc << 5) | digit
        })
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueId({})", self.as_str())
    }
}

impl FromStr for QueueId {
    type Err = QueueIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QueueId::parse(s)
    }
}

impl TryFrom<String> for QueueId {
    type Error = QueueIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        QueueId::parse(&s)
    }
}

impl From<QueueId> for String {
    fn from(id: QueueId) -> String {
        id.as_str().to_owned()
    }
}

impl AsRef<str> for QueueId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_parse_back() {
        let id = QueueId::generate();
        assert_eq!(id.as_str().len(), QUEUE_ID_LEN);
        assert_eq!(QueueId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn parse_rejects_paths_and_foreign_characters() {
        for bad in [
            "",
            "..",
            "../x",
            "../../etc/passwd",
            "0123456789ABCDE/",
            "0123456789ABCD..",
            "0123456789abcdef", // lower case is not the canonical spelling
            "0123456789ABCDEI", // I is not in Crockford's alphabet
            "0123456789ABCDEU",
            ".tmp-0123456789A",
            "0123456789ABCDEF0",
            "0123456789ABCDE",
            "0123456789ABCDE\0",
            "0123456789ABCDÉ",
        ] {
            assert!(QueueId::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(QueueId::parse("0123456789ABCDEF").is_ok());
    }

    #[test]
    fn ids_sort_by_time() {
        let earlier = QueueId::from_parts(1_700_000_000_000_000, RAND_MASK);
        let later = QueueId::from_parts(1_700_000_000_000_001, 0);
        assert!(earlier < later);
        assert!(earlier.as_str() < later.as_str());
        assert_eq!(later.timestamp_micros(), 1_700_000_000_000_001);
    }

    #[test]
    fn quick_successive_ids_are_unique_and_sorted() {
        let ids: Vec<QueueId> = (0..10_000).map(|_| QueueId::generate()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn ids_unique_and_time_ordered_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..5000).map(|_| QueueId::generate()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            let ids = t.join().unwrap();
            // Ids from one process are strictly ordered, so each thread's are too.
            for pair in ids.windows(2) {
                assert!(pair[0] < pair[1]);
            }
            for id in ids {
                assert!(all.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), 20_000);
    }
}
