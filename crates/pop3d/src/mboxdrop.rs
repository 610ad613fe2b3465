//! The maildrop of a Unix account whose mail is a classic mbox file (`userdb.unix_mailbox =
//! "mbox"`, `/var/mail/<user>`): locked for the whole session, indexed by offsets, messages
//! read from the file on RETR/TOP, and rewritten without the deleted ones at QUIT.
//!
//! The format and the locks are `ferrymail_maildir::mbox`, the code local-delivery appends
//! with, so both agree on the file byte for byte:
//! - Exclusive access (RFC 1939 §8): at login the session takes the mbox lock (dot-lock when
//!   the spool directory allows one, plus fcntl) and keeps it to the end, refreshing the
//!   dot-lock so that others do not take it as abandoned. A delivery meanwhile waits for the
//!   lock and, past local-delivery's timeout, is deferred (4xx) and retried by the queue:
//!   that is how mbox works. A second POP3 login is told `-ERR [IN-USE]` at once, by a
//!   non-blocking `flock` on the mbox that only pop3d sessions take (local-delivery and MUAs
//!   use dot-lock + fcntl, which `flock` does not touch on Linux).
//! - Memory: only offsets are kept (a [`Span`] and a UIDL per message); sizes and UIDLs are
//!   computed at login reading each message once, messages are re-read on RETR.
//! - UIDL: the message's `X-UIDL:` header when it is a valid RFC 1939 unique-id and no other
//!   message has the same, else the first 128 bits (hex) of SHA-256 over its `From ` line
//!   and un-quoted content: stable across sessions since nothing rewrites a kept message's
//!   bytes; identical copies are told apart by a `-2`, `-3`... suffix in file order.
//! - UPDATE: the file is rewritten in place under the lock (`mbox::remove_ranges`), which
//!   works where users may not create files (Debian's `/var/mail`).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_maildir::mbox::{self, LockOptions, MboxError, MboxLock, MessageReader, Span};
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};

use crate::maildrop::{LockTable, MaildropError, TableEntry, CHUNK};
use crate::session::MessageInfo;
use crate::transfer::CrlfSize;

/// How long a login waits for a lock held by someone other than a POP3 session (a delivery
/// in progress takes milliseconds); past it the login gets `-ERR [IN-USE]`.
pub const LOGIN_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the held dot-lock's time is refreshed, well within
/// [`mbox::DEFAULT_STALE_AFTER`].
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// A locked mbox maildrop.
pub struct MboxDrop {
    // Field order is drop order: stop refreshing, release the mbox locks, then the flock
    // (closing its descriptor would also drop this process's fcntl lock, so it goes last),
    // then the in-process entry.
    _refresher: Option<Refresher>,
    lock: Option<Arc<MboxLock>>,
    spans: Vec<Span>,
    _session: Option<Flock<File>>,
    _entry: TableEntry,
    path: std::path::PathBuf,
}

