//! maildrop/: how the unprivileged sendmail command gets mail into the queue.
//!
//! sendmail cannot write `tmp/`, `data/` or `queue/` (mode 0700, owned by the spool owner), so
//! it writes one self-contained file into `maildrop/`: first as `maildrop/.tmp-<id>`, fsynced,
//! then renamed to `maildrop/<id>`.
//!
//! Who can reach a submission (Postfix's `maildrop`/`postdrop` model). `maildrop/` is
//! `1730`, owned by the spool owner, its group sendmail's setgid group (`ferrymail-drop`):
//! other users cannot even look a name up in it, only sendmail (running as the submitting user
//! with that group) can create files there, nobody but the owner can list it, and the sticky
//! bit keeps submitters from removing each other's files. A file belongs to the submitting
//! user and, through sendmail's effective group, to `ferrymail-drop`, with mode `0604`
//! ([`DROP_FILE_MODE`]): the spool owner — the only one besides root who can search the
//! directory without being in the group — reads it as "other"; the group may not, so neither
//! another user's sendmail nor local-delivery (which joins the group to hand forwarded mail back
//! to the queue) can read a submission that is not its own.
//! queue-runner's [`Spool::pickup`] treats every such file as hostile input: it validates the
//! framing, checksum, sizes and addresses, overrides everything the submitter could forge
//! (source uid, client info, delivery state), copies the message into the queue through the
//! ordinary crash-safe commit, and only then deletes the maildrop file. A crash in between can
//! duplicate a submission but never lose it. Files that fail validation go to `corrupt/`.
//!
//! ```text
//! offset     size  field
//! 0          6     magic b"FMQDRP"
//! 6          2     version, big-endian u16 (1)
//! 8          4     envelope record length N, big-endian u32
//! 12         N     envelope record (the same format as queue/<qid>)
//! 12+N       8     message length M, big-endian u64
//! 20+N       M     message bytes
//! 20+N+M     4     crc32 of the message bytes, big-endian
//! ```

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::address::validate_address;
use crate::envelope::{unix_now, ClientInfo, Envelope, RecipientStatus, Source};
use crate::error::{Result, SpoolError};
use crate::fsutil::{age, fsync_dir, rename_noreplace};
use crate::id::QueueId;
use crate::record::{decode_envelope, encode_envelope, CorruptReason};
use crate::spool::{Spool, MAILDROP, MAX_RECORD};

/// First bytes of a maildrop file.
pub const DROP_MAGIC: &[u8; 6] = b"FMQDRP";
const DROP_VERSION: u16 = 1;
const TMP_PREFIX: &str = ".tmp-";
/// Readable by the spool owner (neither the submitting user nor in sendmail's group: "other",
/// which only the spool owner can be here since `maildrop/` gives others no search
/// permission); not by the group every submitter runs with.
pub const DROP_FILE_MODE: u32 = 0o604;

/// Limits pickup enforces on maildrop files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickupLimits {
    /// Largest message accepted, in bytes.
    pub max_message_size: u64,
    /// Most recipients accepted.
    pub max_recipients: usize,
    /// A `.tmp-` file this old was left by a sendmail that died before renaming it; it is
    /// picked up if complete (the data may have been acknowledged if only the rename was
    /// lost in a power cut) and quarantined if not.
    pub stale_tmp_age: Duration,
}

impl Default for PickupLimits {
    fn default() -> Self {
        PickupLimits {
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 1000,
            stale_tmp_age: Duration::from_secs(3600),
        }
    }
}

/// Why one maildrop file was not queued.
#[derive(Debug, thiserror::Error)]
pub enum PickupError {
    /// The file was invalid and has been moved to `corrupt/`.
    #[error("maildrop file {file} quarantined: {reason}")]
    Quarantined {
        /// Maildrop file name.
        file: String,
        /// What was wrong.
        reason: CorruptReason,
    },
    /// An I/O error; the file is left in place for the next pickup.
    #[error("maildrop file {file}: {source}")]
    Failed {
        /// Maildrop file name.
        file: String,
        /// The error.
        #[source]
        source: SpoolError,
    },
}

/// The submit side of maildrop, usable by a process that can only write `maildrop/`.
#[derive(Debug, Clone)]
pub struct Maildrop {
    dir: PathBuf,
}

