mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use ferrymail_spool::*;

fn sendmail_envelope() -> Envelope {
    let mut e = Envelope::new(
        Some("user@example.org".into()),
        vec![
            Recipient::new("friend@example.net"),
            Recipient::new("other@example.com"),
        ],
        // Everything below is something a local user could try to forge.
        ClientInfo {
            addr: Some("203.0.113.9".parse().unwrap()),
            helo: Some("trusted.example".into()),
            ptr: None,
            auth_user: Some("root".into()),
            tls: None,
            protocol: "ESMTPSA".into(),
        },
        Source::Sendmail { uid: 0 },
    );
    e.recipients[1].status = RecipientStatus::Delivered {
        at: 1,
        relay: "nowhere".into(),
        reply: "250 fake".into(),
    };
    e.attempts = 9;
    e.next_attempt = u64::MAX;
    e
}

fn limits() -> PickupLimits {
    PickupLimits {
        stale_tmp_age: Duration::from_secs(3600),
        ..PickupLimits::default()
    }
}

#[test]
fn submit_then_pickup_queues_a_sanitised_copy() {
    let (_root, spool) = spool();
    let msg = binary_message(100_000);
    let drop_id = Maildrop::open(spool.root())
        .unwrap()
        .submit(sendmail_envelope(), &msg)
        .unwrap();
    let drop_file = spool.root().join("maildrop").join(drop_id.as_str());
    assert_eq!(
        entries(&spool.root().join("maildrop")),
        vec![drop_id.to_string()]
    );
    let owner = fs::metadata(&drop_file).unwrap().uid();
    assert_eq!(fs::metadata(&drop_file).unwrap().mode() & 0o777, 0o604);

    let results = spool.pickup(&limits());
    assert_eq!(results.len(), 1);
    let id = *results[0].as_ref().unwrap();
    assert!(entries(&spool.root().join("maildrop")).is_empty());

    let env = spool.read_envelope(&id).unwrap();
    assert_eq!(env.sender.as_deref(), Some("user@example.org"));
    assert_eq!(
        env.recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>(),
        ["friend@example.net", "other@example.com"]
    );
    assert!(env
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Pending));
    assert_eq!(env.source, Source::Sendmail { uid: owner });
    assert_eq!(env.client.addr, None);
    assert_eq!(env.client.auth_user, None);
    assert_eq!(env.client.protocol, "local");
    assert_eq!((env.attempts, env.next_attempt), (0, 0));
    assert_eq!(env.size, msg.len() as u64);
    assert_eq!(read_message(&spool, &id), msg);

    // Nothing left to pick up.
    assert!(spool.pickup(&limits()).is_empty());
    assert_eq!(spool.scan().unwrap().ok.len(), 1);
}

fn quarantined_reason(result: &Result<QueueId, PickupError>) -> CorruptReason {
    match result {
        Err(PickupError::Quarantined { reason, .. }) => reason.clone(),
        other => panic!("expected quarantine, got {other:?}"),
    }
}

/// Submit a valid file, then rewrite it with `mangle`; pickup must quarantine it.
fn mangled(
    mangle: impl FnOnce(Vec<u8>) -> Vec<u8>,
    envelope: Envelope,
    lim: PickupLimits,
) -> CorruptReason {
    let (_root, spool) = spool();
    let drop_id = spool
        .maildrop_submit(envelope, b"Subject: x\r\n\r\nhello\r\n")
        .unwrap();
    let path = spool.root().join("maildrop").join(drop_id.as_str());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, mangle(bytes)).unwrap();
    let results = spool.pickup(&lim);
    assert_eq!(results.len(), 1);
    let reason = quarantined_reason(&results[0]);
    assert!(spool.list(QueueDir::Active).unwrap().is_empty());
    assert!(entries(&spool.root().join("maildrop")).is_empty());
    let corrupt = entries(&spool.root().join("corrupt"));
    assert_eq!(
        corrupt,
        vec![
            format!("maildrop-{drop_id}.file"),
            format!("maildrop-{drop_id}.reason")
        ]
    );
    assert!(entries(&spool.root().join("tmp")).is_empty());
    assert!(entries(&spool.root().join("data")).is_empty());
    reason
}

