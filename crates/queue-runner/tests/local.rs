//! Local delivery over LMTP: through the real local-delivery daemon, and against a scripted
//! LMTP server for per-recipient replies after DATA.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_dev::{target_bin, Daemon};
use ferrymail_spool::Source;
use ferrymail_testkit::{free_port, wait_until};

fn maildir_new(t: &TestEnv, user: &str) -> PathBuf {
    t.maildir(&format!("{user}@example.test")).join("new")
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn local_recipients_are_delivered_through_real_local_delivery() {
    let t = test_env(Zone::new(), 25);
    let _ld = t.start_daemon("local-delivery");
    let _qr = t.start();
    let id = t.enqueue(
        Some("someone@elsewhere.test"),
        &["alice@example.test", "bob@example.test"],
        "local hello",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "not delivered; queue-runner log:\n{}",
        t.log()
    );
    for user in ["alice", "bob"] {
        let msgs = files_in(&maildir_new(&t, user));
        assert_eq!(msgs.len(), 1, "{user}: {msgs:?}");
        assert!(msgs[0].contains("local hello"));
    }
    let log = t.log();
    assert!(
        log.contains(&format!("{id}: to=<alice@example.test>, relay=local")),
        "{log}"
    );
}

#[test]
fn bounce_reaches_the_local_senders_mailbox() {
    let mx = IpAddr::from([127, 0, 0, 3]);
    let port = free_port(mx);
    let mut zone = Zone::new();
    zone.a("remote.test", mx);
    let t = test_env(zone, port);
    let _server = smtp_server(
        SocketAddr::new(mx, port),
        &["PIPELINING"],
        Arc::new(|_, verb, _| (verb == "RCPT").then(|| "550 5.1.1 no such user here\r\n".into())),
    );
    let _ld = t.start_daemon("local-delivery");
    let _qr = t.start();
    t.enqueue(
        Some("alice@example.test"),
        &["ghost@remote.test"],
        "will bounce",
    );
    let inbox = maildir_new(&t, "alice");
    assert!(
        wait_until(Duration::from_secs(30), || !files_in(&inbox).is_empty()
            && t.queued().is_empty()),
        "no bounce in alice's mailbox; log:\n{}",
        t.log()
    );
    let msgs = files_in(&inbox);
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].contains("report-type=delivery-status"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("Final-Recipient: rfc822; ghost@remote.test"));
    assert!(msgs[0].contains("Status: 5.1.1"));
    assert!(
        msgs[0].contains("will bounce"),
        "RET default returns the full message"
    );
}

#[test]
fn lmtp_per_recipient_replies_after_data() {
    let t = test_env(Zone::new(), 25);
    // Accept both at RCPT, then fail one permanently and one temporarily (the first time:
    // the retry may come on the same, reused connection) after the data.
    let bob_tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tries = bob_tries.clone();
    let script: Arc<Script> = Arc::new(move |_, verb, arg| match verb {
        "DOT" if arg.contains("alice") => Some("250 2.0.0 delivered\r\n".into()),
        "DOT" if arg.contains("nouser") => Some("550 5.1.1 unknown user\r\n".into()),
        "DOT" if arg.contains("bob") && tries.fetch_add(1, Ordering::SeqCst) == 0 => {
            Some("452 4.2.2 over quota\r\n".into())
        }
        _ => None,
    });
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), script);
    let _qr = t.start();
    let id = t.enqueue(
        Some("someone@elsewhere.test"),
        &[
            "alice@example.test",
            "nouser@example.test",
            "bob@example.test",
        ],
        "three ways",
    );
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| e.id != id)),
        "log:\n{}",
        t.log()
    );
    let log = t.log();
    assert!(
        log.lines().any(
            |l| l.contains("to=<alice@example.test>, relay=local, delay=")
                && l.contains(", dsn=2.0.0, status=sent")
        ),
        "{log}"
    );
    assert!(
        log.contains("to=<nouser@example.test>, relay=local")
            && log.contains("dsn=5.1.1, status=bounced"),
        "{log}"
    );
    assert!(
        log.contains("dsn=4.2.2, status=deferred (452 4.2.2 over quota)"),
        "{log}"
    );
    // The first transaction carried all three; the retry only bob, who was still deferred.
    let msgs = lmtp.messages();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0].rcpts.len(), 3);
    assert_eq!(msgs[1].rcpts, vec!["TO:<bob@example.test>"]);
    assert_eq!(bob_tries.load(Ordering::SeqCst), 2);
    // A bounce for nouser was queued to someone@elsewhere.test; that domain does not exist
    // here, so the bounce itself fails, and being from <> it is dropped, not bounced again.
    assert!(
        log.contains(&format!("{id}: sender non-delivery notification: ")),
        "{log}"
    );
    assert!(
        log.lines().any(
            |l| l.contains("to=<someone@elsewhere.test>, relay=none, delay=")
                && l.contains(", dsn=5.1.2, status=bounced")
        ),
        "{log}"
    );
    assert!(log.contains("sender is <>, no bounce"), "{log}");
    assert!(t.queued().iter().all(|e| e.source != Source::Bounce));
}

