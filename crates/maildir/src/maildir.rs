//! One maildir (`tmp/`, `new/`, `cur/`): crash-safe delivery, listing, flag changes and
//! expunge, all tolerant of other processes (Dovecot, mutt, another ferrymail daemon)
//! renaming the same files underneath us.

use std::fmt;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::{Add, AddAssign};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::filename::{
    base_with_sizes, delivery_order_key, is_message_file_name, parse_name, unique_tmp_name,
    SizeCounter,
};
use crate::flags::Flags;
use crate::fsops::{fdatasync_file, fsync_dir, fsync_file, mkdir_0700, rename_noreplace};

/// How often a fresh unique name is tried when the previous one was taken.
const NAME_ATTEMPTS: usize = 16;
/// How often a message is chased after another process renamed it under us.
const CHASE_ATTEMPTS: usize = 32;
const COPY_BUFFER: usize = 64 * 1024;

/// Which of the two message directories a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subdir {
    /// Delivered and not yet seen by any mail client.
    New,
    /// Seen by a client; the file name carries the `:2,` flags.
    Cur,
}

impl Subdir {
    pub fn as_str(self) -> &'static str {
        match self {
            Subdir::New => "new",
            Subdir::Cur => "cur",
        }
    }
}

impl fmt::Display for Subdir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a message besides storing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverOptions {
    /// `Some` stores straight into `cur/` with these flags (IMAP APPEND); `None` into `new/`.
    pub flags: Option<Flags>,
    /// Modification time to give the file: the IMAP INTERNALDATE readers take from it.
    pub mtime: Option<SystemTime>,
    /// Refuse (and clean up) a message larger than this many bytes.
    pub max_size: Option<u64>,
}

impl DeliverOptions {
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = Some(flags);
        self
    }

    pub fn with_mtime(mut self, mtime: SystemTime) -> Self {
        self.mtime = Some(mtime);
        self
    }

    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = Some(max_size);
        self
    }
}

/// Disk use of messages, as quotas count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, rhs: Usage) -> Usage {
        Usage {
            bytes: self.bytes.saturating_add(rhs.bytes),
            messages: self.messages.saturating_add(rhs.messages),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        *self = *self + rhs;
    }
}

/// One message file as found in `new/` or `cur/`.
///
/// Only this crate constructs entries (from a directory listing, a delivery or
/// [`Maildir::entry`]), so the file name is always a single safe path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntry {
    root: Arc<Path>,
    dir: Subdir,
    file_name: String,
    base: String,
    size: Option<u64>,
    vsize: Option<u64>,
    flags: Flags,
}

impl MessageEntry {
    fn from_name(root: Arc<Path>, dir: Subdir, file_name: String) -> MessageEntry {
        let parsed = parse_name(&file_name);
        let (base, size, vsize, flags) = (
            parsed.base.to_owned(),
            parsed.size,
            parsed.vsize,
            parsed.flags,
        );
        MessageEntry {
            root,
            dir,
            file_name,
            base,
            size,
            vsize,
            flags,
        }
    }

    pub fn dir(&self) -> Subdir {
        self.dir
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The unique part before `:`: stable across flag changes, so it identifies the message
    /// (POP3 UIDL, imapd's UID map).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Physical size from the name's `S=` field, if it has one.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Size with CRLF line endings from the name's `W=` field, if it has one.
    pub fn vsize(&self) -> Option<u64> {
        self.vsize
    }

    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Full path of the file as it was when this entry was made.
    pub fn path(&self) -> PathBuf {
        self.root.join(self.dir.as_str()).join(&self.file_name)
    }
}

/// A message being written into `tmp/` piece by piece, for writers whose bytes arrive over
/// time (an IMAP APPEND literal streamed from the client) and that must not hold the whole
/// message in memory or decide flags and date before the end. [`PendingDelivery::commit`]
/// finishes it exactly like [`Maildir::deliver`] (fsync, no-replace move into `new/` or
/// `cur/`, fsync of that directory); dropping it uncommitted removes the tmp file, so an
/// abandoned message leaves nothing behind.
#[derive(Debug)]
pub struct PendingDelivery {
    root: Arc<Path>,
    file: File,
    tmp_name: String,
    tmp_path: PathBuf,
    counter: SizeCounter,
    committed: bool,
}

impl PendingDelivery {
    /// Appends bytes to the message.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.counter.update(chunk);
        self.file
            .write_all(chunk)
            .map_err(|e| Error::io("write", &self.tmp_path, e))
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.counter.size
    }

