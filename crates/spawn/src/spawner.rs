//! The spawner: a re-exec of the daemon's binary ([`SPAWNER_FLAG`]) that keeps root and
//! starts one session child ([`CHILD_FLAG`]) per Unix-account login, and the main process's
//! handle on it ([`Spawner`]).
//!
//! The main process sends the login name plus one end of a fresh socket pair over a
//! `SOCK_SEQPACKET` control socket (`SCM_RIGHTS`). The spawner trusts nothing else from it: it
//! looks the login up in its own user database, refuses anything that is not a Unix account
//! with `unix_min_uid <= uid` and `uid != 0` ([`check_request`]), derives the Maildir itself,
//! and starts the child with the socket as stdin/stdout and the account in [`SPEC_ENV`].
//!
//! Wire format on the control socket: request = the login's bytes with the descriptor
//! attached; reply = `OK <pid>` or `NO <reason>`.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_users::{Account, MailboxLocation, UserDb, UserDbConfig};
use nix::sys::socket::{
    self, sockopt, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

/// Environment variable carrying the [`ChildSpec`] (JSON) from the spawner to a child.
pub const SPEC_ENV: &str = "FERRYMAIL_SESSION_ACCOUNT";
/// The argument that makes a daemon binary run as the spawner.
pub const SPAWNER_FLAG: &str = "--session-spawner";
/// The argument that makes a daemon binary run as a session child.
pub const CHILD_FLAG: &str = "--session-child";
/// Longest login name accepted on the control socket.
const MAX_LOGIN: usize = 512;
/// How long the main process waits for the spawner's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time an exited session child stays a zombie.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// Who a session child serves, as decided by the spawner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSpec {
    pub login: String,
    pub uid: u32,
    pub gid: u32,
    /// The account's mailbox: its Maildir, or its mbox file when [`ChildSpec::kind`] says so.
    pub maildir: PathBuf,
    #[serde(default)]
    pub kind: MailboxKind,
}

/// What [`ChildSpec::maildir`] names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxKind {
    #[default]
    Maildir,
    /// A classic mbox file (`userdb.unix_mailbox = "mbox"`); only for daemons that serve
    /// mbox ([`MboxPolicy::Serve`]).
    Mbox,
}

impl ChildSpec {
    /// The mailbox as the user database would name it.
    pub fn mailbox(&self) -> MailboxLocation {
        match self.kind {
            MailboxKind::Maildir => MailboxLocation::Maildir(self.maildir.clone()),
            MailboxKind::Mbox => MailboxLocation::Mbox(self.maildir.clone()),
        }
    }
}

/// Whether the daemon behind a spawner serves mbox accounts: pop3d does (RFC 1939's one
/// maildrop maps onto the one mbox file), imapd does not, and its spawner refuses them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MboxPolicy {
    #[default]
    Refuse,
    Serve,
}

/// Why the spawner refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no such account")]
    UnknownLogin,
    #[error("not a Unix account")]
    NotUnix,
    #[error("uid {0} is a system account (below userdb.unix_min_uid, or root)")]
    SystemAccount(u32),
    #[error("the account's mailbox is an mbox")]
    Mbox,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("cannot start the session child: {0}")]
    Spawn(String),
}

/// The spawner's decision for `login`, made only from its own config and user database;
/// refuses mbox accounts (see [`check_request_with`]).
pub fn check_request(config: &Config, users: &UserDb, login: &str) -> Result<ChildSpec, Refusal> {
    check_request_with(config, users, login, MboxPolicy::Refuse)
}

