//! The real `sendmail` binary writes into maildrop/, and what it wrote is what queue-runner's
//! pickup accepts: envelope from flags and headers, headers completed, Bcc removed.

use std::io::Write;
use std::process::{Command, Stdio};

use ferrymail_dev::{prepare, DevOptions, Ports};
use ferrymail_spool::{PickupLimits, QueueDir, Spool};

const SENDMAIL: &str = env!("CARGO_BIN_EXE_sendmail");

fn env() -> (tempfile::TempDir, ferrymail_dev::DevEnv) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = DevOptions::new(dir.path().join("s"));
    o.domain = "a.test".into();
    o.ports = Ports::free();
    let env = prepare(&o).unwrap();
    (dir, env)
}

fn run(env: &ferrymail_dev::DevEnv, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(SENDMAIL)
        .arg("-C")
        .arg(&env.config_path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sendmail may exit before reading stdin (a usage error): a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn picked_up(env: &ferrymail_dev::DevEnv) -> Vec<(ferrymail_spool::Envelope, String)> {
    let spool = Spool::open(&env.config.paths.spool_dir).unwrap();
    for r in spool.pickup(&PickupLimits::default()) {
        r.unwrap();
    }
    spool
        .list(QueueDir::Active)
        .unwrap()
        .into_iter()
        .map(|id| {
            let e = spool.read_envelope(&id).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut spool.open_message(&id).unwrap(), &mut text)
                .unwrap();
            (e, text)
        })
        .collect()
}

#[test]
fn dash_t_takes_recipients_from_headers_and_strips_bcc() {
    let (_d, env) = env();
    let out = run(
        &env,
        &["-t", "-oi", "-f", "cron@a.test", "-F", "Cron Daemon"],
        b"To: joe@b.test\nBcc: secret@c.test\nSubject: nightly\n\nall good\n.\nstill body\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = picked_up(&env);
    assert_eq!(msgs.len(), 1);
    let (e, text) = &msgs[0];
    assert_eq!(e.sender.as_deref(), Some("cron@a.test"));
    let rcpts: Vec<&str> = e.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, vec!["joe@b.test", "secret@c.test"]);
    assert!(matches!(e.source, ferrymail_spool::Source::Sendmail { .. }));
    assert!(
        text.contains("From: \"Cron Daemon\" <cron@a.test>\r\n"),
        "{text}"
    );
    assert!(text.contains("Message-ID: <"), "{text}");
    assert!(text.contains("Date: "), "{text}");
    assert!(
        !text.contains("secret@c.test"),
        "Bcc must be removed: {text}"
    );
    assert!(
        text.ends_with("\r\nall good\r\n.\r\nstill body\r\n"),
        "{text}"
    );
}

#[test]
fn bare_names_are_qualified_and_a_lone_dot_ends_input() {
    let (_d, env) = env();
    let out = run(&env, &["root"], b"Subject: x\n\nfirst\n.\nnot sent\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = picked_up(&env);
    let (e, text) = &msgs[0];
    assert_eq!(e.recipients[0].address, "root@a.test");
    assert!(text.ends_with("\r\n\r\nfirst\r\n"), "{text}");
    assert!(e.sender.as_deref().is_some_and(|s| s.ends_with("@a.test")));
}

#[test]
fn bad_usage_exits_with_sysexits_codes() {
    let (_d, env) = env();
    assert_eq!(
        run(&env, &[], b"x\n").status.code(),
        Some(64),
        "no recipients"
    );
    assert_eq!(run(&env, &["-Z"], b"").status.code(), Some(64));
    assert_eq!(
        run(&env, &["bad address@@x"], b"x\n").status.code(),
        Some(67)
    );
    let out = Command::new(SENDMAIL)
        .args(["-C", "/nonexistent.toml", "x@y.test"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(
        picked_up(&env).is_empty(),
        "nothing may be queued on errors"
    );
}

#[test]
fn smtp_on_stdin_queues_each_message() {
    let (_d, env) = env();
    let out = run(
        &env,
        &["-bs"],
        b"EHLO local\r\nMAIL FROM:<u@a.test>\r\nRCPT TO:<joe@b.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<ann@b.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.matches("queued as").count(), 2, "{stdout}");
    assert!(stdout.ends_with("221 2.0.0 Bye\r\n"), "{stdout}");
    let msgs = picked_up(&env);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().any(|(e, t)| e.sender.is_none() && t == "x\r\n"));
    assert!(msgs
        .iter()
        .any(|(e, t)| e.sender.as_deref() == Some("u@a.test") && t.ends_with("\r\n.dot\r\n")));
}

#[test]
fn newaliases_checks_the_aliases_file() {
    let (_d, env) = env();
    let out = Command::new(SENDMAIL)
        .args(["-bi", "-C"])
        .arg(&env.config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("aliases"), "{stdout}");
}
