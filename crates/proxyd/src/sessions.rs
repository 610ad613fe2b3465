//! The open relayed sessions, per user: which backend they use (for stickiness and `mailctl
//! proxy where`) and a way to end them (`mailctl proxy move`). A session is registered for
//! as long as its [`SessionGuard`] lives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Default)]
struct UserSessions {
    backend: String,
    open: HashMap<u64, Arc<Notify>>,
    /// Kicked and closing: they no longer hold the user on their backend.
    leaving: bool,
}

/// Every open session, by user login key.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<HashMap<String, UserSessions>>>,
    next: Arc<AtomicU64>,
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
                map.remove(&self.user);
            }
        }
    }
}

impl Registry {
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
        let entry = map.entry(user.to_owned()).or_default();
        entry.backend = backend.to_owned();
        entry.leaving = false;
        entry.open.insert(id, kick.clone());
        SessionGuard {
            registry: self.clone(),
            user: user.to_owned(),
            id,
            kick,
        }
    }

    /// The backend the user's open sessions use.
    pub fn sticky(&self, user: &str) -> Option<String> {
        self.locked()
            .get(user)
            .filter(|u| !u.leaving)
            .map(|u| u.backend.clone())
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