    /// Flushes what was written to disk now, so that [`Self::commit`] (which syncs again,
    /// then cheaply) does not spend that time while the caller holds its locks.
    pub fn sync(&self) -> Result<()> {
        fsync_file(&self.file, &self.tmp_path)
    }

    /// Where the message is being written (in `tmp/`).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Makes the message visible, durably. `opts.max_size` is checked against what was
    /// written; on any failure the tmp file is removed.
    pub fn commit(mut self, opts: &DeliverOptions) -> Result<MessageEntry> {
        if let Some(limit) = opts.max_size {
            if self.counter.size > limit {
                return Err(Error::TooLarge { limit });
            }
        }
        if let Some(mtime) = opts.mtime {
            // The mtime is the message's internal date: it must survive a crash too.
            self.file
                .set_times(FileTimes::new().set_modified(mtime))
                .map_err(|e| Error::io("set mtime", &self.tmp_path, e))?;
            fsync_file(&self.file, &self.tmp_path)?;
        } else {
            fdatasync_file(&self.file, &self.tmp_path)?;
        }

        let dir = if opts.flags.is_some() {
            Subdir::Cur
        } else {
            Subdir::New
        };
        let dest_dir = self.root.join(dir.as_str());
        let mut stem = self.tmp_name.clone();
        for _ in 0..NAME_ATTEMPTS {
            let base = base_with_sizes(&stem, self.counter.size, self.counter.vsize());
            let file_name = match opts.flags {
                Some(flags) => format!("{base}:{}", flags.info()),
                None => base,
            };
            let dest = dest_dir.join(&file_name);
            match rename_noreplace(&self.tmp_path, &dest) {
                Ok(()) => {
                    self.committed = true;
                    if let Err(e) = fsync_dir(&dest_dir) {
                        // Not durable means not delivered: take it back so the sender's
                        // retry does not produce a duplicate.
                        if let Err(e2) = fs::remove_file(&dest) {
                            tracing::warn!(path = %dest.display(), error = %e2, "could not withdraw message");
                        }
                        return Err(e);
                    }
                    return Ok(MessageEntry::from_name(self.root.clone(), dir, file_name));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    stem = unique_tmp_name();
                }
                Err(e) => return Err(Error::io("rename", &dest, e)),
            }
        }
        Err(Error::NameExhausted(dest_dir))
    }
}

impl Drop for PendingDelivery {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = fs::remove_file(&self.tmp_path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.tmp_path.display(), error = %e, "could not remove tmp file");
                }
            }
        }
    }
}

/// Directories in `tmp/` that [`crate::Store`] uses while creating or deleting folders.
pub(crate) const SCRATCH_PREFIX: &str = ".ferrymail-";

fn is_store_scratch(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with(SCRATCH_PREFIX))
}

/// A handle on one maildir directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildir {
    root: Arc<Path>,
}

impl Maildir {
    /// Opens an existing maildir; fails with [`Error::NotAMaildir`] unless `tmp/`, `new/`
    /// and `cur/` are all there.
    pub fn open(path: impl Into<PathBuf>) -> Result<Maildir> {
        let root: PathBuf = path.into();
        for sub in ["tmp", "new", "cur"] {
            if !root.join(sub).is_dir() {
                return Err(Error::NotAMaildir(root));
            }
        }
        Ok(Maildir { root: root.into() })
    }