/// Touches the dot-lock every [`REFRESH_EVERY`] until dropped.
struct Refresher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Refresher {
    /// Waits for the thread, so its handle on the lock is gone before the lock is released.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Refresher {
    fn start(lock: Arc<MboxLock>) -> Option<Refresher> {
        if !lock.has_dotlock() {
            return None;
        }
        let (tx, rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("mbox-lock-refresh".into())
            .spawn(move || {
                // Ends when the sender is dropped (Disconnected).
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(REFRESH_EVERY) {
                    if let Err(e) = lock.touch() {
                        tracing::warn!(mbox = %lock.path().display(), error = %e, "cannot refresh the dot-lock");
                    }
                }
            });
        match spawned {
            Ok(thread) => Some(Refresher {
                stop: Some(tx),
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no dot-lock refresher; a session longer than the stale age may lose its dot-lock");
                None
            }
        }
    }
}

impl MboxDrop {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Message `index`'s content, un-quoted, for RETR/TOP; `None` if there is no such message.
    pub fn reader(&self, index: usize) -> Option<MessageReader<Arc<File>>> {
        let span = self.spans.get(index)?;
        let lock = self.lock.as_ref()?;
        Some(MessageReader::new(lock.file_handle(), span))
    }

    /// UPDATE state: rewrites the mbox without messages `indexes`. Returns (removed, failed).
    pub fn delete(&self, indexes: &[usize]) -> (usize, usize) {
        let mut ranges: Vec<(u64, u64)> = indexes
            .iter()
            .filter_map(|&i| self.spans.get(i))
            .map(|s| (s.start, s.next))
            .collect();
        ranges.sort_unstable();
        ranges.dedup();
        let n = ranges.len();
        let Some(lock) = &self.lock else {
            return (0, n);
        };
        match mbox::remove_ranges(lock, &ranges) {
            Ok(_) => (n, 0),
            Err(e) => {
                tracing::error!(mbox = %self.path.display(), error = %e, "could not rewrite the mbox");
                (0, n)
            }
        }
    }
}

/// Locks and indexes the mbox at `path`. A missing file is created (empty, 0600, as
/// local-delivery would) when the directory allows; otherwise the maildrop is empty.
pub fn open(locks: &LockTable, path: &Path) -> Result<(MboxDrop, Vec<MessageInfo>), MaildropError> {
    open_with(locks, path, LOGIN_LOCK_TIMEOUT)
}

/// [`open`] waiting at most `lock_timeout` for other holders of the mbox lock.
pub fn open_with(
    locks: &LockTable,
    path: &Path,
    lock_timeout: Duration,
) -> Result<(MboxDrop, Vec<MessageInfo>), MaildropError> {
    // In-process sessions first: a second session of this process must not open (and
    // close) the file, which would drop the first one's fcntl lock.
    let entry = locks.claim(path)?;
    let session = match open_marker(path) {
        Ok(Some(f)) => match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Some(l),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(MaildropError::InUse),
            Err((_, e)) => return Err(lock_error(path, io::Error::from(e))),
        },
        Ok(None) => None,
        Err(e) => return Err(lock_error(path, e)),
    };
    if session.is_none() {
        return Ok((
            MboxDrop {
                _refresher: None,
                lock: None,
                spans: Vec::new(),
                _session: None,
                _entry: entry,
                path: path.to_owned(),
            },
            Vec::new(),
        ));
    }
    let opts = LockOptions {
        timeout: lock_timeout,
        ..LockOptions::default()
    };
    let lock = match MboxLock::acquire(path, &opts, false) {
        Ok(l) => Arc::new(l),
        Err(MboxError::Locked(_)) => return Err(MaildropError::InUse),
        Err(e) => return Err(MaildropError::Mbox(e)),
    };
    let read_err = |source| MaildropError::Read {
        path: path.to_owned(),
        source,
    };
    let spans = mbox::scan(lock.file()).map_err(read_err)?;
    let mut described = Vec::with_capacity(spans.len());
    for span in &spans {
        described.push(describe(lock.file(), span).map_err(read_err)?);
    }
    let uidls = assign_uidls(
        described
            .iter()
            .map(|d| (d.x_uidl.as_deref(), d.digest.as_str())),
    );
    let infos = described
        .iter()
        .zip(uidls)
        .map(|(d, uidl)| MessageInfo { uidl, size: d.size })
        .collect();
    Ok((
        MboxDrop {
            _refresher: Refresher::start(lock.clone()),
            lock: Some(lock),
            spans,
            _session: session,
            _entry: entry,
            path: path.to_owned(),
        },
        infos,
    ))
}

fn lock_error(path: &Path, source: io::Error) -> MaildropError {
    MaildropError::LockFile {
        path: path.to_owned(),
        source,
    }
}

/// The descriptor the POP3-session `flock` is taken on; `None` when there is no mbox and
/// none may be created.
fn open_marker(path: &Path) -> io::Result<Option<File>> {
    // O_NONBLOCK: a FIFO planted at the path must not hang the login.
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(flags)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(None),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(Some(file))
}

/// What the login reports about one message.
struct Described {
    /// Octets with CRLF line ends, un-quoted: what RETR sends before dot-stuffing.
    size: u64,
    digest: String,
    x_uidl: Option<String>,
}

fn describe(file: &File, span: &Span) -> io::Result<Described> {
    let mut hasher = Sha256::new();
    let from_len = usize::try_from(span.body.saturating_sub(span.start)).unwrap_or(0);
    let mut from = vec![0u8; from_len];
    file.read_exact_at(&mut from, span.start)?;
    hasher.update(&from);
    let mut size = CrlfSize::default();
    let mut reader = MessageReader::new(file, span);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut in_header = true;
    let mut x_uidl = None;
    loop {
        buf.clear();
        let end = reader.read_lines(&mut buf, CHUNK)?;
        size.update(&buf);
        hasher.update(&buf);
        // Chunks hold whole lines, so header lines are never split.
        if in_header {
            for line in buf.split_inclusive(|&b| b == b'\n') {
                let line = ferrymail_net::lines::strip_eol(line);
                if line.is_empty() {
                    in_header = false;
                    break;
                }
                if x_uidl.is_none() {
                    x_uidl = header_value(line, b"x-uidl");
                }
            }
        }
        if end {
            break;
        }
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Described {
        size: size.size(),
        digest,
        x_uidl,
    })
}

/// The trimmed value of header `name` (lower case) if `line` is that header.
fn header_value(line: &[u8], name: &[u8]) -> Option<String> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (field, value) = line.split_at(colon);
    if !field.eq_ignore_ascii_case(name) {
        return None;
    }
    let value = value.get(1..)?.trim_ascii();
    std::str::from_utf8(value).ok().map(str::to_owned)
}

