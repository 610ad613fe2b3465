//! The per-mailbox UID list, `ferrymail-uidlist` in each maildir: the persistent truth for
//! UIDVALIDITY, UIDNEXT and which file base name has which UID (Dovecot keeps the same
//! facts in `dovecot-uidlist`). Living beside the messages, it survives the loss of imapd's
//! state directory, so UIDs are never renumbered unless this file itself is lost.
//!
//! Format (text, one record a line, written atomically with tmp + fsync + rename):
//! ```text
//! 4 V<uidvalidity> N<uidnext>
//! <uid> T<saved> :<base>
//! ```
//!
//! `<saved>` (Unix seconds) is when the message came into this mailbox: RFC 8514's SAVEDATE.
//! It is written with the UID because the UID is assigned at exactly that moment (APPEND,
//! COPY and MOVE in, or a delivery first seen) and made durable before any client sees
//! it; the message file cannot say it (its ctime changes with every flag rename, its mtime
//! is INTERNALDATE), and imapd's cache is rebuildable, so it would lose it. Version 3 lists
//! (and records appended by an older imapd) have no `T`: such a message's save date is
//! unknown (0) and shown as its INTERNALDATE, which is when it was delivered unless a
//! client chose it.
//!
//! Several processes may assign UIDs in one mailbox (imapd's main process for virtual users
//! and one session child per login of a Unix account), so every read-modify-write of the list
//! happens under [`UidLock`], an `flock` on `ferrymail-uidlist.lock` beside it, after
//! re-reading the list if its [`FileStamp`] shows another process changed it.
//!
//! A new list's UIDVALIDITY comes from [`next_uidvalidity`]: the current second, but always
//! above the last one issued in the user's store (kept in `ferrymail-uidvalidity` at the
//! store's root), so a mailbox deleted and created again within one second, or after the
//! clock went back, never shows clients (or imapd's cache) an old UIDVALIDITY.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

pub const FILE_NAME: &str = "ferrymail-uidlist";
/// The lock file serialising UID assignment across processes.
pub const LOCK_NAME: &str = "ferrymail-uidlist.lock";
/// At a store's root: the last UIDVALIDITY issued to any of its mailboxes.
pub const LAST_UIDVALIDITY_NAME: &str = "ferrymail-uidvalidity";
/// The lock file serialising [`next_uidvalidity`] across processes.
const LAST_UIDVALIDITY_LOCK: &str = "ferrymail-uidvalidity.lock";

/// An exclusive `flock` on a lock file, released on drop: the one mechanism for every
/// read-modify-write of a file that several processes serving one user share (the UID
/// list, `dovecot-keywords`, `subscriptions`). Blocks until any other holder (in this or
/// another process) is done. Never take two at once, with one exception in a fixed order:
/// [`next_uidvalidity`] takes the store's lock while a mailbox's [`UidLock`] is held.
pub struct FileLock {
    _lock: Option<Flock<fs::File>>,
}

impl FileLock {
    /// Locks `path` (created if missing). A place we cannot write to (read-only file system
    /// or permissions) is served unlocked: we cannot change the files there anyway.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
        {
            Ok(f) => f,
            Err(e)
                if e.kind() == io::ErrorKind::PermissionDenied
                    || e.raw_os_error() == Some(libc::EROFS) =>
            {
                return Ok(FileLock { _lock: None });
            }
            Err(e) => return Err(e),
        };
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| io::Error::from_raw_os_error(e as i32))?;
        Ok(FileLock { _lock: Some(lock) })
    }
}

/// Held while a process reads the UID list, assigns UIDs and writes them back, and while
/// it adds keyword names to the mailbox's `dovecot-keywords` (the mailbox's one lock).
pub struct UidLock {
    _lock: FileLock,
}

impl UidLock {
    /// Locks `dir`'s UID list.
    pub fn acquire(dir: &Path) -> io::Result<UidLock> {
        Ok(UidLock {
            _lock: FileLock::acquire(&dir.join(LOCK_NAME))?,
        })
    }
}

