//! CONDSTORE/QRESYNC mod-sequences (RFC 7162), kept beside the UID list in each maildir so
//! they survive a restart and the loss of imapd's state directory: `ferrymail-modseq`, an
//! append-only log of text records, read and written only under the mailbox's [`UidLock`]
//! (several processes may serve one user):
//!
//! - `U <uid>`: the log was started when UIDNEXT was `<uid>`; an older message without a
//!   record of its own is at mod-sequence 1 (an existing store after an upgrade);
//! - `<uid> <modseq> <info>`: the message's mod-sequence from then on, and its Maildir flags
//!   (`info`, `-` for none) at that point;
//! - `E <uid-set> <modseq>`: those UIDs were expunged at `<modseq>`;
//! - `R <modseq>`: mod-sequences up to there may have been handed out (flushed);
//! - `H <modseq>`: HIGHESTMODSEQ was shown at this value (a load that started above the
//!   records), so every process allocates above it.
//!
//! Why records are not flushed one by one, and a crash still never hides a change:
//! - a record is written before the change it describes (the flag rename, the unlink), so a
//!   crash in between can only make an unchanged message look changed;
//! - a record lost with the page cache (a power cut) is noticed at the next load: a message
//!   whose flags differ from its last record's `info`, a message at or above the `U` mark with
//!   no record, or a recorded UID that is gone without an `E` record, is given a new
//!   mod-sequence there and then;
//! - what a lost tail cannot take back is HIGHESTMODSEQ: numbers are handed out only below an
//!   `R` reservation that was flushed first (one flush per [`RESERVE`] mod-sequences), and a
//!   load starts above the last reservation, so no number a client saw is ever reused. The
//!   process that loads writes that start as an `H` record, so the other processes serving
//!   the mailbox allocate above what it shows too.
//!
//! The log is rewritten (tmp + fsync + rename) when it grows to several times what it holds:
//! one record per message, expunged UIDs merged into ranges at the newest of their
//! mod-sequences (later expunges can then look newer than they are, never older).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::uidlist::FileStamp;
use expunged::Expunged;

mod expunged;

pub const FILE_NAME: &str = "ferrymail-modseq";
/// Mod-sequences reserved by one flushed `R` record.
pub const RESERVE: u64 = 1000;
/// Below this size the log is never compacted.
const COMPACT_MIN: u64 = 64 * 1024;

/// The log as this process last read it.
#[derive(Debug, Clone, Default)]
pub struct ModseqLog {
    /// The `U` mark: UIDs below it without a record are at 1.
    pub start_uid: u32,
    /// Per UID: (mod-sequence, flags info at that point).
    records: HashMap<u32, (u64, Box<str>)>,
    /// Expunged UIDs and the mod-sequence of their expunge.
    expunged: Expunged,
    pub highest: u64,
    /// The highest mod-sequence the file itself names (records, expunges, `H`).
    recorded: u64,
    /// Up to here numbers may have been handed out (a flushed `R`).
    reserved: u64,
    /// Bytes of complete records read.
    offset: u64,
    stamp: Option<FileStamp>,
    /// Whether the file exists.
    present: bool,
}

impl ModseqLog {
    /// Reads `dir`'s log; an absent one is empty (not [`present`](Self::is_present)).
    pub fn load(dir: &Path) -> io::Result<ModseqLog> {
        let mut log = ModseqLog::default();
        log.catch_up(dir)?;
        // Whatever a lost tail held lies below the last reservation. Never 0: RFC 7162's
        // mod-sequence-value is positive, and an empty mailbox's HIGHESTMODSEQ is 1 (clients
        // such as interimap take 0 for "no mod-sequences" and never settle).
        log.highest = log.highest.max(log.reserved).max(1);
        Ok(log)
    }

    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Reads what other processes appended since; a replaced (compacted) file is read anew.
    pub fn catch_up(&mut self, dir: &Path) -> io::Result<()> {
        let path = dir.join(FILE_NAME);
        let stamp = FileStamp::of_file(&path);
        if stamp == self.stamp && self.present == stamp.is_some() {
            return Ok(());
        }
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.present = false;
                self.stamp = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let same_file =
            self.present && stamp.is_some_and(|s| Some(s.ino()) == self.stamp.map(|o| o.ino()));
        if !same_file || len < self.offset {
            let keep = self.highest;
            *self = ModseqLog::default();
            self.highest = keep;
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        // A torn last line (a crash mid-append) is left for later, as if unwritten.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text.get(..complete).unwrap_or("").lines() {
            self.apply(line);
        }
        self.highest = self.highest.max(self.recorded);
        self.offset += complete as u64;
        self.present = true;
        self.stamp = stamp;
        Ok(())
    }

