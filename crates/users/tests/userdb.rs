//! UserDb: authentication, lookups, Unix accounts, load issues and reloads.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrymail_users::{
    hash_password, Account, AuthCacheConfig, AuthError, PasswdEntry, PasswdFile, StoredPassword,
    UnixAccountsConfig, UserDb, UserDbConfig, UserDbError,
};

/// doveadm-generated SHA512-CRYPT of "s3cret!" (see tests/data/vectors.txt).
const SHA512: &str = "{SHA512-CRYPT}$6$W4iSUp2KUzZOJ2o6$WhUBXNKlQBltK34jYLi4JjIEjmRgRQoZRBxNomR1GIM4yHOCzv0rS2HaGrUMXYyZPypnnDV/G2eu/hunje2Dg/";
const SHA512_BARE: &str = "$6$W4iSUp2KUzZOJ2o6$WhUBXNKlQBltK34jYLi4JjIEjmRgRQoZRBxNomR1GIM4yHOCzv0rS2HaGrUMXYyZPypnnDV/G2eu/hunje2Dg/";
/// Debian's default shadow hash of "s3cret!": `mkpasswd -m yescrypt 's3cret!'`
/// (libxcrypt 4.4.33).
const YESCRYPT_BARE: &str =
    "$y$j9T$5Ld24pTcdJ7pkGR6RENnb0$pWBR/XKxaqCXbe/esVO932A0C48g.5zwJHska/OjtN7";
/// The same with N = 2^40: far above the accepted cost, refused at load time.
const YESCRYPT_HUGE: &str =
    "$y$jbT$5Ld24pTcdJ7pkGR6RENnb0$pWBR/XKxaqCXbe/esVO932A0C48g.5zwJHska/OjtN7";

fn config(dir: &Path) -> UserDbConfig {
    UserDbConfig {
        passwd_file: dir.join("passwd"),
        aliases_file: Some(dir.join("aliases")),
        domains_file: Some(dir.join("domains")),
        local_domains: vec!["a.test".into()],
        unix_accounts: None,
        recipient_delimiter: None,
        auth_cache: AuthCacheConfig::default(),
    }
}

fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

#[test]
fn userdb_is_send_sync_clone() {
    assert_send_sync::<UserDb>();
}

