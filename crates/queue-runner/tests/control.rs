//! `mailctl queue …` against a running queue-runner's control socket.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_queue_control::QueueEntry;
use ferrymail_spool::QueueDir;
use ferrymail_testkit::wait_until;

fn mailctl(t: &TestEnv, args: &[&str]) -> Output {
    Command::new(ferrymail_dev::target_bin("mailctl"))
        .arg("-c")
        .arg(&t.env.config_path)
        .arg("queue")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "mailctl failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn mailctl_queue_commands() {
    let mut t = test_env(Zone::new(), 25);
    // Long back-off: only flush/retry/release make anything happen again within the test.
    t.env.config.queue.retry_initial = Duration::from_secs(3600);
    t.env.config.queue.retry_max = Duration::from_secs(3600);
    t.env.config.queue.scan_interval = Duration::from_secs(3600);
    t.env.save_config().unwrap();
    let _qr = t.start();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.env.config.control_socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, t.env.config.queue.control_socket_mode);
    // No LMTP server yet: local mail is deferred.
    let a = t.enqueue(Some("x@elsewhere.test"), &["bob@example.test"], "first");
    let b = t.enqueue(None, &["alice@example.test"], "second");
    let c = t.enqueue(Some("y@elsewhere.test"), &["alice@example.test"], "third");
    assert!(
        wait_until(Duration::from_secs(20), || t
            .queued()
            .iter()
            .all(|e| e.attempts >= 1)),
        "log:\n{}",
        t.log()
    );

    let list = stdout(&mailctl(&t, &["list"]));
    assert!(list.starts_with("-Queue ID-"), "{list}");
    for id in [a, b, c] {
        assert!(list.contains(&id.to_string()), "{list}");
    }
    assert!(
        list.contains("MAILER-DAEMON"),
        "null sender shown Postfix-style: {list}"
    );
    assert!(
        list.contains("(451 4.4.1 cannot connect to local-delivery"),
        "{list}"
    );
    assert!(list.trim_end().ends_with("in 3 Requests."), "{list}");

    let json: Vec<QueueEntry> =
        serde_json::from_str(&stdout(&mailctl(&t, &["list", "--json"]))).unwrap();
    assert_eq!(json.len(), 3);
    assert!(json.iter().all(|e| e.recipients[0].status == "deferred"));

    let show = stdout(&mailctl(&t, &["show", a.as_str()]));
    assert!(show.contains(&format!("queue id: {a}")), "{show}");
    assert!(show.contains("sender: x@elsewhere.test"), "{show}");
    assert!(
        show.contains("bob@example.test deferred (451 4.4.1"),
        "{show}"
    );

    // hold / release
    stdout(&mailctl(&t, &["hold", a.as_str()]));
    assert_eq!(t.spool().locate(&a).unwrap(), Some(QueueDir::Hold));
    let list = stdout(&mailctl(&t, &["list"]));
    assert!(list.contains(&format!("{a}!")), "held mark: {list}");

    // delete
    stdout(&mailctl(&t, &["delete", b.as_str()]));
    assert_eq!(t.spool().locate(&b).unwrap(), None);

    // errors: bad id, unknown id
    let bad = mailctl(&t, &["retry", "../../etc/passwd"]);
    assert_eq!(bad.status.code(), Some(65));
    let unknown = mailctl(&t, &["retry", b.as_str()]);
    assert_eq!(unknown.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such message"));

    // Now local-delivery "comes back": retry delivers c at once, a stays held until released.
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    stdout(&mailctl(&t, &["retry", c.as_str()]));
    assert!(
        wait_until(Duration::from_secs(20), || t
            .spool()
            .locate(&c)
            .unwrap()
            .is_none()),
        "log:\n{}",
        t.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        t.spool().locate(&a).unwrap(),
        Some(QueueDir::Hold),
        "held mail is not delivered"
    );
    stdout(&mailctl(&t, &["release", a.as_str()]));
    assert!(
        wait_until(Duration::from_secs(20), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    assert_eq!(lmtp.messages().len(), 2);
    assert_eq!(stdout(&mailctl(&t, &["list"])), "Mail queue is empty\n");

    // flush: a deferred message goes out at once when flushed.
    drop(lmtp);
    let _ = std::fs::remove_file(t.env.config.lmtp_socket());
    let d = t.enqueue(Some("z@elsewhere.test"), &["bob@example.test"], "fourth");
    assert!(wait_until(Duration::from_secs(20), || t
        .queued()
        .iter()
        .any(|e| e.id == d && e.attempts >= 1)));
    let lmtp = lmtp_server(&t.env.config.lmtp_socket(), Arc::new(always));
    let out = stdout(&mailctl(&t, &["flush"]));
    assert!(out.contains("1 messages scheduled now"), "{out}");
    assert!(
        wait_until(Duration::from_secs(20), || t.queued().is_empty()),
        "log:\n{}",
        t.log()
    );
    assert_eq!(lmtp.messages().len(), 1);
}

#[test]
fn mailctl_reports_a_stopped_queue_runner() {
    let t = test_env(Zone::new(), 25);
    let out = mailctl(&t, &["list"]);
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach queue-runner"));
}