    fn apply(&mut self, line: &str) {
        let mut it = line.split(' ');
        let fields = (it.next(), it.next(), it.next());
        if it.next().is_some() {
            return;
        }
        match fields {
            (Some("U"), Some(uid), None) => self.start_uid = uid.parse().unwrap_or(0),
            (Some("R"), Some(n), None) => {
                if let Ok(n) = n.parse::<u64>() {
                    self.reserved = self.reserved.max(n);
                }
            }
            (Some("E"), Some(set), Some(m)) => {
                let Ok(m) = m.parse::<u64>() else { return };
                for (lo, hi) in parse_set(set) {
                    if u64::from(hi - lo) < self.records.len() as u64 {
                        for uid in lo..=hi {
                            self.records.remove(&uid);
                        }
                    } else {
                        self.records.retain(|u, _| !(lo..=hi).contains(u));
                    }
                    self.expunged.insert(lo, hi, m);
                }
                self.recorded = self.recorded.max(m);
            }
            (Some("H"), Some(n), None) => {
                if let Ok(n) = n.parse::<u64>() {
                    self.recorded = self.recorded.max(n);
                }
            }
            (Some(uid), Some(m), Some(info)) => {
                if let (Ok(uid), Ok(m)) = (uid.parse::<u32>(), m.parse::<u64>()) {
                    self.expunged.remove(uid, uid);
                    self.records.insert(uid, (m, info.into()));
                    self.recorded = self.recorded.max(m);
                }
            }
            _ => {}
        }
    }

    /// The message's mod-sequence if its flags are still those last recorded; None if it
    /// needs a new one (never recorded at or above the `U` mark, flags changed since, or
    /// recorded as expunged).
    pub fn current(&self, uid: u32, info: &str) -> Option<u64> {
        if self.expunged.contains(uid) {
            // Recorded as expunged, yet here (the unlink failed or never happened): it must
            // be reported again, so it needs a mod-sequence above the expunge's.
            return None;
        }
        match self.records.get(&uid) {
            Some((m, i)) if &**i == info_token(info) => Some(*m),
            Some(_) => None,
            None if uid < self.start_uid => Some(1),
            None => None,
        }
    }

    pub fn is_expunged(&self, uid: u32) -> bool {
        self.expunged.contains(uid)
    }

