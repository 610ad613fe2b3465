//! Directory flushes shared between threads (group commit for directory entries).
//!
//! Every commit in ferrymail ends with "rename into place, then fsync the directory": the spool's
//! `data/` and `queue/`, a Maildir's `new/`. Under load many threads do that to the same
//! directory at once, and each fsync is a journal commit and a disk cache flush. One fsync makes
//! durable every entry changed before it *started*, so a caller only has to wait for the first
//! flush that starts after its own rename: callers that arrive while a flush runs wait for it to
//! finish and then share a single next one. N concurrent commits cost about two directory
//! flushes instead of N, and no caller returns before a flush covering its change has completed.
//!
//! The sharing is per process and per path as given; the kernel merges the rest.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};

/// One directory's flush schedule.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    done: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Flushes started so far; the running one, if any, is number `started`.
    started: u64,
    /// Flushes finished so far (they finish in order: one runs at a time).
    finished: u64,
    running: bool,
    /// The latest flush that failed: its number, and the error to hand to everyone it covered.
    failed: Option<(u64, io::ErrorKind, String)>,
    /// Threads holding this gate (for removing idle gates from the table).
    users: usize,
    /// Callers the running flush covers, reported to [`observe`] when it ends.
    joined: usize,
}

static GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<Gate>>>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes a directory's entries (a create, rename or unlink inside it) durable: returns once an
/// fsync of `dir` that started after this call has completed, sharing that fsync with every
/// other thread of this process flushing the same path meanwhile. An error of the shared flush
/// is every covered caller's error.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let gate = {
        let mut gates = lock(&GATES);
        let gate = Arc::clone(gates.entry(dir.to_path_buf()).or_default());
        lock(&gate.state).users += 1;
        gate
    };
    let r = gate.flush(|| File::open(dir)?.sync_all());
    let mut gates = lock(&GATES);
    let idle = {
        let mut s = lock(&gate.state);
        s.users -= 1;
        s.users == 0
    };
    if idle {
        gates.remove(dir);
    }
    r
}

impl Gate {
    fn flush(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut s = lock(&self.state);
        // A flush already running may have started before our change: only the next one
        // is guaranteed to cover it.
        let needed = s.started + 1;
        s.joined += 1;
        loop {
            if s.finished >= needed {
                return match &s.failed {
                    Some((n, kind, msg)) if *n >= needed => Err(io::Error::new(*kind, msg.clone())),
                    _ => Ok(()),
                };
            }
            if !s.running {
                s.running = true;
                s.started += 1;
                let number = s.started;
                let covered = std::mem::take(&mut s.joined);
                drop(s);
                let r = sync();
                crate::counters::flushed(crate::counters::FlushKind::Dir, covered);
                s = lock(&self.state);
                s.running = false;
                s.finished = number;
                if let Err(e) = &r {
                    s.failed = Some((number, e.kind(), e.to_string()));
                }
                self.done.notify_all();
                return r;
            }
            s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_flushes_and_none_returns_before_a_covering_one() {
        let gate = Arc::new(Gate::default());
        let flushes = Arc::new(AtomicUsize::new(0));
        // Each caller records the flush count it saw before asking; the flush it returns
        // after must have started later, so the count when it returns is higher.
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (gate, flushes, barrier) = (gate.clone(), flushes.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let before = flushes.load(Ordering::SeqCst);
                    gate.flush(|| {
                        std::thread::sleep(Duration::from_millis(20));
                        flushes.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                    (before, flushes.load(Ordering::SeqCst))
                })
            })
            .collect();
        for h in handles {
            let (before, after) = h.join().unwrap();
            assert!(
                after > before,
                "returned before a flush covering it: {before} -> {after}"
            );
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < threads, "16 concurrent callers needed {n} flushes");
    }

    #[test]
    fn a_failed_flush_fails_every_caller_it_covered_and_the_next_one_is_clean() {
        let gate = Arc::new(Gate::default());
        let started = Arc::new(Barrier::new(2));
        let leader = {
            let (gate, started) = (gate.clone(), started.clone());
            std::thread::spawn(move || {
                gate.flush(|| {
                    started.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    Ok(())
                })
            })
        };
        started.wait();
        // Arrives while the first flush runs: covered by the second, which fails.
        let follower = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.flush(|| Err(io::Error::other("disk gone"))))
        };
        assert!(leader.join().unwrap().is_ok());
        let e = follower.join().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "disk gone");
        assert!(gate.flush(|| Ok(())).is_ok());
    }

    #[test]
    fn flushes_a_real_directory_and_forgets_idle_gates() {
        let dir = tempfile::tempdir().unwrap();
        fsync_dir(dir.path()).unwrap();
        assert!(!lock(&GATES).contains_key(dir.path()));
        assert!(fsync_dir(&dir.path().join("missing")).is_err());
    }
}
