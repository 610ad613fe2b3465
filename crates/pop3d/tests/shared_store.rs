//! pop3d's in-use lock on a mail store shared between hosts: a session on one host must keep
//! another host's pop3d out of the same maildrop (RFC 1939's exclusive access), and let it in
//! once the session ends. Needs `FERRYMAIL_SHARED_MOUNTS` (two mounts of one shared volume,
//! standing for two hosts); on one local file system the same is tested in `maildrop.rs`.

use ferrymail_maildir::Maildir;
use ferrymail_testkit::{shared_mounts, skip};
use pop3d::maildrop::{LockTable, MaildropError};

#[test]
fn a_session_on_one_host_keeps_another_hosts_pop3d_out() {
    let Some((here, there)) = shared_mounts("pop3-in-use") else {
        skip!("FERRYMAIL_SHARED_MOUNTS is not set (two mounts of one shared volume)");
    };
    let md = Maildir::create(here.join("Maildir")).expect("maildir");
    // Each host's pop3d has its own table: only the lock file's flock can stop the other.
    let (host_a, host_b) = (LockTable::new(), LockTable::new());
    let session = host_a.lock(md.path()).expect("first session");
    let there = there.join("Maildir");
    assert!(
        matches!(host_b.lock(&there), Err(MaildropError::InUse)),
        "the other host's pop3d got into a maildrop in use"
    );
    drop(session);
    let _second = host_b
        .lock(&there)
        .expect("the maildrop is free once the first session ended");
    assert!(
        matches!(host_a.lock(md.path()), Err(MaildropError::InUse)),
        "and it excludes the first host in turn"
    );
}