/// RFC 1939 §7: 1–70 characters in 0x21..=0x7E.
fn valid_uidl(s: &str) -> bool {
    !s.is_empty() && s.len() <= 70 && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// One UIDL per message, in order, from its `X-UIDL:` value (if any) and its digest: the
/// header's value when valid and not shared with another message, else the digest; any
/// value already taken gets `-2`, `-3`... so every UIDL of the maildrop is unique.
pub fn assign_uidls<'a>(
    messages: impl Iterator<Item = (Option<&'a str>, &'a str)> + Clone,
) -> Vec<String> {
    let mut headers: HashMap<&str, usize> = HashMap::new();
    for (x, _) in messages.clone() {
        if let Some(x) = x.filter(|x| valid_uidl(x)) {
            *headers.entry(x).or_default() += 1;
        }
    }
    let mut used: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for (x, digest) in messages {
        let base = match x.filter(|x| valid_uidl(x) && headers.get(x) == Some(&1)) {
            Some(x) => x.to_owned(),
            None => digest.to_owned(),
        };
        let mut uidl = base.clone();
        let mut n = 1u64;
        while used.contains(&uidl) || !valid_uidl(&uidl) {
            n += 1;
            uidl = format!("{digest}-{n}");
        }
        used.insert(uidl.clone());
        out.push(uidl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Mon Nov 23 13:40:00 2026";

    fn write_mbox(path: &Path, messages: &[&[u8]]) {
        for m in messages {
            mbox::append(
                path,
                &mbox::from_line(Some("a@x"), DATE),
                &[m],
                &LockOptions::default(),
            )
            .unwrap();
        }
    }

    fn read(m: &MboxDrop, i: usize) -> Vec<u8> {
        let mut r = m.reader(i).unwrap();
        let mut out = Vec::new();
        while !r.read_lines(&mut out, usize::MAX).unwrap() {}
        out
    }

    #[test]
    fn uidls_prefer_unique_valid_headers() {
        let msgs = [
            (Some("abc"), "d1"),
            (Some("dup"), "d2"),
            (Some("dup"), "d3"),
            (Some("has space"), "d4"),
            (None, "d5"),
            (None, "d5"),
            (None, "abc"),
        ];
        let got = assign_uidls(msgs.iter().copied());
        assert_eq!(got, ["abc", "d2", "d3", "d4", "d5", "d5-2", "abc-2"]);
        let long = "x".repeat(71);
        assert_eq!(
            assign_uidls([(Some(long.as_str()), "d")].into_iter()),
            ["d"]
        );
    }

    #[test]
    fn index_sizes_uidls_and_unquoted_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("carol");
        let msgs: [&[u8]; 3] = [
            b"Subject: one\r\nX-UIDL: given-1\r\n\r\nbody\r\n",
            b"Subject: two\r\n\r\nFrom the start\r\n>From quoted\r\n",
            b"Subject: three\r\n\r\n.dot\r\n",
        ];
        write_mbox(&p, &msgs);
        let locks = LockTable::new();
        let (m, infos) = open(&locks, &p).unwrap();
        assert_eq!(infos.len(), 3);
        for (i, want) in msgs.iter().enumerate() {
            // Sizes count CRLF line ends, as RETR sends the message.
            assert_eq!(infos[i].size, want.len() as u64, "message {}", i + 1);
            let lf: Vec<u8> = want.iter().copied().filter(|&b| b != b'\r').collect();
            assert_eq!(read(&m, i), lf, "message {}", i + 1);
        }
        assert_eq!(infos[0].uidl, "given-1");
        assert_eq!(infos[1].uidl.len(), 32);
        assert!(infos[1].uidl.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(infos[1].uidl, infos[2].uidl);
        // A second session (in this process, or another: the flock) is refused.
        assert!(matches!(open(&locks, &p), Err(MaildropError::InUse)));
        assert!(matches!(
            open(&LockTable::new(), &p),
            Err(MaildropError::InUse)
        ));

        // QUIT after DELE 2: 1 and 3 stay, with the same UIDLs next time.
        assert_eq!(m.delete(&[1]), (1, 0));
        drop(m);
        assert!(!dir.path().join("carol.lock").exists());
        let (m2, infos2) = open(&locks, &p).unwrap();
        assert_eq!(infos2, vec![infos[0].clone(), infos[2].clone()]);
        assert!(read(&m2, 1).ends_with(b".dot\n"));
    }

    #[test]
    fn missing_mbox_is_an_empty_maildrop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nobody-yet");
        let (m, infos) = open(&LockTable::new(), &p).unwrap();
        assert!(infos.is_empty());
        assert_eq!(m.delete(&[]), (0, 0));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    }

    #[test]
    fn held_lock_of_a_delivery_makes_the_login_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("carol");
        write_mbox(&p, &[b"S: 1\n\nx\n"]);
        // A dot-lock someone else holds (fresh, so not stale).
        std::fs::write(dir.path().join("carol.lock"), b"1\n").unwrap();
        assert!(matches!(
            open_with(&LockTable::new(), &p, Duration::from_millis(200)),
            Err(MaildropError::InUse)
        ));
        std::fs::remove_file(dir.path().join("carol.lock")).unwrap();
        let (_m, infos) = open(&LockTable::new(), &p).unwrap();
        assert_eq!(infos.len(), 1);
    }
}
