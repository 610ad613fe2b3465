//! Unix accounts are served by a per-login child process running as the account (the
//! spawner shared with imapd, `ferrymail-spawn`), virtual users in-process; the maildrop's
//! in-use lock holds across those processes; without its spawner pop3d refuses Unix logins
//! instead of serving them as itself. Needs root (the child switches uid); prints SKIP
//! otherwise.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{deliver, files, plain, start_with, StepScript, PASS, USER};
use ferrymail_dev::unix_account::{
    self, children, chown_tree, descendants, kill_hard, processes, running_as, use_accounts,
    UnixAccount, PASSWORD,
};
use ferrymail_maildir::{DeliverOptions, Maildir};
use ferrymail_testkit::{skip_unless_root, Suite};

const UID: u32 = 51236;
const NOBODY: u32 = 65534;
const LOGIN: &str = "carol";

/// A home for carol (0700, hers) with a Maildir (0700, hers) holding two messages, and
/// passwd/shadow files naming her; returns the Maildir.
fn unix_account(dir: &Path, config: &mut ferrymail_config::Config) -> PathBuf {
    let home = dir.join("home-carol");
    std::fs::create_dir(&home).unwrap();
    let maildir = home.join("Maildir");
    let md = Maildir::create(&maildir).unwrap();
    md.deliver(
        &[b"Subject: one\n\nfirst unix message\n"],
        DeliverOptions::default(),
    )
    .unwrap();
    md.deliver(
        &[b"Subject: two\n\n.dot line\nsecond\n"],
        DeliverOptions::default(),
    )
    .unwrap();
    chown_tree(&home, UID).unwrap();
    for d in [&home, &maildir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    use_accounts(config, dir, &[UnixAccount::new(LOGIN, UID, &home)]).unwrap();
    config.pop3d.limits.plaintext_auth_on_loopback = true;
    maildir
}

fn wait_gone(pid: u32) -> bool {
    unix_account::wait_gone(pid, Duration::from_secs(10))
}

/// poplib over implicit TLS: logs in, reports STAT/LIST/UIDL/RETR 2/DELE 1 as one JSON
/// line, then waits for a line on stdin before QUIT (so the test can look around while
/// the session is open), and reports QUIT's answer.
const POPLIB_SCRIPT: &str = r#"
import json, poplib, ssl, sys
host, port995, user, pw, cafile = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
p = poplib.POP3_SSL(host, int(port995), context=ctx, timeout=30)
p.user(user)
out = {"pass": p.pass_(pw).decode()}
out["stat"] = list(p.stat())
out["list"] = [x.decode() for x in p.list()[1]]
out["uidl"] = [x.decode() for x in p.uidl()[1]]
out["retr2"] = [l.decode() for l in p.retr(2)[1]]
out["dele1"] = p.dele(1).decode()
print(json.dumps(out), flush=True)
sys.stdin.readline()
print(json.dumps({"quit": p.quit().decode()}), flush=True)
"#;

/// `daemon_user`: what pop3d drops to (`pop3d.user`); `None` keeps the dev default (the
/// test's own user).
fn start_unix(homes: &Path, daemon_user: Option<&str>) -> (Suite, PathBuf) {
    let mut maildir = PathBuf::new();
    let s = start_with(|c| {
        maildir = unix_account(homes, c);
        if let Some(u) = daemon_user {
            c.pop3d.user = u.into();
        }
    });
    (s, maildir)
}

/// Lets `uid` reach and own the virtual users' mailboxes (the dev environment made them
/// root's).
fn give_mail_root_to(s: &Suite, uid: u32) {
    let state = &s.env.config.paths.state_dir;
    for d in [state.parent().unwrap(), state.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    chown_tree(&s.env.config.paths.mail_root, uid).unwrap();
}

fn uid_of(pid: u32) -> u32 {
    processes()
        .into_iter()
        .find(|p| p.0 == pid)
        .map(|p| p.2)
        .unwrap()
}

#[test]
fn unix_account_is_served_by_a_child_running_as_the_account() {
    if skip_unless_root("a session child must switch to the account's uid") {
        return;
    }
    let found = Command::new("python3").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "`python3` is not installed: install the Debian package `python3` (listed in .ci/packages)"
    );
    let homes = tempfile::tempdir().unwrap();
    // The child, running as the account, must be able to reach the home below here.
    std::fs::set_permissions(homes.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // pop3d drops to `nobody`, which cannot read carol's 0700 Maildir: only a process
    // running as carol can serve her.
    let (s, maildir) = start_unix(homes.path(), Some("nobody"));
    let pop3d = s.daemon("pop3d").pid();
    let before_files = files(&maildir);
    assert_eq!(before_files.len(), 2);

    let mut py = StepScript::start(
        POPLIB_SCRIPT,
        &[
            s.env.listen_addr.to_string(),
            s.env.ports.pop3s.to_string(),
            LOGIN.to_string(),
            PASSWORD.to_string(),
            s.env.config.tls.cert.display().to_string(),
        ],
    );
    let v = py.next(|| s.log("pop3d"));
    assert!(
        v["pass"]
            .as_str()
            .unwrap()
            .starts_with("+OK Logged in, maildrop has 2 messages"),
        "{v}"
    );
    let sizes: Vec<u64> = v["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_str()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(v["stat"][0], 2, "{v}");
    assert_eq!(v["stat"][1], sizes.iter().sum::<u64>(), "{v}");
    // UIDLs are the Maildir base names; message 1 is the one DELE'd below.
    let uidls: Vec<&str> = v["uidl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(uidls.len(), 2, "{v}");
    for u in &uidls {
        assert!(
            before_files.iter().any(|f| f.contains(u)),
            "{u} {before_files:?}"
        );
    }
    let first_uidl = uidls[0].to_owned();
    // poplib undoes the dot-stuffing.
    assert_eq!(
        v["retr2"],
        serde_json::json!(["Subject: two", "", ".dot line", "second"]),
        "{v}"
    );
    assert!(v["dele1"].as_str().unwrap().starts_with("+OK"), "{v}");

    // The session is served by a process below pop3d running as the account; pop3d
    // itself runs as nobody.
    assert_eq!(uid_of(pop3d), NOBODY, "{}", s.log("pop3d"));
    let children = running_as(pop3d, UID);
    assert_eq!(
        children.len(),
        1,
        "one process below pop3d runs as uid {UID}: {:?}\n{}",
        descendants(pop3d),
        s.log("pop3d")
    );
    let child = children[0];

    // A virtual user meanwhile is served in-process: no new process appears.
    deliver(&s, USER, b"Subject: virtual\n\nhi\n");
    give_mail_root_to(&s, NOBODY);
    let before: HashSet<u32> = descendants(pop3d).into_iter().map(|p| p.0).collect();
    let mut virt = plain(&s);
    assert!(virt.login(USER, PASS).starts_with("+OK"));
    assert!(virt.cmd("STAT").starts_with("+OK 1 "));
    let after: HashSet<u32> = descendants(pop3d).into_iter().map(|p| p.0).collect();
    assert_eq!(before, after, "a virtual user got a process of its own");

    // A second login of the Unix account: its own child finds the maildrop locked by the
    // first child (flock across processes) and says so; the connection then ends.
    let mut second = plain(&s);
    let busy = second.login(LOGIN, PASSWORD);
    assert!(
        busy.starts_with("-ERR [IN-USE] "),
        "{busy}\n{}",
        s.log("pop3d")
    );
    assert!(second.is_eof());
    // The refused child exits (and is reaped).
    let deadline = Instant::now() + Duration::from_secs(10);
    while running_as(pop3d, UID) != vec![child] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        running_as(pop3d, UID),
        vec![child],
        "the refused child exits"
    );

    // The same connection id in the main process's and the child's log lines.
    let log = s.log("pop3d");
    let ids_of = |needle: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("id=")))
            .map(|id| id.trim_end_matches(['}', ':', ',']).to_owned())
            .collect()
    };
    let handed = ids_of("handed to a session child");
    let served = ids_of("serving as the account");
    assert_eq!(handed.len(), 2, "{log}");
    assert_eq!(served.len(), 1, "{log}");
    assert_eq!(handed[0], served[0], "{log}");
    assert!(log.contains(&format!("uid={UID}")), "{log}");

    // QUIT: the DELE'd file is gone, the other stays, and the child exits.
    py.proceed();
    let v = py.next(|| s.log("pop3d"));
    assert!(v["quit"].as_str().unwrap().starts_with("+OK"), "{v}");
    assert!(py.finish());
    let after_files = files(&maildir);
    assert_eq!(after_files.len(), 1, "{after_files:?}");
    assert!(
        !after_files.iter().any(|f| f.contains(&first_uidl)),
        "{after_files:?}"
    );
    assert!(
        wait_gone(child),
        "session child {child} still exists after QUIT"
    );
    // RETR marked the other message seen, as the account.
    let remaining = maildir.join(&after_files[0]);
    assert!(
        after_files[0].starts_with("cur/") && after_files[0].ends_with(",S"),
        "{after_files:?}"
    );
    assert_eq!(std::fs::metadata(&remaining).unwrap().uid(), UID);
    assert_eq!(
        std::fs::metadata(maildir.join(pop3d::maildrop::LOCK_FILE))
            .unwrap()
            .uid(),
        UID,
        "the lock file is the account's"
    );
    assert_eq!(
        virt.cmd("NOOP"),
        "+OK\r\n",
        "the virtual user's session is unaffected"
    );
}

