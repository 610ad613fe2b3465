//! The spool directory: committing messages, reading, updating, moving and checking them.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::envelope::{unix_now, Envelope};
use crate::error::{Result, SpoolError};
use crate::fsutil::{age, create_new, fsync_dir, rename_noreplace, DirLock};
use crate::id::QueueId;
use crate::record::{decode_envelope, encode_envelope, CorruptReason, MAX_PAYLOAD};

pub(crate) const TMP: &str = "tmp";
pub(crate) const DATA: &str = "data";
pub(crate) const QUEUE: &str = "queue";
pub(crate) const HOLD: &str = "hold";
pub(crate) const CORRUPT: &str = "corrupt";
pub(crate) const MAILDROP: &str = "maildrop";

const PRIVATE_DIRS: [&str; 5] = [TMP, DATA, QUEUE, HOLD, CORRUPT];
const DIR_MODE: u32 = 0o700;
/// Writable and searchable by its group, sendmail's setgid group, so sendmail can drop files;
/// no access at all for other users, so nobody can open a pending submission by its name; not
/// listable even by the group; sticky so submitters cannot remove each other's files.
pub(crate) const MAILDROP_MODE: u32 = 0o1730;
const ROOT_MODE: u32 = 0o755;
pub(crate) const FILE_MODE: u32 = 0o600;
/// An envelope record can be no longer than this; larger files are not read into memory.
pub(crate) const MAX_RECORD: u64 = (MAX_PAYLOAD + 16) as u64;

/// Which envelope directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueDir {
    /// `queue/`: scheduled by queue-runner.
    Active,
    /// `hold/`: parked by an administrator until released.
    Hold,
}

impl QueueDir {
    fn dir_name(self) -> &'static str {
        match self {
            QueueDir::Active => QUEUE,
            QueueDir::Hold => HOLD,
        }
    }

    fn other(self) -> QueueDir {
        match self {
            QueueDir::Active => QueueDir::Hold,
            QueueDir::Hold => QueueDir::Active,
        }
    }
}

/// The steps of [`SpoolWriter::commit`], for simulating a process killed after any of them.
#[cfg(any(test, feature = "failpoints"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStep {
    /// `tmp/<qid>.data` flushed and fsynced.
    DataSynced,
    /// Renamed to `data/<qid>`.
    DataRenamed,
    /// `data/` fsynced.
    DataDirSynced,
    /// Half of the envelope record written to `tmp/<qid>.env`.
    EnvelopePartial,
    /// The whole record written, not yet fsynced.
    EnvelopeWritten,
    /// The record fsynced.
    EnvelopeSynced,
    /// Renamed to `queue/<qid>`: the commit point.
    EnvelopeRenamed,
    /// `queue/` fsynced; only the `Ok` return is missing.
    QueueDirSynced,
}

#[cfg(any(test, feature = "failpoints"))]
impl CommitStep {
    /// Every step, in order.
    pub const ALL: [CommitStep; 8] = [
        CommitStep::DataSynced,
        CommitStep::DataRenamed,
        CommitStep::DataDirSynced,
        CommitStep::EnvelopePartial,
        CommitStep::EnvelopeWritten,
        CommitStep::EnvelopeSynced,
        CommitStep::EnvelopeRenamed,
        CommitStep::QueueDirSynced,
    ];
}

/// Result of [`Spool::scan`].
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every readable envelope, sorted by queue id (arrival order).
    pub ok: Vec<Envelope>,
    /// Files moved to `corrupt/`: original file name and why.
    pub quarantined: Vec<(String, CorruptReason)>,
    /// Files that could not be checked or moved (I/O errors); left in place for the next scan.
    pub errors: Vec<(String, SpoolError)>,
}

/// Result of [`Spool::cleanup`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanupReport {
    /// Stale files removed from `tmp/`.
    pub tmp_removed: usize,
    /// `data/` files removed because no envelope in `queue/` or `hold/` refers to them.
    pub orphans_removed: usize,
}

