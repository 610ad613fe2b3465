//! The memory of successful logins, seen through `UserDb`: what skips the hash, and what never does.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use ferrymail_users::{
    hash_password, AuthCacheConfig, AuthError, PasswdFile, StoredPassword, UserDb, UserDbConfig,
};

fn open(dir: &Path, ttl: Duration) -> UserDb {
    UserDb::open(UserDbConfig {
        passwd_file: dir.join("passwd"),
        aliases_file: None,
        domains_file: None,
        local_domains: vec!["a.test".into()],
        unix_accounts: None,
        recipient_delimiter: None,
        auth_cache: AuthCacheConfig {
            ttl,
            max_entries: 100,
        },
    })
    .unwrap()
}

#[test]
fn a_remembered_success_computes_no_hash() {
    let dir = tempfile::tempdir().unwrap();
    let argon = hash_password("right").unwrap();
    fs::write(dir.path().join("passwd"), format!("joe@a.test:{argon}\n")).unwrap();
    let db = open(dir.path(), Duration::from_secs(60));

    assert_eq!(db.verify_cached("joe@a.test", "right"), None, "nothing yet");
    assert!(db.verify("joe@a.test", "right").is_ok());
    assert_eq!(db.hashes_computed(), 1);
    // Every later login with that password: no Argon2, whichever way it is asked, in any case
    // of the login.
    for _ in 0..5 {
        let a = db.verify_cached("JOE@a.test", "right").expect("a hit");
        assert_eq!(a.login(), "joe@a.test");
        assert!(db.verify("joe@a.test", "right").is_ok());
    }
    assert_eq!(db.hashes_computed(), 1);
}

#[test]
fn a_wrong_password_never_hits_and_failures_are_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "joe@a.test:{PLAIN}right\n").unwrap();
    let db = open(dir.path(), Duration::from_secs(60));
    assert!(db.verify("joe@a.test", "right").is_ok());
    for _ in 0..3 {
        assert_eq!(db.verify_cached("joe@a.test", "wrong"), None);
        assert_eq!(
            db.verify("joe@a.test", "wrong"),
            Err(AuthError::WrongPassword)
        );
        assert_eq!(db.verify_cached("joe@a.test", "righ"), None);
        assert_eq!(db.verify_cached("joe@a.test", "right "), None);
        assert_eq!(db.verify_cached("ann@a.test", "right"), None);
        assert_eq!(db.verify_cached("joe@a.test", ""), None);
    }
    // Each wrong password was checked: a failure is never answered from memory.
    assert_eq!(db.hashes_computed(), 4);
    assert!(db.verify_cached("joe@a.test", "right").is_some());
}

#[test]
fn entries_expire() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "joe@a.test:{PLAIN}right\n").unwrap();
    let db = open(dir.path(), Duration::from_millis(200));
    assert!(db.verify("joe@a.test", "right").is_ok());
    assert!(db.verify_cached("joe@a.test", "right").is_some());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(db.verify_cached("joe@a.test", "right"), None);
    assert!(db.verify("joe@a.test", "right").is_ok());
    assert_eq!(db.hashes_computed(), 2, "checked again once expired");
}

#[test]
fn a_changed_password_takes_effect_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    fs::write(&passwd, "joe@a.test:{PLAIN}old\n").unwrap();
    let db = open(dir.path(), Duration::from_secs(600));
    assert!(db.verify("joe@a.test", "old").is_ok());
    assert!(db.verify_cached("joe@a.test", "old").is_some());

    // mailctl-style edit, and no signal: the database notices on its own (once a second).
    let mut f = PasswdFile::load(&passwd).unwrap();
    f.set_password(
        "joe@a.test",
        Some(StoredPassword::parse("{PLAIN}new").unwrap()),
    )
    .unwrap();
    f.save().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.verify_cached("joe@a.test", "old").is_some() {
        assert!(
            Instant::now() < deadline,
            "the old password is still accepted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        db.verify("joe@a.test", "old"),
        Err(AuthError::WrongPassword)
    );
    assert!(db.verify("joe@a.test", "new").is_ok());

    // The same password stored again under a new hash is checked again too.
    let before = db.hashes_computed();
    assert!(db.verify_cached("joe@a.test", "new").is_some());
    let mut f = PasswdFile::load(&passwd).unwrap();
    f.set_password(
        "joe@a.test",
        Some(StoredPassword::parse("{CLEARTEXT}new").unwrap()),
    )
    .unwrap();
    f.save().unwrap();
    assert!(db.reload_if_changed());
    assert_eq!(db.verify_cached("joe@a.test", "new"), None);
    assert!(db.verify("joe@a.test", "new").is_ok());
    assert_eq!(db.hashes_computed(), before + 1);
}

#[test]
fn a_disabled_login_is_refused_even_when_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    fs::write(&passwd, "joe@a.test:{PLAIN}pw\n").unwrap();
    let db = open(dir.path(), Duration::from_secs(600));
    assert!(db.verify("joe@a.test", "pw").is_ok());
    fs::write(&passwd, "joe@a.test:\n").unwrap();
    assert!(db.reload_if_changed());
    assert_eq!(db.verify_cached("joe@a.test", "pw"), None);
    assert_eq!(db.verify("joe@a.test", "pw"), Err(AuthError::LoginDisabled));
}

#[test]
fn a_zero_ttl_turns_the_cache_off() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("passwd"), "joe@a.test:{PLAIN}pw\n").unwrap();
    let db = open(dir.path(), Duration::ZERO);
    assert!(db.verify("joe@a.test", "pw").is_ok());
    assert!(db.verify("joe@a.test", "pw").is_ok());
    assert_eq!(db.verify_cached("joe@a.test", "pw"), None);
    assert_eq!(db.hashes_computed(), 2);
}
