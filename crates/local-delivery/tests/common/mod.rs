//! local-delivery's integration tests run the real binary in a dev environment (the shared
//! test kit's `Suite`, LMTP through its `SmtpClient`); here are the users and Unix accounts
//! they deliver to, and readers for the spool and mailboxes.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use ferrymail_dev::unix_account::is_root;
use ferrymail_testkit::{SmtpClient, Suite};

pub const DOMAIN: &str = "example.test";
/// uid/gid of the Unix account used when the tests run as root.
pub const UNIX_UID: u32 = 54321;

/// Unix-account tests need either root (to use a test uid) or our own uid to be in the
/// range the user database accepts as mail accounts (up to 60000, so not `nobody`).
pub fn unix_accounts_testable() -> bool {
    let ok = is_root() || nix::unistd::Uid::current().as_raw() <= 60000;
    if !ok {
        ferrymail_testkit::skip::report(
            "our uid is outside the Unix mail-account range and we are not root",
        );
    }
    ok
}

/// A suite for local-delivery, with alice, bob and carol @example.test as virtual users.
pub struct TestEnv {
    suite: Suite,
}

ferrymail_testkit::wraps_suite!(TestEnv, suite);

impl TestEnv {
    pub fn new() -> TestEnv {
        let users: Vec<(String, &str)> = ["alice", "bob", "carol"]
            .iter()
            .map(|u| (format!("{u}@{DOMAIN}"), "secret"))
            .collect();
        let users: Vec<(&str, &str)> = users.iter().map(|(l, p)| (l.as_str(), *p)).collect();
        let suite = Suite::new(&users);
        // A Unix account's helper must be able to reach its home inside the temp dir.
        for dir in [suite.dir(), suite.env.state_dir.as_path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        TestEnv { suite }
    }

    pub fn state(&self) -> &Path {
        &self.env.state_dir
    }

    /// Saves what the test changed in `env.config`, then starts local-delivery.
    pub fn start(&mut self) {
        self.env.save_config().unwrap();
        self.suite.start("local-delivery");
    }

    pub fn log(&self) -> String {
        self.suite.log("local-delivery")
    }

    /// An LMTP session, greeting read.
    pub fn connect(&self) -> SmtpClient {
        lmtp(&self.env.config.lmtp_socket())
    }

    /// The Maildir of the virtual user `user`@example.test.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.suite.maildir(&format!("{user}@{DOMAIN}"))
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

/// An LMTP session on the socket at `path`, greeting read.
pub fn lmtp(path: &Path) -> SmtpClient {
    let mut c = SmtpClient::connect_unix(path);
    assert_eq!(c.reply().code, 220);
    c
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
            if dir == env.dir() {
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