/// A handle on a spool directory. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
    #[cfg(any(test, feature = "failpoints"))]
    crash_after: Option<CommitStep>,
}

/// What a single envelope check concluded.
enum Check {
    Ok(Box<Envelope>),
    /// The file went away while we looked (removed or moved by someone else): not corrupt.
    Vanished,
    Corrupt(CorruptReason),
    Io(SpoolError),
}

impl Spool {
    /// Create the spool directories under `root` (creating `root` itself with mode 0755 if
    /// needed) and set their modes: 0700 for all but `maildrop/`, which is 01730 (its group
    /// stays the creator's; an installation gives it sendmail's setgid group). Idempotent.
    pub fn create_layout(root: impl AsRef<Path>) -> Result<Spool> {
        let root = root.as_ref();
        if !root.exists() {
            fs::create_dir_all(root).map_err(SpoolError::io("mkdir", root))?;
            fs::set_permissions(root, fs::Permissions::from_mode(ROOT_MODE))
                .map_err(SpoolError::io("chmod", root))?;
        }
        let dirs = PRIVATE_DIRS
            .iter()
            .map(|d| (*d, DIR_MODE))
            .chain([(MAILDROP, MAILDROP_MODE)]);
        for (name, mode) in dirs {
            let dir = root.join(name);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(SpoolError::io("mkdir", &dir)(e)),
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                .map_err(SpoolError::io("chmod", &dir))?;
        }
        fsync_dir(root)?;
        Spool::open(root)
    }

