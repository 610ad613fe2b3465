//! The policy cache (RFC 8461 §5.1): each domain's last fetched policy with its TXT id and
//! fetch time, in memory and in one JSON file per domain under `<state_dir>/mta-sts/`, so a
//! restart keeps enforcing while the policy host is unreachable (the protection against an
//! attacker who blocks the fetch). Not under `<state_dir>/queue-runner/`: that directory is
//! the scheduling database, deleted wholesale when it is rebuilt.
//!
//! [`plan`] is the RFC's decision, sans-IO: a cached policy is used while it is younger than
//! its `max_age` and the TXT id has not changed; a new id, an expired or missing entry
//! means fetching; when no TXT record or no fetched policy is available, an unexpired cached
//! policy still applies, and an expired one does not (§5.1: only a "valid (non-expired)"
//! cached policy survives a failed discovery).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::policy::Policy;
use super::record::RecordError;

/// A policy as cached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    /// The TXT record id the policy was fetched under.
    pub id: String,
    /// Seconds since the Unix epoch of the fetch.
    pub fetched_at: u64,
    pub policy: Policy,
}

impl Cached {
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(self.policy.max_age)
    }

    /// A policy with id `1` fetched at time 0 listing `mx`, for tests.
    #[cfg(test)]
    pub fn for_test(mode: super::Mode, mx: &str) -> Cached {
        Cached {
            id: "1".into(),
            fetched_at: 0,
            policy: Policy {
                mode,
                mx: vec![mx.into()],
                max_age: 60,
            },
        }
    }
}

/// What to do for a domain, from its cache entry and its TXT lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The cached policy stands.
    UseCached,
    /// Fetch the policy published under this id; if that fails, [`on_fetch_failure`] says
    /// what applies.
    Fetch(String),
    /// No policy applies.
    NoPolicy,
}

/// `txt` is the TXT lookup's result, `Err(None)` for a failed lookup (timeout, SERVFAIL).
pub fn plan(cached: Option<&Cached>, txt: Result<&str, Option<&RecordError>>, now: u64) -> Plan {
    let fresh = cached.filter(|c| c.is_fresh(now));
    match (txt, fresh) {
        (Ok(id), Some(c)) if c.id == id => Plan::UseCached,
        (Ok(id), _) => Plan::Fetch(id.to_owned()),
        (Err(_), Some(_)) => Plan::UseCached,
        (Err(_), None) => Plan::NoPolicy,
    }
}

/// Whether a fetch planned under `id` may run now, given the last failed fetch of the
/// domain (`(id, when)`): not within `retry` seconds of a failure under the same id.
pub fn may_fetch(last_failure: Option<&(String, u64)>, id: &str, now: u64, retry: u64) -> bool {
    match last_failure {
        Some((failed_id, at)) if failed_id == id => now >= at.saturating_add(retry),
        _ => true,
    }
}

/// After a failed fetch: the cached policy if still fresh.
pub fn on_fetch_failure(cached: Option<&Cached>, now: u64) -> Option<&Cached> {
    cached.filter(|c| c.is_fresh(now))
}

/// The cache's memory and disk halves.
pub struct Cache {
    dir: PathBuf,
    mem: Mutex<HashMap<String, Cached>>,
}

