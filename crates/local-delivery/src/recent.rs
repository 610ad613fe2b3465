//! Deliveries made recently, by (queue id, recipient), so that a message is not written twice
//! when queue-runner sends it again.
//!
//! The window this closes: local-delivery has written the message and answered 250, but
//! queue-runner dies (or loses the connection) before it records the 250 in the queue file;
//! on restart it delivers the same queue id again. queue-runner names the queue id with
//! `XQUEUEID` on MAIL; a (queue id, recipient) found here is acknowledged again without a
//! second copy.
//!
//! The record is appended to a file right after the mailbox write and before the 250 leaves,
//! without fsync: it only has to outlive a crash of *a process* (either daemon), which the page
//! cache does. After a machine crash the worst case is the duplicate this would have avoided,
//! never a lost message. Memory and file are bounded by `delivery.remembered_deliveries`; the
//! file is rewritten with the newest half when it grows to twice that.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What to do with one recipient of a transaction that carried a queue id.
pub enum Begin {
    /// Not delivered before: deliver, then call [`InFlight::delivered`] on success.
    Deliver(InFlight),
    /// Already delivered: answer 250 again, write nothing.
    AlreadyDelivered,
    /// Another session is delivering this very (queue id, recipient) right now (a retry
    /// racing the original): answer 4xx so the queue runner comes back later.
    InProgress,
}

/// A delivery in progress; dropping it without [`delivered`](InFlight::delivered) forgets it
/// (the delivery failed and may be retried).
pub struct InFlight {
    owner: Arc<Inner>,
    key: String,
}

impl InFlight {
    /// Records the delivery. Call after the mailbox write is durable, before replying.
    pub fn delivered(self) {
        let mut s = self.owner.lock();
        s.in_flight.remove(&self.key);
        s.remember(self.key.clone());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.owner.lock().in_flight.remove(&self.key);
    }
}

struct State {
    capacity: usize,
    known: HashSet<String>,
    order: VecDeque<String>,
    in_flight: HashSet<String>,
    file: Option<File>,
    path: Option<PathBuf>,
    lines_in_file: usize,
}

struct Inner(Mutex<State>);

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Shared by every LMTP session of the process.
#[derive(Clone)]
pub struct RecentDeliveries(Arc<Inner>);

fn key(queue_id: &str, rcpt: &str) -> String {
    // Recipient paths cannot contain a tab or a newline (RFC 5321 qtextSMTP), so the line
    // format is unambiguous.
    format!("{queue_id}\t{rcpt}")
}

impl RecentDeliveries {
    /// The daemon's record in `<state_dir>/local-delivery/delivered` (the directory created
    /// 0700, as the user the daemon runs as); kept in memory only, with a warning, if the
    /// directory cannot be made.
    pub fn open_in_state_dir(state_dir: &Path, capacity: usize) -> RecentDeliveries {
        match ferrymail_fsutil::private_state_dir(state_dir, "local-delivery") {
            Ok(dir) => RecentDeliveries::open(Some(&dir.join("delivered")), capacity),
            Err(e) => {
                tracing::warn!(dir = %state_dir.join("local-delivery").display(), error = %e, "cannot create the state directory; the delivery record is kept in memory only");
                RecentDeliveries::open(None, capacity)
            }
        }
    }