    /// Open an existing spool, checking that every directory is there.
    pub fn open(root: impl AsRef<Path>) -> Result<Spool> {
        let root = root.as_ref().to_path_buf();
        for name in PRIVATE_DIRS.iter().chain([&MAILDROP]) {
            let dir = root.join(name);
            let meta = match fs::symlink_metadata(&dir) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(SpoolError::BadLayout {
                        path: dir,
                        problem: "missing directory",
                    })
                }
                Err(e) => return Err(SpoolError::io("stat", &dir)(e)),
            };
            if !meta.is_dir() {
                return Err(SpoolError::BadLayout {
                    path: dir,
                    problem: "not a directory",
                });
            }
            let mode = meta.permissions().mode();
            if *name != MAILDROP && mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "spool directory is accessible to others");
            }
            if *name == MAILDROP && mode & 0o007 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{mode:o}"),
                    "maildrop is open to all users, who can read a pending submission by its name: \
                     it should be 1730 with sendmail's group (systemd-tmpfiles --create fixes it)"
                );
            }
        }
        Ok(Spool {
            root,
            #[cfg(any(test, feature = "failpoints"))]
            crash_after: None,
        })
    }

    /// The spool root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Make the next commits stop as if killed right after `step` (test hook).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn set_crash_after(&mut self, step: Option<CommitStep>) {
        self.crash_after = step;
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub(crate) fn file(&self, dir: &str, id: &QueueId) -> PathBuf {
        self.root.join(dir).join(id.as_str())
    }

    fn lock(&self) -> Result<DirLock> {
        DirLock::acquire(&self.dir(QUEUE))
    }

    /// Start writing a new message. Stream its bytes in with [`Write`], then
    /// [`commit`](SpoolWriter::commit); dropping the writer instead discards it.
    pub fn writer(&self) -> Result<SpoolWriter> {
        for _ in 0..16 {
            let id = QueueId::generate();
            let tmp_path = self.dir(TMP).join(format!("{id}.data"));
            match create_new(&tmp_path, FILE_MODE) {
                Ok(f) => {
                    return Ok(SpoolWriter {
                        spool: self.clone(),
                        id,
                        tmp_data: tmp_path,
                        file: Some(BufWriter::with_capacity(64 * 1024, f)),
                        written: 0,
                        stage: Stage::Writing,
                        env_dir: QUEUE,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SpoolError::io("create", &tmp_path)(e)),
            }
        }
        Err(SpoolError::IdExhausted)
    }

    /// Queue a message held in memory. Returns once it is durable.
    pub fn enqueue(&self, envelope: Envelope, message: &[u8]) -> Result<QueueId> {
        let mut w = self.writer()?;
        w.write_all(message)
            .map_err(SpoolError::io("write", w.tmp_data.clone()))?;
        w.commit(envelope)
    }

    /// Which envelope directory holds `id`, if any.
    pub fn locate(&self, id: &QueueId) -> Result<Option<QueueDir>> {
        for dir in [QueueDir::Active, QueueDir::Hold] {
            let path = self.file(dir.dir_name(), id);
            match fs::symlink_metadata(&path) {
                Ok(_) => return Ok(Some(dir)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::io("stat", path)(e)),
            }
        }
        Ok(None)
    }

    /// Read the envelope of `id` from `queue/` or `hold/`.
    pub fn read_envelope(&self, id: &QueueId) -> Result<Envelope> {
        // A concurrent hold or release can move the file between our two looks; the third
        // look catches the release direction.
        for dir in [QueueDir::Active, QueueDir::Hold, QueueDir::Active] {
            match self.read_envelope_in(dir, id) {
                Err(SpoolError::NotFound(_)) => continue,
                other => return other,
            }
        }
        Err(SpoolError::NotFound(*id))
    }

    /// Read the envelope of `id` from one directory.
    pub fn read_envelope_in(&self, dir: QueueDir, id: &QueueId) -> Result<Envelope> {
        let path = self.file(dir.dir_name(), id);
        let bytes = match read_record(&path) {
            Ok(b) => b,
            Err(ReadError::Missing) => return Err(SpoolError::NotFound(*id)),
            Err(ReadError::Corrupt(reason)) => return Err(SpoolError::Corrupt { id: *id, reason }),
            Err(ReadError::Io(e)) => return Err(e),
        };
        let env =
            decode_envelope(&bytes).map_err(|reason| SpoolError::Corrupt { id: *id, reason })?;
        if env.id != *id {
            return Err(SpoolError::Corrupt {
                id: *id,
                reason: CorruptReason::IdMismatch { inside: env.id },
            });
        }
        Ok(env)
    }

    /// Open the message bytes of `id` for reading.
    pub fn open_message(&self, id: &QueueId) -> Result<File> {
        let path = self.file(DATA, id);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SpoolError::NotFound(*id)
            } else {
                SpoolError::io("open", path)(e)
            }
        })
    }

    /// Queue ids in one directory, sorted (oldest first). Names that are not ids are skipped.
    pub fn list(&self, dir: QueueDir) -> Result<Vec<QueueId>> {
        let path = self.dir(dir.dir_name());
        let mut ids: Vec<QueueId> = fs::read_dir(&path)
            .map_err(SpoolError::io("readdir", &path))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| QueueId::parse(n).ok()))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Atomically replace the stored envelope `envelope.id` (in `queue/` or `hold/`, wherever
    /// it is) with `envelope`.
    ///
    /// Only the rename is done under the queue lock; the record is written and flushed before
    /// and the directory flushed after it, shared with concurrent updates, so a slow disk does
    /// not serialise every delivery's bookkeeping behind one lock.
    pub fn update_envelope(&self, envelope: &Envelope) -> Result<()> {
        let id = envelope.id;
        let bytes = encode_envelope(envelope)?;
        // Unique per writer: a control request may update the message while a delivery does.
        let (mut f, tmp) =
            ferrymail_fsutil::create_temp(&self.dir(TMP).join(format!("{id}.upd")), FILE_MODE)
                .map_err(SpoolError::io("create", self.dir(TMP)))?;
        let written = f
            .write_all(&bytes)
            .and_then(|()| ferrymail_fsutil::sync_data(&f))
            .map_err(SpoolError::io("write", &tmp));
        drop(f);
        let placed = written.and_then(|()| {
            let _lock = self.lock()?;
            let dir = self.locate(&id)?.ok_or(SpoolError::NotFound(id))?;
            let target = self.file(dir.dir_name(), &id);
            fs::rename(&tmp, &target).map_err(SpoolError::io("rename", &target))?;
            Ok(dir)
        });
        match placed {
            Ok(dir) => fsync_dir(&self.dir(dir.dir_name())),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Delete a message: its envelope (from `queue/` or `hold/`) first, so a crash in between
    /// leaves only an orphan data file for cleanup, never an envelope without its message.
    ///
    /// The envelope's removal is flushed (shared with concurrent removals) before the data file
    /// goes, outside the queue lock; the data file's removal is not flushed: if a crash undoes
    /// it, the file is an orphan that [`Spool::cleanup`] removes.
    pub fn remove(&self, id: &QueueId) -> Result<()> {
        let dir = {
            let _lock = self.lock()?;
            let dir = self.locate(id)?.ok_or(SpoolError::NotFound(*id))?;
            let env_path = self.file(dir.dir_name(), id);
            fs::remove_file(&env_path).map_err(SpoolError::io("unlink", &env_path))?;
            dir
        };
        fsync_dir(&self.dir(dir.dir_name()))?;
        let data = self.file(DATA, id);
        match fs::remove_file(&data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SpoolError::io("unlink", data)(e)),
        }
    }

    /// Move a message from `queue/` to `hold/`.
    pub fn hold(&self, id: &QueueId) -> Result<()> {
        self.move_envelope(id, QueueDir::Active)
    }

    /// Move a message from `hold/` back to `queue/`.
    pub fn release(&self, id: &QueueId) -> Result<()> {
        self.move_envelope(id, QueueDir::Hold)
    }

    fn move_envelope(&self, id: &QueueId, from: QueueDir) -> Result<()> {
        let to = from.other();
        let _lock = self.lock()?;
        let src = self.file(from.dir_name(), id);
        let dst = self.file(to.dir_name(), id);
        rename_noreplace(&src, &dst).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SpoolError::NotFound(*id)
            } else {
                SpoolError::io("rename", &dst)(e)
            }
        })?;
        // Destination first: if only the source directory's update reached the disk the
        // envelope would vanish from both.
        fsync_dir(&self.dir(to.dir_name()))?;
        fsync_dir(&self.dir(from.dir_name()))
    }

    /// Check every envelope in `queue/` (see [`Spool::scan_dir`]).
    pub fn scan(&self) -> Result<ScanReport> {
        self.scan_dir(QueueDir::Active)
    }

    /// Read every envelope in `dir`. Envelopes that are corrupt, misnamed, or whose data file
    /// is missing or of the wrong size are moved to `corrupt/` (with their data file, if any,
    /// and a `.reason` file) and reported; the rest are returned sorted by id. Each directory
    /// entry is looked at once, so this always terminates.
    pub fn scan_dir(&self, dir: QueueDir) -> Result<ScanReport> {
        let path = self.dir(dir.dir_name());
        let mut names: Vec<OsString> = fs::read_dir(&path)
            .map_err(SpoolError::io("readdir", &path))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        let mut report = ScanReport::default();
        for name in names {
            let shown = name.to_string_lossy().into_owned();
            match self.check_entry(dir, &name) {
                Check::Ok(env) => report.ok.push(*env),
                Check::Vanished => {}
                Check::Io(e) => report.errors.push((shown, e)),
                Check::Corrupt(_) => {
                    // Look again under the lock: a concurrent remove() can make an envelope
                    // look data-less for a moment, and that must not get it quarantined.
                    let lock = match self.lock() {
                        Ok(l) => l,
                        Err(e) => {
                            report.errors.push((shown, e));
                            continue;
                        }
                    };
                    match self.check_entry(dir, &name) {
                        Check::Ok(env) => report.ok.push(*env),
                        Check::Vanished => {}
                        Check::Io(e) => report.errors.push((shown, e)),
                        Check::Corrupt(reason) => {
                            match self.quarantine(dir.dir_name(), &name, &reason, Some(dir)) {
                                Ok(()) => {
                                    tracing::warn!(file = %shown, %reason, "quarantined queue file");
                                    report.quarantined.push((shown, reason));
                                }
                                Err(e) => report.errors.push((shown, e)),
                            }
                        }
                    }
                    drop(lock);
                }
            }
        }
        report.ok.sort_by_key(|e| e.id);
        Ok(report)
    }

    fn check_entry(&self, dir: QueueDir, name: &OsStr) -> Check {
        let Some(id) = name.to_str().and_then(|n| QueueId::parse(n).ok()) else {
            return Check::Corrupt(CorruptReason::BadName);
        };
        let path = self.file(dir.dir_name(), &id);
        let bytes = match read_record(&path) {
            Ok(b) => b,
            Err(ReadError::Missing) => return Check::Vanished,
            Err(ReadError::Corrupt(r)) => return Check::Corrupt(r),
            Err(ReadError::Io(e)) => return Check::Io(e),
        };
        let env = match decode_envelope(&bytes) {
            Ok(env) => env,
            Err(r) => return Check::Corrupt(r),
        };
        if env.id != id {
            return Check::Corrupt(CorruptReason::IdMismatch { inside: env.id });
        }
        let data = self.file(DATA, &id);
        match fs::symlink_metadata(&data) {
            Ok(m) if !m.is_file() => Check::Corrupt(CorruptReason::MissingData),
            Ok(m) if m.len() != env.size => Check::Corrupt(CorruptReason::SizeMismatch {
                expected: env.size,
                actual: m.len(),
            }),
            Ok(_) => Check::Ok(Box::new(env)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Distinguish "data missing" from "the whole message was just removed".
                match fs::symlink_metadata(&path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Check::Vanished,
                    _ => Check::Corrupt(CorruptReason::MissingData),
                }
            }
            Err(e) => Check::Io(SpoolError::io("stat", data)(e)),
        }
    }

    /// Move `<origin>/<name>` into `corrupt/` with a `.reason` file beside it. For envelopes
    /// (`queue_dir` is set) the matching data file moves too, so the message bytes are kept
    /// for manual recovery and cleanup cannot delete them as an orphan.
    pub(crate) fn quarantine(
        &self,
        origin: &str,
        name: &OsStr,
        reason: &CorruptReason,
        queue_dir: Option<QueueDir>,
    ) -> Result<()> {
        let corrupt = self.dir(CORRUPT);
        let mut base = OsString::from(format!("{origin}-"));
        if name.len() <= 160 {
            base.push(name);
        } else {
            base.push(QueueId::generate().as_str());
        }
        let mut stem = base.clone();
        let mut reason_file = None;
        for n in 0..1000u32 {
            if n > 0 {
                stem = base.clone();
                stem.push(format!("-{n}"));
            }
            let mut p = stem.clone();
            p.push(".reason");
            let p = corrupt.join(p);
            match create_new(&p, FILE_MODE) {
                Ok(f) => {
                    reason_file = Some((f, p));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SpoolError::io("create", p)(e)),
            }
        }
        let Some((mut f, reason_path)) = reason_file else {
            return Err(SpoolError::IdExhausted);
        };
        let text = format!(
            "file: {origin}/{}\nreason: {reason}\ntime: {}\n",
            name.to_string_lossy(),
            unix_now()
        );
        f.write_all(text.as_bytes())
            .and_then(|()| ferrymail_fsutil::sync_file(&f))
            .map_err(SpoolError::io("write", &reason_path))?;

        // Data before envelope: a crash in between leaves the envelope to be quarantined
        // again (as "data missing"), never data that cleanup would take for an orphan.
        if let (Some(dir), Some(id)) = (
            queue_dir,
            name.to_str().and_then(|n| QueueId::parse(n).ok()),
        ) {
            let twin_exists = self.file(dir.other().dir_name(), &id).exists();
            let data = self.file(DATA, &id);
            if !twin_exists {
                let mut to = stem.clone();
                to.push(".data");
                match rename_noreplace(&data, &corrupt.join(to)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SpoolError::io("rename", data)(e)),
                }
            }
        }
        let mut to = stem;
        to.push(if queue_dir.is_some() { ".env" } else { ".file" });
        let from = self.dir(origin).join(name);
        rename_noreplace(&from, &corrupt.join(to)).map_err(SpoolError::io("rename", &from))?;
        fsync_dir(&corrupt)?;
        if queue_dir.is_some() {
            fsync_dir(&self.dir(DATA))?;
        }
        fsync_dir(&self.dir(origin))
    }

    /// Remove files in `tmp/` and orphan files in `data/` (no envelope in `queue/` or
    /// `hold/`) whose mtime is at least `max_age` old.
    ///
    /// A commit moves its data file into `data/` a moment before its envelope reaches
    /// `queue/`, so while writers may be running `max_age` must be far longer than any commit
    /// takes (an hour is a sensible floor; a stalled SMTP client keeps `tmp/` files fresh as
    /// long as it sends). `Duration::ZERO` is only for when no writer can be running.
    pub fn cleanup(&self, max_age: Duration) -> Result<CleanupReport> {
        let mut report = CleanupReport::default();
        let tmp = self.dir(TMP);
        for entry in fs::read_dir(&tmp).map_err(SpoolError::io("readdir", &tmp))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() || age(&meta) < max_age {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => report.tmp_removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::io("unlink", path)(e)),
            }
        }

        let data = self.dir(DATA);
        for entry in fs::read_dir(&data).map_err(SpoolError::io("readdir", &data))? {
            let Ok(entry) = entry else { continue };
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| QueueId::parse(n).ok())
            else {
                continue;
            };
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if age(&meta) < max_age || self.locate(&id)?.is_some() {
                continue;
            }
            // Re-check under the lock so a hold/release in flight (the envelope is briefly
            // in neither place as far as two separate stats can tell) cannot fool us.
            let _lock = self.lock()?;
            if self.locate(&id)?.is_some() {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(%id, "removed orphan data file");
                    report.orphans_removed += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::io("unlink", path)(e)),
            }
        }
        if report.orphans_removed > 0 {
            fsync_dir(&data)?;
        }
        Ok(report)
    }
}