/// [`check_request`] for a daemon that may serve mbox accounts.
pub fn check_request_with(
    config: &Config,
    users: &UserDb,
    login: &str,
    mbox: MboxPolicy,
) -> Result<ChildSpec, Refusal> {
    let account = users.lookup(login).ok_or(Refusal::UnknownLogin)?;
    let Account::Unix(unix) = &account else {
        return Err(Refusal::NotUnix);
    };
    if unix.uid == 0 || unix.uid < config.userdb.unix_min_uid {
        return Err(Refusal::SystemAccount(unix.uid));
    }
    let (maildir, kind) = match (account.mailbox(config), mbox) {
        (MailboxLocation::Maildir(p), _) => (p, MailboxKind::Maildir),
        (MailboxLocation::Mbox(p), MboxPolicy::Serve) => (p, MailboxKind::Mbox),
        (MailboxLocation::Mbox(_), MboxPolicy::Refuse) => return Err(Refusal::Mbox),
    };
    Ok(ChildSpec {
        login: account.login().to_owned(),
        uid: unix.uid,
        gid: unix.gid,
        maildir,
        kind,
    })
}

/// Why the main process could not get a session child.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("the session spawner is gone")]
    Dead,
    #[error("the session spawner refused: {0}")]
    Refused(String),
    #[error("talking to the session spawner: {0}")]
    Io(#[from] io::Error),
}

/// The main process's handle on the spawner.
pub struct Spawner {
    ctl: Mutex<OwnedFd>,
    alive: Arc<AtomicBool>,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner")
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

fn our_exe() -> io::Result<PathBuf> {
    std::env::current_exe()
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Our own binary with `flag`, without the socket-activation variables meant for us.
fn self_command(flag: &str, config_path: &Path) -> io::Result<Command> {
    let mut cmd = Command::new(our_exe()?);
    cmd.arg(flag)
        .arg("-c")
        .arg(config_path)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env_remove(SPEC_ENV)
        .stderr(Stdio::inherit());
    Ok(cmd)
}

impl Spawner {
    /// Starts the spawner process (this binary with [`SPAWNER_FLAG`] and `-c config_path`).
    /// Call as root, before dropping privileges and before starting other threads. `daemon`
    /// names the watcher thread and the log lines ("imapd", "pop3d").
    pub fn start(config_path: &Path, daemon: &str) -> io::Result<Arc<Spawner>> {
        let config_path = std::fs::canonicalize(config_path)?;
        let (ours, theirs) = socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(errno)?;
        socket::setsockopt(
            &ours,
            sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as _, 0),
        )
        .map_err(errno)?;
        let mut child = self_command(SPAWNER_FLAG, &config_path)?
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .current_dir("/")
            .spawn()?;
        let pid = child.id();
        let alive = Arc::new(AtomicBool::new(true));
        let a2 = alive.clone();
        std::thread::Builder::new()
            .name(format!("{daemon}-spawner-watch"))
            .spawn({
                let daemon = daemon.to_owned();
                move || {
                    let status = child.wait();
                    a2.store(false, Ordering::Release);
                    tracing::error!(pid, status = ?status, "the session spawner exited: Unix accounts cannot log in until {daemon} restarts");
                }
            })?;
        tracing::info!(pid, "session spawner started for Unix accounts");
        Ok(Arc::new(Spawner {
            ctl: Mutex::new(ours),
            alive,
        }))
    }

    /// The spawner `daemon` needs, if any: started (see [`Spawner::start`]) when Unix accounts
    /// are on and we are root. Not root, Unix accounts are served in-process as the daemon's
    /// user (development), which is said once.
    pub fn start_if_needed(
        config: &Config,
        config_path: &Path,
        daemon: &str,
    ) -> io::Result<Option<Arc<Spawner>>> {
        if !config.userdb.unix_accounts {
            return Ok(None);
        }
        if !nix::unistd::Uid::effective().is_root() {
            tracing::warn!(
                "userdb.unix_accounts is on but {daemon} is not started as root: Unix accounts \
                 are served in-process as this user, which must be able to read their Maildirs"
            );
            return Ok(None);
        }
        Spawner::start(config_path, daemon).map(Some)
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Asks for a session child serving `login`; returns our end of its socket and its pid.
    pub async fn open_session(
        self: &Arc<Self>,
        login: &str,
    ) -> Result<(tokio::net::UnixStream, u32), SpawnError> {
        if !self.is_alive() {
            return Err(SpawnError::Dead);
        }
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let me = self.clone();
        let login = login.to_owned();
        let pid = tokio::task::spawn_blocking(move || me.request(&login, OwnedFd::from(theirs)))
            .await
            .map_err(|e| SpawnError::Io(io::Error::other(e.to_string())))??;
        ours.set_nonblocking(true)?;
        Ok((tokio::net::UnixStream::from_std(ours)?, pid))
    }

    fn request(&self, login: &str, fd: OwnedFd) -> Result<u32, SpawnError> {
        let ctl = self.ctl.lock().unwrap_or_else(|p| p.into_inner());
        let fds = [fd.as_raw_fd()];
        let sent = socket::sendmsg::<()>(
            ctl.as_raw_fd(),
            &[IoSlice::new(login.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        // The child (if any) has its own copy now.
        drop(fd);
        if let Err(e) = sent {
            return Err(self.failed(errno(e)));
        }
        let mut buf = [0u8; 512];
        let n = match socket::recv(ctl.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => {
                self.alive.store(false, Ordering::Release);
                return Err(SpawnError::Dead);
            }
            Ok(n) => n,
            Err(e) => return Err(self.failed(errno(e))),
        };
        let reply = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        match reply.split_once(' ') {
            Some(("OK", pid)) => pid
                .trim()
                .parse()
                .map_err(|_| SpawnError::Refused(format!("bad reply {reply:?}"))),
            Some(("NO", why)) => Err(SpawnError::Refused(why.to_owned())),
            _ => Err(SpawnError::Refused(format!("bad reply {reply:?}"))),
        }
    }

    /// A failed exchange leaves request and reply out of step: the spawner is unusable.
    fn failed(&self, e: io::Error) -> SpawnError {
        self.alive.store(false, Ordering::Release);
        tracing::error!(error = %e, "the session spawner does not answer; Unix accounts cannot log in");
        SpawnError::Io(e)
    }
}

/// One request as received: the login bytes and any descriptors (owned, so extras close).
fn receive(ctl: RawFd) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_LOGIN + 1];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let (bytes, truncated, raw) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match socket::recvmsg::<()>(ctl, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            {
                Err(nix::Error::EINTR) => continue,
                other => break other.map_err(errno)?,
            }
        };
        let mut raw = Vec::new();
        for c in msg.cmsgs().map_err(errno)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                raw.extend(fds);
            }
        }
        let truncated = msg
            .flags
            .intersects(MsgFlags::MSG_CTRUNC | MsgFlags::MSG_TRUNC);
        (msg.bytes, truncated, raw)
    };
    // SAFETY: SCM_RIGHTS just installed these descriptors in our table; nothing else owns them.
    let fds: Vec<OwnedFd> = raw
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    if truncated || bytes > MAX_LOGIN {
        return Ok(Some((Vec::new(), Vec::new())));
    }
    buf.truncate(bytes);
    Ok(Some((buf, fds)))
}

