//! Socket activation the way systemd does it, without systemd as PID 1: the harness binds
//! every socket a service's `.socket` units describe, once, and keeps them open across
//! restarts of the daemon; each start passes them as fds 3.. with `LISTEN_FDS`,
//! `LISTEN_FDNAMES` and `LISTEN_PID` (sd_listen_fds(3)) and a `NOTIFY_SOCKET` on which the
//! daemon reports READY/RELOADING/STOPPING (sd_notify(3)).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferrymail_config::Config;

use crate::units::{Listen, ServiceSpec, SocketSpec};

/// The run directory the units name; the harness maps it onto the test config's `run_dir`.
pub const UNIT_RUN_DIR: &str = "/run/ferrymail";

/// A socket bound by the harness, standing in for systemd's.
#[derive(Debug)]
pub struct BoundSocket {
    pub fd_name: String,
    /// What it is bound to, for messages.
    pub what: String,
    /// Kept at a high fd number so placing it at 3.. in the child never clobbers another.
    fd: OwnedFd,
}

/// The address a unit's socket gets in a test environment: TCP ports come from the config's
/// listener with the same fd name, Unix paths move from `/run/ferrymail` to `run_dir`.
pub fn test_address(spec: &SocketSpec, config: &Config) -> Result<Listen, String> {
    match &spec.listen {
        Listen::TcpPort(_) => {
            let l = config
                .smtpd
                .listeners
                .iter()
                .chain(&config.imapd.listeners)
                .chain(&config.pop3d.listeners)
                .chain(&config.managesieve.listeners)
                .find(|l| l.fd_name() == spec.fd_name)
                .ok_or_else(|| {
                    format!(
                        "{}: no listener in the config has fd name `{}`",
                        spec.unit, spec.fd_name
                    )
                })?;
            Ok(Listen::TcpPort(l.listen.port()))
        }
        Listen::UnixStream(p) => Ok(Listen::UnixStream(map_run_dir(p, config)?)),
        Listen::UnixDatagram(p) => Ok(Listen::UnixDatagram(map_run_dir(p, config)?)),
    }
}

fn map_run_dir(p: &Path, config: &Config) -> Result<PathBuf, String> {
    p.strip_prefix(UNIT_RUN_DIR)
        .map(|rel| config.paths.run_dir.join(rel))
        .map_err(|_| format!("{} is not under {UNIT_RUN_DIR}", p.display()))
}

fn high_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we own, or -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

impl BoundSocket {
    /// Binds what `spec` describes at its test address (TCP on `listen_ip`). With
    /// `owners`, Unix sockets also get the unit's `SocketUser=`/`SocketGroup=` (needs root
    /// and those users: for daemons run as the units' users).
    pub fn bind(
        spec: &SocketSpec,
        config: &Config,
        listen_ip: std::net::IpAddr,
        owners: bool,
    ) -> Result<BoundSocket, String> {
        let addr = test_address(spec, config)?;
        let err = |e: io::Error| format!("{}: bind {addr:?}: {e}", spec.unit);
        let set_mode = |path: &Path| -> Result<(), String> {
            if let Some(mode) = spec.mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("{}: chmod: {e}", path.display()))?;
            }
            // Like systemd's SocketUser=/SocketGroup=.
            if owners {
                let uid = match &spec.user {
                    Some(u) => Some(lookup_user(u)?),
                    None => None,
                };
                let gid = match &spec.group {
                    Some(g) => Some(lookup_group(g)?),
                    None => None,
                };
                nix::unistd::chown(path, uid, gid)
                    .map_err(|e| format!("{}: chown: {e}", path.display()))?;
            }
            Ok(())
        };
        let (fd, what) = match &addr {
            Listen::TcpPort(port) => {
                let l = std::net::TcpListener::bind((listen_ip, *port)).map_err(err)?;
                (
                    high_fd(l.as_raw_fd()).map_err(err)?,
                    format!("{listen_ip}:{port}"),
                )
            }
            Listen::UnixStream(path) => {
                remove_stale(path);
                let l = UnixListener::bind(path).map_err(err)?;
                set_mode(path)?;
                (
                    high_fd(l.as_raw_fd()).map_err(err)?,
                    path.display().to_string(),
                )
            }
            Listen::UnixDatagram(path) => {
                remove_stale(path);
                let l = UnixDatagram::bind(path).map_err(err)?;
                set_mode(path)?;
                (
                    high_fd(l.as_raw_fd()).map_err(err)?,
                    path.display().to_string(),
                )
            }
        };
        Ok(BoundSocket {
            fd_name: spec.fd_name.clone(),
            what,
            fd,
        })
    }

    /// The inode of the socket file a Unix socket was bound to (to tell whether a daemon
    /// replaced it with its own instead of using ours).
    pub fn path_inode(path: &Path) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).ok().map(|m| m.ino())
    }
}

fn lookup_user(name: &str) -> Result<nix::unistd::Uid, String> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid),
        _ => Err(format!("no user {name}")),
    }
}