pub(crate) enum ReadError {
    Missing,
    Corrupt(CorruptReason),
    Io(SpoolError),
}

/// Read a whole envelope record, refusing symlinks, non-files and anything over the maximum
/// record size (so a huge file cannot make the scanner allocate it).
pub(crate) fn read_record(path: &Path) -> std::result::Result<Vec<u8>, ReadError> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::Corrupt(CorruptReason::NotRegularFile))
        }
        Err(e) => return Err(ReadError::Io(SpoolError::io("open", path)(e))),
    };
    let meta = f
        .metadata()
        .map_err(|e| ReadError::Io(SpoolError::io("stat", path)(e)))?;
    if !meta.is_file() {
        return Err(ReadError::Corrupt(CorruptReason::NotRegularFile));
    }
    if meta.len() > MAX_RECORD {
        return Err(ReadError::Corrupt(CorruptReason::BadLength(meta.len())));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    (&mut f)
        .take(MAX_RECORD + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::Io(SpoolError::io("read", path)(e)))?;
    Ok(buf)
}

/// How far a writer got, which decides what dropping it must undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Only `tmp/<qid>.data` exists.
    Writing,
    /// `data/<qid>` exists, possibly `tmp/<qid>.env`.
    DataPlaced,
    /// `queue/<qid>` exists but its directory entry may not be durable.
    EnvelopePlaced,
    /// Committed: nothing to undo.
    Done,
    /// A simulated crash: leave everything exactly as a killed process would.
    #[cfg(any(test, feature = "failpoints"))]
    Crashed,
}