fn serve_request(
    config_path: &Path,
    config: &Config,
    users: &UserDb,
    mbox: MboxPolicy,
    login: &[u8],
    mut fds: Vec<OwnedFd>,
) -> Result<u32, Refusal> {
    if fds.len() != 1 {
        return Err(Refusal::Malformed("expected exactly one descriptor"));
    }
    let login = std::str::from_utf8(login).map_err(|_| Refusal::Malformed("login not UTF-8"))?;
    if login.is_empty() {
        return Err(Refusal::Malformed("empty login"));
    }
    let spec = check_request_with(config, users, login, mbox)?;
    let fd = fds.pop().ok_or(Refusal::Malformed("no descriptor"))?;
    let out = fd.try_clone().map_err(|e| Refusal::Spawn(e.to_string()))?;
    let json = serde_json::to_string(&spec).map_err(|e| Refusal::Spawn(e.to_string()))?;
    let child = self_command(CHILD_FLAG, config_path)
        .and_then(|mut cmd| {
            cmd.env(SPEC_ENV, json)
                .stdin(Stdio::from(fd))
                .stdout(Stdio::from(out))
                .current_dir("/")
                .spawn()
        })
        .map_err(|e| Refusal::Spawn(e.to_string()))?;
    tracing::info!(user = %spec.login, uid = spec.uid, pid = child.id(), "session child started");
    Ok(child.id())
}