fn lookup_group(name: &str) -> Result<nix::unistd::Gid, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid),
        _ => Err(format!("no group {name}")),
    }
}

fn remove_stale(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One running daemon started from its sockets.
#[derive(Debug)]
pub struct Activated {
    pub service: String,
    child: Child,
    notify: UnixDatagram,
    pub log: PathBuf,
    /// Every sd_notify line received so far.
    pub notifications: Vec<String>,
}

/// Everything needed to (re)start one service.
#[derive(Debug)]
pub struct Launcher {
    pub service: ServiceSpec,
    pub bin: PathBuf,
    pub config_path: PathBuf,
    pub sockets: Vec<BoundSocket>,
    pub log: PathBuf,
    pub notify_path: PathBuf,
    /// A program (and its arguments) that execs the daemon, e.g. the `setpriv` of
    /// [`ServiceSpec::credentials`]; empty = run the daemon directly.
    pub wrapper: Vec<String>,
}

impl Launcher {
    /// Starts the daemon and waits for READY=1 (or its exit) up to `timeout`.
    pub fn start(&self, timeout: Duration) -> Result<Activated, String> {
        let name = self.service.name().to_owned();
        remove_stale(&self.notify_path);
        let notify = UnixDatagram::bind(&self.notify_path)
            .map_err(|e| format!("{}: {e}", self.notify_path.display()))?;
        // Daemons running as another user must be able to send to it, as to systemd's.
        std::fs::set_permissions(&self.notify_path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| format!("{}: {e}", self.notify_path.display()))?;
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let names: Vec<&str> = self.sockets.iter().map(|s| s.fd_name.as_str()).collect();
        let fds: Vec<RawFd> = self.sockets.iter().map(|s| s.fd.as_raw_fd()).collect();
        let mut cmd = Command::new("/bin/sh");
        // LISTEN_PID must be the daemon's own pid: the shell knows it and exec keeps it (as
        // does a wrapper like setpriv, which execs too).
        cmd.arg("-c")
            .arg("LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"")
            .args(&self.wrapper)
            .arg(&self.bin)
            .arg("-c")
            .arg(&self.config_path)
            .env("LISTEN_FDS", fds.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        // SAFETY: only dup2 (async-signal-safe) between fork and exec. dup2 leaves the new
        // descriptor without FD_CLOEXEC, exactly like systemd's passed sockets.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("{name}: spawn: {e}"))?;
        let mut a = Activated {
            service: name.clone(),
            child,
            notify,
            log: self.log.clone(),
            notifications: Vec::new(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            if a.saw("READY=1") {
                return Ok(a);
            }
            if let Ok(Some(status)) = a.child.try_wait() {
                let log = a.log_text();
                return Err(format!(
                    "{name} exited at start ({status}) before READY=1:\n{log}"
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{name} sent no READY=1 within {timeout:?} (Type=notify would fail); notifications {:?}; log:\n{}",
                    a.notifications,
                    a.log_text()
                ));
            }
            a.poll_notify();
        }
    }
}

impl Activated {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reads pending sd_notify datagrams (waits at most the socket's 100 ms timeout).
    pub fn poll_notify(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            self.notifications
                .extend(text.lines().map(str::to_owned).filter(|l| !l.is_empty()));
        }
    }

    /// Whether a notification line with exactly this text arrived.
    pub fn saw(&self, line: &str) -> bool {
        self.notifications.iter().any(|l| l == line)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `systemctl reload`: SIGHUP, then RELOADING=1 and READY=1 again within `timeout`.
    pub fn reload(&mut self, timeout: Duration) -> Result<(), String> {
        let before = self.notifications.len();
        self.signal(nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + timeout;
        loop {
            self.poll_notify();
            let since: Vec<String> = self
                .notifications
                .get(before..)
                .unwrap_or_default()
                .to_vec();
            let reloading = since.iter().position(|l| l == "RELOADING=1");
            if let Some(i) = reloading {
                if since.iter().skip(i).any(|l| l == "READY=1") {
                    return Ok(());
                }
            }
            if !self.is_running() {
                return Err(format!(
                    "{} died on SIGHUP:\n{}",
                    self.service,
                    self.log_text()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: no RELOADING=1 then READY=1 within {timeout:?} after SIGHUP (got {since:?})",
                    self.service
                ));
            }
        }
    }

    /// `systemctl stop`: SIGTERM, then the exit within `timeout` (systemd's TimeoutStopSec).
    pub fn stop(mut self, timeout: Duration) -> Result<(ExitStatus, Vec<String>), String> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            self.poll_notify();
            if let Ok(Some(status)) = self.child.try_wait() {
                self.poll_notify();
                return Ok((status, std::mem::take(&mut self.notifications)));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "{} did not exit within {timeout:?} of SIGTERM (systemd would SIGKILL it):\n{}",
                    self.service,
                    self.log_text()
                ));
            }
        }
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
