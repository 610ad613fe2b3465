//! Short random ids for connections, so every log line of one session can be found by one token.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A connection id: 10 characters, unique within a process run and unlikely to repeat across
/// restarts (seeded from the clock and the pid).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl ConnId {
    pub fn next() -> ConnId {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let seed = process_seed();
        // A bijective mix so consecutive ids do not look alike in logs.
        let mut x = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        ConnId(x & ((1u64 << 50) - 1))
    }
}

fn process_seed() -> u64 {
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (u64::from(std::process::id()) << 32)
    })
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 10];
        for (i, c) in out.iter_mut().enumerate() {
            *c = ALPHABET[((self.0 >> (45 - 5 * i)) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&out).unwrap_or("??????????"))
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_ten_chars() {
        let ids: HashSet<String> = (0..10_000).map(|_| ConnId::next().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|s| s.len() == 10));
    }
}
