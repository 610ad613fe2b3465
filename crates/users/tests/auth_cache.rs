//! The memory of successful logins, seen through `UserDb`: what skips the hash, and what never does.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrymail_users::{
    hash_password, AuthCacheConfig, AuthError, PasswdFile, StoredPassword, UserDb, UserDbConfig,
};

/// A database whose only user is joe@a.test with the password field `field`, remembering
/// successes for `ttl`; the directory and the passwd file's path come with it.
fn joe(field: &str, ttl: Duration) -> (tempfile::TempDir, PathBuf, UserDb) {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    fs::write(&passwd, format!("joe@a.test:{field}\n")).unwrap();
    let auth_cache = AuthCacheConfig {
        ttl,
        max_entries: 100,
    };
    let db = UserDb::open(UserDbConfig {
        passwd_file: passwd.clone(),
        local_domains: vec!["a.test".into()],
        auth_cache,
        ..UserDbConfig::default()
    })
    .unwrap();
    (dir, passwd, db)
}

/// What `mailctl user passwd` does: load, change, atomic save.
fn set_joes_password(passwd: &Path, field: &str) {
    let mut f = PasswdFile::load(passwd).unwrap();
    f.set_password("joe@a.test", Some(StoredPassword::parse(field).unwrap()))
        .unwrap();
    f.save().unwrap();
}

#[test]
fn a_remembered_success_computes_no_hash() {
    let (_dir, _, db) = joe(&hash_password("right").unwrap(), Duration::from_secs(60));

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
    let (_dir, _, db) = joe("{PLAIN}right", Duration::from_secs(60));
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
    let (_dir, _, db) = joe("{PLAIN}right", Duration::from_millis(200));
    assert!(db.verify("joe@a.test", "right").is_ok());
    assert!(db.verify_cached("joe@a.test", "right").is_some());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(db.verify_cached("joe@a.test", "right"), None);
    assert!(db.verify("joe@a.test", "right").is_ok());
    assert_eq!(db.hashes_computed(), 2, "checked again once expired");
}

#[test]
fn a_changed_password_takes_effect_without_a_flush() {
    let (_dir, passwd, db) = joe("{PLAIN}old", Duration::from_secs(600));
    assert!(db.verify("joe@a.test", "old").is_ok());
    assert!(db.verify_cached("joe@a.test", "old").is_some());

    // No signal: the database notices the edit on its own (once a second).
    set_joes_password(&passwd, "{PLAIN}new");
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
    set_joes_password(&passwd, "{CLEARTEXT}new");
    assert!(db.reload_if_changed());
    assert_eq!(db.verify_cached("joe@a.test", "new"), None);
    assert!(db.verify("joe@a.test", "new").is_ok());
    assert_eq!(db.hashes_computed(), before + 1);
}

#[test]
fn a_disabled_login_is_refused_even_when_remembered() {
    let (_dir, passwd, db) = joe("{PLAIN}pw", Duration::from_secs(600));
    assert!(db.verify("joe@a.test", "pw").is_ok());
    fs::write(&passwd, "joe@a.test:\n").unwrap();
    assert!(db.reload_if_changed());
    assert_eq!(db.verify_cached("joe@a.test", "pw"), None);
    assert_eq!(db.verify("joe@a.test", "pw"), Err(AuthError::LoginDisabled));
}

#[test]
fn a_zero_ttl_turns_the_cache_off() {
    let (_dir, _, db) = joe("{PLAIN}pw", Duration::ZERO);
    assert!(db.verify("joe@a.test", "pw").is_ok());
    assert!(db.verify("joe@a.test", "pw").is_ok());
    assert_eq!(db.verify_cached("joe@a.test", "pw"), None);
    assert_eq!(db.hashes_computed(), 2);
}