/// A message being written into the spool. Implements [`Write`]; bytes go straight to
/// `tmp/<qid>.data` so large messages need not be buffered in memory. Blocking I/O: async
/// callers should write from a blocking task.
#[derive(Debug)]
pub struct SpoolWriter {
    spool: Spool,
    id: QueueId,
    tmp_data: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
    stage: Stage,
    /// Where the envelope goes at commit: `queue/`, or `hold/` for a held message.
    env_dir: &'static str,
}

impl SpoolWriter {
    /// The id the message will most likely get (a clash at commit can change it).
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Message bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Discard the message (same as dropping the writer).
    pub fn abort(self) {}

    /// Simulate the process being killed while writing: the tmp file stays behind.
    #[cfg(any(test, feature = "failpoints"))]
    pub fn crash(mut self) {
        // A killed process never flushes its user-space buffer.
        if let Some(f) = self.file.take() {
            let _ = f.into_parts();
        }
        self.stage = Stage::Crashed;
    }

    #[cfg(any(test, feature = "failpoints"))]
    fn failpoint(&mut self, step: CommitStep) -> Result<()> {
        if self.spool.crash_after == Some(step) {
            self.stage = Stage::Crashed;
            return Err(SpoolError::InjectedCrash(step));
        }
        Ok(())
    }

