//! Whether a mailbox can have changed since its last full scan. A scan lists every file of
//! `cur/` and `new/` (10,000 names take milliseconds), and clients poll with NOOP; every
//! change another process or session makes touches one of the stamped files: a delivery
//! or expunge changes `new/` or `cur/`, a flag change renames within `cur/`, a UID or
//! keyword assignment rewrites the UID list or `dovecot-keywords`, a mod-sequence is
//! recorded in `ferrymail-modseq`.
//!
//! A stamp only proves "unchanged" once it is older than the scan by more than the
//! file-system clock's granularity: a change in the same tick as the scan could leave the
//! directory's mtime and ctime as they were, so until then every rescan is a full one. On a
//! store shared between hosts the times are another host's (or the file server's) clock
//! read against ours, so the margin also covers a clock that is up to a second behind:
//! with one-second timestamps (some NFS servers) and that skew, two seconds.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::uidlist::{self, FileStamp};

/// How long a stamp must be older than the scan that took it before it is trusted.
const SETTLE_NS: i128 = 2_000_000_000;

/// The stamps of a mailbox's change-bearing files, taken just before a full scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStamp {
    files: [Option<FileStamp>; 5],
    taken_ns: i128,
}

fn files(dir: &Path) -> [Option<FileStamp>; 5] {
    [
        FileStamp::of_file(&dir.join("new")),
        FileStamp::of_file(&dir.join("cur")),
        FileStamp::of_file(&dir.join(uidlist::FILE_NAME)),
        FileStamp::of_file(&dir.join(super::KEYWORDS_FILE)),
        FileStamp::of_file(&dir.join(crate::modseq::FILE_NAME)),
    ]
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl ScanStamp {
    /// Taken before listing the directories, so a change during the scan shows next time.
    pub fn take(dir: &Path) -> ScanStamp {
        ScanStamp {
            files: files(dir),
            taken_ns: now_ns(),
        }
    }

    /// True if nothing can have changed in `dir` since this stamp's scan.
    pub fn still_current(&self, dir: &Path) -> bool {
        let settled = self
            .files
            .iter()
            .flatten()
            .all(|f| f.changed_ns() + SETTLE_NS < self.taken_ns);
        // A missing `new/` or `cur/` is not a state worth trusting.
        settled && self.files[..2].iter().all(Option::is_some) && files(dir) == self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_only_once_settled_and_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for d in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.join(d)).unwrap();
        }
        // Just made: not settled yet.
        let s = ScanStamp::take(dir);
        assert!(!s.still_current(dir));
        // As if the scan had happened two seconds after the last change.
        let settled = ScanStamp {
            taken_ns: s.taken_ns + 2 * SETTLE_NS,
            ..s.clone()
        };
        assert!(settled.still_current(dir));
        std::fs::write(dir.join("new/1.M1P1.host"), b"x").unwrap();
        assert!(!settled.still_current(dir), "a delivery must show");
        let again = ScanStamp {
            taken_ns: now_ns() + 2 * SETTLE_NS,
            ..ScanStamp::take(dir)
        };
        assert!(again.still_current(dir));
        std::fs::rename(dir.join("new/1.M1P1.host"), dir.join("cur/1.M1P1.host:2,S")).unwrap();
        assert!(
            !again.still_current(dir),
            "a flag change or move to cur must show"
        );
        let missing = ScanStamp {
            taken_ns: now_ns() + 2 * SETTLE_NS,
            ..ScanStamp::take(&dir.join("nowhere"))
        };
        assert!(!missing.still_current(&dir.join("nowhere")));
    }
}