#[test]
fn verify_virtual_users() {
    let dir = tempfile::tempdir().unwrap();
    let argon = hash_password("argon pw").unwrap();
    fs::write(
        dir.path().join("passwd"),
        format!(
            "Joe@A.test:{SHA512}:5000:5000::/var/mail/joe::userdb_quota_rule=*:storage=1G\n\
             ann@a.test:{argon}\n\
             plain@a.test:{{PLAIN}}plainpw\n\
             nopass@a.test:\n\
             empty@a.test:{{PLAIN}}\n\
             legacy@a.test:{{SSHA512}}c2VjcmV0\n"
        ),
    )
    .unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();

    let acct = db.verify("JOE@a.test", "s3cret!").unwrap();
    match &acct {
        Account::Virtual(v) => {
            assert_eq!(v.login, "joe@a.test");
            assert_eq!(v.uid, Some(5000));
            assert_eq!(v.quota.storage_bytes, Some(1 << 30));
            assert_eq!(v.local_part(), "joe");
            assert_eq!(v.domain(), Some("a.test"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(acct.home(), Some(Path::new("/var/mail/joe")));
    assert_eq!(
        db.verify("joe@a.test", "S3cret!"),
        Err(AuthError::WrongPassword)
    );
    assert_eq!(
        db.verify("ann@a.test", b"argon pw").unwrap().login(),
        "ann@a.test"
    );
    assert_eq!(
        db.verify("ann@a.test", "argon PW"),
        Err(AuthError::WrongPassword)
    );
    assert!(db.verify("plain@a.test", "plainpw").is_ok());
    assert_eq!(
        db.verify("plain@a.test", "plainpw "),
        Err(AuthError::WrongPassword)
    );

    // Failure paths that run the dummy Argon2 check (not timed here).
    assert_eq!(
        db.verify("nobody@a.test", "s3cret!"),
        Err(AuthError::UnknownUser)
    );
    assert_eq!(db.verify("joe", "s3cret!"), Err(AuthError::UnknownUser));
    assert_eq!(
        db.verify("nopass@a.test", "anything"),
        Err(AuthError::LoginDisabled)
    );
    assert_eq!(db.verify("joe@a.test", ""), Err(AuthError::EmptyPassword));
    // A hash in a scheme this server cannot check: no login, but mail still
    // arrives, and the problem is reported.
    assert_eq!(
        db.verify("legacy@a.test", "secret"),
        Err(AuthError::LoginDisabled)
    );
    assert_eq!(db.resolve("legacy@a.test").unwrap().len(), 1);
    assert!(db
        .load_issues()
        .iter()
        .any(|i| i.line == Some(6) && i.reason.contains("SSHA512")));
    // An empty stored plaintext never matches, because empty input is refused.
    assert_eq!(db.verify("empty@a.test", ""), Err(AuthError::EmptyPassword));
    assert_eq!(
        db.verify("joe@a.test", "x".repeat(5000)),
        Err(AuthError::PasswordTooLong)
    );

    assert_eq!(db.lookup("joe@A.TEST").unwrap().login(), "joe@a.test");
    assert!(db.lookup("nobody@a.test").is_none());
    let users: Vec<String> = db.users().into_iter().map(|u| u.login).collect();
    assert_eq!(
        users,
        [
            "joe@a.test",
            "ann@a.test",
            "plain@a.test",
            "nopass@a.test",
            "empty@a.test",
            "legacy@a.test"
        ]
    );
}

#[test]
fn yescrypt_in_the_passwd_file_as_dovecot_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("passwd"),
        format!(
            "deb@a.test:{{CRYPT}}{YESCRYPT_BARE}\n\
             bare@a.test:{YESCRYPT_BARE}\n\
             huge@a.test:{{CRYPT}}{YESCRYPT_HUGE}\n"
        ),
    )
    .unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    assert!(db.verify("deb@a.test", "s3cret!").is_ok());
    assert!(db.verify("bare@a.test", "s3cret!").is_ok());
    assert_eq!(
        db.verify("deb@a.test", "s3cret?"),
        Err(AuthError::WrongPassword)
    );
    // Over the cost cap: still a mail user, but no login and a load issue.
    assert!(db.lookup("huge@a.test").is_some());
    assert_eq!(
        db.verify("huge@a.test", "s3cret!"),
        Err(AuthError::LoginDisabled)
    );
    let issues = db.load_issues();
    assert!(
        issues
            .iter()
            .any(|i| i.line == Some(3) && i.reason.contains("limit")),
        "{issues:?}"
    );
    assert!(!issues
        .iter()
        .any(|i| i.line == Some(1) || i.line == Some(2)));
}

fn unix_setup(dir: &Path, shadow: Option<&str>) -> UserDbConfig {
    fs::write(dir.join("passwd"), "").unwrap();
    fs::write(
        dir.join("etc-passwd"),
        "root:x:0:0:root:/root:/bin/bash\n\
         daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
         alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
         Bob:x:1001:1001:Bob:/home/bob:/bin/sh\n\
         carol:x:1002:1002::/home/carol:/bin/sh\n\
         dave:x:1003:1003::/home/dave:/bin/sh\n\
         erin:x:1004:1004::/home/erin:/bin/sh\n\
         frank:x:1005:1005::/home/frank:/bin/sh\n\
         oldstyle:OLDSTYLE:1006:1006::/home/old:/bin/sh\n\
         garbage line\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
         grace:x:1007:1007::/home/grace:/bin/sh\n"
            .replace("OLDSTYLE", SHA512_BARE),
    )
    .unwrap();
    if let Some(s) = shadow {
        fs::write(dir.join("etc-shadow"), s).unwrap();
    }
    let mut c = config(dir);
    c.unix_accounts = Some(UnixAccountsConfig {
        passwd_file: dir.join("etc-passwd"),
        shadow_file: dir.join("etc-shadow"),
        ..UnixAccountsConfig::default()
    });
    c
}

#[test]
fn unix_accounts_verify_with_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let shadow = format!(
        "root:{SHA512_BARE}:19000:0:99999:7:::\n\
         alice:{SHA512_BARE}:19000:0:99999:7:::\n\
         bob:!{SHA512_BARE}:19000:0:99999:7:::\n\
         carol:*:19000:0:99999:7:::\n\
         dave::19000:0:99999:7:::\n\
         erin:{SHA512_BARE}:19000:0:99999:7::1:\n\
         frank:{YESCRYPT_BARE}:19000:0:99999:7:::\n\
         grace:{YESCRYPT_HUGE}:19000:0:99999:7:::\n"
    );
    let db = UserDb::open(unix_setup(dir.path(), Some(&shadow))).unwrap();

    let a = db.verify("alice", "s3cret!").unwrap();
    assert_eq!(
        a,
        Account::Unix(ferrymail_users::UnixAccount {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: PathBuf::from("/home/alice"),
            shell: "/bin/bash".into(),
        })
    );
    // Also as an address in a local domain, but not in a foreign one.
    assert!(db.verify("alice@a.test", "s3cret!").is_ok());
    assert_eq!(
        db.verify("alice@elsewhere.test", "s3cret!"),
        Err(AuthError::UnknownUser)
    );
    assert_eq!(db.verify("alice", "wrong"), Err(AuthError::WrongPassword));
    // Below min_uid and above max_uid: not accounts at all.
    assert_eq!(db.verify("root", "s3cret!"), Err(AuthError::UnknownUser));
    assert!(db.lookup("nobody").is_none());
    assert!(db.lookup("daemon").is_none());
    // Debian's default yescrypt hashes log in.
    assert!(db.verify("frank", "s3cret!").is_ok());
    assert_eq!(db.verify("frank", "s3cret"), Err(AuthError::WrongPassword));
    // Locked (!hash), '*', empty, expired and over-cost yescrypt never verify.
    assert_eq!(db.verify("BOB", "s3cret!"), Err(AuthError::LoginDisabled));
    assert_eq!(db.verify("carol", "*"), Err(AuthError::LoginDisabled));
    assert_eq!(db.verify("dave", "anything"), Err(AuthError::LoginDisabled));
    assert_eq!(db.verify("erin", "s3cret!"), Err(AuthError::LoginDisabled));
    assert_eq!(db.verify("grace", "s3cret!"), Err(AuthError::LoginDisabled));
    assert_eq!(db.lookup("grace").unwrap().uid(), Some(1007));
    // Locked accounts still receive mail.
    assert_eq!(db.lookup("bob").unwrap().uid(), Some(1001));
    // Hash kept in passwd itself (no shadow entry needed).
    assert!(db.verify("oldstyle", "s3cret!").is_ok());

    let issues = db.load_issues();
    let shadow_path = dir.path().join("etc-shadow");
    assert!(
        issues
            .iter()
            .any(|i| i.file == shadow_path && i.line == Some(8) && i.reason.contains("limit")),
        "{issues:?}"
    );
    assert!(
        !issues
            .iter()
            .any(|i| i.file == shadow_path && i.line == Some(7)),
        "{issues:?}"
    );
    assert!(issues
        .iter()
        .any(|i| i.file == dir.path().join("etc-passwd") && i.line == Some(10)));
}

#[test]
fn unix_accounts_without_readable_shadow_receive_but_cannot_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::open(unix_setup(dir.path(), None)).unwrap();
    assert!(db.lookup("alice").is_some());
    assert_eq!(db.verify("alice", "s3cret!"), Err(AuthError::LoginDisabled));
    assert!(db
        .load_issues()
        .iter()
        .any(|i| i.file == dir.path().join("etc-shadow") && i.line.is_none()));
}