    #[cfg(not(any(test, feature = "failpoints")))]
    #[inline(always)]
    fn failpoint(&mut self, _step: ()) -> Result<()> {
        Ok(())
    }

    /// Make the message durable and queue it with `envelope` (whose `id` and `size` are
    /// overwritten). When this returns `Ok`, the message survives a crash or power loss and
    /// the SMTP server may answer 250; on `Err` nothing is queued.
    pub fn commit(mut self, envelope: Envelope) -> Result<QueueId> {
        self.commit_inner(envelope)
        // On error, Drop undoes whatever stage was reached.
    }

    /// Like [`commit`](SpoolWriter::commit), but the envelope goes straight to `hold/`: the
    /// message is safe but not delivered until released (`mailctl queue release`).
    pub fn commit_held(mut self, envelope: Envelope) -> Result<QueueId> {
        self.env_dir = HOLD;
        self.commit_inner(envelope)
    }

    /// The message written so far, opened for reading from its start.
    pub fn read_back(&mut self) -> Result<File> {
        if let Some(f) = self.file.as_mut() {
            f.flush().map_err(SpoolError::io("write", &self.tmp_data))?;
        }
        File::open(&self.tmp_data).map_err(SpoolError::io("open", &self.tmp_data))
    }

    /// Replaces the message written so far with what `write` produces (it may read the old
    /// content from a [`read_back`](SpoolWriter::read_back) file opened before). The queue id
    /// stays; on error the old content is kept.
    pub fn replace_content(
        &mut self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.flush().map_err(SpoolError::io("write", &self.tmp_data))?;
        }
        let (file, tmp_edit) = ferrymail_fsutil::create_temp(
            &self.spool.dir(TMP).join(format!("{}.edit", self.id)),
            FILE_MODE,
        )
        .map_err(SpoolError::io("create", self.spool.dir(TMP)))?;
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        let written = write(&mut w)
            .and_then(|()| w.flush())
            .map_err(SpoolError::io("write", &tmp_edit))
            .and_then(|()| {
                fs::rename(&tmp_edit, &self.tmp_data).map_err(SpoolError::io("rename", &tmp_edit))
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp_edit);
            return Err(e);
        }
        let file = w
            .into_inner()
            .map_err(|e| SpoolError::io("write", &self.tmp_data)(e.into_error()))?;
        self.written = file
            .metadata()
            .map_err(SpoolError::io("stat", &self.tmp_data))?
            .len();
        self.file = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    fn commit_inner(&mut self, mut envelope: Envelope) -> Result<QueueId> {
        macro_rules! step {
            ($s:ident) => {{
                #[cfg(any(test, feature = "failpoints"))]
                self.failpoint(CommitStep::$s)?;
                #[cfg(not(any(test, feature = "failpoints")))]
                self.failpoint(())?;
            }};
        }
        let spool = self.spool.clone();
        let file = self
            .file
            .take()
            .ok_or_else(|| SpoolError::io("commit", &self.tmp_data)(io::ErrorKind::Other.into()))?;
        let file = file
            .into_inner()
            .map_err(|e| SpoolError::io("write", &self.tmp_data)(e.into_error()))?;
        ferrymail_fsutil::sync_data(&file).map_err(SpoolError::io("fsync", &self.tmp_data))?;
        drop(file);
        step!(DataSynced);

        // Move the data into place under a name nobody else holds. The no-replace rename is
        // what makes an id clash between processes harmless: we just take another id.
        let mut clashes = 0;
        loop {
            let target = spool.file(DATA, &self.id);
            match rename_noreplace(&self.tmp_data, &target) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && clashes < 16 => {
                    clashes += 1;
                    self.id = QueueId::generate();
                }
                Err(e) => return Err(SpoolError::io("rename", target)(e)),
            }
        }
        self.stage = Stage::DataPlaced;
        step!(DataRenamed);
        fsync_dir(&spool.dir(DATA))?;
        step!(DataDirSynced);