/// Identity and version of the list file: differs from the one we recorded after our own
/// last read or write iff another process rewrote or appended to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    /// The stamp of `dir`'s list, None if there is none.
    pub fn of(dir: &Path) -> Option<FileStamp> {
        FileStamp::of_file(&dir.join(FILE_NAME))
    }

    /// The file's inode: another one means the file was replaced, not appended to.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The stamp of any file, None if there is none.
    pub fn of_file(path: &Path) -> Option<FileStamp> {
        let m = fs::metadata(path).ok()?;
        Some(FileStamp {
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }

    /// When the file last changed (the later of mtime and ctime), in ns since the epoch.
    pub fn changed_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidList {
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// (uid, save date in Unix seconds or 0 if unknown, base name), ascending by uid.
    pub entries: Vec<(u32, i64, String)>,
}

impl UidList {
    /// Parses the file; None if it is not a valid UID list (it is then rebuilt with a new
    /// UIDVALIDITY, the one case where clients must resynchronise).
    pub fn parse(text: &str) -> Option<UidList> {
        let mut lines = text.lines();
        let mut head = lines.next()?.split(' ');
        // Version 3 is version 4 without save dates.
        if !matches!(head.next()?, "3" | "4") {
            return None;
        }
        let mut uidvalidity = None;
        let mut uidnext = None;
        for field in head {
            if let Some(v) = field.strip_prefix('V') {
                uidvalidity = v.parse::<u32>().ok();
            } else if let Some(n) = field.strip_prefix('N') {
                uidnext = n.parse::<u32>().ok();
            }
        }
        let uidvalidity = uidvalidity.filter(|&v| v != 0)?;
        let uidnext = uidnext.filter(|&n| n != 0)?;
        let mut entries = Vec::new();
        let mut last = 0u32;
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (head, base) = line.split_once(" :")?;
            let (uid, saved) = match head.split_once(" T") {
                Some((uid, saved)) => (uid, saved.parse::<i64>().ok()?.max(0)),
                None => (head, 0),
            };
            let uid: u32 = uid.parse().ok()?;
            // UIDs must be strictly ascending, or the file is corrupt. Lines appended after
            // the header was written may be at or above its UIDNEXT.
            if uid <= last || base.is_empty() || base.contains(['/', '\0']) {
                return None;
            }
            last = uid;
            entries.push((uid, saved, base.to_owned()));
        }
        Some(UidList {
            uidvalidity,
            uidnext: uidnext.max(last.saturating_add(1)),
            entries,
        })
    }

    pub fn render(&self) -> String {
        let mut s = format!("4 V{} N{}\n", self.uidvalidity, self.uidnext);
        for (uid, saved, base) in &self.entries {
            s.push_str(&record(*uid, *saved, base));
        }
        s
    }

    /// Reads `dir/ferrymail-uidlist`; Ok(None) if absent or invalid.
    pub fn load(dir: &Path) -> io::Result<Option<UidList>> {
        match fs::read_to_string(dir.join(FILE_NAME)) {
            Ok(text) => {
                let parsed = UidList::parse(&text);
                if parsed.is_none() {
                    tracing::warn!(dir = %dir.display(), "invalid UID list, rebuilding with a new UIDVALIDITY");
                }
                Ok(parsed)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Appends records for new messages (UIDs above every UID in the file) and syncs them:
    /// a delivery costs one short write instead of rewriting the whole list.
    pub fn append(dir: &Path, records: &[(u32, i64, &str)]) -> io::Result<()> {
        let mut text = String::new();
        for (uid, saved, base) in records {
            text.push_str(&record(*uid, *saved, base));
        }
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE_NAME))?;
        f.write_all(text.as_bytes())?;
        ferrymail_fsutil::sync_data(&f)
    }

    /// Writes the list atomically. Durable before UIDs are handed to clients, because a UID
    /// a client has seen must never be given to another message.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        ferrymail_fsutil::write_atomic(&dir.join(FILE_NAME), self.render().as_bytes(), 0o600)
    }
}

/// One message's line; an unknown save date (0) is left out.
fn record(uid: u32, saved: i64, base: &str) -> String {
    if saved > 0 {
        format!("{uid} T{saved} :{base}\n")
    } else {
        format!("{uid} :{base}\n")
    }
}

/// The Maildir++ store root a mailbox directory belongs to: a folder is a `.Name` directory
/// beside INBOX's `cur/`; anything else is INBOX, the root itself.
pub fn store_root(mailbox: &Path) -> &Path {
    let is_folder = mailbox
        .file_name()
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
    match mailbox.parent() {
        Some(parent) if is_folder && parent.join("cur").is_dir() => parent,
        _ => mailbox,
    }
}

/// A UIDVALIDITY for a new UID list in the store at `root`: the current second, or one
/// more than the last issued there if that is not lower; recorded durably before it is
/// returned, so it is never issued twice.
pub fn next_uidvalidity(root: &Path, now: u32) -> io::Result<u32> {
    let _lock = FileLock::acquire(&root.join(LAST_UIDVALIDITY_LOCK))?;
    let path = root.join(LAST_UIDVALIDITY_NAME);
    let last = match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u32>().unwrap_or(0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let next = now.max(last.saturating_add(1)).max(1);
    ferrymail_fsutil::write_atomic(&path, format!("{next}\n").as_bytes(), 0o600)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_corruption() {
        let l = UidList {
            uidvalidity: 1_700_000_000,
            uidnext: 7,
            entries: vec![(1, 0, "a.M1".into()), (5, 1_700_000_100, "b.M2,S=3".into())],
        };
        assert_eq!(
            l.render(),
            "4 V1700000000 N7\n1 :a.M1\n5 T1700000100 :b.M2,S=3\n"
        );
        assert_eq!(UidList::parse(&l.render()), Some(l.clone()));
        assert_eq!(UidList::parse("3 V1 N3\n2 :a\n1 :b\n"), None);
        assert_eq!(
            UidList::parse("3 V1 N3\n3 :a\n").map(|l| l.uidnext),
            Some(4)
        );
        assert_eq!(UidList::parse("3 V0 N3\n"), None);
        assert_eq!(UidList::parse("2 V1 N3\n"), None);
        assert_eq!(UidList::parse("3 V1 N3\n1 :../x/y\n"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(UidList::load(dir.path()).unwrap(), None);
        l.save(dir.path()).unwrap();
        assert_eq!(UidList::load(dir.path()).unwrap(), Some(l.clone()));
        UidList::append(dir.path(), &[(7, 1_700_000_200, "c.M3"), (9, 0, "d.M4")]).unwrap();
        let back = UidList::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.uidnext, 10, "appended records move UIDNEXT past them");
        assert_eq!(back.entries.len(), 4);
        assert_eq!(back.entries[2], (7, 1_700_000_200, "c.M3".to_owned()));
        assert_eq!(
            UidList::parse("3 V1 N3\n1 T: :a\n"),
            None,
            "a broken save date"
        );
    }

    /// A list an older imapd wrote (version 3, no save dates) is read, its messages' save
    /// dates unknown; records it appends to a version 4 list are read too.
    #[test]
    fn version_3_lists_are_read_without_save_dates() {
        let old = UidList::parse("3 V9 N4\n1 :a.M1\n3 :b.M2:2,S\n").unwrap();
        assert_eq!(
            old.entries,
            vec![(1, 0, "a.M1".to_owned()), (3, 0, "b.M2:2,S".to_owned())]
        );
        let mixed = UidList::parse("4 V9 N4\n1 T5 :a.M1\n3 :b.M2\n").unwrap();
        assert_eq!(mixed.entries[0].1, 5);
        assert_eq!(mixed.entries[1].1, 0);
    }

    #[test]
    fn uidvalidity_only_grows_within_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(next_uidvalidity(root, 1000).unwrap(), 1000);
        assert_eq!(next_uidvalidity(root, 1000).unwrap(), 1001, "same second");
        assert_eq!(
            next_uidvalidity(root, 900).unwrap(),
            1002,
            "clock went back"
        );
        assert_eq!(next_uidvalidity(root, 5000).unwrap(), 5000);
        let other = tempfile::tempdir().unwrap();
        assert_eq!(next_uidvalidity(other.path(), 1000).unwrap(), 1000);
    }

    #[test]
    fn store_root_of_inbox_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        fs::create_dir_all(root.join("cur")).unwrap();
        fs::create_dir_all(root.join(".Sent").join("cur")).unwrap();
        assert_eq!(store_root(&root), root);
        assert_eq!(store_root(&root.join(".Sent")), root);
        let dotted = dir.path().join(".user");
        fs::create_dir_all(dotted.join("cur")).unwrap();
        assert_eq!(
            store_root(&dotted),
            dotted,
            "a root whose parent is no maildir"
        );
    }
}