#[test]
fn malformed_maildrop_files_are_quarantined() {
    let keep = |b: Vec<u8>| b;
    assert_eq!(
        mangled(|_| b"garbage".to_vec(), sendmail_envelope(), limits()),
        CorruptReason::BadMagic
    );
    assert!(matches!(
        mangled(|b| b[..b.len() / 2].to_vec(), sendmail_envelope(), limits()),
        CorruptReason::Truncated { .. }
    ));
    assert!(matches!(
        mangled(|b| b[..b.len() - 1].to_vec(), sendmail_envelope(), limits()),
        CorruptReason::Truncated { .. }
    ));
    assert!(matches!(
        mangled(
            |mut b| {
                let n = b.len();
                b[n - 6] ^= 1; // a message byte
                b
            },
            sendmail_envelope(),
            limits()
        ),
        CorruptReason::BadChecksum { .. }
    ));
    assert!(matches!(
        mangled(
            |mut b| {
                b[30] ^= 0xff; // inside the envelope record
                b
            },
            sendmail_envelope(),
            limits()
        ),
        CorruptReason::BadChecksum { .. }
            | CorruptReason::BadLength(_)
            | CorruptReason::Truncated { .. }
    ));
    assert_eq!(
        mangled(
            |mut b| {
                b.push(0);
                b
            },
            sendmail_envelope(),
            limits()
        ),
        CorruptReason::TrailingBytes(1)
    );

    let mut bad_rcpt = sendmail_envelope();
    bad_rcpt.recipients[1].address = "x@y>\r\nRCPT TO:<victim@example.org".into();
    assert!(matches!(
        mangled(keep, bad_rcpt, limits()),
        CorruptReason::InvalidAddress { .. }
    ));
    let mut bad_sender = sendmail_envelope();
    bad_sender.sender = Some("no-domain".into());
    assert!(matches!(
        mangled(keep, bad_sender, limits()),
        CorruptReason::InvalidAddress { .. }
    ));
    let mut none = sendmail_envelope();
    none.recipients.clear();
    assert_eq!(mangled(keep, none, limits()), CorruptReason::NoRecipients);
    let small = PickupLimits {
        max_message_size: 5,
        ..limits()
    };
    assert!(matches!(
        mangled(keep, sendmail_envelope(), small),
        CorruptReason::TooLarge { .. }
    ));
    let few = PickupLimits {
        max_recipients: 1,
        ..limits()
    };
    assert_eq!(
        mangled(keep, sendmail_envelope(), few),
        CorruptReason::TooManyRecipients { count: 2, limit: 1 }
    );
}

#[test]
fn file_renamed_to_another_id_is_quarantined() {
    let (_root, spool) = spool();
    let drop_id = spool.maildrop_submit(sendmail_envelope(), b"hi").unwrap();
    let dir = spool.root().join("maildrop");
    let other = QueueId::generate();
    fs::rename(dir.join(drop_id.as_str()), dir.join(other.as_str())).unwrap();
    fs::write(dir.join("not an id"), b"x").unwrap();
    let results = spool.pickup(&limits());
    let mut reasons: Vec<_> = results.iter().map(quarantined_reason).collect();
    reasons.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(reasons[0], CorruptReason::BadName);
    assert_eq!(reasons[1], CorruptReason::IdMismatch { inside: drop_id });
    assert!(spool.list(QueueDir::Active).unwrap().is_empty());
}

#[test]
fn planted_fifo_and_symlink_do_not_hang_pickup() {
    let (_root, spool) = spool();
    let dir = spool.root().join("maildrop");
    let fifo = dir.join(QueueId::generate().as_str());
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string, plain syscall.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/etc/passwd", dir.join(QueueId::generate().as_str())).unwrap();
    let ok = spool.maildrop_submit(sendmail_envelope(), b"fine").unwrap();

    let results = spool.pickup(&limits());
    assert_eq!(results.len(), 3);
    let queued: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(read_message(&spool, queued[0]), b"fine");
    let bad: Vec<_> = results
        .iter()
        .filter(|r| r.is_err())
        .map(quarantined_reason)
        .collect();
    assert_eq!(
        bad,
        vec![CorruptReason::NotRegularFile, CorruptReason::NotRegularFile]
    );
    assert!(entries(&dir).is_empty(), "{ok} left behind");
}

#[test]
fn stale_tmp_files_are_recovered_or_quarantined() {
    let (_root, spool) = spool();
    let dir = spool.root().join("maildrop");
    // A complete submission whose rename was lost, and one abandoned half way.
    let complete = spool
        .maildrop_submit(sendmail_envelope(), b"complete")
        .unwrap();
    fs::rename(
        dir.join(complete.as_str()),
        dir.join(format!(".tmp-{complete}")),
    )
    .unwrap();
    let partial = spool
        .maildrop_submit(sendmail_envelope(), b"partial")
        .unwrap();
    let bytes = fs::read(dir.join(partial.as_str())).unwrap();
    fs::remove_file(dir.join(partial.as_str())).unwrap();
    fs::write(
        dir.join(format!(".tmp-{partial}")),
        &bytes[..bytes.len() - 3],
    )
    .unwrap();

    // Young .tmp- files belong to a sendmail still writing: untouched.
    assert!(spool.pickup(&limits()).is_empty());
    assert_eq!(entries(&dir).len(), 2);

    let stale = PickupLimits {
        stale_tmp_age: Duration::ZERO,
        ..limits()
    };
    let results = spool.pickup(&stale);
    assert_eq!(results.len(), 2);
    let queued: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(read_message(&spool, queued[0]), b"complete");
    assert!(results.iter().any(|r| matches!(
        r,
        Err(PickupError::Quarantined {
            reason: CorruptReason::Truncated { .. },
            ..
        })
    )));
    assert!(entries(&dir).is_empty());
}