    /// Creates the maildir (and missing parents) with mode 0700; fine if it already exists.
    pub fn create(path: impl Into<PathBuf>) -> Result<Maildir> {
        use std::os::unix::fs::DirBuilderExt;
        let root: PathBuf = path.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| Error::io("mkdir", &root, e))?;
        for sub in ["tmp", "new", "cur"] {
            let p = root.join(sub);
            mkdir_0700(&p, true).map_err(|e| Error::io("mkdir", &p, e))?;
        }
        Ok(Maildir { root: root.into() })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn sub_path(&self, dir: Subdir) -> PathBuf {
        self.root.join(dir.as_str())
    }

    /// Wraps a file name (e.g. one imapd remembered) as an entry of this maildir, after
    /// checking it is a plain message file name. Does not check that the file exists.
    pub fn entry(&self, dir: Subdir, file_name: &str) -> Result<MessageEntry> {
        if !is_message_file_name(file_name) {
            return Err(Error::InvalidFileName(file_name.to_owned()));
        }
        Ok(MessageEntry::from_name(
            self.root.clone(),
            dir,
            file_name.to_owned(),
        ))
    }

    /// Stores a message made of `parts` concatenated (so a caller can put trace headers in
    /// front of a body without copying it).
    pub fn deliver(&self, parts: &[&[u8]], opts: DeliverOptions) -> Result<MessageEntry> {
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if let Some(limit) = opts.max_size {
            if total > limit {
                return Err(Error::TooLarge { limit });
            }
        }
        self.deliver_with(&opts, |file, counter, path| {
            for part in parts {
                counter.update(part);
                file.write_all(part)
                    .map_err(|e| Error::io("write", path, e))?;
            }
            Ok(())
        })
    }

