//! The open relayed sessions, per user: which backend they use (for stickiness and `mailctl
//! proxy where`) and a way to end them (`mailctl proxy move`). A session is registered for
//! as long as its [`SessionGuard`] lives, and the user stays on that backend for
//! `proxy.sticky_linger` after the last one ended (Dovecot's director keeps users the same
//! way): a backend that comes back does not take its users back while their last backend may
//! still be finishing writes or another host's attribute caches may still be stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct UserSessions {
    backend: String,
    open: HashMap<u64, Arc<Notify>>,
    /// Kicked and closing: they no longer hold the user on their backend.
    leaving: bool,
    /// When the last session ended (none open): the user lingers on `backend` until then
    /// plus the linger.
    ended: Option<Instant>,
}

/// Every open session, by user login key.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<HashMap<String, UserSessions>>>,
    next: Arc<AtomicU64>,
    linger: Duration,
}

/// A registered session; dropping it unregisters.
pub struct SessionGuard {
    registry: Registry,
    user: String,
    id: u64,
    kick: Arc<Notify>,
}

impl SessionGuard {
    /// Resolves when the session is to be closed.
    pub async fn kicked(&self) {
        self.kick.notified().await
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut map = self.registry.locked();
        if let Some(u) = map.get_mut(&self.user) {
            u.open.remove(&self.id);
            if u.open.is_empty() {
                if u.leaving || self.registry.linger.is_zero() {
                    map.remove(&self.user);
                } else {
                    u.ended = Some(Instant::now());
                }
            }
        }
    }
}

impl Registry {
    /// A registry whose users stay on their backend for `linger` after their last session.
    pub fn new(linger: Duration) -> Registry {
        Registry {
            linger,
            ..Registry::default()
        }
    }

    /// The map is consistent after every single statement: a panic cannot leave it torn.
    fn locked(&self) -> MutexGuard<'_, HashMap<String, UserSessions>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a session of `user` on `backend`. A user's sessions share one backend: the
    /// router chose it from [`Registry::sticky`], so a different one only appears after the
    /// old sessions were kicked and is then taken over.
    pub fn register(&self, user: &str, backend: &str) -> SessionGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let kick = Arc::new(Notify::new());
        let mut map = self.locked();
        // Forget users whose linger is over, a few at a time so registering stays cheap.
        let now = Instant::now();
        let expired: Vec<String> = map
            .iter()
            .filter(|(_, u)| {
                u.ended
                    .is_some_and(|t| now.duration_since(t) >= self.linger)
            })
            .take(8)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            map.remove(&k);
        }
        let entry = map.entry(user.to_owned()).or_default();
        entry.backend = backend.to_owned();
        entry.leaving = false;
        entry.ended = None;
        entry.open.insert(id, kick.clone());
        SessionGuard {
            registry: self.clone(),
            user: user.to_owned(),
            id,
            kick,
        }
    }

    /// The backend the user's open sessions use, or the last one used within the linger.
    pub fn sticky(&self, user: &str) -> Option<String> {
        self.locked()
            .get(user)
            .filter(|u| !u.leaving)
            .filter(|u| u.ended.is_none_or(|t| t.elapsed() < self.linger))
            .map(|u| u.backend.clone())
    }

    /// Whether the user is held only by the linger (no session open).
    pub fn lingering(&self, user: &str) -> bool {
        self.locked().get(user).is_some_and(|u| u.open.is_empty())
    }

    /// How many sessions the user has open.
    pub fn count(&self, user: &str) -> usize {
        self.locked().get(user).map_or(0, |u| u.open.len())
    }

    /// Asks every open session of the user to close; returns how many there were. The
    /// sessions stay registered until they have actually ended.
    pub fn kick(&self, user: &str) -> usize {
        let mut map = self.locked();
        let Some(u) = map.get_mut(user) else {
            return 0;
        };
        if u.open.is_empty() {
            // Only lingering: the administrator's move takes effect at once.
            map.remove(user);
            return 0;
        }
        u.leaving = true;
        for n in u.open.values() {
            // notify_one keeps the permit if the session is not waiting at this instant.
            n.notify_one();
        }
        u.open.len()
    }

    /// Open sessions per backend name.
    pub fn per_backend(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for u in self.locked().values() {
            *out.entry(u.backend.clone()).or_default() += u.open.len();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_lingers_on_the_last_backend_unless_moved() {
        let r = Registry::new(Duration::from_millis(200));
        drop(r.register("joe", "b1"));
        assert_eq!(r.sticky("joe").as_deref(), Some("b1"));
        assert_eq!(r.count("joe"), 0);
        assert!(r.lingering("joe"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(r.sticky("joe"), None);
        // An expired user is forgotten when someone registers.
        drop(r.register("ann", "b2"));
        assert!(!r.locked().contains_key("joe"));
        // A move (kick) ends the linger at once (ann's has not ended yet).
        assert_eq!(r.sticky("ann").as_deref(), Some("b2"));
        assert_eq!(r.kick("ann"), 0);
        assert_eq!(r.sticky("ann"), None);
        // Kicked sessions do not linger either.
        let s = r.register("eve", "b1");
        assert_eq!(r.kick("eve"), 1);
        drop(s);
        assert_eq!(r.sticky("eve"), None);
    }

    #[tokio::test]
    async fn sessions_are_sticky_until_the_last_one_ends_and_can_be_kicked() {
        let r = Registry::default();
        let a = r.register("joe", "b1");
        let b = r.register("joe", "b1");
        assert_eq!(r.sticky("joe").as_deref(), Some("b1"));
        assert_eq!(r.count("joe"), 2);
        assert_eq!(r.kick("joe"), 2);
        // The permit is kept for a session not waiting at the time of the kick.
        tokio::time::timeout(std::time::Duration::from_secs(1), a.kicked())
            .await
            .expect("kick not delivered");
        // Kicked sessions no longer hold the user, though they are still counted.
        assert_eq!(r.sticky("joe"), None);
        assert_eq!(r.count("joe"), 2);
        drop(a);
        let c = r.register("joe", "b2");
        assert_eq!(r.sticky("joe").as_deref(), Some("b2"));
        drop(b);
        drop(c);
        assert_eq!(r.sticky("joe"), None);
        assert_eq!(r.kick("joe"), 0);
    }
}