#[test]
fn missing_files_are_empty_with_issues_and_bad_config_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    assert!(db.users().is_empty());
    let issues = db.load_issues();
    for name in ["passwd", "aliases", "domains"] {
        assert!(
            issues
                .iter()
                .any(|i| i.file == dir.path().join(name) && i.reason.contains("not found")),
            "{name}: {issues:?}"
        );
    }

    let mut c = config(dir.path());
    c.recipient_delimiter = Some('@');
    assert!(matches!(
        UserDb::open(c),
        Err(UserDbError::InvalidConfig(_))
    ));
    let mut c = config(dir.path());
    c.local_domains = vec!["not a domain".into()];
    assert!(matches!(
        UserDb::open(c),
        Err(UserDbError::InvalidConfig(_))
    ));
    // Present but unreadable (a directory here) is fatal at startup.
    fs::create_dir(dir.path().join("passwd")).unwrap();
    assert!(matches!(
        UserDb::open(config(dir.path())),
        Err(UserDbError::Read { .. })
    ));
}

#[test]
fn user_in_non_local_domain_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "x@elsewhere.test:{PLAIN}x\n").unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    assert!(db
        .load_issues()
        .iter()
        .any(|i| i.reason.contains("elsewhere.test is not a local domain")));
    // It can still log in; mail for it is relayed.
    assert!(db.verify("x@elsewhere.test", "x").is_ok());
}

