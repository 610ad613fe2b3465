//! Unix accounts are served by a per-login child process running as the account (Dovecot's
//! model), virtual users in-process; and the spawner's own checks refuse what is not a Unix
//! mail account.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::deflated::Deflated;
use common::{connect, message, stop, PASS, USER};
use ferrymail_config::Config;
use ferrymail_dev::unix_account::{
    self, chown_tree, descendants, kill_hard, use_accounts, UnixAccount, PASSWORD,
};
use ferrymail_testkit::{skip_unless_root, Suite};
use ferrymail_users::{UserDb, UserDbConfig};
use flate2::FlushCompress;
use imapd::spawner::{check_request, Refusal};

const UID: u32 = 51234;
const LOW_UID: u32 = 41234;
const DAVE_UID: u32 = 51235;
const LOGIN: &str = "carol";

/// Writes passwd/shadow files with `carol` (uid UID), `sysop` (uid LOW_UID, below
/// `unix_min_uid`) and `dave`, and points the config at them; returns carol's home.
fn unix_users(config: &mut Config, dir: &Path) -> PathBuf {
    let home = dir.join("home-carol");
    std::fs::create_dir(&home).unwrap();
    let sys_home = dir.join("home-sysop");
    std::fs::create_dir(&sys_home).unwrap();
    // dave's home stays root's: his session child cannot create a Maildir there.
    let dave_home = dir.join("home-dave");
    std::fs::create_dir(&dave_home).unwrap();
    let accounts = [
        UnixAccount::new(LOGIN, UID, &home),
        UnixAccount::new("sysop", LOW_UID, sys_home),
        UnixAccount::new("dave", DAVE_UID, dave_home),
    ];
    use_accounts(config, dir, &accounts).unwrap();
    home
}

fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

#[test]
fn unix_account_is_served_by_a_child_running_as_the_account() {
    if skip_unless_root("a session child must switch to the account's uid") {
        return;
    }
    let mut s = common::prepare(true);
    let dir = s.dir().to_owned();
    // The child, running as the account, must be able to reach its home below here.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut home = PathBuf::new();
    s.edit_config(|c| home = unix_users(c, &dir));
    chown_tree(&home, UID).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    s.start("imapd");
    let imapd_pid = s.daemon("imapd").pid();

    // LOGIN with a command pipelined behind it in the same write.
    let mut c = connect(&s);
    c.send(format!("a1 LOGIN {LOGIN} {PASSWORD}\r\na2 SELECT INBOX\r\n").as_bytes());
    let login = c.read_until_tag("a1");
    assert!(login.ok(), "login failed: {login:?}\n{}", s.log("imapd"));
    assert!(login.tagged.contains("[CAPABILITY "), "{}", login.tagged);
    let select = c.read_until_tag("a2");
    assert!(
        select.ok(),
        "pipelined SELECT not answered: {select:?}\n{}",
        s.log("imapd")
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
        s.log("imapd")
    );
    let child = children[0];

    // A virtual user logged in meanwhile is served in-process: no new process appears.
    let before: HashSet<u32> = descendants(imapd_pid).into_iter().map(|p| p.0).collect();
    let mut v = common::login(&s, USER, PASS);
    assert!(v.cmd("SELECT INBOX").ok());
    let after: HashSet<u32> = descendants(imapd_pid).into_iter().map(|p| p.0).collect();
    assert_eq!(before, after, "a virtual user got a process of its own");

    // Files are created by the account, not by the daemon user.
    let appended = c.append("INBOX", "\\Seen", &message("unix", "hello"));
    assert!(appended.ok(), "{appended:?}");
    // A large APPEND is streamed through tmp/ by the child, as the account.
    let big = message("unix-big", &"0123456789abcdef\r\n".repeat(40_000));
    let appended = c.append("INBOX", "", &big);
    assert!(
        appended.ok() && appended.tagged.contains("[APPENDUID "),
        "{appended:?}\n{}",
        s.log("imapd")
    );
    let maildir = home.join("Maildir");
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);
    for folder in [".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        assert_eq!(owner(&maildir.join(folder)), UID, "{folder}");
    }
    assert_eq!(owner(&maildir), UID);
    let files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(maildir.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(owner(f), UID, "{f:?}");
    }
    assert_eq!(owner(&maildir.join("ferrymail-uidlist")), UID);
    let fetched = c.cmd("FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
    assert!(fetched.ok() && fetched.has("Subject: unix"), "{fetched:?}");

    // The same connection id appears in both processes' log lines for this session.
    let log = s.log("imapd");
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

    // COMPRESS runs in the child; the main process relays the compressed bytes as they
    // are. A large APPEND streamed through tmp/ arrives whole through it.
    let mut z = Deflated::start(&mut c);
    let big = message("unix-deflate", &"fedcba9876543210\r\n".repeat(40_000));
    let mut append = format!("z1 APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    append.extend_from_slice(&big);
    append.extend_from_slice(b"\r\n");
    z.send(&append, FlushCompress::Partial, 1000);
    let r = z.until_tag("z1");
    assert!(r.contains("z1 OK [APPENDUID"), "{r}\n{}", s.log("imapd"));
    z.send(b"z2 FETCH 3 RFC822.SIZE\r\n", FlushCompress::Sync, 7);
    let r = z.until_tag("z2");
    assert!(r.contains(&format!("RFC822.SIZE {}", big.len())), "{r}");

    // After LOGOUT the child exits (and is reaped: its /proc entry goes away).
    z.send(b"z3 LOGOUT\r\n", FlushCompress::Sync, 64);
    let bye = z.until_tag("z3");
    assert!(bye.contains("z3 OK") && bye.contains("* BYE"), "{bye}");
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
    let mut d = connect(&s);
    let no = d.cmd(&format!("LOGIN dave {PASSWORD}"));
    assert_eq!(no.status(), "NO", "{no:?}\n{}", s.log("imapd"));
    let dave_home = dir.join("home-dave");
    assert_eq!(
        std::fs::read_dir(&dave_home).unwrap().count(),
        0,
        "something was created in dave's home"
    );

    // Without its spawner imapd refuses Unix logins rather than serve them as itself.
    let spawners = unix_account::children(imapd_pid);
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    kill_hard(spawners[0]).unwrap();
    let mut c = connect(&s);
    let refused = c.cmd(&format!("LOGIN {LOGIN} {PASSWORD}"));
    assert_eq!(refused.status(), "NO", "{refused:?}");
    assert!(refused.tagged.contains("[UNAVAILABLE]"), "{refused:?}");
    assert!(c.cmd("SELECT INBOX").status() == "BAD", "not logged in");
    assert!(v.cmd("NOOP").ok(), "virtual users are still served");
    let log = s.log("imapd");
    assert!(log.contains("Unix accounts cannot log in"), "{log}");
    stop(&mut s);
}

#[test]
fn spawner_refuses_what_is_not_a_unix_mail_account() {
    let mut s = Suite::new(&[(USER, PASS)]);
    let dir = s.dir().to_owned();
    let mut home = PathBuf::new();
    s.edit_config(|c| home = unix_users(c, &dir));
    let env = &s.env;
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
