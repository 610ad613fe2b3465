//! The greylist database: a sled database in `<paths.state_dir>/mta-smtpd/greylist`, opened by
//! mta-smtpd alone (one process owns a sled database), so triplets survive a restart. The
//! rules are in [`super::triplet`]; this file stores their records, counts them, and removes
//! stale ones in the background — and the oldest ones when there are more than
//! `greylist.max_entries`.
//!
//! Every method here does file I/O: callers run them on a blocking thread.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Greylist;

use super::triplet::{self, ClientRecord, Decision, TripletRecord};

/// How often stale entries are removed (and at once when the database is over its size).
const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);
/// sled's page cache.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("greylist database {path}: {source}")]
pub struct GreylistError {
    path: String,
    #[source]
    source: sled::Error,
}

/// How an attempt was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The network or a domain is on the configured allowlist.
    Exempt,
    /// The client network passed `auto_allowlist_after` triplets.
    AutoAllowlisted,
    Decided(Decision),
}

pub struct GreylistDb {
    db: sled::Db,
    cfg: Greylist,
    /// Records stored (kept up to date on inserts and sweeps; sled's own count is a scan).
    entries: AtomicUsize,
    over_size: tokio::sync::Notify,
}

impl GreylistDb {
    /// The database in `<state_dir>/mta-smtpd/greylist` (the directory created 0700).
    pub fn open_in_state_dir(state_dir: &Path, cfg: &Greylist) -> Result<Arc<GreylistDb>, String> {
        let dir = ferrymail_fsutil::private_state_dir(state_dir, "mta-smtpd")
            .map_err(|e| format!("{}: {e}", state_dir.join("mta-smtpd").display()))?;
        GreylistDb::open(&dir.join("greylist"), cfg).map_err(|e| e.to_string())
    }

