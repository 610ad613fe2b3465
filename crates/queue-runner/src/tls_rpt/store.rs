//! The [`Recorder`]: each TLS session's outcome appended as one JSON line to
//! `<state_dir>/tls-rpt/<YYYY-MM-DD>.jsonl` (UTC), so a restart loses nothing already
//! recorded. Lines are not flushed one by one (a report is statistics, not mail); a crash
//! can only tear the last line, which is skipped when read, and the next append starts on a
//! fresh line. Past `max_results_per_day` lines a day's further results are only counted in
//! memory and written as one count line per domain and policy when the day ends, before a
//! report is built, and at shutdown.
//!
//! `<YYYY-MM-DD>.sent` lists the domains whose report for that day has been queued, each
//! line flushed before the next report, so a restart never sends one twice. A day's files go
//! when every domain in them is reported, or after `keep_days`.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::day::Day;
use super::model::{FailureDetail, Outcome, PolicyDesc};

/// One line of a day file: a single session (`detail` set for a failure) or, past the
/// day's limit, a count of sessions without details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub domain: String,
    pub policy: PolicyDesc,
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<FailureDetail>,
}

struct Today {
    day: Day,
    file: File,
    lines: usize,
    /// Past the limit: (ok, failed) per domain and policy, not yet written.
    overflow: BTreeMap<(String, PolicyDesc), (u64, u64)>,
}

pub struct Recorder {
    dir: PathBuf,
    max_per_day: usize,
    keep_days: u32,
    today: Mutex<Option<Today>>,
}

impl Recorder {
    /// Opens (creating it mode 0700) `<state_dir>/tls-rpt/`.
    pub fn open(state_dir: &Path, max_per_day: usize, keep_days: u32) -> std::io::Result<Recorder> {
        let dir = ferrymail_fsutil::private_state_dir(state_dir, "tls-rpt")?;
        Ok(Recorder {
            dir,
            max_per_day,
            keep_days,
            today: Mutex::new(None),
        })
    }

    /// Records one session with `domain` held to `policy`, at `now` (Unix seconds). A
    /// failed write is logged; delivery never waits on reporting.
    pub fn record(&self, domain: &str, policy: &PolicyDesc, outcome: Outcome, now: u64) {
        let (ok, failed, detail) = match outcome {
            Outcome::Success => (1, 0, None),
            Outcome::Failure(d) => (0, 1, Some(d)),
        };
        let entry = Entry {
            domain: domain.to_ascii_lowercase(),
            policy: policy.clone(),
            ok,
            failed,
            detail,
        };
        if let Err(e) = self.append(entry, Day::of(now)) {
            tracing::warn!(error = %e, "cannot record a TLS result");
        }
    }

    fn append(&self, entry: Entry, day: Day) -> std::io::Result<()> {
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(|t| t.day != day) {
            if let Some(old) = guard.as_mut() {
                flush_overflow(old)?;
            }
            *guard = Some(self.open_day(day)?);
        }
        let Some(t) = guard.as_mut() else {
            return Ok(());
        };
        if t.lines >= self.max_per_day {
            let c = t.overflow.entry((entry.domain, entry.policy)).or_default();
            c.0 = c.0.saturating_add(entry.ok);
            c.1 = c.1.saturating_add(entry.failed);
            return Ok(());
        }
        write_line(&mut t.file, &entry)?;
        t.lines += 1;
        Ok(())
    }

