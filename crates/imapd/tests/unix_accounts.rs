//! Unix accounts are served by a per-login child process running as the account (Dovecot's
//! model), virtual users in-process; and the spawner's own checks refuse what is not a Unix
//! mail account.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{message, Server, PASS, USER};
use ferrymail_config::Config;
use ferrymail_dev::{prepare, DevOptions, Ports};
use ferrymail_users::{UserDb, UserDbConfig};
use imapd::spawner::{check_request, Refusal};

const UID: u32 = 51234;
const LOW_UID: u32 = 41234;
const DAVE_UID: u32 = 51235;
const LOGIN: &str = "carol";
const PASSWORD: &str = "carol-secret";
/// `openssl passwd -6 -salt ferrymailtest1 carol-secret`
const HASH: &str = "$6$ferrymailtest1$iAJqq1xj.FH14zAB0Lc/a3eH/NelSRztLIGjgdkCTsrNorgQi1lFhLVvZoYuEbFZi5.Bm1DAf7qnk4zs7z1P/0";

/// Writes passwd/shadow files with `carol` (uid UID) and `sysop` (uid LOW_UID, below
/// `unix_min_uid`), and points the config at them.
fn unix_users(config: &mut Config, dir: &Path) -> PathBuf {
    let home = dir.join("home-carol");
    std::fs::create_dir(&home).unwrap();
    let sys_home = dir.join("home-sysop");
    std::fs::create_dir(&sys_home).unwrap();
    // dave's home stays root's: his session child cannot create a Maildir there.
    let dave_home = dir.join("home-dave");
    std::fs::create_dir(&dave_home).unwrap();
    let passwd = dir.join("etc-passwd");
    std::fs::write(
        &passwd,
        format!(
            "{LOGIN}:x:{UID}:{UID}:Carol:{}:/bin/sh\nsysop:x:{LOW_UID}:{LOW_UID}:Sys:{}:/bin/sh\n\
             dave:x:{DAVE_UID}:{DAVE_UID}:Dave:{}:/bin/sh\n",
            home.display(),
            sys_home.display(),
            dave_home.display()
        ),
    )
    .unwrap();
    let shadow = dir.join("etc-shadow");
    std::fs::write(
        &shadow,
        format!(
            "{LOGIN}:{HASH}:19000:0:99999:7:::\nsysop:{HASH}:19000:0:99999:7:::\n\
             dave:{HASH}:19000:0:99999:7:::\n"
        ),
    )
    .unwrap();
    config.userdb.unix_accounts = true;
    config.userdb.unix_passwd_file = passwd;
    config.userdb.unix_shadow_file = shadow;
    config.userdb.unix_min_uid = 50_000;
    home
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// (pid, parent pid, real uid) of every process.
fn processes() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
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

/// Every process whose parent chain leads to `root`, with its uid.
fn descendants(root: u32) -> Vec<(u32, u32)> {
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

fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

#[test]
fn unix_account_is_served_by_a_child_running_as_the_account() {
    if !is_root() {
        println!("SKIP: needs root (a session child must switch to the account's uid)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The child, running as the account, must be able to reach its home below here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut opts = DevOptions::new(dir.path().join("state"));
    opts.ports = Ports::free();
    opts.users = vec![(USER.into(), PASS.into())];
    let mut env = prepare(&opts).unwrap();
    let home = unix_users(&mut env.config, dir.path());
    nix::unistd::chown(
        &home,
        Some(nix::unistd::Uid::from_raw(UID)),
        Some(nix::unistd::Gid::from_raw(UID)),
    )
    .unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.config.imapd.limits.plaintext_auth_on_loopback = true;
    env.save_config().unwrap();
    let mut s = Server {
        env,
        daemon: None,
        _dir: dir,
    };
    s.spawn();
    let imapd_pid = s.daemon.as_ref().unwrap().pid();

    // LOGIN with a command pipelined behind it in the same write.
    let mut c = s.connect();
    c.send(format!("a1 LOGIN {LOGIN} {PASSWORD}\r\na2 SELECT INBOX\r\n").as_bytes());
    let login = c.read_until_tag("a1");
    assert!(login.ok(), "login failed: {login:?}\n{}", s.log());
    assert!(login.tagged.contains("[CAPABILITY "), "{}", login.tagged);
    let select = c.read_until_tag("a2");
    assert!(
        select.ok(),
        "pipelined SELECT not answered: {select:?}\n{}",
        s.log()
    );
    assert!(select.has("EXISTS"), "{}", select.all());

    let children: Vec<u32> = descendants(imapd_pid)
        .into_iter()
        .filter(|&(_, uid)| uid == UID)
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(
        children.len(),
        1,
        "one process below imapd runs as uid {UID}: {:?}\n{}",
        descendants(imapd_pid),
        s.log()
    );
    let child = children[0];

    // A virtual user logged in meanwhile is served in-process: no new process appears.
    let before: HashSet<u32> = descendants(imapd_pid).into_iter().map(|p| p.0).collect();
    let mut v = s.login(USER, PASS);
    assert!(v.cmd("SELECT INBOX").ok());
    let after: HashSet<u32> = descendants(imapd_pid).into_iter().map(|p| p.0).collect();
    assert_eq!(before, after, "a virtual user got a process of its own");

    // Files are created by the account, not by the daemon user.
    let appended = c.append("INBOX", "\\Seen", &message("unix", "hello"));
    assert!(appended.ok(), "{appended:?}");
    let maildir = home.join("Maildir");
    for folder in [".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        assert_eq!(owner(&maildir.join(folder)), UID, "{folder}");
    }
    assert_eq!(owner(&maildir), UID);
    let files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(maildir.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(owner(&files[0]), UID);
    assert_eq!(owner(&maildir.join("ferrymail-uidlist")), UID);
    let fetched = c.cmd("FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
    assert!(fetched.ok() && fetched.has("Subject: unix"), "{fetched:?}");

    // The same connection id appears in both processes' log lines for this session.
    let log = s.log();
    let id_of = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("id=")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no log line with {needle:?}:\n{log}"))
    };
    assert_eq!(
        id_of("handed to a session child"),
        id_of("serving as the account")
    );

    // After LOGOUT the child exits (and is reaped: its /proc entry goes away).
    let bye = c.cmd("LOGOUT");
    assert!(bye.ok() && bye.has("BYE"), "{bye:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{child}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !Path::new(&format!("/proc/{child}")).exists(),
        "session child {child} still exists after LOGOUT"
    );
    assert!(
        v.cmd("NOOP").ok(),
        "the virtual user's session is unaffected"
    );

    // A home the account cannot write to: the child says NO, and nothing is created there
    // by a more privileged process instead.
    let mut d = s.connect();
    let no = d.cmd(&format!("LOGIN dave {PASSWORD}"));
    assert_eq!(no.status(), "NO", "{no:?}\n{}", s.log());
    let dave_home = s._dir.path().join("home-dave");
    assert_eq!(
        std::fs::read_dir(&dave_home).unwrap().count(),
        0,
        "something was created in dave's home"
    );

    // Without its spawner imapd refuses Unix logins rather than serve them as itself.
    let spawners: Vec<u32> = processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == imapd_pid)
        .map(|(pid, _, _)| pid)
        .collect();
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(spawners[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut c = s.connect();
    let refused = c.cmd(&format!("LOGIN {LOGIN} {PASSWORD}"));
    assert_eq!(refused.status(), "NO", "{refused:?}");
    assert!(refused.tagged.contains("[UNAVAILABLE]"), "{refused:?}");
    assert!(c.cmd("SELECT INBOX").status() == "BAD", "not logged in");
    assert!(v.cmd("NOOP").ok(), "virtual users are still served");
    let log = s.log();
    assert!(log.contains("Unix accounts cannot log in"), "{log}");
    s.stop();
}

#[test]
fn spawner_refuses_what_is_not_a_unix_mail_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new(dir.path().join("state"));
    opts.ports = Ports::free();
    opts.users = vec![(USER.into(), PASS.into())];
    let mut env = prepare(&opts).unwrap();
    let home = unix_users(&mut env.config, dir.path());
    let users = UserDb::open(UserDbConfig::from_config(&env.config)).unwrap();

    let spec = check_request(&env.config, &users, LOGIN).unwrap();
    assert_eq!(spec.uid, UID);
    assert_eq!(spec.gid, UID);
    assert_eq!(spec.maildir, home.join("Maildir"));

    assert_eq!(
        check_request(&env.config, &users, USER),
        Err(Refusal::NotUnix)
    );
    assert_eq!(
        check_request(&env.config, &users, "nobody-here"),
        Err(Refusal::UnknownLogin)
    );
    // Below unix_min_uid: the user database ignores it, or the spawner refuses it.
    assert!(matches!(
        check_request(&env.config, &users, "sysop"),
        Err(Refusal::UnknownLogin | Refusal::SystemAccount(LOW_UID))
    ));
    // Even if the user database were configured to accept low uids, the spawner's own
    // check against the daemon config still refuses them.
    let mut lax = env.config.clone();
    lax.userdb.unix_min_uid = 1000;
    let lax_users = UserDb::open(UserDbConfig::from_config(&lax)).unwrap();
    assert!(check_request(&lax, &lax_users, "sysop").is_ok());
    assert_eq!(
        check_request(&env.config, &lax_users, "sysop"),
        Err(Refusal::SystemAccount(LOW_UID))
    );
}
