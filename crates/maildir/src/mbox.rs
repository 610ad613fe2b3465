//! Classic mbox files (`/var/mail/<user>`), the one implementation shared by their writer
//! (local-delivery appends) and their reader (pop3d serves and rewrites them).
//!
//! Format: mboxrd. Each message starts with a `From sender date` line; a body line that
//! starts with any number of `>` followed by `From ` gets one more `>` when written and loses
//! one when read, so the transformation is exactly reversible; lines end in LF and an empty
//! line separates a message from the next `From ` line (it is not part of the message).
//!
//! Locking, the way mutt, Dovecot, procmail and Postfix's local expect: a `<file>.lock`
//! dot-lock (skipped when the spool directory is not writable by us, as with Debian's
//! `/var/mail` 2775 root:mail), then an fcntl write lock on the file, both waiting up to
//! [`LockOptions::timeout`]. A dot-lock older than [`LockOptions::stale_after`] was left by a
//! dead process and is removed; a long holder keeps its own fresh with [`MboxLock::touch`].
//!
//! POSIX fcntl locks belong to the process and go away when *any* descriptor of the file is
//! closed by it: whoever holds an [`MboxLock`] must not open (and close) the same file
//! elsewhere in the process meanwhile, and reads through [`MboxLock::file`].

use std::borrow::Borrow;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum MboxError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is locked by another process", .0.display())]
    Locked(PathBuf),
}

impl MboxError {
    fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> MboxError + 'p {
        move |source| MboxError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            MboxError::Io { source, .. } => Some(source),
            MboxError::Locked(_) => None,
        }
    }
}

/// How long to wait for other lockers.
#[derive(Debug, Clone, Copy)]
pub struct LockOptions {
    pub timeout: Duration,
    /// A dot-lock older than this was left by a dead process and is removed.
    pub stale_after: Duration,
}

/// How long local-delivery waits for the lock before deferring (4xx).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// Age at which a dot-lock counts as abandoned.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(300);

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            timeout: DEFAULT_LOCK_TIMEOUT,
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

const RETRY: Duration = Duration::from_millis(50);

/// A held dot-lock, removed on drop.
#[derive(Debug)]
struct DotLock(Option<PathBuf>);

impl Drop for DotLock {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn dotlock_path(mbox: &Path) -> PathBuf {
    let mut name = mbox.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn dotlock(mbox: &Path, opts: &LockOptions, deadline: Instant) -> Result<DotLock, MboxError> {
    let lock = dotlock_path(mbox);
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&lock)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                return Ok(DotLock(Some(lock)));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let stale = std::fs::symlink_metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > opts.stale_after);
                if stale {
                    tracing::warn!(lock = %lock.display(), "removing stale dot-lock");
                    let _ = std::fs::remove_file(&lock);
                    continue;
                }
            }
            // A spool directory we may not create files in (Debian's /var/mail is 2775
            // root:mail): the fcntl lock alone still excludes other writers.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                tracing::debug!(lock = %lock.display(), "no permission for a dot-lock; fcntl only");
                return Ok(DotLock(None));
            }
            Err(e) => return Err(MboxError::io("create", &lock)(e)),
        }
        if Instant::now() >= deadline {
            return Err(MboxError::Locked(mbox.to_owned()));
        }
        std::thread::sleep(RETRY);
    }
}

fn fcntl_lock(file: &File, path: &Path, deadline: Instant) -> Result<(), MboxError> {
    loop {
        // SAFETY: a zeroed flock is a valid value; every field we rely on is set below.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = 0;
        fl.l_len = 0;
        // SAFETY: valid fd and a pointer to an initialised flock for the duration of the call.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) | Some(libc::EINTR) => {}
            _ => return Err(MboxError::io("fcntl", path)(e)),
        }
        if Instant::now() >= deadline {
            return Err(MboxError::Locked(path.to_owned()));
        }
        std::thread::sleep(RETRY);
    }
}