impl Maildrop {
    /// Check that `<root>/maildrop` is a directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Maildrop> {
        let dir = root.as_ref().join(MAILDROP);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Maildrop { dir }),
            Ok(_) => Err(SpoolError::BadLayout {
                path: dir,
                problem: "not a directory",
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(SpoolError::BadLayout {
                path: dir,
                problem: "missing directory",
            }),
            Err(e) => Err(SpoolError::io("stat", &dir)(e)),
        }
    }

    /// The group allowed to submit: the directory's group (sendmail's setgid group on an
    /// installed system). A process that submits on behalf of an account without running
    /// sendmail (local-delivery's per-account helper) needs it as a supplementary group.
    pub fn submit_group(&self) -> Result<u32> {
        fs::metadata(&self.dir)
            .map(|m| m.gid())
            .map_err(SpoolError::io("stat", &self.dir))
    }

    /// Write a submission. When this returns `Ok` the file is fsynced and in place; the id
    /// names the maildrop file (pickup assigns the queue id). Call [`crate::notify_wake`]
    /// afterwards so queue-runner picks it up at once.
    pub fn submit(&self, mut envelope: Envelope, message: &[u8]) -> Result<QueueId> {
        for _ in 0..16 {
            let id = QueueId::generate();
            envelope.id = id;
            envelope.size = message.len() as u64;
            let bytes = encode_drop(&envelope, message)?;
            let tmp = self.dir.join(format!("{TMP_PREFIX}{id}"));
            let mut f = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(DROP_FILE_MODE)
                .open(&tmp)
            {
                Ok(f) => f,
                // Another submitter drew the same id: draw again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SpoolError::io("create", &tmp)(e)),
            };
            // Explicit chmod: the submitter's umask must not make the file unreadable to pickup.
            let written = f
                .set_permissions(fs::Permissions::from_mode(DROP_FILE_MODE))
                .and_then(|()| f.write_all(&bytes))
                .and_then(|()| ferrymail_fsutil::sync_file(&f));
            drop(f);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(SpoolError::io("write", &tmp)(e));
            }
            let target = self.dir.join(id.as_str());
            match rename_noreplace(&tmp, &target) {
                Ok(()) => {
                    // The submitter usually cannot open the non-readable directory to fsync
                    // it; the file itself is durable, and pickup also collects stale .tmp-
                    // files, so a lost rename does not lose the message.
                    let _ = fsync_dir(&self.dir);
                    return Ok(id);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(SpoolError::io("rename", target)(e));
                }
            }
        }
        Err(SpoolError::IdExhausted)
    }
}

fn encode_drop(envelope: &Envelope, message: &[u8]) -> Result<Vec<u8>> {
    let record = encode_envelope(envelope)?;
    let rlen = u32::try_from(record.len())
        .map_err(|_| crate::record::EncodeError::TooLarge(record.len()))?;
    let mut out = Vec::with_capacity(24 + record.len() + message.len());
    out.extend_from_slice(DROP_MAGIC);
    out.extend_from_slice(&DROP_VERSION.to_be_bytes());
    out.extend_from_slice(&rlen.to_be_bytes());
    out.extend_from_slice(&record);
    out.extend_from_slice(&(message.len() as u64).to_be_bytes());
    out.extend_from_slice(message);
    out.extend_from_slice(&crc32fast::hash(message).to_be_bytes());
    Ok(out)
}

/// The outcome of looking at one maildrop file.
enum Outcome {
    Queued(QueueId),
    Vanished,
    Bad(CorruptReason),
    Failed(SpoolError),
}

impl Spool {
    /// Submit through maildrop (see [`Maildrop::submit`]).
    pub fn maildrop_submit(&self, envelope: Envelope, message: &[u8]) -> Result<QueueId> {
        Maildrop::open(self.root())?.submit(envelope, message)
    }

