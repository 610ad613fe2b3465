//! Shared pieces of the integration tests: a prepared environment running the real
//! `local-delivery` binary, a small LMTP client, and readers for the spool and mailboxes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrymail_dev::{prepare, target_bin, wait_for_unix, Daemon, DevEnv, DevOptions, Ports};
use ferrymail_smtp::DotStuffer;

pub const DOMAIN: &str = "example.test";
/// uid/gid of the Unix account used when the tests run as root.
pub const UNIX_UID: u32 = 54321;

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Says on the real stderr (not the captured test output) that a test did not run.
pub fn skip(test: &str, why: &str) {
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
}

/// Unix-account tests need either root (to use a test uid) or our own uid to be in the
/// range the user database accepts as mail accounts (up to 60000, so not `nobody`).
pub fn unix_accounts_testable(test: &str) -> bool {
    let ok = is_root() || nix::unistd::Uid::current().as_raw() <= 60000;
    if !ok {
        skip(
            test,
            "our uid is outside the Unix mail-account range and we are not root",
        );
    }
    ok
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub env: DevEnv,
    pub daemon: Option<Daemon>,
}

impl TestEnv {
    /// alice, bob and carol @example.test exist as virtual users.
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        // A Unix account's helper must be able to reach its home inside the temp dir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let users = ["alice", "bob", "carol"]
            .iter()
            .map(|u| (format!("{u}@{DOMAIN}"), "secret".to_string()))
            .collect();
        let env = prepare(&DevOptions {
            ports: Ports::free(),
            users,
            ..DevOptions::new(dir.path().join("state"))
        })
        .unwrap();
        std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        TestEnv {
            dir,
            env,
            daemon: None,
        }
    }

    pub fn state(&self) -> &Path {
        &self.env.state_dir
    }

    pub fn start(&mut self) {
        self.env.save_config().unwrap();
        let d = Daemon::spawn(&target_bin("local-delivery"), &self.env).unwrap();
        let sock = self.env.config.lmtp_socket();
        if !wait_for_unix(&sock, Duration::from_secs(20)) {
            panic!("local-delivery did not listen:\n{}", d.log(&self.env));
        }
        self.daemon = Some(d);
    }

    pub fn log(&self) -> String {
        self.daemon
            .as_ref()
            .map(|d| d.log(&self.env))
            .unwrap_or_default()
    }

    pub fn connect(&self) -> Lmtp {
        Lmtp::connect(&self.env.config.lmtp_socket())
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.env
            .config
            .paths
            .mail_root
            .join(DOMAIN)
            .join(user)
            .join("Maildir")
    }

    /// The user's directory (where `.sieve` lives for a virtual user without a home).
    pub fn user_dir(&self, user: &str) -> PathBuf {
        self.env.config.paths.mail_root.join(DOMAIN).join(user)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.state().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn set_aliases(&self, text: &str) {
        std::fs::write(&self.env.config.userdb.aliases_file, text).unwrap();
    }

    /// Adds a Unix account `name` (uid 54321 when root, else our own uid) with its home under
    /// the state dir, and enables Unix accounts with the given mailbox kind.
    pub fn add_unix_account(&mut self, name: &str, mbox: bool) -> (u32, PathBuf) {
        let (uid, gid) = if is_root() {
            (UNIX_UID, UNIX_UID)
        } else {
            (
                nix::unistd::Uid::current().as_raw(),
                nix::unistd::Gid::current().as_raw(),
            )
        };
        let home = self.state().join("home").join(name);
        std::fs::create_dir_all(&home).unwrap();
        let spool = self.state().join("mbox");
        std::fs::create_dir_all(&spool).unwrap();
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::set_permissions(
            self.state().join("home"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        if is_root() {
            nix::unistd::chown(&home, Some(uid.into()), Some(gid.into())).unwrap();
        }
        let passwd = self.write(
            "unix_passwd",
            &format!("{name}:x:{uid}:{gid}:Test:{}:/bin/sh\n", home.display()),
        );
        let shadow = self.write("unix_shadow", &format!("{name}:*:19000:0:99999:7:::\n"));
        let c = &mut self.env.config;
        c.userdb.unix_accounts = true;
        c.userdb.unix_passwd_file = passwd;
        c.userdb.unix_shadow_file = shadow;
        c.userdb.unix_min_uid = 0;
        c.userdb.unix_mailbox = if mbox {
            ferrymail_config::UnixMailbox::Mbox
        } else {
            ferrymail_config::UnixMailbox::Maildir
        };
        c.delivery.mbox_dir = spool;
        (uid, home)
    }

    pub fn mbox_path(&self, name: &str) -> PathBuf {
        self.env.config.delivery.mbox_dir.join(name)
    }

    /// Moves maildrop submissions into the queue and returns (recipients, message) of each.
    pub fn requeued(&self) -> Vec<(Vec<String>, Option<String>, Vec<u8>)> {
        let spool = ferrymail_spool::Spool::open(&self.env.config.paths.spool_dir).unwrap();
        let mut out = Vec::new();
        for r in spool.pickup(&ferrymail_spool::PickupLimits::default()) {
            let id = r.unwrap();
            let env = spool.read_envelope(&id).unwrap();
            let mut msg = Vec::new();
            std::io::Read::read_to_end(&mut spool.open_message(&id).unwrap(), &mut msg).unwrap();
            out.push((
                env.recipients.iter().map(|r| r.address.clone()).collect(),
                env.sender.clone(),
                msg,
            ));
        }
        out
    }
}

/// Message files of a maildir (new/ and cur/), sorted by name.
pub fn maildir_messages(md: &Path) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(md.join(sub)) {
            for e in rd {
                names.push(e.unwrap().path());
            }
        }
    }
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

pub fn trace(sender: &str, rcpt: &str) -> Vec<u8> {
    format!("Return-Path: <{sender}>\r\nDelivered-To: {rcpt}\r\n").into_bytes()
}

pub fn with_trace(sender: &str, rcpt: &str, msg: &[u8]) -> Vec<u8> {
    let mut v = trace(sender, rcpt);
    v.extend_from_slice(msg);
    v
}

/// A minimal LMTP client written for these tests.
pub struct Lmtp {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

pub type Reply = (u16, String);

impl Lmtp {
    pub fn connect(path: &Path) -> Lmtp {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let w = s.try_clone().unwrap();
        let mut c = Lmtp {
            r: BufReader::new(s),
            w,
        };
        let (code, _) = c.reply();
        assert_eq!(code, 220);
        c
    }

    pub fn reply(&mut self) -> Reply {
        let mut text = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed");
            let code: u16 = line[..3].parse().unwrap();
            text.push_str(line[4..].trim_end());
            text.push('\n');
            if line.as_bytes()[3] == b' ' {
                return (code, text);
            }
        }
        panic!("endless reply");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// LHLO + one transaction. Returns the RCPT replies and the per-recipient DATA replies
    /// (empty when DATA was refused).
    pub fn deliver(&mut self, from: &str, rcpts: &[&str], msg: &[u8]) -> (Vec<Reply>, Vec<Reply>) {
        self.deliver_with(from, "", rcpts, msg)
    }

    /// [`deliver`](Lmtp::deliver) with MAIL parameters (e.g. ` XQUEUEID=...`).
    pub fn deliver_with(
        &mut self,
        from: &str,
        mail_params: &str,
        rcpts: &[&str],
        msg: &[u8],
    ) -> (Vec<Reply>, Vec<Reply>) {
        assert_eq!(self.cmd("LHLO test.client").0, 250);
        assert_eq!(self.cmd(&format!("MAIL FROM:<{from}>{mail_params}")).0, 250);
        let rr: Vec<Reply> = rcpts
            .iter()
            .map(|r| self.cmd(&format!("RCPT TO:<{r}>")))
            .collect();
        let accepted = rr.iter().filter(|r| r.0 == 250).count();
        let (code, _) = self.cmd("DATA");
        if accepted == 0 {
            assert_eq!(code, 503);
            return (rr, Vec::new());
        }
        assert_eq!(code, 354);
        let mut wire = Vec::new();
        let mut st = DotStuffer::new();
        st.feed(msg, &mut wire);
        st.finish(&mut wire);
        self.send(&wire);
        let dr = (0..accepted).map(|_| self.reply()).collect();
        (rr, dr)
    }
}

/// Runs `python3 -c script args...`, failing the test clearly when Python is missing.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for these tests (Debian package python3)");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Dovecot's view of a Maildir: `doveadm` with a throwaway config, as an unprivileged uid
/// (Dovecot refuses to touch mail as root), so the maildir is handed to that uid first.
pub fn doveadm(env: &TestEnv, maildir: &Path, args: &[&str]) -> String {
    let (uid, gid) = if is_root() {
        (65534, 65534)
    } else {
        (
            nix::unistd::Uid::current().as_raw(),
            nix::unistd::Gid::current().as_raw(),
        )
    };
    if is_root() {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(maildir)
            .status()
            .unwrap();
        assert!(st.success());
        // Dovecot must be able to reach the maildir.
        let mut p = maildir.parent();
        while let Some(dir) = p {
            if dir == env.dir.path() {
                break;
            }
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o055)).unwrap();
            p = dir.parent();
        }
    }
    let conf = env.state().join("doveadm.conf");
    std::fs::write(
        &conf,
        format!("mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"),
    )
    .unwrap();
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .arg("-o")
        .arg(format!(
            "mail_location=maildir:{}:INDEX=MEMORY",
            maildir.display()
        ))
        .args(args)
        .env("USER", "ferrymail-test")
        .env("HOME", env.state())
        .output()
        .expect("doveadm is needed for these tests (Debian package dovecot-core)");
    assert!(
        out.status.success(),
        "doveadm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