    /// Remembers up to `capacity` deliveries, persisted in `path` when given. A file that
    /// cannot be read or written leaves the memory-only behaviour (with a warning): the
    /// check is a duplicate reducer, never a reason not to deliver.
    pub fn open(path: Option<&Path>, capacity: usize) -> RecentDeliveries {
        let mut state = State {
            capacity,
            known: HashSet::new(),
            order: VecDeque::new(),
            in_flight: HashSet::new(),
            file: None,
            path: path.map(Path::to_path_buf),
            lines_in_file: 0,
        };
        if let (Some(p), true) = (path, capacity > 0) {
            match File::open(p) {
                Ok(f) => {
                    for line in BufReader::new(f).split(b'\n') {
                        let Ok(line) = line else { break };
                        let Ok(line) = String::from_utf8(line) else {
                            continue;
                        };
                        if line.split_once('\t').is_some_and(|(q, r)| {
                            !q.is_empty() && !r.is_empty() && !r.contains('\t')
                        }) {
                            state.lines_in_file += 1;
                            state.remember_in_memory(line);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "cannot read the delivery record; duplicates after a crash are not suppressed for earlier deliveries")
                }
            }
            state.file = open_append(p);
        }
        RecentDeliveries(Arc::new(Inner(Mutex::new(state))))
    }

    /// Looks up and, when new, claims (queue id, recipient).
    pub fn begin(&self, queue_id: &str, rcpt: &str) -> Begin {
        let mut s = self.0.lock();
        if s.capacity == 0 {
            return Begin::Deliver(InFlight {
                owner: self.0.clone(),
                key: String::new(),
            });
        }
        let k = key(queue_id, rcpt);
        if s.known.contains(&k) {
            return Begin::AlreadyDelivered;
        }
        if !s.in_flight.insert(k.clone()) {
            return Begin::InProgress;
        }
        Begin::Deliver(InFlight {
            owner: self.0.clone(),
            key: k,
        })
    }

    /// How many deliveries are remembered.
    pub fn len(&self) -> usize {
        self.0.lock().known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn open_append(p: &Path) -> Option<File> {
    match OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
    {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "cannot write the delivery record; duplicates are suppressed only while this process runs");
            None
        }
    }
}

impl State {
    fn remember_in_memory(&mut self, k: String) {
        if self.capacity == 0 || !self.known.insert(k.clone()) {
            return;
        }
        self.order.push_back(k);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
    }

    fn remember(&mut self, k: String) {
        if k.is_empty() {
            return;
        }
        let line = format!("{k}\n");
        self.remember_in_memory(k);
        let Some(f) = self.file.as_mut() else { return };
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "cannot append to the delivery record");
            return;
        }
        self.lines_in_file += 1;
        if self.lines_in_file >= self.capacity.saturating_mul(2).max(16) {
            self.compact();
        }
    }

    /// Rewrites the file with what is still remembered (tmp + rename, so a crash leaves
    /// either the old or the new file).
    fn compact(&mut self) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let mut body = String::new();
        for k in &self.order {
            body.push_str(k);
            body.push('\n');
        }
        let written = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(body.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => {
                self.file = open_append(&path);
                self.lines_in_file = self.order.len();
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot compact the delivery record");
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(r: &RecentDeliveries, q: &str, rcpt: &str) -> bool {
        match r.begin(q, rcpt) {
            Begin::Deliver(f) => {
                f.delivered();
                true
            }
            _ => false,
        }
    }

    #[test]
    fn a_second_delivery_of_the_same_queue_id_and_recipient_is_recognised() {
        let r = RecentDeliveries::open(None, 10);
        assert!(deliver(&r, "Q1", "a@x"));
        assert!(matches!(r.begin("Q1", "a@x"), Begin::AlreadyDelivered));
        // Another recipient or another message is new.
        assert!(deliver(&r, "Q1", "b@x"));
        assert!(deliver(&r, "Q2", "a@x"));
    }

    #[test]
    fn a_failed_delivery_is_forgotten_and_a_concurrent_one_waits() {
        let r = RecentDeliveries::open(None, 10);
        let Begin::Deliver(first) = r.begin("Q", "a@x") else {
            panic!("new")
        };
        assert!(matches!(r.begin("Q", "a@x"), Begin::InProgress));
        drop(first);
        assert!(deliver(&r, "Q", "a@x"));
    }

    #[test]
    fn survives_a_restart_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delivered");
        {
            let r = RecentDeliveries::open(Some(&path), 20);
            for i in 0..100 {
                assert!(deliver(&r, &format!("Q{i}"), "a@x"));
            }
            assert_eq!(r.len(), 20);
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!((20..=40).contains(&lines), "{lines} lines");
        // Garbage in the file is skipped, not fatal.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"no-tab-here\n\xff\xfe\tx\n")
            .unwrap();
        let r = RecentDeliveries::open(Some(&path), 20);
        assert_eq!(r.len(), 20);
        assert!(matches!(r.begin("Q99", "a@x"), Begin::AlreadyDelivered));
        assert!(matches!(r.begin("Q80", "a@x"), Begin::AlreadyDelivered));
        assert!(deliver(&r, "Q0", "a@x"), "the oldest were forgotten");
    }

    #[test]
    fn capacity_zero_turns_it_off() {
        let r = RecentDeliveries::open(None, 0);
        assert!(deliver(&r, "Q", "a@x"));
        assert!(deliver(&r, "Q", "a@x"));
        assert!(r.is_empty());
    }
}