    pub fn open(path: &Path, cfg: &Greylist) -> Result<Arc<GreylistDb>, GreylistError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| GreylistError {
                path: path.display().to_string(),
                source,
            })?;
        let entries = AtomicUsize::new(db.len());
        Ok(Arc::new(GreylistDb {
            db,
            cfg: cfg.clone(),
            entries,
            over_size: tokio::sync::Notify::new(),
        }))
    }

    /// Judges one delivery attempt at time `now` (Unix seconds) and records it.
    pub fn check(
        &self,
        ip: IpAddr,
        sender: Option<&str>,
        recipient: &str,
        now: u64,
    ) -> Result<Verdict, sled::Error> {
        if triplet::exempt(&self.cfg, ip, sender, recipient) {
            return Ok(Verdict::Exempt);
        }
        let net = triplet::client_network(ip, &self.cfg);
        let ckey = triplet::client_key(&net);
        let client = self.db.get(&ckey)?.and_then(|v| ClientRecord::decode(&v));
        if triplet::auto_allowlisted(&self.cfg, client, now) {
            self.put(&ckey, triplet::client_after(client, false, now).encode())?;
            return Ok(Verdict::AutoAllowlisted);
        }
        let tkey = triplet::triplet_key(&net, sender, recipient);
        let record = self.db.get(&tkey)?.and_then(|v| TripletRecord::decode(&v));
        let (decision, record) = triplet::decide(&self.cfg, record, now);
        self.put(&tkey, record.encode())?;
        if decision == (Decision::Pass { newly: true }) {
            self.put(&ckey, triplet::client_after(client, true, now).encode())?;
        }
        Ok(Verdict::Decided(decision))
    }

    fn put(&self, key: &[u8], value: Vec<u8>) -> Result<(), sled::Error> {
        if self.db.insert(key, value)?.is_none()
            && self.entries.fetch_add(1, Ordering::Relaxed) + 1 > self.cfg.max_entries
        {
            self.over_size.notify_one();
        }
        Ok(())
    }

    /// Records stored.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes stale records, then the least recently seen ones beyond nine tenths of
    /// `max_entries` (so a flood does not sweep on every insert). Returns how many went.
    pub fn sweep(&self, now: u64) -> Result<usize, sled::Error> {
        let mut keep: Vec<(u64, sled::IVec)> = Vec::new();
        let mut gone = 0;
        for item in self.db.iter() {
            let (k, v) = item?;
            let last_seen = match k.first() {
                Some(b't') => TripletRecord::decode(&v)
                    .filter(|r| !triplet::stale(&self.cfg, r, now))
                    .map(|r| r.last_seen),
                Some(b'c') => ClientRecord::decode(&v)
                    .filter(|c| now.saturating_sub(c.last_seen) <= self.cfg.max_age.as_secs())
                    .map(|c| c.last_seen),
                _ => None,
            };
            match last_seen {
                Some(t) => keep.push((t, k)),
                None => {
                    self.db.remove(&k)?;
                    gone += 1;
                }
            }
        }
        if keep.len() > self.cfg.max_entries {
            let target = self.cfg.max_entries - self.cfg.max_entries / 10;
            keep.sort_by_key(|(t, _)| *t);
            let excess = keep.len() - target;
            for (_, k) in keep.drain(..excess) {
                self.db.remove(&k)?;
                gone += 1;
            }
        }
        self.entries.store(keep.len(), Ordering::Relaxed);
        Ok(gone)
    }

    /// Writes everything to disk (at shutdown; sled also does so every half second).
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "greylist database flush failed");
        }
    }

    /// Sweeps every [`SWEEP_INTERVAL`], and whenever the database grows past its size.
    pub fn spawn_sweeper(self: &Arc<GreylistDb>) {
        let db = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                    _ = db.over_size.notified() => {}
                }
                let d = db.clone();
                let now = ferrymail_spool::unix_now();
                match tokio::task::spawn_blocking(move || d.sweep(now)).await {
                    Ok(Ok(gone)) => {
                        tracing::debug!(removed = gone, kept = db.len(), "greylist swept")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "greylist sweep failed"),
                    Err(e) => tracing::warn!(error = %e, "greylist sweep task failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_entries: usize) -> Greylist {
        Greylist {
            enabled: true,
            max_entries,
            ..Greylist::default()
        }
    }

    #[test]
    fn triplets_persist_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("greylist");
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        {
            let db = GreylistDb::open(&path, &cfg(100)).unwrap();
            let v = db.check(ip, Some("a@x.test"), "u@y.test", 1000).unwrap();
            assert_eq!(v, Verdict::Decided(Decision::Greylisted { retry_in: 300 }));
            db.flush();
        }
        let db = GreylistDb::open(&path, &cfg(100)).unwrap();
        assert_eq!(db.len(), 1);
        let v = db.check(ip, Some("a@x.test"), "u@y.test", 1300).unwrap();
        assert_eq!(v, Verdict::Decided(Decision::Pass { newly: true }));
        assert_eq!(db.len(), 2, "the triplet and its client's record");
    }

    #[test]
    fn clients_are_auto_allowlisted_after_enough_passes() {
        let dir = tempfile::tempdir().unwrap();
        let db = GreylistDb::open(&dir.path().join("g"), &cfg(100)).unwrap();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for i in 0..5 {
            let rcpt = format!("u{i}@y.test");
            db.check(ip, None, &rcpt, 0).unwrap();
            let v = db.check(ip, None, &rcpt, 300).unwrap();
            assert_eq!(v, Verdict::Decided(Decision::Pass { newly: true }));
        }
        let other: IpAddr = "192.0.2.200".parse().unwrap();
        assert_eq!(
            db.check(other, Some("new@z.test"), "u@y.test", 400)
                .unwrap(),
            Verdict::AutoAllowlisted
        );
    }

    #[test]
    fn sweeps_remove_stale_records_and_keep_the_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(10);
        let db = GreylistDb::open(&dir.path().join("g"), &c).unwrap();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        db.check(ip, None, "old@y.test", 0).unwrap();
        let later = c.retry_window.as_secs() + 10;
        for i in 0..12u64 {
            db.check(ip, None, &format!("u{i}@y.test"), later + i)
                .unwrap();
        }
        assert_eq!(db.len(), 13);
        let gone = db.sweep(later + 20).unwrap();
        assert_eq!(gone, 1 + 3, "the stale triplet, then the oldest down to 9");
        assert_eq!(db.len(), 9);
        // The newest survive: retrying the newest passes, the oldest starts over.
        let retry = later + 400;
        assert_eq!(
            db.check(ip, None, "u11@y.test", retry).unwrap(),
            Verdict::Decided(Decision::Pass { newly: true })
        );
        assert_eq!(
            db.check(ip, None, "u0@y.test", retry).unwrap(),
            Verdict::Decided(Decision::Greylisted { retry_in: 300 })
        );
    }
}
