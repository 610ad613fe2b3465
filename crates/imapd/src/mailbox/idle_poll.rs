//! The periodic rescan of mailboxes some session idles on (`imapd.idle_poll_interval`).
//!
//! inotify only reports changes made through this host's kernel: on a mail store shared
//! between hosts (GlusterFS over FUSE, NFS, CephFS) a delivery or flag change made by another
//! host raises no event, and an idling client would see it only with its next command. So
//! while any session idles on a mailbox, one thread of the process rescans it every interval;
//! a rescan that finds nothing changed costs a few `stat` calls (`scanstamp`), one that finds
//! a change wakes the mailbox's sessions as an inotify event would. The polling is per
//! mailbox, not per session: three clients idling on one INBOX cost one rescan.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Weak;
use std::time::{Duration, Instant};

use super::Hub;

/// When each idled mailbox is next due. A mailbox is first due one interval after the poller
/// first sees it idled, so mailboxes whose IDLEs began at different times are polled at
/// different times rather than in one burst.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    due: HashMap<PathBuf, Instant>,
}

impl Schedule {
    /// The mailboxes of `idled` due at `now` (each then rescheduled one interval on);
    /// mailboxes no longer idled are forgotten.
    pub(super) fn take_due(
        &mut self,
        idled: &[PathBuf],
        now: Instant,
        every: Duration,
    ) -> Vec<PathBuf> {
        self.due.retain(|p, _| idled.contains(p));
        let mut out = Vec::new();
        for p in idled {
            let next = self.due.entry(p.clone()).or_insert(now + every);
            if *next <= now {
                *next = now + every;
                out.push(p.clone());
            }
        }
        out
    }
}

/// Starts the poller thread of `hub`; it ends when the hub is dropped. `every` is not zero.
pub(super) fn spawn(hub: Weak<Hub>, every: Duration) {
    // Fine enough that a mailbox is polled close to its due time, coarse enough to cost
    // nothing while nobody idles.
    let tick = every.min(Duration::from_secs(1));
    let spawned = std::thread::Builder::new()
        .name("imapd-idle-poll".into())
        .spawn(move || {
            let mut schedule = Schedule::default();
            loop {
                std::thread::sleep(tick);
                let Some(hub) = hub.upgrade() else { return };
                let idled = hub.idled();
                drop(hub);
                let paths: Vec<PathBuf> = idled.iter().map(|m| m.path.clone()).collect();
                let due = schedule.take_due(&paths, Instant::now(), every);
                let due: Vec<_> = idled.iter().filter(|m| due.contains(&m.path)).collect();
                rescan_all(&due);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the idle poll thread; idling clients see other hosts' changes only at their next command");
    }
}

/// Most threads one round of polls uses: a rescan that finds nothing is a few `stat`
/// calls, each a round trip to the storage nodes (about a millisecond through FUSE), so a
/// round over thousands of idled mailboxes is bound by latency, not by CPU.
const POLL_THREADS: usize = 4;
/// Below this many mailboxes a round is not worth a thread.
const PER_THREAD: usize = 16;

fn rescan_all(due: &[&std::sync::Arc<super::SharedMailbox>]) {
    let rescan = |mb: &super::SharedMailbox| {
        if let Err(e) = mb.rescan() {
            tracing::debug!(path = %mb.path.display(), error = %e, "idle poll rescan failed");
        }
    };
    let threads = due.len().div_ceil(PER_THREAD).clamp(1, POLL_THREADS);
    if threads == 1 {
        due.iter().for_each(|mb| rescan(mb));
        return;
    }
    std::thread::scope(|s| {
        for chunk in due.chunks(due.len().div_ceil(threads)) {
            s.spawn(move || chunk.iter().for_each(|mb| rescan(mb)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_over_many_mailboxes_rescans_every_one() {
        use ferrymail_maildir::{DeliverOptions, Maildir};
        let tmp = tempfile::tempdir().expect("tempdir");
        let hub = Hub::new(None, 0);
        let n = POLL_THREADS * PER_THREAD + 3;
        let mbs: Vec<_> = (0..n)
            .map(|i| {
                let md = Maildir::create(tmp.path().join(format!("m{i}"))).expect("maildir");
                hub.open(md, true).expect("open")
            })
            .collect();
        for mb in &mbs {
            let md = mb.maildir();
            md.deliver(&[b"Subject: x\r\n\r\nx\r\n"], DeliverOptions::default())
                .expect("deliver");
        }
        rescan_all(&mbs.iter().collect::<Vec<_>>());
        for mb in &mbs {
            assert_eq!(
                mb.snapshot().0.len(),
                1,
                "{} not rescanned",
                mb.path.display()
            );
        }
    }

    #[test]
    fn each_mailbox_is_due_one_interval_after_it_was_first_seen() {
        let every = Duration::from_secs(30);
        let t0 = Instant::now();
        let (a, b) = (PathBuf::from("/m/a"), PathBuf::from("/m/b"));
        let (only_a, only_b) = (std::slice::from_ref(&a), std::slice::from_ref(&b));
        let both = [a.clone(), b.clone()];
        let mut s = Schedule::default();
        assert!(s.take_due(only_a, t0, every).is_empty());
        let t10 = t0 + Duration::from_secs(10);
        assert!(s.take_due(&both, t10, every).is_empty());
        let t30 = t0 + every;
        assert_eq!(s.take_due(&both, t30, every), only_a);
        let t40 = t10 + every;
        assert_eq!(s.take_due(&both, t40, every), only_b);
        // Polled again one interval after its last poll, not after its first sighting.
        let t59 = t30 + every - Duration::from_secs(1);
        assert!(s.take_due(&both, t59, every).is_empty());
        assert_eq!(s.take_due(only_a, t30 + every, every), only_a);
        // b stopped idling: forgotten, so a new IDLE waits a whole interval again.
        let later = t30 + every + Duration::from_secs(100);
        assert_eq!(s.take_due(&both, later, every), only_a);
        assert!(s.take_due(only_b, later, every).is_empty());
    }
}