#[test]
fn deleted_scheduling_database_is_rebuilt_from_the_spool() {
    let t = test_env(Zone::new(), 25);
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    {
        // Run once so the database exists, then stop and remove it.
        let mut qr = t.start();
        qr.signal(nix::sys::signal::Signal::SIGTERM);
        let status = qr
            .wait_timeout(Duration::from_secs(20))
            .expect("exits on SIGTERM");
        assert!(status.success(), "exit status {status:?}");
    }
    let db = t.env.config.paths.state_dir.join("queue-runner");
    assert!(db.exists());
    std::fs::remove_dir_all(&db).unwrap();
    let ids: Vec<_> = (0..5)
        .map(|i| {
            t.enqueue(
                Some("a@elsewhere.test"),
                &["bob@example.test"],
                &format!("msg {i}"),
            )
        })
        .collect();
    let _qr = t.start();
    assert!(
        wait_until(Duration::from_secs(30), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    assert_eq!(lmtp.messages().len(), ids.len());
    assert!(db.exists());
    assert!(t.log().contains("filling it from the spool"));
}

#[test]
fn maildrop_submissions_are_picked_up_and_corrupt_files_quarantined() {
    let t = test_env(Zone::new(), 25);
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    // A corrupt envelope waiting in the queue before the start.
    let bogus = ferrymail_spool::QueueId::generate();
    let queue_dir = t.env.config.paths.spool_dir.join("queue");
    std::fs::write(queue_dir.join(bogus.as_str()), b"this is not an envelope").unwrap();
    let qr = t.start();
    // What sendmail does: a maildrop file, then a wake-up.
    let env = ferrymail_spool::Envelope::new(
        Some("carol@example.test".into()),
        vec![ferrymail_spool::Recipient::new("bob@example.test")],
        Default::default(),
        Source::Sendmail { uid: 1000 },
    );
    ferrymail_spool::Maildrop::open(&t.env.config.paths.spool_dir)
        .unwrap()
        .submit(env, b"Subject: from sendmail\r\n\r\ndropped\r\n")
        .unwrap();
    ferrymail_spool::notify_maildrop(t.env.config.wake_socket());
    assert!(
        wait_until(Duration::from_secs(20), || lmtp.messages().len() == 1
            && t.queued().is_empty()),
        "log:\n{}",
        qr.log(&t.env)
    );
    assert!(lmtp.messages()[0].data.contains("dropped"));
    assert!(!queue_dir.join(bogus.as_str()).exists());
    let corrupt: Vec<String> = std::fs::read_dir(t.env.config.paths.spool_dir.join("corrupt"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(
        corrupt.iter().any(|n| n.contains(bogus.as_str())),
        "{corrupt:?}"
    );
    assert!(
        t.log().contains("corrupt queue file quarantined"),
        "{}",
        t.log()
    );
}

#[test]
fn a_second_queue_runner_refuses_to_start_and_leaves_the_first_alone() {
    let t = test_env(Zone::new(), 25);
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    let _first = t.start();
    let mut second = Daemon::spawn(&target_bin("queue-runner"), &t.env).unwrap();
    let status = second
        .wait_timeout(Duration::from_secs(20))
        .expect("the second instance exits");
    assert_eq!(status.code(), Some(75), "EX_TEMPFAIL");
    // The first one still has its sockets and delivers.
    let resp = ferrymail_queue_control::request(
        &t.env.config.control_socket(),
        &ferrymail_queue_control::Request::List,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(resp.ok);
    t.enqueue(
        Some("a@elsewhere.test"),
        &["bob@example.test"],
        "still here",
    );
    assert!(
        wait_until(Duration::from_secs(20), || lmtp.messages().len() == 1),
        "log:\n{}",
        t.log()
    );
    assert!(
        t.log().contains("another queue-runner is running"),
        "{}",
        t.log()
    );
}
