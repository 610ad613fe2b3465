//! The registry of open mailboxes ([`Hub`]): one [`SharedMailbox`] per maildir in use, and
//! the process-wide inotify watcher that watches a mailbox while some session idles on it
//! (and, for the changes inotify cannot see, the idle poller, `idle_poll.rs`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ferrymail_maildir::{MailboxName, Maildir, Store};
use notify::Watcher;

use super::{lock, SharedMailbox, StoreError};
use crate::index::Index;

/// The registry of open mailboxes and the process-wide inotify watcher.
pub struct Hub {
    index: Option<Arc<Index>>,
    open: Mutex<HashMap<PathBuf, Weak<SharedMailbox>>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    /// Watched directory (`new/` or `cur/`) → its mailbox.
    watched: Arc<Mutex<HashMap<PathBuf, Weak<SharedMailbox>>>>,
    /// Serialises a mailbox's first IDLE (watch) against its last one ending (unwatch).
    transitions: Mutex<()>,
    /// The mailboxes opened last, most recent at the back, held open after their sessions
    /// end (`imapd.keep_closed_mailboxes`): a client that reconnects per request (webmail)
    /// then finds the facts in memory instead of reloading the index.
    kept: Mutex<VecDeque<Arc<SharedMailbox>>>,
    keep: usize,
}

/// A session's IDLE on a mailbox; the last one dropped removes the inotify watch.
pub struct IdleWatch {
    hub: Arc<Hub>,
    mb: Arc<SharedMailbox>,
}

impl Drop for IdleWatch {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let _t = lock(&self.hub.transitions);
        if self.mb.idlers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.hub.unwatch(&self.mb);
        }
    }
}

