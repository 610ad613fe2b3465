//! Listening sockets: inherited from systemd socket activation (so a restart never closes the
//! port and connections queue in the kernel meanwhile) or bound by the daemon itself.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use ferrymail_config::Listener;

/// First fd passed by systemd (sd_listen_fds(3)).
const SD_LISTEN_FDS_START: RawFd = 3;

/// The sockets systemd handed us, by `FileDescriptorName`. Taken once at start.
#[derive(Debug, Default)]
pub struct Inherited {
    fds: HashMap<String, Vec<RawFd>>,
}

impl Inherited {
    /// Reads `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` and unsets them, so child processes do
    /// not believe the sockets are theirs.
    pub fn from_env() -> Inherited {
        let fds = Self::parse(
            std::env::var("LISTEN_PID").ok().as_deref(),
            std::env::var("LISTEN_FDS").ok().as_deref(),
            std::env::var("LISTEN_FDNAMES").ok().as_deref(),
            std::process::id(),
        );
        for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            // SAFETY-free: std's remove_var is only unsound with concurrent env access; this
            // runs at start-up before any thread is spawned.
            unsafe { std::env::remove_var(v) };
        }
        for fd_list in fds.values() {
            for &fd in fd_list {
                // Keep them from leaking into children we spawn.
                let _ = nix::fcntl::fcntl(
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
                );
            }
        }
        Inherited { fds }
    }

    fn parse(
        pid: Option<&str>,
        count: Option<&str>,
        names: Option<&str>,
        our_pid: u32,
    ) -> HashMap<String, Vec<RawFd>> {
        let mut out: HashMap<String, Vec<RawFd>> = HashMap::new();
        let for_us = pid.and_then(|p| p.parse::<u32>().ok()) == Some(our_pid);
        let n = count.and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        if !for_us || n <= 0 {
            return out;
        }
        let names: Vec<&str> = names.map(|n| n.split(':').collect()).unwrap_or_default();
        for i in 0..n.min(1024) {
            let name = names.get(i as usize).copied().unwrap_or("unknown");
            out.entry(name.to_owned())
                .or_default()
                .push(SD_LISTEN_FDS_START + i);
        }
        out
    }

    /// Removes and returns an inherited socket with this name.
    pub fn take(&mut self, name: &str) -> Option<RawFd> {
        let v = self.fds.get_mut(name)?;
        let fd = if v.is_empty() {
            None
        } else {
            Some(v.remove(0))
        };
        if v.is_empty() {
            self.fds.remove(name);
        }
        fd
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Names systemd passed that no listener claimed (worth a warning: a unit/config mismatch).
    pub fn unclaimed(&self) -> Vec<String> {
        self.fds.keys().cloned().collect()
    }
}

/// The TCP socket for `l`: systemd's if one is named `l.fd_name()`, else a fresh bind.
pub fn tcp(inherited: &mut Inherited, l: &Listener) -> io::Result<TcpListener> {
    tcp_named(inherited, l.fd_name(), l.listen)
}

/// A TCP socket: systemd's if one is named `name`, else bound at `addr`.
pub fn tcp_named(
    inherited: &mut Inherited,
    name: &str,
    addr: SocketAddr,
) -> io::Result<TcpListener> {
    if let Some(fd) = inherited.take(name) {
        // SAFETY: systemd passed this fd to us and nothing else owns it.
        let sock = unsafe { TcpListener::from_raw_fd(fd) };
        sock.set_nonblocking(true)?;
        tracing::info!(name, fd, "using socket from systemd");
        return Ok(sock);
    }
    bind_tcp(addr)
}

/// Binds with SO_REUSEADDR (a restart must not wait out TIME_WAIT) and, for `[::]`, dual-stack.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrStorage,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        // Accept IPv4 too on `[::]`; an explicit IPv6 address is unaffected.
        setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )
    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("bind {addr}: {e}")))?;
    listen(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN))?;
    Ok(TcpListener::from(fd))
}

/// A Unix stream socket at `path` with `mode`: systemd's if one is named `name`, else bound
/// after removing a stale socket file (never any other kind of file).
pub fn unix(
    inherited: &mut Inherited,
    name: &str,
    path: &Path,
    mode: u32,
) -> io::Result<UnixListener> {
    if let Some(fd) = inherited.take(name) {
        // SAFETY: systemd passed this fd to us and nothing else owns it.
        let sock = unsafe { UnixListener::from_raw_fd(fd) };
        sock.set_nonblocking(true)?;
        return Ok(sock);
    }
    bind_unix(path, mode)
}

pub fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    ferrymail_fsutil::remove_stale_socket(path)?;
    let sock = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("bind {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_fds_only_for_our_pid() {
        let got = Inherited::parse(Some("42"), Some("3"), Some("mx:submission:lmtp"), 42);
        assert_eq!(got["mx"], vec![3]);
        assert_eq!(got["submission"], vec![4]);
        assert_eq!(got["lmtp"], vec![5]);
        assert!(Inherited::parse(Some("41"), Some("3"), None, 42).is_empty());
        assert!(Inherited::parse(None, Some("3"), None, 42).is_empty());
        assert!(Inherited::parse(Some("42"), Some("junk"), None, 42).is_empty());
    }

    #[test]
    fn take_consumes_by_name() {
        let mut i = Inherited {
            fds: Inherited::parse(Some("1"), Some("2"), Some("imap:imap"), 1),
        };
        assert_eq!(i.take("imap"), Some(3));
        assert_eq!(i.take("imap"), Some(4));
        assert_eq!(i.take("imap"), None);
        assert!(i.is_empty());
    }

    #[test]
    fn bind_tcp_on_loopback_ephemeral() {
        let l = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        assert!(std::net::TcpStream::connect(addr).is_ok());
    }

    #[test]
    fn bind_unix_replaces_stale_socket_but_not_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sock");
        let first = bind_unix(&p, 0o660).unwrap();
        drop(first);
        let _second = bind_unix(&p, 0o600).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(bind_unix(&file, 0o600).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }
}