        envelope.id = self.id;
        envelope.size = self.written;
        let record = encode_envelope(&envelope)?;
        let tmp_env = self.tmp_env();
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&tmp_env)
            .map_err(SpoolError::io("create", &tmp_env))?;
        let half = record.len() / 2;
        f.write_all(record.get(..half).unwrap_or_default())
            .map_err(SpoolError::io("write", &tmp_env))?;
        step!(EnvelopePartial);
        f.write_all(record.get(half..).unwrap_or_default())
            .map_err(SpoolError::io("write", &tmp_env))?;
        step!(EnvelopeWritten);
        ferrymail_fsutil::sync_data(&f).map_err(SpoolError::io("fsync", &tmp_env))?;
        drop(f);
        step!(EnvelopeSynced);

        let target = spool.file(self.env_dir, &self.id);
        rename_noreplace(&tmp_env, &target).map_err(SpoolError::io("rename", &target))?;
        self.stage = Stage::EnvelopePlaced;
        step!(EnvelopeRenamed);
        fsync_dir(&spool.dir(self.env_dir))?;
        step!(QueueDirSynced);
        self.stage = Stage::Done;
        Ok(self.id)
    }

    fn tmp_env(&self) -> PathBuf {
        self.spool.dir(TMP).join(format!("{}.env", self.id))
    }
}

impl Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("spool writer already committed"))?;
        let n = f.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        // Best effort: anything left behind is an unreferenced file that cleanup removes.
        match self.stage {
            Stage::Writing => {
                // into_parts drops the buffer instead of flushing it into a doomed file.
                if let Some(f) = self.file.take() {
                    let _ = f.into_parts();
                }
                let _ = fs::remove_file(&self.tmp_data);
            }
            Stage::DataPlaced => {
                let _ = fs::remove_file(self.tmp_env());
                let _ = fs::remove_file(self.spool.file(DATA, &self.id));
            }
            Stage::EnvelopePlaced => {
                // The caller will get an error and not acknowledge, so take the message back
                // out rather than deliver something the client will send again.
                let _ = fs::remove_file(self.spool.file(self.env_dir, &self.id));
                let _ = fsync_dir(&self.spool.dir(self.env_dir));
                let _ = fs::remove_file(self.spool.file(DATA, &self.id));
            }
            Stage::Done => {}
            #[cfg(any(test, feature = "failpoints"))]
            Stage::Crashed => {}
        }
    }
}