/// An mbox file locked for writing (dot-lock, when the directory allows one, plus fcntl).
/// Dropping it closes the file (releasing the fcntl lock) and then removes the dot-lock.
#[derive(Debug)]
pub struct MboxLock {
    // Field order is drop order: the fcntl lock goes with the descriptor, before the
    // dot-lock, the order in which other lockers take them. Shared handles from
    // `file_handle` are the same descriptor, never a dup, so they keep the lock.
    file: Arc<File>,
    dot: DotLock,
    path: PathBuf,
}

impl MboxLock {
    /// Takes the dot-lock, opens the file (creating it 0600 when `create`; never following
    /// a symlink) and takes the fcntl lock, each within `opts.timeout` overall.
    pub fn acquire(path: &Path, opts: &LockOptions, create: bool) -> Result<MboxLock, MboxError> {
        let deadline = Instant::now() + opts.timeout;
        let dot = dotlock(path, opts, deadline)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(MboxError::io("open", path))?;
        let meta = file.metadata().map_err(MboxError::io("stat", path))?;
        if !meta.is_file() {
            return Err(MboxError::Io {
                op: "open",
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        fcntl_lock(&file, path, deadline)?;
        Ok(MboxLock {
            file: Arc::new(file),
            dot,
            path: path.to_owned(),
        })
    }

    /// The locked file; read it with positional reads (`FileExt::read_at`) or [`scan`].
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The locked file for a [`MessageReader`] that must not borrow the lock (work handed
    /// to another thread). The same descriptor: the last handle dropped closes it.
    pub fn file_handle(&self) -> Arc<File> {
        self.file.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a dot-lock is held (false when the directory did not allow one).
    pub fn has_dotlock(&self) -> bool {
        self.dot.0.is_some()
    }

    /// Refreshes the dot-lock's time so that other lockers do not take a lock held for a
    /// long session as abandoned; call well within [`LockOptions::stale_after`].
    pub fn touch(&self) -> io::Result<()> {
        match &self.dot.0 {
            Some(p) => OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(p)?
                .set_modified(SystemTime::now()),
            None => Ok(()),
        }
    }
}

/// Whether `line` (at the start of a line) is a message separator.
pub fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// The mboxrd quoting of one line (without its line ending): a `>`* `From ` line gets one
/// more `>`.
fn needs_quote(line: &[u8]) -> bool {
    let gt = line.iter().take_while(|&&c| c == b'>').count();
    line.get(gt..).is_some_and(|r| r.starts_with(b"From "))
}

/// A stored line as the message has it: one `>` less on a quoted `>`+`From ` line.
pub fn unquote_line(line: &[u8]) -> &[u8] {
    match line.strip_prefix(b">") {
        Some(rest) if needs_quote(rest) => rest,
        _ => line,
    }
}

/// The message as it goes into the file: CRLF → LF, mboxrd-quoted, ending in LF.
pub fn encode_body(parts: &[&[u8]], out: &mut Vec<u8>) {
    let joined: Vec<u8> = parts.concat();
    let mut rest: &[u8] = &joined;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, &[][..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if needs_quote(line) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = next;
    }
}

/// `From sender date\n`; `date` in asctime layout (`Mon Nov 23 13:40:00 2026`). An empty
/// sender (a bounce) is `MAILER-DAEMON`; whitespace and controls in it become `_`.
pub fn from_line(sender: Option<&str>, date: &str) -> Vec<u8> {
    let s: String = sender
        .filter(|s| !s.is_empty())
        .unwrap_or("MAILER-DAEMON")
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("From {s} {date}\n").into_bytes()
}

/// Current size of the mbox (for quota), 0 if it does not exist yet.
pub fn size(path: &Path) -> Result<u64, MboxError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(MboxError::io("stat", path)(e)),
    }
}

/// Appends one message (`parts` concatenated, CRLF or LF lines) after `from_line` under
/// both locks, fsyncs, and on failure cuts the file back to its old size so a half-written
/// message never appears.
pub fn append(
    path: &Path,
    from_line: &[u8],
    parts: &[&[u8]],
    opts: &LockOptions,
) -> Result<(), MboxError> {
    let lock = MboxLock::acquire(path, opts, true)?;
    let mut file: &File = &lock.file;
    let old = file
        .seek(SeekFrom::End(0))
        .map_err(MboxError::io("seek", path))?;

    let mut buf = Vec::new();
    // The previous message must end with an empty line, or our separator would be read
    // as part of its body.
    if old > 0 {
        let mut tail = [0u8; 2];
        let back = old.min(2);
        let tail = tail.get_mut(..back as usize).unwrap_or_default();
        file.read_exact_at(tail, old - back)
            .map_err(MboxError::io("read", path))?;
        if !tail.ends_with(b"\n") {
            buf.extend_from_slice(b"\n\n");
        } else if !tail.ends_with(b"\n\n") {
            buf.push(b'\n');
        }
    }
    buf.extend_from_slice(from_line);
    encode_body(parts, &mut buf);
    buf.push(b'\n');

    let written = file
        .write_all(&buf)
        .and_then(|()| ferrymail_fsutil::sync_data(file));
    if let Err(e) = written {
        if let Err(t) = lock
            .file
            .set_len(old)
            .and_then(|()| ferrymail_fsutil::sync_data(&lock.file))
        {
            tracing::error!(mbox = %path.display(), error = %t, "could not truncate after a failed write");
        }
        return Err(MboxError::io("write", path)(e));
    }
    Ok(())
}

/// Where one message lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of its `From ` line.
    pub start: u64,
    /// Offset of its first content byte (after the `From ` line).
    pub body: u64,
    /// End of its content (exclusive), without the empty line that separates it from the
    /// next message.
    pub end: u64,
    /// Where the next message (or the file) starts: `start..next` is everything a rewrite
    /// keeps or drops together.
    pub next: u64,
}

/// Indexes the messages of an mbox from its start, reading it once and keeping only offsets.
/// Anything before the first `From ` line (not an mbox then, or a damaged one) is not part
/// of any message.
pub fn scan(file: &File) -> io::Result<Vec<Span>> {
    let mut reader = BufReader::with_capacity(64 * 1024, PositionalReader { file, pos: 0 });
    let mut spans: Vec<Span> = Vec::new();
    let mut line = Vec::with_capacity(256);
    let mut pos = 0u64;
    // Whether the previous line was empty, and where it started.
    let mut blank_at: Option<u64> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        if n == 0 {
            break;
        }
        if is_separator(&line) {
            if let Some(last) = spans.last_mut() {
                last.end = blank_at.unwrap_or(pos).max(last.body);
                last.next = pos;
            }
            spans.push(Span {
                start: pos,
                body: pos + n,
                end: pos + n,
                next: pos + n,
            });
            blank_at = None;
        } else {
            blank_at = (line == b"\n" || line == b"\r\n").then_some(pos);
        }
        pos += n;
    }
    if let Some(last) = spans.last_mut() {
        last.end = blank_at.unwrap_or(pos).max(last.body);
        last.next = pos;
    }
    Ok(spans)
}

/// `Read` through positional reads, so the shared descriptor's offset is never used.
struct PositionalReader<F> {
    file: F,
    pos: u64,
}

impl<F: Borrow<File>> Read for PositionalReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.borrow().read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads one message's content un-quoted, line by line, without loading it whole. `F` is
/// `&File` or an owned handle ([`MboxLock::file_handle`]).
pub struct MessageReader<F> {
    inner: BufReader<io::Take<PositionalReader<F>>>,
    line: Vec<u8>,
}

impl<F: Borrow<File>> MessageReader<F> {
    pub fn new(file: F, span: &Span) -> MessageReader<F> {
        let len = span.end.saturating_sub(span.body);
        MessageReader {
            inner: BufReader::with_capacity(
                64 * 1024,
                PositionalReader {
                    file,
                    pos: span.body,
                }
                .take(len),
            ),
            line: Vec::with_capacity(256),
        }
    }