/// Reaps every child that has exited, without blocking. Done between requests on the one
/// thread that also spawns, so it never races `Command::spawn`'s own wait on a failed exec.
fn reap() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    // Bounded: each round reaps one child.
    for _ in 0..10_000 {
        match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => tracing::debug!(?status, "session child ended"),
        }
    }
}

/// The spawner process's whole life (`<daemon> --session-spawner`): stdin is the control
/// socket; returns the exit code when the main process hangs up. Refuses mbox accounts.
pub fn spawner_main(config_path: &Path, config: &Config) -> i32 {
    spawner_main_with(config_path, config, MboxPolicy::Refuse)
}

/// [`spawner_main`] for a daemon whose session child serves mbox accounts as `mbox` says.
pub fn spawner_main_with(config_path: &Path, config: &Config, mbox: MboxPolicy) -> i32 {
    let users = match UserDb::open(UserDbConfig::from_config(config)) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "session spawner: cannot open the user database");
            return ferrymail_net::cli::EX_CONFIG;
        }
    };
    let ctl = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!(error = %e, "session spawner: no control socket");
            return ferrymail_net::cli::EX_UNAVAILABLE;
        }
    };
    // Wakes the loop up at least this often to reap children that exited meanwhile.
    if let Err(e) = socket::setsockopt(
        &ctl,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(REAP_INTERVAL.as_secs() as _, 0),
    ) {
        tracing::error!(error = %e, "session spawner: cannot set the reaping interval");
        return ferrymail_net::cli::EX_UNAVAILABLE;
    }
    loop {
        reap();
        let (login, fds) = match receive(ctl.as_raw_fd()) {
            Ok(Some(r)) => r,
            Ok(None) => return 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                tracing::error!(error = %e, "session spawner: control socket failed");
                return ferrymail_net::cli::EX_UNAVAILABLE;
            }
        };
        let reply = match serve_request(config_path, config, &users, mbox, &login, fds) {
            Ok(pid) => format!("OK {pid}"),
            Err(r) => {
                tracing::warn!(login = %String::from_utf8_lossy(&login), refusal = %r, "session spawner refused a request");
                format!("NO {r}")
            }
        };
        if let Err(e) = socket::send(ctl.as_raw_fd(), reply.as_bytes(), MsgFlags::MSG_NOSIGNAL) {
            tracing::error!(error = %e, "session spawner: cannot reply");
            return ferrymail_net::cli::EX_UNAVAILABLE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_dev::{prepare, DevOptions, Ports};

    const HASH: &str = "$6$ferrymailtest1$iAJqq1xj.FH14zAB0Lc/a3eH/NelSRztLIGjgdkCTsrNorgQi1lFhLVvZoYuEbFZi5.Bm1DAf7qnk4zs7z1P/0";

    /// A config with one virtual user and the Unix accounts carol (51236), sysop (41236,
    /// below `unix_min_uid`) and toor (uid 0).
    fn setup(dir: &Path) -> (Config, PathBuf) {
        let mut opts = DevOptions::new(dir.join("state"));
        opts.ports = Ports::free();
        opts.users = vec![("joe@example.test".into(), "pw".into())];
        let mut config = prepare(&opts).unwrap().config;
        let home = dir.join("home-carol");
        let passwd = dir.join("passwd");
        std::fs::write(
            &passwd,
            format!(
                "carol:x:51236:51237:Carol:{}:/bin/sh\nsysop:x:41236:41236::/:/bin/sh\n\
                 toor:x:0:0::/root:/bin/sh\n",
                home.display()
            ),
        )
        .unwrap();
        let shadow = dir.join("shadow");
        std::fs::write(
            &shadow,
            format!(
                "carol:{HASH}:19000::::::\nsysop:{HASH}:19000::::::\ntoor:{HASH}:19000::::::\n"
            ),
        )
        .unwrap();
        config.userdb.unix_accounts = true;
        config.userdb.unix_passwd_file = passwd;
        config.userdb.unix_shadow_file = shadow;
        config.userdb.unix_min_uid = 50_000;
        (config, home)
    }

    #[test]
    fn refuses_what_is_not_a_unix_mail_account() {
        let dir = tempfile::tempdir().unwrap();
        let (config, home) = setup(dir.path());
        let users = UserDb::open(UserDbConfig::from_config(&config)).unwrap();
        let spec = check_request(&config, &users, "carol").unwrap();
        assert_eq!((spec.uid, spec.gid), (51236, 51237));
        assert_eq!(spec.maildir, home.join("Maildir"));
        assert_eq!(spec.login, "carol");
        assert_eq!(
            check_request(&config, &users, "joe@example.test"),
            Err(Refusal::NotUnix)
        );
        assert_eq!(
            check_request(&config, &users, "nobody-here"),
            Err(Refusal::UnknownLogin)
        );

        // A user database that lets system accounts in (another config, an edited file):
        // the spawner's own check against the daemon's config still refuses them.
        let mut lax = config.clone();
        lax.userdb.unix_min_uid = 0;
        let lax_users = UserDb::open(UserDbConfig::from_config(&lax)).unwrap();
        assert!(lax_users.lookup("sysop").is_some() && lax_users.lookup("toor").is_some());
        assert_eq!(
            check_request(&config, &lax_users, "sysop"),
            Err(Refusal::SystemAccount(41236))
        );
        // Root is refused even when the configured minimum would allow it.
        assert_eq!(
            check_request(&lax, &lax_users, "toor"),
            Err(Refusal::SystemAccount(0))
        );
        assert!(check_request(&lax, &lax_users, "sysop").is_ok());
    }

    #[test]
    fn mbox_accounts_only_for_daemons_that_serve_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut config, _) = setup(dir.path());
        config.userdb.unix_mailbox = ferrymail_config::UnixMailbox::Mbox;
        config.delivery.mbox_dir = dir.path().join("spool-mail");
        let users = UserDb::open(UserDbConfig::from_config(&config)).unwrap();
        assert_eq!(check_request(&config, &users, "carol"), Err(Refusal::Mbox));
        let spec = check_request_with(&config, &users, "carol", MboxPolicy::Serve).unwrap();
        assert_eq!(spec.kind, MailboxKind::Mbox);
        assert_eq!(
            spec.mailbox(),
            MailboxLocation::Mbox(dir.path().join("spool-mail/carol"))
        );
        // The kind travels to the child; a spec without it (an older spawner) is a Maildir.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ChildSpec>(&json).unwrap(), spec);
        let old: ChildSpec =
            serde_json::from_str(r#"{"login":"c","uid":1,"gid":1,"maildir":"/m"}"#).unwrap();
        assert_eq!(old.mailbox(), MailboxLocation::Maildir("/m".into()));
    }

    #[test]
    fn spawner_refuses_malformed_requests() {
        let dir = tempfile::tempdir().unwrap();
        let (config, _) = setup(dir.path());
        let users = UserDb::open(UserDbConfig::from_config(&config)).unwrap();
        let path = dir.path().join("ferrymail.toml");
        let fd = || OwnedFd::from(std::os::unix::net::UnixStream::pair().unwrap().0);
        assert_eq!(
            serve_request(&path, &config, &users, MboxPolicy::Refuse, b"carol", vec![]),
            Err(Refusal::Malformed("expected exactly one descriptor"))
        );
        assert_eq!(
            serve_request(
                &path,
                &config,
                &users,
                MboxPolicy::Refuse,
                b"carol",
                vec![fd(), fd()]
            ),
            Err(Refusal::Malformed("expected exactly one descriptor"))
        );
        assert_eq!(
            serve_request(
                &path,
                &config,
                &users,
                MboxPolicy::Refuse,
                b"\xff",
                vec![fd()]
            ),
            Err(Refusal::Malformed("login not UTF-8"))
        );
        assert_eq!(
            serve_request(
                &path,
                &config,
                &users,
                MboxPolicy::Refuse,
                b"joe@example.test",
                vec![fd()]
            ),
            Err(Refusal::NotUnix)
        );
    }
}
