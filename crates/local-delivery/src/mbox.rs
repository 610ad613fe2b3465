//! Appending to a classic mbox file (`/var/mail/<user>`) the way mutt, Dovecot and procmail
//! expect: a `<file>.lock` dot-lock plus an fcntl write lock, a `From sender date` separator,
//! mboxrd quoting (`From ` and `>From ` lines in the body get one more `>`), LF line endings,
//! an empty line after each message, fsync, and on any failure the file cut back to its old
//! size so a half-written message never appears.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
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

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            timeout: Duration::from_secs(30),
            stale_after: Duration::from_secs(300),
        }
    }
}

const RETRY: Duration = Duration::from_millis(50);

/// A held dot-lock, removed on drop.
struct DotLock(Option<PathBuf>);

impl Drop for DotLock {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn dotlock(mbox: &Path, opts: &LockOptions, deadline: Instant) -> Result<DotLock, MboxError> {
    let mut name = mbox.as_os_str().to_owned();
    name.push(".lock");
    let lock = PathBuf::from(name);
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
            // A spool directory we may not create files in (mode 1777 without our
            // group, say): the fcntl lock alone still excludes other writers.
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
        let gt = line.iter().take_while(|&&c| c == b'>').count();
        if line.get(gt..).is_some_and(|r| r.starts_with(b"From ")) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = next;
    }
}

/// `From sender Www Mmm dd hh:mm:ss yyyy` (UTC, asctime layout).
pub fn separator(sender: Option<&str>, now: SystemTime) -> Vec<u8> {
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
    format!("From {s} {}\n", asctime(now)).into_bytes()
}

fn asctime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ferrymail_net::dates::asctime(secs)
}

/// Current size of the mbox (for quota), 0 if it does not exist yet.
pub fn size(path: &Path) -> Result<u64, MboxError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(MboxError::io("stat", path)(e)),
    }
}

/// Appends one message (`parts` concatenated, CRLF or LF lines) under both locks.
pub fn append(
    path: &Path,
    sender: Option<&str>,
    parts: &[&[u8]],
    opts: &LockOptions,
) -> Result<(), MboxError> {
    let deadline = Instant::now() + opts.timeout;
    let _dot = dotlock(path, opts, deadline)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
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
    let old = file
        .seek(SeekFrom::End(0))
        .map_err(MboxError::io("seek", path))?;

    let mut buf = Vec::new();
    // The previous message must end with an empty line, or our separator would be read
    // as part of its body.
    if old > 0 {
        let mut tail = [0u8; 2];
        let back = old.min(2);
        file.seek(SeekFrom::Start(old - back))
            .and_then(|_| file.read_exact(tail.get_mut(..back as usize).unwrap_or_default()))
            .map_err(MboxError::io("read", path))?;
        let tail = tail.get(..back as usize).unwrap_or_default();
        if !tail.ends_with(b"\n") {
            buf.extend_from_slice(b"\n\n");
        } else if !tail.ends_with(b"\n\n") {
            buf.push(b'\n');
        }
        file.seek(SeekFrom::Start(old))
            .map_err(MboxError::io("seek", path))?;
    }
    buf.extend_from_slice(&separator(sender, SystemTime::now()));
    let mut body = Vec::new();
    encode_body(parts, &mut body);
    buf.extend_from_slice(&body);
    buf.push(b'\n');

    let written = file.write_all(&buf).and_then(|()| file.sync_data());
    if let Err(e) = written {
        // Cut back whatever part of the message made it, so the mailbox is as before.
        if let Err(t) = file.set_len(old).and_then(|()| file.sync_data()) {
            tracing::error!(mbox = %path.display(), error = %t, "could not truncate after a failed write");
        }
        return Err(MboxError::io("write", path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn separator_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            separator(Some("a b@x"), t),
            b"From a_b@x Tue Nov 14 22:13:20 2023\n".to_vec()
        );
        assert!(separator(None, t).starts_with(b"From MAILER-DAEMON "));
    }

    #[test]
    fn append_twice_separated_and_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        append(
            &p,
            Some("a@x"),
            &[b"S: 1\r\n\r\nFrom x\r\n"],
            &LockOptions::default(),
        )
        .unwrap();
        append(&p, None, &[b"S: 2\r\n\r\nbody"], &LockOptions::default()).unwrap();
        let text = std::fs::read(&p).unwrap();
        let s = String::from_utf8(text).unwrap();
        assert!(s.starts_with("From a@x "));
        assert!(s.contains("\nS: 1\n\n>From x\n\nFrom MAILER-DAEMON "));
        assert!(s.ends_with("S: 2\n\nbody\n\n"));
        assert!(!dir.path().join("box.lock").exists());
    }

    #[test]
    fn held_dotlock_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        std::fs::write(dir.path().join("box.lock"), b"1\n").unwrap();
        let opts = LockOptions {
            timeout: Duration::from_millis(200),
            ..LockOptions::default()
        };
        assert!(matches!(
            append(&p, None, &[b"x"], &opts),
            Err(MboxError::Locked(_))
        ));
        assert!(!p.exists() || std::fs::read(&p).unwrap().is_empty());
    }
}