    /// Appends whole un-quoted lines to `out` until it holds at least `want` bytes or the
    /// message ends; returns `true` at the end.
    pub fn read_lines(&mut self, out: &mut Vec<u8>, want: usize) -> io::Result<bool> {
        while out.len() < want {
            self.line.clear();
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(true);
            }
            out.extend_from_slice(unquote_line(&self.line));
        }
        Ok(false)
    }
}

/// Rewrites the locked mbox in place without the messages `drop` (sorted, non-overlapping
/// `start..next` ranges from [`scan`]): the bytes after each dropped range move down, then
/// the file is cut to its new length and fsynced. Done in place rather than via a new file
/// and a rename because users cannot create files in Debian's `/var/mail`, and because a
/// writer waiting on the old file's fcntl lock would otherwise append to an unlinked inode.
/// A crash midway loses no kept message: data only ever moves towards the start, never
/// over bytes not yet copied; at worst a copied fragment is left twice.
pub fn remove_ranges(lock: &MboxLock, drop: &[(u64, u64)]) -> Result<u64, MboxError> {
    let path = lock.path();
    let file: &File = &lock.file;
    let len = file.metadata().map_err(MboxError::io("stat", path))?.len();
    let Some(&(first, _)) = drop.first() else {
        return Ok(len);
    };
    let mut write = first;
    let mut buf = vec![0u8; 256 * 1024];
    for (i, &(_, end)) in drop.iter().enumerate() {
        let keep_to = drop.get(i + 1).map_or(len, |&(s, _)| s).min(len);
        let mut read = end.min(len);
        while read < keep_to {
            let want = usize::try_from(keep_to - read)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let chunk = buf.get_mut(..want).unwrap_or_default();
            file.read_exact_at(chunk, read)
                .map_err(MboxError::io("read", path))?;
            file.write_all_at(chunk, write)
                .map_err(MboxError::io("write", path))?;
            read += want as u64;
            write += want as u64;
        }
    }
    // Data first, then the new length: a crash between leaves the old tail, not a hole.
    ferrymail_fsutil::sync_data(file)
        .and_then(|()| file.set_len(write))
        .and_then(|()| ferrymail_fsutil::sync_file(file))
        .map_err(MboxError::io("truncate", path))?;
    Ok(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Tue Nov 14 22:13:20 2023";

    fn lock(p: &Path) -> MboxLock {
        MboxLock::acquire(p, &LockOptions::default(), true).unwrap()
    }

    fn read_all(file: &File, span: &Span) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = MessageReader::new(file, span);
        // Small steps: the line-wise reading must not depend on the request size.
        loop {
            let want = out.len() + 3;
            if r.read_lines(&mut out, want).unwrap() {
                break;
            }
        }
        out
    }

    #[test]
    fn quoting_and_line_endings() {
        let mut out = Vec::new();
        encode_body(
            &[
                b"A: b\r\n\r\nFrom me\r\n>From you\r\nxFrom \r\n",
                b"From split\r",
                b"\nend",
            ],
            &mut out,
        );
        assert_eq!(
            out,
            b"A: b\n\n>From me\n>>From you\nxFrom \n>From split\nend\n".to_vec()
        );
        let mut out = Vec::new();
        encode_body(&[b"\xFFraw\r\n\xFF"], &mut out);
        assert_eq!(out, b"\xFFraw\n\xFF\n".to_vec());
        let mut out = Vec::new();
        encode_body(&[b""], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn from_line_format() {
        assert_eq!(
            from_line(Some("a b@x"), DATE),
            b"From a_b@x Tue Nov 14 22:13:20 2023\n".to_vec()
        );
        assert!(from_line(None, DATE).starts_with(b"From MAILER-DAEMON "));
        assert!(from_line(Some(""), DATE).starts_with(b"From MAILER-DAEMON "));
    }

    #[test]
    fn mboxrd_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        let messages: [&[u8]; 4] = [
            b"S: 1\n\nFrom x\n>From y\n>>From z\nFrom\n>From\n",
            b"S: 2\n\nno newline at end",
            b"S: 3\n\n\n\ntrailing blank lines\n\n\n",
            b"S: 4\n\nlast\n",
        ];
        for m in messages {
            append(
                &p,
                &from_line(Some("a@x"), DATE),
                &[m],
                &LockOptions::default(),
            )
            .unwrap();
        }
        let l = lock(&p);
        let spans = scan(l.file()).unwrap();
        assert_eq!(spans.len(), 4);
        let expected: [&[u8]; 4] = [
            messages[0],
            b"S: 2\n\nno newline at end\n",
            messages[2],
            messages[3],
        ];
        for (span, want) in spans.iter().zip(expected) {
            assert_eq!(read_all(l.file(), span), want);
        }
        // The spans tile the file.
        assert_eq!(spans[0].start, 0);
        for w in spans.windows(2) {
            assert_eq!(w[0].next, w[1].start);
        }
        assert_eq!(spans[3].next, std::fs::metadata(&p).unwrap().len());
    }

    #[test]
    fn scan_ignores_leading_garbage_and_handles_no_final_blank_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        std::fs::write(&p, b"junk\nFrom a x\nA: 1\n\nb\nFrom b y\nB: 2\n\nc").unwrap();
        let l = lock(&p);
        let spans = scan(l.file()).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].start, 5);
        assert_eq!(read_all(l.file(), &spans[0]), b"A: 1\n\nb\n");
        assert_eq!(read_all(l.file(), &spans[1]), b"B: 2\n\nc");
        // An empty file has no messages.
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let e = lock(&dir.path().join("empty"));
        assert!(scan(e.file()).unwrap().is_empty());
    }

    #[test]
    fn remove_ranges_keeps_the_rest_byte_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        let bodies: Vec<Vec<u8>> = (0..6)
            .map(|i| format!("N: {i}\n\n{}\n", "x".repeat(i * 1000)).into_bytes())
            .collect();
        for b in &bodies {
            append(&p, &from_line(None, DATE), &[b], &LockOptions::default()).unwrap();
        }
        let original = std::fs::read(&p).unwrap();
        let l = lock(&p);
        let spans = scan(l.file()).unwrap();
        for drop_set in [
            vec![],
            vec![0],
            vec![5],
            vec![1, 2, 4],
            vec![0, 1, 2, 3, 4, 5],
        ] {
            std::fs::write(&p, &original).unwrap();
            let ranges: Vec<(u64, u64)> = drop_set
                .iter()
                .map(|&i| (spans[i].start, spans[i].next))
                .collect();
            let len = remove_ranges(&l, &ranges).unwrap();
            let got = std::fs::read(&p).unwrap();
            assert_eq!(got.len() as u64, len);
            let want: Vec<u8> = (0..6)
                .filter(|i| !drop_set.contains(i))
                .flat_map(|i| original[spans[i].start as usize..spans[i].next as usize].to_vec())
                .collect();
            assert_eq!(got, want, "dropping {drop_set:?}");
            let kept = scan(l.file()).unwrap();
            assert_eq!(kept.len(), 6 - drop_set.len());
        }
    }

    #[test]
    fn lock_excludes_another_process_and_the_dot_lock_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        let l = lock(&p);
        assert!(l.has_dotlock());
        assert!(dir.path().join("box.lock").exists());
        l.touch().unwrap();
        let short = LockOptions {
            timeout: Duration::from_millis(200),
            ..LockOptions::default()
        };
        assert!(matches!(
            append(&p, b"From x y\n", &[b"x"], &short),
            Err(MboxError::Locked(_))
        ));
        drop(l);
        assert!(!dir.path().join("box.lock").exists());
        append(&p, b"From x y\n", &[b"x"], &short).unwrap();
    }

    #[test]
    fn stale_dotlock_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        let dot = dir.path().join("box.lock");
        std::fs::write(&dot, b"1\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&dot)
            .unwrap()
            .set_modified(old)
            .unwrap();
        append(&p, b"From x y\n", &[b"x"], &LockOptions::default()).unwrap();
        assert!(!dot.exists());
    }
}
