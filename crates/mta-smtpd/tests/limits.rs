//! Limits and bad input against the real binary: line lengths, error counts, recipients, AUTH
//! failures, timeouts, connection limits, disconnects mid-DATA, a full disk, shutdown.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{data_files, tmp_files, USER};

/// Waits (bounded) until `cond` holds.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[test]
fn long_lines_garbage_and_nuls_then_too_many_errors() {
    let s = common::start(|c| c.smtpd.max_errors = 5);
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let long = format!("NOOP {}\r\n", "x".repeat(600));
    c.send(long.as_bytes());
    assert_eq!(c.reply().status(), "500 5.5.2");
    // A 1 MB line with no end in sight, then its end.
    c.send(&vec![b'A'; 1 << 20]);
    c.send(b"\r\n");
    assert_eq!(c.reply().status(), "500 5.5.2");
    c.send(b"MAIL FROM:<a\0b@far.test>\r\n");
    assert_eq!(c.reply().status(), "501 5.5.4");
    c.send(b"\xff\xfe\xfd\r\n");
    assert_eq!(c.reply().status(), "500 5.5.2");
    // Still fine between errors.
    assert_eq!(c.cmd("NOOP").status(), "250 2.0.0");
    let r = c.cmd("BOGUS");
    assert_eq!(r.status(), "500 5.5.1");
    assert_eq!(c.reply().status(), "421 4.7.0");
    assert!(c.closed());
}

#[test]
fn recipient_limit() {
    let s = common::start(|c| c.smtpd.max_recipients = 2);
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    c.cmd("MAIL FROM:<a@far.test>");
    assert_eq!(c.cmd("RCPT TO:<demo@example.test>").status(), "250 2.1.5");
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.test>").status(),
        "250 2.1.5"
    );
    assert_eq!(c.cmd("RCPT TO:<other@example.test>").status(), "452 4.5.3");
    c.cmd("DATA");
    c.send(b"x\r\n.\r\n");
    assert_eq!(c.reply().status(), "250 2.0.0");
    assert_eq!(s.queued()[0].0.recipients.len(), 2);
}

#[test]
fn auth_failures_close_the_connection() {
    let s = common::start(|c| {
        c.smtpd.limits.max_auth_failures = 2;
    });
    let mut c = s.smtp_tls(s.env.ports.submissions);
    c.hello();
    assert_eq!(c.auth_plain(USER, "bad1").status(), "535 5.7.8");
    let r = c.auth_plain(USER, "bad2");
    assert_eq!(r.status(), "535 5.7.8");
    assert_eq!(c.reply().status(), "421 4.7.0");
    assert!(c.closed());
}

#[test]
fn idle_timeout_closes_with_421() {
    let s = common::start(|c| c.smtpd.command_timeout = Duration::from_secs(1));
    let mut c = s.smtp(s.env.ports.smtp);
    assert!(c.reply().starts_with("220 "));
    assert_eq!(c.reply().status(), "421 4.4.2");
    assert!(c.closed());
}

#[test]
fn per_address_connection_limit() {
    let s = common::start(|c| {
        c.general.trusted_networks.clear();
        c.smtpd.limits.max_connections_per_ip = 2;
    });
    // The start-up probes (wait_for_tcp) hold slots until the server has seen them close.
    let admitted = || {
        let mut got = None;
        assert!(eventually(|| {
            let mut c = s.smtp(s.env.ports.smtp);
            let ok = c.reply().starts_with("220 ");
            if ok {
                got = Some(c);
            }
            ok
        }));
        got.unwrap()
    };
    let a = admitted();
    let mut b = admitted();
    let mut third = s.smtp(s.env.ports.smtp);
    assert_eq!(third.reply().status(), "421 4.7.0");
    assert!(third.closed());
    drop(a);
    // The slot is freed once the server has seen the close.
    assert!(eventually(|| {
        let mut d = s.smtp(s.env.ports.smtp);
        d.reply().starts_with("220 ")
    }));
    assert_eq!(b.cmd("QUIT").status(), "221 2.0.0");
}