impl Cache {
    /// Opens the directory (created mode 0700 if missing) and loads what it holds; an
    /// unreadable entry is dropped with a warning (the policy is fetched again).
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut mem = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(domain) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Cached>(&b).map_err(|e| e.to_string()))
            {
                Ok(c) => {
                    mem.insert(domain.to_owned(), c);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "dropping unreadable MTA-STS cache entry")
                }
            }
        }
        Ok(Cache {
            dir: dir.to_owned(),
            mem: Mutex::new(mem),
        })
    }

    /// A cache that starts empty (its directory could not be read): policies fetched now are
    /// still used and, if the directory becomes writable, stored.
    pub fn empty(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_owned(),
            mem: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, domain: &str) -> Option<Cached> {
        self.lock().get(domain).cloned()
    }

    /// Records a fetched policy, durably before it is used, so what is enforced now is still
    /// enforced after a crash. A failed write is logged; the memory copy still applies.
    pub fn put(&self, domain: &str, c: Cached) {
        match serde_json::to_vec(&c) {
            Ok(bytes) => {
                if let Err(e) = ferrymail_fsutil::write_atomic(&self.file(domain), &bytes, 0o600) {
                    tracing::warn!(%domain, error = %e, "cannot store MTA-STS policy");
                }
            }
            Err(e) => tracing::warn!(%domain, error = %e, "cannot encode MTA-STS policy"),
        }
        self.lock().insert(domain.to_owned(), c);
    }

    /// Domains are DNS names (letters, digits, `-`, `_`, `.`), never `/`; anything else, and
    /// a leading `.`, is escaped as `%xx`, so every entry is a plain file in the directory.
    fn file(&self, domain: &str) -> PathBuf {
        let safe: String = domain
            .bytes()
            .enumerate()
            .map(|(i, b)| match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => char::from(b).to_string(),
                b'.' if i > 0 => ".".to_owned(),
                _ => format!("%{b:02x}"),
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::policy::Mode;

    fn cached(id: &str, fetched_at: u64, max_age: u64) -> Cached {
        Cached {
            id: id.into(),
            fetched_at,
            policy: Policy {
                mode: Mode::Enforce,
                mx: vec!["mx.a.test".into()],
                max_age,
            },
        }
    }

    #[test]
    fn plans_as_rfc_8461_section_5_1() {
        let c = cached("1", 1000, 100);
        let none = RecordError::None;
        // Same id, fresh: no fetch.
        assert_eq!(plan(Some(&c), Ok("1"), 1050), Plan::UseCached);
        // New id: fetch, even while fresh.
        assert_eq!(plan(Some(&c), Ok("2"), 1050), Plan::Fetch("2".into()));
        // Expired: fetch again.
        assert_eq!(plan(Some(&c), Ok("1"), 1100), Plan::Fetch("1".into()));
        // No TXT record or a failed lookup: the fresh cache still applies...
        assert_eq!(plan(Some(&c), Err(Some(&none)), 1099), Plan::UseCached);
        assert_eq!(plan(Some(&c), Err(None), 1099), Plan::UseCached);
        // ...an expired one does not.
        assert_eq!(plan(Some(&c), Err(None), 1100), Plan::NoPolicy);
        assert_eq!(plan(None, Err(Some(&none)), 0), Plan::NoPolicy);
        assert_eq!(plan(None, Ok("7"), 0), Plan::Fetch("7".into()));
        assert!(on_fetch_failure(Some(&c), 1099).is_some());
        assert!(on_fetch_failure(Some(&c), 1100).is_none());
    }

    #[test]
    fn a_failed_fetch_waits_before_the_next_unless_the_id_changes() {
        let failed = ("1".to_string(), 1000);
        assert!(may_fetch(None, "1", 0, 300));
        assert!(!may_fetch(Some(&failed), "1", 1000, 300));
        assert!(!may_fetch(Some(&failed), "1", 1299, 300));
        assert!(may_fetch(Some(&failed), "1", 1300, 300));
        assert!(may_fetch(Some(&failed), "2", 1001, 300));
    }

    #[test]
    fn survives_reopening_and_drops_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.get("a.test"), None);
        cache.put("a.test", cached("1", 5, 60));
        std::fs::write(dir.path().join("broken.test.json"), b"{not json").unwrap();
        let again = Cache::open(dir.path()).unwrap();
        assert_eq!(again.get("a.test"), Some(cached("1", 5, 60)));
        assert_eq!(again.get("broken.test"), None);
        again.put("a.test", cached("2", 9, 60));
        assert_eq!(
            Cache::open(dir.path()).unwrap().get("a.test").map(|c| c.id),
            Some("2".into())
        );
    }

    #[test]
    fn file_names_stay_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        for d in ["../x", "a/b", ".hidden", "A.TEST"] {
            let f = cache.file(d);
            assert_eq!(f.parent(), Some(dir.path()), "{d}");
            assert!(
                !f.file_name().unwrap().to_str().unwrap().starts_with('.'),
                "{d}"
            );
        }
    }
}
