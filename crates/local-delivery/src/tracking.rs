//! The per-user memory of Sieve's response tracking: which senders got a vacation reply
//! (RFC 5230 §4.2) and which message ids `duplicate` saw (RFC 7352). One small file in the
//! user's Sieve home, `.ferrymail-sieve-tracking`, written by the delivery running as that
//! user (so it needs no privileged directory and moves with the user's data), locked with
//! `flock` for the whole read-modify-write so concurrent deliveries to one user do not lose
//! entries. A line is `<kind> <created> <expires> <key>`, times in Unix seconds, the key
//! xtext-encoded; a damaged line is skipped (forgetting an entry costs one extra reply).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The file's name in the Sieve home.
pub const FILE_NAME: &str = ".ferrymail-sieve-tracking";
/// Largest tracking file read; beyond it the oldest entries are simply not seen.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Longest key kept (a longer one is cut: a Message-ID is far shorter).
const MAX_KEY: usize = 998;

/// What an entry tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vacation,
    Duplicate,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Vacation => "v",
            Kind::Duplicate => "d",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    created: u64,
    expires: u64,
    key: String,
}

/// The locked, loaded file; [`Tracking::save`] writes it back.
pub struct Tracking {
    file: File,
    entries: Vec<Entry>,
    max_entries: usize,
    changed: bool,
}

impl Tracking {
    /// Opens (creating, mode 0600, never through a symlink) and locks the file in `home`.
    pub fn open(home: &Path, max_entries: usize) -> std::io::Result<Tracking> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(home.join(FILE_NAME))?;
        // SAFETY: flock on a descriptor we own; it is released when `file` closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut text = String::new();
        (&mut file).take(MAX_FILE).read_to_string(&mut text)?;
        let entries = text.lines().filter_map(parse_line).collect();
        Ok(Tracking {
            file,
            entries,
            max_entries,
            changed: false,
        })
    }

    /// Whether `key` was recorded and its period has not run out at `now`.
    pub fn seen(&self, kind: Kind, key: &str, now: u64) -> bool {
        let key = escape(key);
        self.entries
            .iter()
            .any(|e| e.kind == kind && e.key == key && e.expires > now)
    }

    /// How many entries of `kind` were created after `since` (a rate limit's count).
    pub fn created_since(&self, kind: Kind, since: u64) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind == kind && e.created > since)
            .count()
    }

    /// Records `key` for `period` seconds from `now`. A live entry keeps its expiry unless
    /// `refresh` (`duplicate :last`: the period runs from the latest sighting).
    pub fn record(&mut self, kind: Kind, key: &str, now: u64, period: u64, refresh: bool) {
        let key = escape(key);
        let expires = now.saturating_add(period);
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.kind == kind && e.key == key && e.expires > now)
        {
            if refresh {
                e.expires = expires;
                self.changed = true;
            }
            return;
        }
        self.entries.push(Entry {
            kind,
            created: now,
            expires,
            key,
        });
        self.changed = true;
    }

    /// Writes the file back without entries that are past both their period and the day a
    /// rate limit looks back over, keeping at most `max_entries`, the newest.
    pub fn save(mut self, now: u64) -> std::io::Result<()> {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.expires > now || e.created + 86_400 > now);
        if self.entries.len() > self.max_entries {
            self.entries.sort_by_key(|e| e.created);
            let drop = self.entries.len() - self.max_entries;
            self.entries.drain(..drop);
        }
        if !self.changed && self.entries.len() == before {
            return Ok(());
        }
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&format!(
                "{} {} {} {}\n",
                e.kind.tag(),
                e.created,
                e.expires,
                e.key
            ));
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.file.set_len(0)?;
        self.file.write_all(out.as_bytes())?;
        ferrymail_fsutil::sync_data(&self.file)
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut it = line.splitn(4, ' ');
    let kind = match it.next()? {
        "v" => Kind::Vacation,
        "d" => Kind::Duplicate,
        _ => return None,
    };
    Some(Entry {
        kind,
        created: it.next()?.parse().ok()?,
        expires: it.next()?.parse().ok()?,
        key: it.next()?.to_string(),
    })
}

/// Keys hold anything a header can; stored as xtext (no spaces or controls), cut to a bound.
fn escape(key: &str) -> String {
    let mut end = key.len().min(MAX_KEY);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    ferrymail_smtp::xtext::encode(&key[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_survive_reopening_and_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tracking::open(dir.path(), 3).unwrap();
        t.record(Kind::Vacation, "a@x.test\0h", 1000, 60, false);
        t.record(Kind::Duplicate, "<id 1@x>", 1000, 60, false);
        assert!(t.seen(Kind::Vacation, "a@x.test\0h", 1059));
        assert!(!t.seen(Kind::Vacation, "a@x.test\0h", 1060));
        assert!(
            !t.seen(Kind::Duplicate, "a@x.test\0h", 1000),
            "kinds are apart"
        );
        t.save(1000).unwrap();

        let mut t = Tracking::open(dir.path(), 3).unwrap();
        assert!(t.seen(Kind::Duplicate, "<id 1@x>", 1030));
        // Without refresh the first period stands; with it the period restarts.
        t.record(Kind::Duplicate, "<id 1@x>", 1030, 60, false);
        assert!(!t.seen(Kind::Duplicate, "<id 1@x>", 1060));
        t.record(Kind::Duplicate, "<id 1@x>", 1030, 60, true);
        assert!(t.seen(Kind::Duplicate, "<id 1@x>", 1080));
        assert_eq!(t.created_since(Kind::Vacation, 999), 1);
        assert_eq!(t.created_since(Kind::Vacation, 1000), 0);
        for i in 0..5 {
            t.record(Kind::Vacation, &format!("s{i}"), 1100 + i, 60, false);
        }
        t.save(1100).unwrap();
        let t = Tracking::open(dir.path(), 3).unwrap();
        assert_eq!(t.entries.len(), 3, "capped to the newest");
        assert!(t.seen(Kind::Vacation, "s4", 1110) && !t.seen(Kind::Vacation, "s0", 1110));
        drop(t);
        // Garbage lines are skipped, not fatal.
        std::fs::write(dir.path().join(FILE_NAME), "junk\nv 1 9999999999 k\n").unwrap();
        let t = Tracking::open(dir.path(), 3).unwrap();
        assert!(t.seen(Kind::Vacation, "k", 5));
    }

    #[test]
    fn a_symlink_in_place_of_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join(FILE_NAME)).unwrap();
        assert!(Tracking::open(dir.path(), 3).is_err());
    }
}
