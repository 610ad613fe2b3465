//! Temporary Unix accounts for the tests of serving a Unix account as itself (imapd's and
//! pop3d's per-login session children): passwd/shadow files of their own that the config
//! points at (never the system's), homes owned by the account, and a look at the process
//! tree to see which processes run as which uid.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrymail_config::Config;

/// The password of every account written here.
pub const PASSWORD: &str = "carol-secret";
/// [`PASSWORD`] as SHA512-CRYPT, made by another implementation:
/// `openssl passwd -6 -salt ferrymailtest1 carol-secret`.
pub const PASSWORD_HASH: &str = "$6$ferrymailtest1$iAJqq1xj.FH14zAB0Lc/a3eH/NelSRztLIGjgdkCTsrNorgQi1lFhLVvZoYuEbFZi5.Bm1DAf7qnk4zs7z1P/0";
/// The `userdb.unix_min_uid` set by [`use_accounts`]: test accounts at or above it are mail
/// accounts, below it system accounts.
pub const MIN_UID: u32 = 50_000;

/// One line of the passwd and shadow files; the group is the uid's namesake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixAccount {
    pub login: String,
    pub uid: u32,
    pub home: PathBuf,
}

impl UnixAccount {
    pub fn new(login: &str, uid: u32, home: impl Into<PathBuf>) -> UnixAccount {
        UnixAccount {
            login: login.to_owned(),
            uid,
            home: home.into(),
        }
    }
}

/// Writes `dir/etc-passwd` and `dir/etc-shadow` naming `accounts` (each with [`PASSWORD`])
/// and points `config.userdb` at them, with Unix accounts on and `unix_min_uid` at
/// [`MIN_UID`]. Creates no home: what a home holds and who owns it is the test's.
pub fn use_accounts(config: &mut Config, dir: &Path, accounts: &[UnixAccount]) -> io::Result<()> {
    let mut passwd = String::new();
    let mut shadow = String::new();
    for a in accounts {
        let (login, uid) = (&a.login, a.uid);
        passwd.push_str(&format!(
            "{login}:x:{uid}:{uid}:{login}:{}:/bin/sh\n",
            a.home.display()
        ));
        shadow.push_str(&format!("{login}:{PASSWORD_HASH}:19000:0:99999:7:::\n"));
    }
    let passwd_file = dir.join("etc-passwd");
    std::fs::write(&passwd_file, passwd)?;
    let shadow_file = dir.join("etc-shadow");
    std::fs::write(&shadow_file, shadow)?;
    config.userdb.unix_accounts = true;
    config.userdb.unix_passwd_file = passwd_file;
    config.userdb.unix_shadow_file = shadow_file;
    config.userdb.unix_min_uid = MIN_UID;
    Ok(())
}

/// Gives `path` and everything below it to `uid` (and the group of the same number).
/// Needs root.
pub fn chown_tree(path: &Path, uid: u32) -> io::Result<()> {
    let owner = Some(nix::unistd::Uid::from_raw(uid));
    let group = Some(nix::unistd::Gid::from_raw(uid));
    nix::unistd::chown(path, owner, group)?;
    // symlink_metadata: never follow a link out of the tree.
    if std::fs::symlink_metadata(path)?.is_dir() {
        for e in std::fs::read_dir(path)? {
            chown_tree(&e?.path(), uid)?;
        }
    }
    Ok(())
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// (pid, parent pid, real uid) of every process, from `/proc`.
pub fn processes() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // Gone since the listing: not one of ours any more.
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u32>().ok())
        };
        if let (Some(ppid), Some(uid)) = (field("PPid:"), field("Uid:")) {
            out.push((pid, ppid, uid));
        }
    }
    out
}

/// The processes whose parent is `parent` (a daemon's spawner is its only one).
pub fn children(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == parent)
        .map(|(pid, _, _)| pid)
        .collect()
}

/// SIGKILL to `pid`: a process dying without any chance to clean up.
pub fn kill_hard(pid: u32) -> io::Result<()> {
    let pid = i32::try_from(pid).map_err(io::Error::other)?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    Ok(())
}

/// Every process whose parent chain leads to `root`, with its uid.
pub fn descendants(root: u32) -> Vec<(u32, u32)> {
    let all = processes();
    let mut found: HashSet<u32> = HashSet::from([root]);
    // Bounded: each pass adds at least one generation.
    for _ in 0..16 {
        let before = found.len();
        for &(pid, ppid, _) in &all {
            if found.contains(&ppid) {
                found.insert(pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    all.iter()
        .filter(|(pid, _, _)| *pid != root && found.contains(pid))
        .map(|&(pid, _, uid)| (pid, uid))
        .collect()
}

/// The processes below `root` running as `uid`.
pub fn running_as(root: u32, uid: u32) -> Vec<u32> {
    descendants(root)
        .into_iter()
        .filter(|&(_, u)| u == uid)
        .map(|(pid, _)| pid)
        .collect()
}

/// Waits up to `timeout` for process `pid` to be gone; whether it is.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let deadline = Instant::now() + timeout;
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    !proc_dir.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_written_and_the_config_points_at_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        let accounts = [
            UnixAccount::new("carol", 51234, dir.path().join("home-carol")),
            UnixAccount::new("sysop", 41234, "/"),
        ];
        use_accounts(&mut config, dir.path(), &accounts).unwrap();
        assert!(config.userdb.unix_accounts);
        assert_eq!(config.userdb.unix_min_uid, MIN_UID);
        let passwd = std::fs::read_to_string(&config.userdb.unix_passwd_file).unwrap();
        assert_eq!(
            passwd,
            format!(
                "carol:x:51234:51234:carol:{}:/bin/sh\nsysop:x:41234:41234:sysop:/:/bin/sh\n",
                dir.path().join("home-carol").display()
            )
        );
        let shadow = std::fs::read_to_string(&config.userdb.unix_shadow_file).unwrap();
        assert_eq!(shadow.lines().count(), 2);
        assert!(shadow.starts_with(&format!("carol:{PASSWORD_HASH}:")));
    }

    #[test]
    fn the_process_tree_holds_this_process_below_its_parent() {
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let below = descendants(parent);
        let uid = nix::unistd::Uid::current().as_raw();
        assert!(below.contains(&(me, uid)), "{below:?}");
        assert!(running_as(parent, uid).contains(&me));
        assert!(children(parent).contains(&me));
        assert!(!children(me).contains(&me));
        assert!(!descendants(me).iter().any(|&(pid, _)| pid == me));
        assert!(!wait_gone(me, Duration::ZERO));
    }
}