#[test]
fn pipelined_commands_after_pass_reach_the_child_and_a_dead_spawner_refuses() {
    if skip_unless_root("a session child must switch to the account's uid") {
        return;
    }
    let homes = tempfile::tempdir().unwrap();
    std::fs::set_permissions(homes.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (s, maildir) = start_unix(homes.path(), None);
    let pop3d = s.daemon("pop3d").pid();

    // USER, PASS, STAT and QUIT in one write: the commands behind PASS are the child's.
    let mut c = plain(&s);
    c.send(format!("USER {LOGIN}\r\nPASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n").as_bytes());
    assert_eq!(c.line(), "+OK Send your password\r\n");
    let pass = c.line();
    assert!(
        pass.starts_with("+OK Logged in, maildrop has 2 messages"),
        "{pass}\n{}",
        s.log("pop3d")
    );
    assert!(c.line().starts_with("+OK 2 "));
    assert!(c.line().starts_with("+OK "), "QUIT");
    assert!(c.is_eof());
    assert_eq!(files(&maildir).len(), 2, "nothing was deleted");

    // Without its spawner pop3d refuses Unix logins rather than serve them as itself.
    let spawners = children(pop3d);
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    kill_hard(spawners[0]).unwrap();
    assert!(wait_gone(spawners[0]));
    let mut c = plain(&s);
    let refused = c.login(LOGIN, PASSWORD);
    assert!(
        refused.starts_with("-ERR [SYS/TEMP] "),
        "{refused}\n{}",
        s.log("pop3d")
    );
    assert_eq!(c.cmd("STAT"), "-ERR Command not valid in this state\r\n");
    let mut virt = plain(&s);
    assert!(
        virt.login(USER, PASS).starts_with("+OK"),
        "virtual users are still served"
    );
    assert!(running_as(pop3d, UID).is_empty());
    let log = s.log("pop3d");
    assert!(log.contains("Unix accounts cannot log in"), "{log}");
}
