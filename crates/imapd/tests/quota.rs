//! QUOTA (RFC 9208) and STATUS=SIZE (RFC 8438) against the real binary: the account's limits
//! from the passwd file (the ones local-delivery enforces) reported and enforced on APPEND and
//! COPY; SETQUOTA refused; an account without limits has no quota root.

mod common;

use common::{login, message, prepare, PASS, USER};
use ferrymail_users::{PasswdFile, Quota};

#[test]
fn limits_are_reported_and_enforced() {
    let mut srv = prepare(true);
    let mut passwd = None;
    srv.edit_config(|c| passwd = Some(c.userdb.passwd_file.clone()));
    let mut pf = PasswdFile::load(passwd.unwrap()).unwrap();
    let quota = Quota {
        storage_bytes: Some(10 * 1024),
        messages: Some(3),
    };
    pf.set_quota(USER, quota).unwrap();
    pf.save().unwrap();
    srv.start("imapd");

    let mut c = login(&srv, USER, PASS);
    let caps = c.cmd("CAPABILITY");
    for cap in [
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "STATUS=SIZE",
    ] {
        assert!(
            caps.all().split_whitespace().any(|w| w == cap),
            "{cap}: {}",
            caps.all()
        );
    }
    let (m1, m2) = (message("one", "1"), message("two", "22"));
    assert!(c.append("INBOX", "", &m1).ok());
    assert!(c.append("INBOX", "", &m2).ok());

    let r = c.cmd("GETQUOTAROOT INBOX");
    assert!(r.ok(), "{}", r.all());
    assert!(r.has("* QUOTAROOT \"INBOX\" \"\""), "{}", r.all());
    assert!(
        r.has("* QUOTA \"\" (STORAGE 1 10 MESSAGE 2 3)"),
        "{}",
        r.all()
    );
    let r = c.cmd("GETQUOTA \"\"");
    assert!(
        r.has("* QUOTA \"\" (STORAGE 1 10 MESSAGE 2 3)"),
        "{}",
        r.all()
    );
    let size = m1.len() + m2.len();
    let r = c.cmd("STATUS INBOX (MESSAGES SIZE)");
    assert!(
        r.has(&format!("* STATUS \"INBOX\" (MESSAGES 2 SIZE {size})")),
        "{}",
        r.all()
    );

    assert!(c.append("INBOX", "", &message("three", "3")).ok());
    let r = c.append("INBOX", "", &message("four", "4"));
    assert!(r.tagged.contains("NO [OVERQUOTA]"), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").ok());
    let r = c.cmd("COPY 1 Archive");
    assert!(r.tagged.contains("NO [OVERQUOTA]"), "{}", r.all());
    // A MOVE adds nothing to the store: allowed at the limit.
    assert!(c.cmd("MOVE 1 Archive").ok());
    let r = c.cmd("SETQUOTA \"\" (STORAGE 100)");
    assert!(r.tagged.contains("NO [NOPERM]"), "{}", r.all());

    // Without limits there is no quota root.
    let mut b = login(&srv, "bob@example.test", "builder");
    let r = b.cmd("GETQUOTAROOT INBOX");
    assert!(r.ok() && r.has("* QUOTAROOT \"INBOX\""), "{}", r.all());
    assert!(!r.has("* QUOTA "), "{}", r.all());
    assert_eq!(b.cmd("GETQUOTA \"\"").status(), "NO");
    assert_eq!(b.cmd("GETQUOTAROOT Nowhere").status(), "NO");
}

/// RFC 9208 §4.3's GETQUOTAROOT example: 10 of 512 units of STORAGE used, and the two
/// resources this server does not limit left out.
#[test]
fn rfc9208_getquotaroot_example() {
    let mut srv = prepare(true);
    let mut passwd = None;
    srv.edit_config(|c| passwd = Some(c.userdb.passwd_file.clone()));
    let mut pf = PasswdFile::load(passwd.unwrap()).unwrap();
    let quota = Quota {
        storage_bytes: Some(512 * 1024),
        messages: None,
    };
    pf.set_quota(USER, quota).unwrap();
    pf.save().unwrap();
    srv.start("imapd");
    let mut c = login(&srv, USER, PASS);
    // Ten KiB of mail: nine full units and a partly used tenth.
    let body = "x".repeat(9 * 1024 + 100);
    assert!(c.append("INBOX", "", &message("big", &body)).ok());
    let r = c.cmd("GETQUOTAROOT INBOX");
    assert_eq!(
        r.all(),
        format!(
            "* QUOTAROOT \"INBOX\" \"\"\n* QUOTA \"\" (STORAGE 10 512)\n{}",
            r.tagged
        ),
        "{}",
        r.all()
    );
    assert!(r.ok());
}
