//! A short-lived memory of successful password checks (Dovecot's auth cache), so a client that
//! opens several connections per account, or a webmail host that logs in for every request,
//! pays for the deliberately slow hash once per `ttl` instead of once per login.
//!
//! What is kept is never the password: an entry is found by the login and a BLAKE2b MAC of the
//! password under a key drawn at random when the process starts, and it holds a MAC of the stored
//! hash it was checked against. A hit needs that stored hash to be the user's current one, so a
//! changed password (or any new hash in the file) takes effect at the next login without a flush.
//! Only successes are remembered; an entry's age counts from the check itself and a hit does not
//! extend it. The trade-off: someone who can read the process's memory gets the key and these
//! MACs, which can be tested against guesses far faster than Argon2 hashes, for the users who
//! logged in within `ttl` — though such a reader also sees passwords as logins arrive.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blake2::digest::consts::U32;
use blake2::digest::{Key, KeyInit, Mac};
use blake2::Blake2bMac;
use rand::RngCore;

use crate::password::StoredPassword;

type Mac256 = Blake2bMac<U32>;
type Tag = [u8; 32];

/// How much the cache remembers; either at zero turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCacheConfig {
    pub ttl: Duration,
    pub max_entries: usize,
}

impl AuthCacheConfig {
    /// No cache: every login computes its hash.
    pub const OFF: AuthCacheConfig = AuthCacheConfig {
        ttl: Duration::ZERO,
        max_entries: 0,
    };
}

impl Default for AuthCacheConfig {
    fn default() -> Self {
        AuthCacheConfig {
            ttl: Duration::from_secs(300),
            max_entries: 10_000,
        }
    }
}

/// Names one (login, password) pair in the cache, computed once per login attempt.
pub(crate) struct CacheKey {
    login: String,
    password: Tag,
}

struct Entry {
    stored: Tag,
    checked_at: Instant,
}

pub(crate) struct AuthCache {
    /// `None` when the cache is off (configured so, or no random key could be drawn).
    key: Option<Key<Mac256>>,
    config: AuthCacheConfig,
    entries: Mutex<HashMap<(String, Tag), Entry>>,
}