const CHILD_ENV: &str = "FERRYMAIL_SPOOL_TEST_MAILDROP_ROOT";
/// What the child is to do: `submit`, `cannot-submit`, or `read:<maildrop file name>`.
const CHILD_ACT: &str = "FERRYMAIL_SPOOL_TEST_MAILDROP_ACT";
const NOBODY: u32 = 65534;
/// Stands in for sendmail's setgid group (`ferrymail-drop`): the maildrop's group here.
const DROP_GROUP: u32 = 65533;
/// Another local user, with and without the drop group (no passwd entry is needed).
const OTHER_USER: u32 = 65532;
const OTHER_GROUP: u32 = 65531;

/// Runs in a child process as an unprivileged user, started by the tests below.
#[test]
#[ignore = "helper: run by the unprivileged maildrop tests"]
fn child_as_unprivileged_user() {
    let (Some(root), Some(act)) = (std::env::var_os(CHILD_ENV), std::env::var(CHILD_ACT).ok())
    else {
        eprintln!("only meaningful when started by the unprivileged maildrop tests");
        return;
    };
    let root = Path::new(&root);
    // The privilege separation the layout promises: no access to the queue proper, and no
    // listing of anyone's maildrop files.
    assert!(fs::write(root.join("queue").join("0000000000000000"), b"x").is_err());
    assert!(fs::write(root.join("tmp").join("x"), b"x").is_err());
    assert!(fs::read_dir(root.join("maildrop")).is_err());
    let maildrop = Maildrop::open(root).unwrap();
    match act.split_once(':') {
        None if act == "submit" => {
            maildrop
                .submit(sendmail_envelope(), b"from nobody")
                .unwrap();
        }
        None if act == "cannot-submit" => {
            let err = maildrop.submit(sendmail_envelope(), b"x").unwrap_err();
            assert!(err.to_string().contains("Permission denied"), "{err}");
        }
        Some(("read", name)) => {
            let err = fs::read(root.join("maildrop").join(name))
                .expect_err("another user's submission was readable");
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
        }
        _ => panic!("unknown act {act}"),
    }
}

/// A spool owned by root whose maildrop has the stand-in drop group, as an installation sets.
fn spool_with_drop_group() -> (tempfile::TempDir, Spool) {
    let (root, spool) = spool();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let maildrop = spool.root().join("maildrop");
    std::os::unix::fs::chown(&maildrop, None, Some(DROP_GROUP)).unwrap();
    assert_eq!(fs::metadata(&maildrop).unwrap().mode() & 0o7777, 0o1730);
    (root, spool)
}

fn run_child(spool: &Spool, uid: u32, gid: u32, act: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_as_unprivileged_user",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, spool.root())
        .env(CHILD_ACT, act)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child ({uid}:{gid}, {act}) failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unprivileged_sendmail_can_only_use_maildrop() {
    if ferrymail_testkit::skip_unless_root("switching to an unprivileged user") {
        return;
    }
    let (_root, spool) = spool_with_drop_group();
    // As sendmail runs: the caller's uid with the drop group as its (effective) group.
    run_child(&spool, NOBODY, DROP_GROUP, "submit");
    let results = spool.pickup(&limits());
    assert_eq!(results.len(), 1, "{results:?}");
    let id = results[0].as_ref().unwrap();
    assert_eq!(
        spool.read_envelope(id).unwrap().source,
        Source::Sendmail { uid: NOBODY }
    );
    assert_eq!(read_message(&spool, id), b"from nobody");
}

#[test]
fn a_pending_submission_is_private_to_its_submitter_and_the_spool_owner() {
    if ferrymail_testkit::skip_unless_root("switching to an unprivileged user") {
        return;
    }
    let (_root, spool) = spool_with_drop_group();
    run_child(&spool, NOBODY, DROP_GROUP, "submit");
    let maildrop = spool.root().join("maildrop");
    let name = entries(&maildrop).pop().unwrap();
    let meta = fs::metadata(maildrop.join(&name)).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (NOBODY, DROP_GROUP, 0o604)
    );
    let read = format!("read:{name}");
    // A local user who learned the name cannot even look it up, nor submit without sendmail.
    run_child(&spool, OTHER_USER, OTHER_GROUP, &read);
    run_child(&spool, OTHER_USER, OTHER_GROUP, "cannot-submit");
    // Another user's sendmail (the same group) may submit, but not read this submission.
    run_child(&spool, OTHER_USER, DROP_GROUP, &read);
    run_child(&spool, OTHER_USER, DROP_GROUP, "submit");
    // The spool owner picks it (and the other user's) up.
    let results = spool.pickup(&limits());
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}