impl Hub {
    /// `keep`: how many mailboxes stay open after their last session ([`Hub::kept`]).
    pub fn new(index: Option<Arc<Index>>, keep: usize) -> Arc<Hub> {
        let watched: Arc<Mutex<HashMap<PathBuf, Weak<SharedMailbox>>>> =
            Arc::new(Mutex::new(HashMap::new()));
        let (tx, rx) = std::sync::mpsc::channel::<Arc<SharedMailbox>>();
        let w2 = watched.clone();
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            // Only a file appearing, vanishing or being renamed changes a mailbox; reads
            // (ours included) produce open/access/close events that must not cost a rescan.
            use notify::event::{EventKind, ModifyKind};
            if !matches!(
                ev.kind,
                EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Name(_))
            ) {
                return;
            }
            for p in ev.paths {
                let Some(dir) = p.parent() else { continue };
                let mb = lock(&w2).get(dir).and_then(Weak::upgrade);
                if let Some(mb) = mb {
                    let own = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| mb.was_expected(n));
                    if own {
                        continue;
                    }
                    if mb.mark_dirty() {
                        let _ = tx.send(mb);
                    }
                }
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "inotify unavailable; changes by other processes are seen on NOOP/CHECK/IDLE polls");
                None
            }
        };
        // One thread applies the rescans, coalescing bursts (a delivery is several events).
        let spawned = std::thread::Builder::new()
            .name("imapd-rescan".into())
            .spawn(move || {
                while let Ok(mb) = rx.recv() {
                    std::thread::sleep(Duration::from_millis(10));
                    mb.dirty.store(false, std::sync::atomic::Ordering::Release);
                    if let Err(e) = mb.rescan() {
                        tracing::debug!(path = %mb.path.display(), error = %e, "rescan failed");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the rescan thread");
        }
        Arc::new(Hub {
            index,
            open: Mutex::new(HashMap::new()),
            watcher: Mutex::new(watcher),
            watched,
            transitions: Mutex::new(()),
            kept: Mutex::new(VecDeque::new()),
            keep,
        })
    }

    /// The shared handle on a maildir, opening (and indexing) it if no session has it;
    /// an already open one is rescanned if `refresh`.
    pub fn open(&self, maildir: Maildir, refresh: bool) -> Result<Arc<SharedMailbox>, StoreError> {
        let path = maildir.path().to_owned();
        {
            let map = lock(&self.open);
            if let Some(mb) = map.get(&path).and_then(Weak::upgrade) {
                drop(map);
                if refresh {
                    mb.rescan()?;
                }
                self.keep_open(&mb);
                return Ok(mb);
            }
        }
        let mb = Arc::new(SharedMailbox::open(maildir, self.index.clone())?);
        let mut map = lock(&self.open);
        // Another session may have opened it meanwhile: use theirs.
        if let Some(existing) = map.get(&path).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(path.clone(), Arc::downgrade(&mb));
        drop(map);
        self.keep_open(&mb);
        Ok(mb)
    }

    /// Makes `mb` the most recently used of the mailboxes kept open.
    fn keep_open(&self, mb: &Arc<SharedMailbox>) {
        if self.keep == 0 {
            return;
        }
        let mut kept = lock(&self.kept);
        kept.retain(|m| !Arc::ptr_eq(m, mb));
        kept.push_back(mb.clone());
        while kept.len() > self.keep {
            kept.pop_front();
        }
    }

    /// Also rescans every mailbox some session idles on every `every` (none if zero), for
    /// changes inotify does not report: those made by other hosts on a shared store.
    pub fn poll_idle_every(self: &Arc<Self>, every: Duration) {
        if !every.is_zero() {
            super::idle_poll::spawn(Arc::downgrade(self), every);
        }
    }

    /// The open mailboxes some session idles on.
    pub(super) fn idled(&self) -> Vec<Arc<SharedMailbox>> {
        use std::sync::atomic::Ordering;
        let mut out: Vec<Arc<SharedMailbox>> = Vec::new();
        for mb in lock(&self.watched).values().filter_map(Weak::upgrade) {
            if mb.idlers.load(Ordering::Acquire) > 0 && !out.iter().any(|m| Arc::ptr_eq(m, &mb)) {
                out.push(mb);
            }
        }
        out
    }

    /// Watches `mb` with inotify for as long as the returned guard lives (a session in
    /// IDLE). Take it before the IDLE's initial rescan, so no change falls between the two.
    pub fn idle_watch(self: &Arc<Self>, mb: &Arc<SharedMailbox>) -> IdleWatch {
        use std::sync::atomic::Ordering;
        let _t = lock(&self.transitions);
        if mb.idlers.fetch_add(1, Ordering::AcqRel) == 0 {
            self.watch(mb);
        }
        IdleWatch {
            hub: self.clone(),
            mb: mb.clone(),
        }
    }

    fn unwatch(&self, mb: &Arc<SharedMailbox>) {
        let dirs = [mb.path.join("new"), mb.path.join("cur")];
        {
            let mut watched = lock(&self.watched);
            for d in &dirs {
                watched.remove(d);
            }
        }
        let mut guard = lock(&self.watcher);
        if let Some(w) = guard.as_mut() {
            for d in &dirs {
                let _ = w.unwatch(d);
            }
        }
    }

    fn watch(&self, mb: &Arc<SharedMailbox>) {
        let dirs = [mb.path.join("new"), mb.path.join("cur")];
        {
            // Registered before the watch exists so no event is lost; never held while
            // calling into the watcher, whose event thread takes this lock in the callback.
            let mut watched = lock(&self.watched);
            watched.retain(|_, m| m.strong_count() > 0);
            for d in &dirs {
                watched.insert(d.clone(), Arc::downgrade(mb));
            }
        }
        let mut guard = lock(&self.watcher);
        let Some(w) = guard.as_mut() else { return };
        for dir in &dirs {
            if let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive) {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot watch");
            }
        }
    }

    /// Forgets the mailbox `name` of `store` after DELETE or RENAME took it away (with
    /// `descendants`, also the Maildir++ folders below it, which RENAME moves along): its
    /// cached facts are dropped, and the next open of its path starts afresh instead of
    /// from a handle some session still holds on the mailbox that was there.
    pub fn forget_folder(&self, store: &Store, name: &MailboxName, descendants: bool) {
        let Some(path) = name.disk_name().map(|d| store.root().join(d)) else {
            return;
        };
        let mut below = path.as_os_str().as_encoded_bytes().to_vec();
        below.push(b'.');
        let gone = |p: &Path| {
            p == path || (descendants && p.as_os_str().as_encoded_bytes().starts_with(&below))
        };
        lock(&self.open).retain(|p, _| !gone(p));
        lock(&self.kept).retain(|m| !gone(&m.path));
        if let Some(index) = &self.index {
            index.remove_mailbox(&path);
            if descendants {
                index.remove_prefix(&below);
            }
        }
    }

    pub fn flush_index(&self) {
        if let Some(i) = &self.index {
            i.flush();
        }
    }

    /// Drops the watches of mailboxes no session holds any more.
    pub fn release_unused(&self) {
        let dead: Vec<PathBuf> = {
            let mut watched = lock(&self.watched);
            let dead: Vec<PathBuf> = watched
                .iter()
                .filter(|(_, m)| m.strong_count() == 0)
                .map(|(p, _)| p.clone())
                .collect();
            for p in &dead {
                watched.remove(p);
            }
            dead
        };
        if dead.is_empty() {
            return;
        }
        let mut guard = lock(&self.watcher);
        if let Some(w) = guard.as_mut() {
            for p in dead {
                // A session may have reopened the mailbox meanwhile.
                if !lock(&self.watched).contains_key(&p) {
                    let _ = w.unwatch(&p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_mailboxes_are_kept_up_to_the_limit() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let md = |n: &str| Maildir::create(tmp.path().join(n)).expect("maildir");
        let hub = Hub::new(None, 1);
        let a = Arc::downgrade(&hub.open(md("a"), true).expect("open"));
        // No session holds it, yet it lives on, and a reopen gets the same handle (and cache).
        let again = hub.open(md("a"), true).expect("open");
        assert!(a.upgrade().is_some_and(|a| Arc::ptr_eq(&a, &again)));
        drop(again);
        // Opening another pushes it out.
        drop(hub.open(md("b"), true).expect("open"));
        let weak = Arc::downgrade(&hub.open(md("a"), true).expect("open"));
        let none = Hub::new(None, 0);
        let c = Arc::downgrade(&none.open(md("c"), true).expect("open"));
        assert!(c.upgrade().is_none(), "kept with keep_closed_mailboxes = 0");
        assert!(weak.upgrade().is_some(), "the most recent one is kept");
    }
}