#[test]
fn reloads_after_atomic_save_and_keeps_data_when_reload_fails() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "joe@a.test:{PLAIN}old\n").unwrap();
    fs::write(dir.path().join("aliases"), "").unwrap();
    fs::write(dir.path().join("domains"), "").unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    let other_handle = db.clone();
    assert!(db.verify("joe@a.test", "old").is_ok());
    assert!(!db.reload_if_changed(), "nothing changed yet");

    // mailctl-style edit: load, change, atomic save.
    let mut f = PasswdFile::load(dir.path().join("passwd")).unwrap();
    f.set_password(
        "joe@a.test",
        Some(StoredPassword::parse("{PLAIN}new").unwrap()),
    )
    .unwrap();
    f.add(
        PasswdEntry::new(
            "ann@a.test",
            Some(StoredPassword::parse("{PLAIN}ann").unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    f.save().unwrap();
    fs::write(dir.path().join("domains"), "b.test\n").unwrap();

    assert!(db.reload_if_changed());
    assert!(db.verify("joe@a.test", "new").is_ok());
    assert_eq!(
        db.verify("joe@a.test", "old"),
        Err(AuthError::WrongPassword)
    );
    // Clones share the reloaded data.
    assert!(other_handle.verify("ann@a.test", "ann").is_ok());
    assert!(other_handle.is_local_domain("b.test"));

    // A reload that cannot read a file keeps the last good data.
    fs::remove_file(dir.path().join("passwd")).unwrap();
    fs::create_dir(dir.path().join("passwd")).unwrap();
    assert!(!db.reload_if_changed());
    assert!(db.verify("joe@a.test", "new").is_ok());
    // So does a file that vanished after it had been loaded.
    fs::remove_dir(dir.path().join("passwd")).unwrap();
    assert!(!db.reload_if_changed());
    assert!(db.verify("ann@a.test", "ann").is_ok());

    // Once it is back, the next check picks it up.
    fs::write(dir.path().join("passwd"), "zed@a.test:{PLAIN}z\n").unwrap();
    assert!(db.reload_if_changed());
    assert!(db.verify("zed@a.test", "z").is_ok());
    assert!(db.lookup("joe@a.test").is_none());
}

#[test]
fn ordinary_queries_notice_changes_within_the_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "joe@a.test:{PLAIN}x\n").unwrap();
    fs::write(dir.path().join("aliases"), "").unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    assert!(db.resolve("info@a.test").is_err());
    fs::write(dir.path().join("aliases"), "info: joe\n").unwrap();

    // No explicit reload: queries check at most once a second. Bounded wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while Instant::now() < deadline {
        if db.resolve("info@a.test").is_ok() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "alias change never picked up");
}

#[test]
fn reload_follows_include_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("passwd"),
        "joe@a.test:{PLAIN}x\nann@a.test:{PLAIN}x\n",
    )
    .unwrap();
    fs::write(dir.path().join("aliases"), "list: :include:list.txt\n").unwrap();
    fs::write(dir.path().join("list.txt"), "joe\n").unwrap();
    let db = UserDb::open(config(dir.path())).unwrap();
    assert_eq!(db.resolve("list@a.test").unwrap().len(), 1);
    fs::write(dir.path().join("list.txt"), "joe\nann\n").unwrap();
    assert!(db.reload_if_changed());
    assert_eq!(db.resolve("list@a.test").unwrap().len(), 2);
}