    fn open_day(&self, day: Day) -> std::io::Result<Today> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.results_path(day))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let lines = text.iter().filter(|&&b| b == b'\n').count();
        // A torn last line (crash mid-append) is ended, so it spoils only itself.
        if text.last().is_some_and(|&b| b != b'\n') {
            file.write_all(b"\n")?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(Today {
            day,
            file,
            lines,
            overflow: BTreeMap::new(),
        })
    }

    /// Writes out the counts held in memory (before a report is built and at shutdown).
    pub fn flush(&self) {
        if let Some(t) = self.lock().as_mut() {
            if let Err(e) = flush_overflow(t) {
                tracing::warn!(error = %e, "cannot write TLS result counts");
            }
        }
    }

    /// The entries recorded for `day`; unreadable lines are skipped.
    pub fn read(&self, day: Day) -> std::io::Result<Vec<Entry>> {
        self.flush();
        let text = match std::fs::read(self.results_path(day)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }

    /// Days with recorded results, oldest first.
    pub fn days(&self) -> std::io::Result<Vec<Day>> {
        let mut days: Vec<Day> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                Day::parse(name.to_str()?.strip_suffix(".jsonl")?)
            })
            .collect();
        days.sort();
        Ok(days)
    }

    /// The domains whose report for `day` has been queued.
    pub fn sent(&self, day: Day) -> HashSet<String> {
        std::fs::read_to_string(self.sent_path(day))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Records durably that `domain`'s report for `day` is queued.
    pub fn mark_sent(&self, day: Day, domain: &str) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.sent_path(day))?;
        f.write_all(format!("{domain}\n").as_bytes())?;
        ferrymail_fsutil::sync_data(&f)?;
        ferrymail_fsutil::fsync_dir(&self.dir)
    }

    /// Removes `day`'s files: every domain in it is reported, or it is too old to be.
    pub fn remove(&self, day: Day) {
        let mut today = self.lock();
        if today.as_ref().is_some_and(|t| t.day == day) {
            *today = None;
        }
        for p in [self.results_path(day), self.sent_path(day)] {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove TLS results");
                }
            }
        }
    }

    /// Whether `day` is past keeping on `today`.
    pub fn expired(&self, day: Day, today: Day) -> bool {
        day.0 + i64::from(self.keep_days) < today.0
    }

    fn results_path(&self, day: Day) -> PathBuf {
        self.dir.join(format!("{day}.jsonl"))
    }

    fn sent_path(&self, day: Day) -> PathBuf {
        self.dir.join(format!("{day}.sent"))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Today>> {
        self.today.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn write_line(file: &mut File, entry: &Entry) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // One write per line: appends from a crash-interrupted run cannot interleave with it.
    file.write_all(&line)
}

fn flush_overflow(t: &mut Today) -> std::io::Result<()> {
    for ((domain, policy), (ok, failed)) in std::mem::take(&mut t.overflow) {
        let e = Entry {
            domain,
            policy,
            ok,
            failed,
            detail: None,
        };
        write_line(&mut t.file, &e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls_rpt::model::ResultType;

    fn fail(rt: ResultType) -> Outcome {
        Outcome::Failure(FailureDetail {
            result_type: rt,
            sending_ip: None,
            receiving_mx: Some("mx.a.test".into()),
            receiving_ip: Some("192.0.2.1".parse().unwrap()),
            reason: None,
        })
    }

    fn totals(entries: &[Entry]) -> (u64, u64, usize) {
        let ok = entries.iter().map(|e| e.ok).sum();
        let failed = entries.iter().map(|e| e.failed).sum();
        let details = entries.iter().filter(|e| e.detail.is_some()).count();
        (ok, failed, details)
    }

    #[test]
    fn survives_reopening_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let day = Day(20_000);
        let t = day.start() + 5;
        let r = Recorder::open(dir.path(), 100, 3).unwrap();
        r.record("A.test", &PolicyDesc::none(), Outcome::Success, t);
        r.record(
            "a.test",
            &PolicyDesc::none(),
            fail(ResultType::CertificateExpired),
            t,
        );
        drop(r);
        // A crash in the middle of an append.
        let path = dir.path().join("tls-rpt").join(format!("{day}.jsonl"));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"domain\":\"a.te").unwrap();
        let r = Recorder::open(dir.path(), 100, 3).unwrap();
        r.record("a.test", &PolicyDesc::none(), Outcome::Success, t);
        let got = r.read(day).unwrap();
        assert_eq!(totals(&got), (2, 1, 1));
        assert!(got.iter().all(|e| e.domain == "a.test"));
        assert_eq!(r.days().unwrap(), [day]);
        assert_eq!(r.read(Day(day.0 + 1)).unwrap(), []);
    }

    #[test]
    fn past_the_limit_only_counts_grow() {
        let dir = tempfile::tempdir().unwrap();
        let day = Day(20_000);
        let r = Recorder::open(dir.path(), 3, 3).unwrap();
        for _ in 0..10 {
            r.record(
                "a.test",
                &PolicyDesc::none(),
                fail(ResultType::CertificateNotTrusted),
                day.start(),
            );
            r.record("a.test", &PolicyDesc::none(), Outcome::Success, day.start());
        }
        let got = r.read(day).unwrap();
        assert_eq!(totals(&got), (10, 10, 2));
        // Three detailed lines, one count line.
        assert_eq!(got.len(), 4);
        // The next day starts a new file, writing out what the last one still held.
        r.record("a.test", &PolicyDesc::none(), Outcome::Success, day.end());
        r.record(
            "a.test",
            &PolicyDesc::none(),
            Outcome::Success,
            day.end() + 1,
        );
        assert_eq!(totals(&r.read(day).unwrap()), (11, 10, 2));
        assert_eq!(totals(&r.read(Day(day.0 + 1)).unwrap()), (1, 0, 0));
    }

    #[test]
    fn remembers_sent_domains_and_removes_days() {
        let dir = tempfile::tempdir().unwrap();
        let day = Day(20_000);
        let r = Recorder::open(dir.path(), 10, 2).unwrap();
        r.record("a.test", &PolicyDesc::none(), Outcome::Success, day.start());
        r.mark_sent(day, "a.test").unwrap();
        let r = Recorder::open(dir.path(), 10, 2).unwrap();
        assert!(r.sent(day).contains("a.test"));
        assert!(!r.expired(day, Day(day.0 + 2)));
        assert!(r.expired(day, Day(day.0 + 3)));
        r.remove(day);
        assert_eq!(r.days().unwrap(), []);
        assert!(r.sent(day).is_empty());
    }
}