impl AuthCache {
    pub(crate) fn new(config: AuthCacheConfig) -> AuthCache {
        let on = !config.ttl.is_zero() && config.max_entries > 0;
        let key = on.then(random_key).flatten();
        AuthCache {
            key,
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, domain: &[u8], login: &str, secret: &[u8]) -> Option<Tag> {
        let mut m = <Mac256 as KeyInit>::new(self.key.as_ref()?);
        // Domain and login first, with lengths, so a password's MAC is specific to its user
        // (like a salt) and can never equal a stored hash's MAC.
        Mac::update(&mut m, domain);
        Mac::update(&mut m, &(login.len() as u64).to_le_bytes());
        Mac::update(&mut m, login.as_bytes());
        Mac::update(&mut m, secret);
        Some(m.finalize().into_bytes().into())
    }

    /// The cache's name for `password` of `login` (the account's canonical login); `None` when
    /// the cache is off.
    pub(crate) fn key(&self, login: &str, password: &[u8]) -> Option<CacheKey> {
        Some(CacheKey {
            login: login.to_owned(),
            password: self.mac(b"password", login, password)?,
        })
    }

    /// Whether `key` was verified against `stored` less than `ttl` ago.
    pub(crate) fn hit(&self, key: &CacheKey, stored: &StoredPassword) -> bool {
        let Some(stored) = self.mac(b"stored", &key.login, stored.as_field().as_bytes()) else {
            return false;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let map_key = (key.login.clone(), key.password);
        match entries.get(&map_key) {
            Some(e) if e.stored == stored && e.checked_at.elapsed() < self.config.ttl => true,
            Some(_) => {
                // Expired, or checked against a hash the user no longer has.
                entries.remove(&map_key);
                false
            }
            None => false,
        }
    }

    /// Remembers that `key` has just been verified against `stored`.
    pub(crate) fn insert(&self, key: CacheKey, stored: &StoredPassword) {
        let Some(stored) = self.mac(b"stored", &key.login, stored.as_field().as_bytes()) else {
            return;
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let map_key = (key.login, key.password);
        if entries.len() >= self.config.max_entries && !entries.contains_key(&map_key) {
            let ttl = self.config.ttl;
            entries.retain(|_, e| now.duration_since(e.checked_at) < ttl);
            if entries.len() >= self.config.max_entries {
                // Full of live entries: the oldest check goes. A scan is cheap next to the
                // hash that was just computed to get here.
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.checked_at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            map_key,
            Entry {
                stored,
                checked_at: now,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// A fresh MAC key from the operating system; without one the cache stays off rather than run
/// with a predictable key.
fn random_key() -> Option<Key<Mac256>> {
    let mut key = Key::<Mac256>::default();
    match rand::rngs::OsRng.try_fill_bytes(&mut key) {
        Ok(()) => Some(key),
        Err(e) => {
            tracing::warn!(error = %e, "no random key for the password check cache; running without it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(field: &str) -> StoredPassword {
        StoredPassword::parse(field).unwrap()
    }

    fn cache(ttl_ms: u64, max_entries: usize) -> AuthCache {
        AuthCache::new(AuthCacheConfig {
            ttl: Duration::from_millis(ttl_ms),
            max_entries,
        })
    }

    #[test]
    fn remembers_only_the_password_and_hash_it_was_given() {
        let c = cache(60_000, 10);
        let s = stored("{PLAIN}right");
        let k = c.key("joe@a.test", b"right").unwrap();
        assert!(!c.hit(&k, &s), "empty cache hit");
        c.insert(k, &s);
        assert!(c.hit(&c.key("joe@a.test", b"right").unwrap(), &s));
        assert!(!c.hit(&c.key("joe@a.test", b"wrong").unwrap(), &s));
        assert!(!c.hit(&c.key("ann@a.test", b"right").unwrap(), &s));
        // The same password against another stored hash (the user's password was set again).
        let k = c.key("joe@a.test", b"right").unwrap();
        assert!(!c.hit(&k, &stored("{PLAIN}changed")));
        assert_eq!(c.len(), 0, "a stale entry is dropped when found");
        assert!(!c.hit(&k, &s));
    }

    #[test]
    fn entries_expire_after_ttl() {
        let c = cache(40, 10);
        let s = stored("{PLAIN}pw");
        c.insert(c.key("joe@a.test", b"pw").unwrap(), &s);
        assert!(c.hit(&c.key("joe@a.test", b"pw").unwrap(), &s));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!c.hit(&c.key("joe@a.test", b"pw").unwrap(), &s));
    }

    #[test]
    fn size_is_bounded_and_the_oldest_go_first() {
        let c = cache(60_000, 3);
        let s = stored("{PLAIN}pw");
        for u in ["a", "b", "c", "d"] {
            c.insert(c.key(u, b"pw").unwrap(), &s);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(c.len(), 3);
        assert!(!c.hit(&c.key("a", b"pw").unwrap(), &s));
        for u in ["b", "c", "d"] {
            assert!(c.hit(&c.key(u, b"pw").unwrap(), &s), "{u}");
        }
    }

    #[test]
    fn off_means_no_key_and_no_entries() {
        for config in [
            AuthCacheConfig::OFF,
            AuthCacheConfig {
                ttl: Duration::ZERO,
                max_entries: 10,
            },
            AuthCacheConfig {
                ttl: Duration::from_secs(60),
                max_entries: 0,
            },
        ] {
            assert!(AuthCache::new(config).key("joe", b"pw").is_none());
        }
    }

    #[test]
    fn each_cache_draws_its_own_key() {
        let (a, b) = (cache(60_000, 10), cache(60_000, 10));
        let ka = a.key("joe", b"secret-password").unwrap();
        let kb = b.key("joe", b"secret-password").unwrap();
        assert_ne!(ka.password, kb.password, "two caches share a key");
    }
}