    /// UIDs with a record (live as far as the log knows).
    pub fn recorded(&self) -> impl Iterator<Item = u32> + '_ {
        self.records.keys().copied()
    }

    /// UIDs expunged after `since`, ascending.
    pub fn expunged_since(&self, since: u64) -> Vec<u32> {
        self.expunged.since(since)
    }

    /// Writes down a HIGHESTMODSEQ this process shows but the file does not name (see the
    /// module doc). Call with the [`UidLock`] held, after [`catch_up`](Self::catch_up).
    ///
    /// [`UidLock`]: crate::uidlist::UidLock
    pub fn settle(&mut self, dir: &Path) -> io::Result<()> {
        if !self.present || self.highest <= self.recorded {
            return Ok(());
        }
        let line = format!("{}H {}\n", self.torn_prefix(dir), self.highest);
        match fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE_NAME))
            .and_then(|mut f| f.write_all(line.as_bytes()))
        {
            Ok(()) => self.catch_up(dir),
            Err(e) if unwritable(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A newline if the file ends in a torn record (a crash mid-append), so the next record
    /// starts a line of its own.
    fn torn_prefix(&self, dir: &Path) -> &'static str {
        let len = fs::metadata(dir.join(FILE_NAME)).map_or(0, |m| m.len());
        if self.present && len > self.offset {
            "\n"
        } else {
            ""
        }
    }

    /// Records changes at one new mod-sequence, which it returns: `changed` (uid, flags
    /// info) for messages new or changed, `gone` for expunged ones. Starts the log if there
    /// is none (`uidnext` then becomes its `U` mark). Call with the [`UidLock`] held, after
    /// [`catch_up`](Self::catch_up), before making the changes themselves.
    ///
    /// [`UidLock`]: crate::uidlist::UidLock
    pub fn record(
        &mut self,
        dir: &Path,
        uidnext: u32,
        changed: &[(u32, String)],
        gone: &[u32],
    ) -> io::Result<u64> {
        let modseq = self.highest + 1;
        let mut text = self.torn_prefix(dir).to_owned();
        if !self.present {
            text.push_str(&format!("U {uidnext}\n"));
        }
        let reserve = modseq > self.reserved;
        if reserve {
            text.push_str(&format!("R {}\n", modseq + RESERVE));
        }
        for (uid, info) in changed {
            text.push_str(&format!("{uid} {modseq} {}\n", info_token(info)));
        }
        if !gone.is_empty() {
            text.push_str(&format!("E {} {modseq}\n", render_set(gone)));
        }
        let written = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(dir.join(FILE_NAME))
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                if reserve {
                    ferrymail_fsutil::sync_data(&f)?;
                }
                Ok(())
            });
        match written {
            // Read back through the one parser, so what this process believes is what is
            // written.
            Ok(()) => self.catch_up(dir)?,
            // A maildir served read-only (see `FileLock`): nothing in it can change, so
            // mod-sequences this process alone knows are enough.
            Err(e) if unwritable(&e) => text.lines().for_each(|l| self.apply(l)),
            Err(e) => return Err(e),
        }
        self.highest = self.highest.max(modseq);
        self.maybe_compact(dir)?;
        Ok(modseq)
    }

    /// Rewrites the log to what it holds if it has grown to four times that.
    fn maybe_compact(&mut self, dir: &Path) -> io::Result<()> {
        let held = (self.records.len() as u64 + 8) * 24 + 64;
        if self.offset < COMPACT_MIN || self.offset < held * 4 {
            return Ok(());
        }
        self.compact(dir)
    }

    /// One record per message, expunges as ranges; atomic (tmp + fsync + rename).
    pub fn compact(&mut self, dir: &Path) -> io::Result<()> {
        let mut text = format!(
            "U {}\nR {}\nH {}\n",
            self.start_uid,
            self.reserved.max(self.highest),
            self.highest
        );
        let mut live: Vec<_> = self.records.iter().collect();
        live.sort_by_key(|(u, _)| **u);
        for (uid, (m, info)) in live {
            text.push_str(&format!("{uid} {m} {info}\n"));
        }
        for (lo, hi, m) in self.expunged.merged() {
            text.push_str(&format!("E {} {m}\n", run_text(lo, hi)));
        }
        ferrymail_fsutil::write_atomic(&dir.join(FILE_NAME), text.as_bytes(), 0o600)?;
        let keep = self.highest;
        *self = ModseqLog::default();
        self.catch_up(dir)?;
        self.highest = self.highest.max(keep);
        Ok(())
    }
}

/// A read-only file system or a maildir we may not write to.
fn unwritable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS)
}

/// A flags info as one token of a record.
pub fn info_token(info: &str) -> &str {
    if info.is_empty() || info.contains(' ') {
        "-"
    } else {
        info
    }
}

/// Runs of consecutive UIDs in an ascending list.
fn ranges(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(u) => *hi = u,
            _ => out.push((u, u)),
        }
    }
    out
}

fn render_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    ranges(&sorted)
        .iter()
        .map(|&(lo, hi)| run_text(lo, hi))
        .collect::<Vec<_>>()
        .join(",")
}

/// `lo:hi`, or `lo` alone.
fn run_text(lo: u32, hi: u32) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}:{hi}")
    }
}

fn parse_set(s: &str) -> Vec<(u32, u32)> {
    s.split(',')
        .filter_map(|r| match r.split_once(':') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => r.parse().ok().map(|u| (u, u)),
        })
        .filter(|(a, b)| a <= b && b - a < 10_000_000)
        .collect()
}

#[cfg(test)]
mod tests;
