//! Wake-up hints from producers (mta-smtpd, sendmail, mailctl) to queue-runner.
//!
//! queue-runner binds a Unix datagram socket; producers send one small datagram after a
//! commit. The hint is only an optimisation: queue-runner also scans on a timer, so a lost or
//! refused datagram merely delays delivery, and [`notify_wake`] never blocks and never fails
//! loudly. Datagram payloads are `Q<qid>` (a message was queued), `M` (look at maildrop/) or
//! anything else (treated as a plain wake-up).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::id::QueueId;

/// What a wake-up datagram asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// This message was just queued.
    Queued(QueueId),
    /// A maildrop file was just submitted.
    Maildrop,
    /// Unrecognised payload: just wake up and scan.
    Scan,
}

impl Wake {
    /// Interpret a datagram (for callers that receive on their own, e.g. through tokio).
    pub fn parse(payload: &[u8]) -> Wake {
        match payload {
            [b'M'] => Wake::Maildrop,
            [b'Q', rest @ ..] => std::str::from_utf8(rest)
                .ok()
                .and_then(|s| QueueId::parse(s).ok())
                .map_or(Wake::Scan, Wake::Queued),
            _ => Wake::Scan,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Wake::Queued(id) => {
                let mut v = Vec::with_capacity(17);
                v.push(b'Q');
                v.extend_from_slice(id.as_str().as_bytes());
                v
            }
            Wake::Maildrop => b"M".to_vec(),
            Wake::Scan => b"S".to_vec(),
        }
    }
}

/// Largest datagram we bother reading; real ones are 17 bytes.
const MAX_DATAGRAM: usize = 64;

/// queue-runner's end of the wake-up socket.
#[derive(Debug)]
pub struct WakeReceiver {
    sock: UnixDatagram,
    path: PathBuf,
}

impl WakeReceiver {
    /// Bind at `path`, replacing a stale socket left by a previous run (but refusing to
    /// replace anything that is not a socket). The socket is made mode 0666 because
    /// unprivileged sendmail processes must be able to send to it; a flood of wake-ups only
    /// costs extra scans, which the runner coalesces.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<WakeReceiver> {
        let path = path.as_ref();
        ferrymail_fsutil::remove_stale_socket(path)?;
        let sock = UnixDatagram::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        Ok(WakeReceiver {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Switch between blocking and non-blocking receives (tokio needs non-blocking).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    /// Wait for one wake-up (blocking mode) or return `WouldBlock` (non-blocking mode).
    pub fn recv(&self) -> io::Result<Wake> {
        let mut buf = [0u8; MAX_DATAGRAM];
        let n = self.sock.recv(&mut buf)?;
        Ok(Wake::parse(buf.get(..n).unwrap_or_default()))
    }

    /// Take one pending wake-up without blocking, whatever the socket's mode.
    pub fn try_recv(&self) -> io::Result<Option<Wake>> {
        let mut buf = [0u8; MAX_DATAGRAM];
        // SAFETY: recv into a buffer we own, with its exact length; MSG_DONTWAIT makes this one
        // call non-blocking without changing the descriptor's mode.
        let n = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        Ok(Some(Wake::parse(buf.get(..n).unwrap_or_default())))
    }

    /// Read everything pending without blocking; for coalescing a burst into one scan.
    pub fn drain(&self) -> io::Result<Vec<Wake>> {
        let mut out = Vec::new();
        // Bounded so a sender that never stops cannot keep us here forever.
        while out.len() < 4096 {
            match self.try_recv()? {
                Some(w) => out.push(w),
                None => break,
            }
        }
        Ok(out)
    }

    /// The std socket, e.g. for `tokio::net::UnixDatagram::from_std` (set non-blocking first).
    pub fn into_std(self) -> UnixDatagram {
        self.sock
    }
}

impl AsRawFd for WakeReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// How long a wake-up may wait for room in queue-runner's receive queue. The queue holds only
/// `net.unix.max_dgram_qlen` datagrams (10 by default): under a burst of commits a sender that
/// gave up at once would leave its message to the next periodic scan, a minute later.
const SEND_TIMEOUT: Duration = Duration::from_millis(250);

fn send(path: &Path, wake: Wake) -> bool {
    let result = UnixDatagram::unbound().and_then(|s| {
        s.set_write_timeout(Some(SEND_TIMEOUT))?;
        s.send_to(&wake.encode(), path)
    });
    match result {
        Ok(_) => true,
        Err(e) => {
            // Expected whenever queue-runner is down; its periodic scan covers it.
            tracing::debug!(socket = %path.display(), error = %e, "wake-up not delivered");
            false
        }
    }
}

/// Tell queue-runner that `id` was queued. Best effort: returns whether the datagram was
/// sent, never errors; waits at most a quarter second for room in a full receive queue, so
/// call it from a blocking context.
pub fn notify_wake(path: impl AsRef<Path>, id: &QueueId) -> bool {
    send(path.as_ref(), Wake::Queued(*id))
}

/// Tell queue-runner to look at maildrop/. Best effort, like [`notify_wake`].
pub fn notify_maildrop(path: impl AsRef<Path>) -> bool {
    send(path.as_ref(), Wake::Maildrop)
}