    /// Move every complete maildrop file into the queue. Returns one entry per file looked
    /// at: the new queue id, or why it was not queued. Run as the spool owner.
    pub fn pickup(&self, limits: &PickupLimits) -> Vec<Result<QueueId, PickupError>> {
        let dir = self.dir(MAILDROP);
        let mut names: Vec<_> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect(),
            Err(e) => {
                return vec![Err(PickupError::Failed {
                    file: String::new(),
                    source: SpoolError::io("readdir", &dir)(e),
                })]
            }
        };
        names.sort();
        let mut results = Vec::new();
        for name in names {
            let shown = name.to_string_lossy().into_owned();
            let expected_id = match name.to_str() {
                Some(n) if n.starts_with(TMP_PREFIX) => {
                    let fresh = fs::symlink_metadata(dir.join(&name))
                        .map(|m| age(&m) < limits.stale_tmp_age)
                        .unwrap_or(true);
                    if fresh {
                        continue; // a sendmail is still writing it
                    }
                    QueueId::parse(&n[TMP_PREFIX.len()..]).ok()
                }
                Some(n) => QueueId::parse(n).ok(),
                None => None,
            };
            let outcome = match expected_id {
                Some(id) => self.pickup_one(&dir, &name, id, limits),
                None => Outcome::Bad(CorruptReason::BadName),
            };
            match outcome {
                Outcome::Queued(id) => {
                    tracing::info!(file = %shown, %id, "picked up maildrop file");
                    results.push(Ok(id));
                }
                Outcome::Vanished => {}
                Outcome::Failed(source) => results.push(Err(PickupError::Failed {
                    file: shown,
                    source,
                })),
                Outcome::Bad(reason) => match self.quarantine(MAILDROP, &name, &reason, None) {
                    Ok(()) => {
                        tracing::warn!(file = %shown, %reason, "quarantined maildrop file");
                        results.push(Err(PickupError::Quarantined {
                            file: shown,
                            reason,
                        }));
                    }
                    Err(source) => results.push(Err(PickupError::Failed {
                        file: shown,
                        source,
                    })),
                },
            }
        }
        results
    }

    fn pickup_one(
        &self,
        dir: &Path,
        name: &OsStr,
        expected: QueueId,
        limits: &PickupLimits,
    ) -> Outcome {
        let path = dir.join(name);
        // O_NONBLOCK: a FIFO planted by a user must not hang queue-runner on open.
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Vanished,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Outcome::Bad(CorruptReason::NotRegularFile)
            }
            Err(e) => return Outcome::Failed(SpoolError::io("open", path)(e)),
        };
        let meta = match f.metadata() {
            Ok(m) => m,
            Err(e) => return Outcome::Failed(SpoolError::io("stat", path)(e)),
        };
        if !meta.is_file() {
            return Outcome::Bad(CorruptReason::NotRegularFile);
        }
        let envelope = match read_drop_envelope(&mut f, meta.len(), expected, limits) {
            Ok(e) => e,
            Err(DropError::Bad(r)) => return Outcome::Bad(r),
            Err(DropError::Io(e)) => return Outcome::Failed(SpoolError::io("read", path)(e)),
        };
        let envelope = sanitize(envelope, meta.uid());

        let mut writer = match self.writer() {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e),
        };
        match copy_checked(&mut f, &mut writer, envelope.size) {
            Ok(()) => {}
            Err(DropError::Bad(r)) => return Outcome::Bad(r),
            Err(DropError::Io(e)) => return Outcome::Failed(SpoolError::io("copy", path)(e)),
        }
        let id = match writer.commit(envelope) {
            Ok(id) => id,
            Err(e) => return Outcome::Failed(e),
        };
        // Only now is the maildrop copy redundant.
        match fs::remove_file(&path) {
            Ok(()) => {
                let _ = fsync_dir(dir);
            }
            Err(e) => {
                // Queued, but the file stays: it would be picked up twice. Say so loudly.
                tracing::error!(file = %path.display(), %id, error = %e, "queued maildrop file could not be removed");
            }
        }
        Outcome::Queued(id)
    }
}

enum DropError {
    Bad(CorruptReason),
    Io(io::Error),
}

impl From<io::Error> for DropError {
    fn from(e: io::Error) -> Self {
        DropError::Io(e)
    }
}

/// Read exactly `buf.len()` bytes; running out is corruption (the file is shorter than its
/// header says), not an I/O error.
fn read_exact_or_truncated(
    f: &mut File,
    buf: &mut [u8],
    have: u64,
    need: u64,
) -> std::result::Result<(), DropError> {
    match f.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(DropError::Bad(CorruptReason::Truncated {
                have: have as usize,
                need: need as usize,
            }))
        }
        Err(e) => Err(DropError::Io(e)),
    }
}