#[test]
fn disconnect_mid_data_leaves_nothing_and_other_sessions_go_on() {
    let s = common::start(|_| {});
    let mut good = s.smtp(s.env.ports.smtp);
    good.hello();
    good.cmd("MAIL FROM:<a@far.test>");
    good.cmd("RCPT TO:<demo@example.test>");
    for _ in 0..3 {
        let mut bad = s.smtp(s.env.ports.smtp);
        bad.hello();
        bad.cmd("MAIL FROM:<a@far.test>");
        bad.cmd("RCPT TO:<demo@example.test>");
        assert_eq!(bad.cmd("DATA").status(), "354 End");
        bad.send(&vec![b'x'; 300_000]);
        drop(bad);
    }
    assert!(
        eventually(|| tmp_files(&s).is_empty()),
        "{:?}",
        tmp_files(&s)
    );
    assert_eq!(good.cmd("DATA").status(), "354 End");
    good.send(b"still here\r\n.\r\n");
    assert_eq!(good.reply().status(), "250 2.0.0");
    assert_eq!(s.queued().len(), 1);
    assert_eq!(data_files(&s), 1);
}

/// Unmounts a test filesystem when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk: as root (as in CI) the spool lives on a 256 KiB tmpfs; otherwise the spool's
/// tmp/ is replaced by a file after start, so creating the message file fails. Either way the
/// client gets 452 4.3.1 and nothing half-written stays behind.
#[test]
fn full_disk_is_452_and_leaves_nothing_behind() {
    let root = nix::unistd::Uid::effective().is_root();
    let spool_dir = std::sync::Mutex::new(None);
    let s = common::start(|c| {
        if root {
            let dir = c.paths.state_dir.join("tiny-spool");
            std::fs::create_dir_all(&dir).unwrap();
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "mounting a tmpfs as root failed");
            ferrymail_spool::Spool::create_layout(&dir).unwrap();
            c.paths.spool_dir = dir.clone();
            *spool_dir.lock().unwrap() = Some(dir);
        }
    });
    // Declared after the server: on a panic it is unmounted before the temp dir goes.
    let mount = spool_dir.lock().unwrap().take().map(Mount);
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let r = c.send_message("a@far.test", &[USER], b"fits\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let r = if root {
        let line = format!("{}\r\n", "y".repeat(998));
        let big: Vec<u8> = line.as_bytes().repeat(600); // 600 KB > 256 KiB
        c.send_message("a@far.test", &[USER], &big)
    } else {
        let tmp = s.env.config.paths.spool_dir.join("tmp");
        std::fs::remove_dir(&tmp).unwrap();
        std::fs::write(&tmp, b"not a directory").unwrap();
        c.send_message("a@far.test", &[USER], b"small\r\n")
    };
    assert_eq!(r.status(), "452 4.3.1", "{}", s.log("mta-smtpd"));
    assert_eq!(c.cmd("NOOP").status(), "250 2.0.0");
    if root {
        let log = s.log("mta-smtpd");
        assert!(log.contains("No space left on device"), "{log}");
        assert!(
            eventually(|| tmp_files(&s).is_empty()),
            "{:?}",
            tmp_files(&s)
        );
        // Space is back: the next small message is accepted.
        let r = c.send_message("a@far.test", &[USER], b"fits again\r\n");
        assert_eq!(r.status(), "250 2.0.0");
    }
    let q = s.queued();
    assert!(q.iter().all(|(e, b)| b.len() < 4096 && e.size < 4096));
    assert_eq!(data_files(&s), q.len());
    drop(c);
    drop(mount);
    drop(s);
}

#[test]
fn sigterm_closes_idle_sessions_with_421_and_exits_0() {
    let mut s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    s.daemon("mta-smtpd")
        .signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(c.reply().status(), "421 4.3.2");
    let status = s
        .daemon_mut("mta-smtpd")
        .wait_timeout(Duration::from_secs(20))
        .expect("exits");
    assert!(status.success(), "{status:?}\n{}", s.log("mta-smtpd"));
}