    /// Stores a message read from `reader` to its end, streaming, for messages too large to
    /// hold in memory. A read error aborts the delivery ([`Error::Source`]).
    pub fn deliver_reader<R: Read>(
        &self,
        mut reader: R,
        opts: DeliverOptions,
    ) -> Result<MessageEntry> {
        let limit = opts.max_size;
        self.deliver_with(&opts, |file, counter, path| {
            let mut buf = vec![0u8; COPY_BUFFER];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::Source(e)),
                };
                // A reader claiming more than the buffer holds is broken; do not guess.
                let chunk = buf.get(..n).ok_or_else(|| {
                    Error::Source(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "reader returned more bytes than requested",
                    ))
                })?;
                counter.update(chunk);
                if let Some(limit) = limit {
                    if counter.size > limit {
                        return Err(Error::TooLarge { limit });
                    }
                }
                file.write_all(chunk)
                    .map_err(|e| Error::io("write", path, e))?;
            }
        })
    }

    fn create_tmp(&self) -> Result<(File, String, PathBuf)> {
        let tmp_dir = self.root.join("tmp");
        for _ in 0..NAME_ATTEMPTS {
            let name = unique_tmp_name();
            let path = tmp_dir.join(&name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => return Ok((file, name, path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create", &path, e)),
            }
        }
        Err(Error::NameExhausted(tmp_dir))
    }

    /// Starts a message in `tmp/` under a fresh unique name, to be written piece by piece
    /// and then committed ([`PendingDelivery`]).
    pub fn begin_delivery(&self) -> Result<PendingDelivery> {
        let (file, tmp_name, tmp_path) = self.create_tmp()?;
        Ok(PendingDelivery {
            root: self.root.clone(),
            file,
            tmp_name,
            tmp_path,
            counter: SizeCounter::default(),
            committed: false,
        })
    }

    /// The delivery protocol: write to tmp/ under a fresh name, fsync, move without
    /// replacing into new/ or cur/, fsync that directory. Any failure removes what was
    /// written, so readers see a complete message or none.
    fn deliver_with(
        &self,
        opts: &DeliverOptions,
        write: impl FnOnce(&mut File, &mut SizeCounter, &Path) -> Result<()>,
    ) -> Result<MessageEntry> {
        let mut pending = self.begin_delivery()?;
        let PendingDelivery {
            file,
            counter,
            tmp_path,
            ..
        } = &mut pending;
        write(file, counter, tmp_path)?;
        pending.commit(opts)
    }

    /// Calls `f` for each message file in `dir` until it breaks; skips hidden files,
    /// directories, symlinks and names that are not UTF-8.
    fn scan(&self, dir: Subdir, mut f: impl FnMut(MessageEntry) -> bool) -> Result<bool> {
        let path = self.sub_path(dir);
        let rd = fs::read_dir(&path).map_err(|e| Error::io("read directory", &path, e))?;
        for item in rd {
            let item = item.map_err(|e| Error::io("read directory", &path, e))?;
            let name = match item.file_name().into_string() {
                Ok(name) => name,
                Err(raw) => {
                    tracing::debug!(dir = %path.display(), name = ?raw, "skipping non-UTF-8 file name");
                    continue;
                }
            };
            if !is_message_file_name(&name) {
                continue;
            }
            match item.file_type() {
                Ok(t) if t.is_file() => {}
                // Vanished since readdir, or not a plain file: nothing to deliver to a reader.
                _ => continue,
            }
            if !f(MessageEntry::from_name(self.root.clone(), dir, name)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// All messages in `new/` and `cur/`, in delivery order.
    pub fn list(&self) -> Result<Vec<MessageEntry>> {
        let mut out = Vec::new();
        for dir in [Subdir::New, Subdir::Cur] {
            self.scan(dir, |e| {
                out.push(e);
                true
            })?;
        }
        out.sort_by(|a, b| delivery_order_key(&a.base).cmp(&delivery_order_key(&b.base)));
        Ok(out)
    }

    /// The message with this base name, wherever it is now.
    pub fn find(&self, base: &str) -> Result<Option<MessageEntry>> {
        let mut found = None;
        // cur/ first: a message seen by anyone lives there.
        for dir in [Subdir::Cur, Subdir::New] {
            self.scan(dir, |e| {
                if e.base == base {
                    found = Some(e);
                    false
                } else {
                    true
                }
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }

    fn refind(&self, base: &str) -> Result<MessageEntry> {
        self.find(base)?.ok_or_else(|| Error::MessageNotFound {
            base: base.to_owned(),
        })
    }

    /// Our own view of an entry: the same file name under this maildir's root.
    fn local(&self, entry: &MessageEntry) -> MessageEntry {
        MessageEntry {
            root: self.root.clone(),
            ..entry.clone()
        }
    }

    /// Replaces the message's flags, moving it into `cur/`.
    pub fn set_flags(&self, entry: &MessageEntry, flags: Flags) -> Result<MessageEntry> {
        self.modify_flags(entry, |_| flags)
    }

    /// Changes flags relative to the ones the file has *now*: if another process renamed it
    /// meanwhile, `f` is applied to that process's flags, so concurrent `+FLAGS` do not
    /// undo each other.
    pub fn modify_flags(
        &self,
        entry: &MessageEntry,
        mut f: impl FnMut(Flags) -> Flags,
    ) -> Result<MessageEntry> {
        let mut current = self.local(entry);
        for _ in 0..CHASE_ATTEMPTS {
            let flags = f(current.flags);
            let file_name = format!("{}:{}", current.base, flags.info());
            let src = current.path();
            let result = if current.dir == Subdir::Cur && current.file_name == file_name {
                fs::symlink_metadata(&src).map(|_| ())
            } else {
                // A plain rename may replace: a file of the same base is the same message.
                fs::rename(&src, self.sub_path(Subdir::Cur).join(&file_name))
            };
            match result {
                Ok(()) => {
                    return Ok(MessageEntry {
                        dir: Subdir::Cur,
                        file_name,
                        flags,
                        ..current
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    current = self.refind(&current.base)?;
                }
                Err(e) => return Err(Error::io("rename", &src, e)),
            }
        }
        Err(Error::Contended { base: current.base })
    }

    /// Moves a message from `new/` to `cur/` keeping its flags (a client has seen it).
    pub fn move_to_cur(&self, entry: &MessageEntry) -> Result<MessageEntry> {
        self.modify_flags(entry, |f| f)
    }

    /// Expunges a message. [`Error::MessageNotFound`] if someone else already did.
    pub fn delete(&self, entry: &MessageEntry) -> Result<()> {
        let mut current = self.local(entry);
        for _ in 0..CHASE_ATTEMPTS {
            let path = current.path();
            match fs::remove_file(&path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    current = self.refind(&current.base)?;
                }
                Err(e) => return Err(Error::io("unlink", &path, e)),
            }
        }
        Err(Error::Contended { base: current.base })
    }

    /// Opens a message for reading, following it if it was renamed; returns the entry that
    /// was actually opened. Symlinks are refused (O_NOFOLLOW).
    pub fn open_message(&self, entry: &MessageEntry) -> Result<(File, MessageEntry)> {
        let mut current = self.local(entry);
        for _ in 0..CHASE_ATTEMPTS {
            let path = current.path();
            match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => return Ok((file, current)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    current = self.refind(&current.base)?;
                }
                Err(e) => return Err(Error::io("open", &path, e)),
            }
        }
        Err(Error::Contended { base: current.base })
    }

    /// Bytes and messages in `new/` and `cur/`: sizes from `S=`, a stat where a name has
    /// none. Messages that vanish while we count are left out.
    pub fn usage(&self) -> Result<Usage> {
        self.usage_of(|_| true)
    }

    /// As [`Maildir::usage`], counting only the messages whose flags `counted` accepts.
    pub fn usage_of(&self, counted: impl Fn(Flags) -> bool) -> Result<Usage> {
        let mut usage = Usage::default();
        for entry in self.list()?.into_iter().filter(|e| counted(e.flags())) {
            let bytes = match entry.size {
                Some(size) => size,
                None => match fs::symlink_metadata(entry.path()) {
                    Ok(meta) => meta.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("stat", &entry.path(), e)),
                },
            };
            usage += Usage { bytes, messages: 1 };
        }
        Ok(usage)
    }

    /// Removes files in `tmp/` not modified for `older_than` (the maildir spec suggests 36
    /// hours): leftovers of deliveries that died mid-way, and of folder operations in a
    /// store root. Returns how many entries were removed.
    pub fn clean_tmp(&self, older_than: Duration) -> Result<usize> {
        let tmp = self.root.join("tmp");
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        let rd = fs::read_dir(&tmp).map_err(|e| Error::io("read directory", &tmp, e))?;
        for item in rd {
            let item = item.map_err(|e| Error::io("read directory", &tmp, e))?;
            let Ok(meta) = item.metadata() else {
                continue;
            };
            if meta.modified().map_or(true, |m| m > cutoff) {
                continue;
            }
            let path = item.path();
            let result = if meta.is_file() {
                fs::remove_file(&path)
            } else if meta.is_dir() && is_store_scratch(&item.file_name()) {
                // Folder staging or trash directories that Store left after a crash.
                fs::remove_dir_all(&path)
            } else {
                continue;
            };
            match result {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("unlink", &path, e)),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::FSYNCS;

    #[test]
    fn delivery_fsyncs_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path().join("m")).unwrap();
        let before = FSYNCS.with(|c| c.get());
        md.deliver(&[b"Subject: x\n\nbody\n"], DeliverOptions::default())
            .unwrap();
        assert_eq!(FSYNCS.with(|c| c.get()) - before, 2);
        let before = FSYNCS.with(|c| c.get());
        md.deliver_reader(
            &b"x\n"[..],
            DeliverOptions::default().with_flags(Flags::SEEN),
        )
        .unwrap();
        assert_eq!(FSYNCS.with(|c| c.get()) - before, 2);
    }

    #[test]
    fn fsync_dir_failure_reports_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = fsync_dir(&dir.path().join("missing")).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