/// Parse and validate everything up to the message bytes; leaves `f` positioned at them.
fn read_drop_envelope(
    f: &mut File,
    file_len: u64,
    expected: QueueId,
    limits: &PickupLimits,
) -> std::result::Result<Envelope, DropError> {
    let bad = |r| Err(DropError::Bad(r));
    let max_len = 24 + MAX_RECORD + limits.max_message_size;
    if file_len > max_len {
        return bad(CorruptReason::TooLarge {
            size: file_len,
            limit: max_len,
        });
    }
    let mut head = Vec::with_capacity(12);
    (&mut *f).take(12).read_to_end(&mut head)?;
    let magic_have = head.len().min(DROP_MAGIC.len());
    if head.get(..magic_have) != DROP_MAGIC.get(..magic_have) {
        return bad(CorruptReason::BadMagic);
    }
    let Ok(header) = <[u8; 12]>::try_from(head.as_slice()) else {
        return bad(CorruptReason::Truncated {
            have: head.len(),
            need: 24,
        });
    };
    let version = u16::from_be_bytes([header[6], header[7]]);
    if version != DROP_VERSION {
        return bad(CorruptReason::UnknownVersion(version));
    }
    let rlen = u64::from(u32::from_be_bytes([
        header[8], header[9], header[10], header[11],
    ]));
    if rlen > MAX_RECORD {
        return bad(CorruptReason::BadLength(rlen));
    }
    if file_len < 24 + rlen {
        return bad(CorruptReason::Truncated {
            have: file_len as usize,
            need: (24 + rlen) as usize,
        });
    }
    let mut record = vec![0u8; rlen as usize];
    read_exact_or_truncated(f, &mut record, file_len, 24 + rlen)?;
    let envelope = decode_envelope(&record).map_err(DropError::Bad)?;
    let mut mlen = [0u8; 8];
    read_exact_or_truncated(f, &mut mlen, file_len, 24 + rlen)?;
    let mlen = u64::from_be_bytes(mlen);
    if mlen > limits.max_message_size {
        return bad(CorruptReason::TooLarge {
            size: mlen,
            limit: limits.max_message_size,
        });
    }
    let total = 24 + rlen + mlen;
    if file_len < total {
        return bad(CorruptReason::Truncated {
            have: file_len as usize,
            need: total as usize,
        });
    }
    if file_len > total {
        return bad(CorruptReason::TrailingBytes((file_len - total) as usize));
    }
    if envelope.id != expected {
        return bad(CorruptReason::IdMismatch {
            inside: envelope.id,
        });
    }
    if envelope.size != mlen {
        return bad(CorruptReason::SizeMismatch {
            expected: envelope.size,
            actual: mlen,
        });
    }
    validate_envelope(&envelope, limits).map_err(DropError::Bad)?;
    Ok(envelope)
}

fn validate_envelope(
    envelope: &Envelope,
    limits: &PickupLimits,
) -> std::result::Result<(), CorruptReason> {
    let utf8 = envelope.smtputf8;
    let invalid = |address: &str, problem| CorruptReason::InvalidAddress {
        address: address.chars().take(300).collect(),
        problem,
    };
    if let Some(sender) = &envelope.sender {
        validate_address(sender, utf8).map_err(|p| invalid(sender, p))?;
    }
    if envelope.recipients.is_empty() {
        return Err(CorruptReason::NoRecipients);
    }
    if envelope.recipients.len() > limits.max_recipients {
        return Err(CorruptReason::TooManyRecipients {
            count: envelope.recipients.len(),
            limit: limits.max_recipients,
        });
    }
    for r in &envelope.recipients {
        validate_address(&r.address, utf8).map_err(|p| invalid(&r.address, p))?;
    }
    Ok(())
}

/// Replace everything a local user could forge with what pickup itself knows.
fn sanitize(mut envelope: Envelope, uid: u32) -> Envelope {
    envelope.source = Source::Sendmail { uid };
    envelope.client = ClientInfo {
        protocol: "local".into(),
        ..ClientInfo::default()
    };
    envelope.arrival = envelope.arrival.min(unix_now());
    for r in &mut envelope.recipients {
        r.status = RecipientStatus::Pending;
    }
    envelope.attempts = 0;
    envelope.next_attempt = 0;
    envelope.last_error = None;
    envelope
}

/// Copy `len` message bytes into the spool and check the trailing crc before anything is
/// committed.
fn copy_checked(
    f: &mut File,
    out: &mut impl Write,
    len: u64,
) -> std::result::Result<(), DropError> {
    let mut hasher = crc32fast::Hasher::new();
    let mut remaining = len;
    let mut buf = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = f.read(chunk)?;
        if n == 0 {
            return Err(DropError::Bad(CorruptReason::Truncated {
                have: (len - remaining) as usize,
                need: len as usize,
            }));
        }
        let chunk = chunk.get(..n).unwrap_or_default();
        hasher.update(chunk);
        out.write_all(chunk)?;
        remaining -= n as u64;
    }
    let mut crc = [0u8; 4];
    match f.read_exact(&mut crc) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(DropError::Bad(CorruptReason::Truncated {
                have: len as usize,
                need: len as usize + 4,
            }))
        }
        Err(e) => return Err(e.into()),
    }
    let stored = u32::from_be_bytes(crc);
    let computed = hasher.finalize();
    if stored != computed {
        return Err(DropError::Bad(CorruptReason::BadChecksum {
            stored,
            computed,
        }));
    }
    Ok(())
}
